"""Declarative field checks shared by every form: one way to validate input."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from portal.services.errors import N_, Message, ValidationError
from portal.services.text import clean, has_forbidden_chars

WHOLE_NUMBER = re.compile(r"-?[0-9]{1,18}")
# A date as forms take it; [0-9], not \d, which also matches other scripts' digits.
DATE_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
# A date as Vietnamese write it: 04/12/2026 (also 4/12/2026, 04-12-2026, 04.12.2026).
DAY_MONTH_YEAR = re.compile(r"([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{4})")
# A whole number with its thousands grouped: 1.250.000 as Vietnamese write it, 1 250 000,
# or 1,250,000 as English does (one separator throughout, groups of three).
GROUPED_NUMBER = re.compile(r"-?[0-9]{1,3}(?:([., \u00a0\u202f])[0-9]{3})(?:\1[0-9]{3})*")


@dataclass(frozen=True)
class Field:
    name: str
    required: bool = True
    max_length: int = 255
    min_length: int = 0
    pattern: str | None = None
    pattern_message: str | Message = N_("This value has the wrong format.")
    choices: Iterable[str] | None = None
    multiline: bool = False
    kind: str = "text"  # text | int | bool | date (dd/mm/yyyy or ISO, kept as ISO)
    minimum: int | None = None
    maximum: int | None = None
    check: Callable[[Any], Message | None] | None = None


def _check_one(spec: Field, raw: str) -> tuple[Any, Message | None]:
    if spec.kind == "bool":
        return raw in ("1", "on", "true", "yes"), None
    value = clean(raw, multiline=spec.multiline)
    if has_forbidden_chars(value):
        return value, Message(N_("This field contains characters that are not allowed."))
    if not value:
        if spec.required:
            return value, Message(N_("This field is required."))
        return (None if spec.kind == "int" else ""), None
    if len(value) > spec.max_length:
        return value, Message(N_("Enter at most %(max)s characters."), max=spec.max_length)
    if len(value) < spec.min_length:
        return value, Message(N_("Enter at least %(min)s characters."), min=spec.min_length)
    if spec.kind == "date":
        day = parse_date(value)
        if day is None:
            return value, Message(N_("Enter a real date as dd/mm/yyyy, for example 04/12/2026."))
        value = day.isoformat()
    if spec.pattern and not re.fullmatch(spec.pattern, value):
        problem = spec.pattern_message
        return value, problem if isinstance(problem, Message) else Message(problem)
    if spec.choices is not None and value not in set(spec.choices):
        return value, Message(N_("Choose one of the options offered."))
    if spec.kind == "int":
        # Only ASCII digits: int() would also take "١٢", "１２", "1_000" and "+1".
        value = ungroup(value)
        if not WHOLE_NUMBER.fullmatch(value):
            return value, Message(N_("Enter a whole number."))
        number = int(value)
        if spec.minimum is not None and number < spec.minimum:
            return value, Message(N_("Enter a number of at least %(min)s."), min=spec.minimum)
        if spec.maximum is not None and number > spec.maximum:
            return value, Message(N_("Enter a number of at most %(max)s."), max=spec.maximum)
        value = number
    if spec.check is not None:
        problem = spec.check(value)
        if problem is not None:
            return value, problem
    return value, None


def parse_date(text: str) -> dt.date | None:
    """A date typed as dd/mm/yyyy (d/m/yyyy, with - or . too) or as ISO yyyy-mm-dd; None
    when it is neither or no such day exists."""
    text = text.strip()
    try:
        if re.fullmatch(DATE_PATTERN, text):
            return dt.date.fromisoformat(text)
        match = DAY_MONTH_YEAR.fullmatch(text)
        if match:
            day, month, year = (int(part) for part in match.groups())
            return dt.date(year, month, day)
    except ValueError:
        return None
    return None


def ungroup(text: str) -> str:
    """A whole number's digits without its thousands separators ("1.250.000" -> "1250000");
    anything else as it was."""
    if GROUPED_NUMBER.fullmatch(text):
        return re.sub(r"[., \u00a0\u202f]", "", text)
    return text


def canonical(kind: str, text: str) -> str:
    """An answer as it is kept: a date as ISO, a number without separators, when they are
    valid; anything else as typed (so that the form shows it again with its error)."""
    if kind == "date":
        day = parse_date(text)
        return day.isoformat() if day is not None else text
    if kind == "int":
        plain = ungroup(text.strip())
        return plain if WHOLE_NUMBER.fullmatch(plain) else text
    return text


def validate(data: Mapping[str, Any], specs: Iterable[Field]) -> dict[str, Any]:
    """Return the cleaned values of `specs` from `data`; raises ValidationError with every
    field's error at once."""
    cleaned: dict[str, Any] = {}
    errors: dict[str, Message] = {}
    for spec in specs:
        raw = data.get(spec.name, "")
        raw = raw if isinstance(raw, str) else ""
        value, problem = _check_one(spec, raw)
        cleaned[spec.name] = value
        if problem is not None:
            errors[spec.name] = problem
    if errors:
        raise ValidationError(errors)
    return cleaned
