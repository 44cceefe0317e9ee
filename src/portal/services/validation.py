"""Declarative field checks shared by every form: one way to validate input."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from portal.services.errors import N_, Message, ValidationError
from portal.services.text import clean, has_forbidden_chars

WHOLE_NUMBER = re.compile(r"-?[0-9]{1,18}")
# A date as forms take it; [0-9], not \d, which also matches other scripts' digits.
DATE_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"


@dataclass(frozen=True)
class Field:
    name: str
    required: bool = True
    max_length: int = 255
    min_length: int = 0
    pattern: str | None = None
    pattern_message: str = N_("This value has the wrong format.")
    choices: Iterable[str] | None = None
    multiline: bool = False
    kind: str = "text"  # text | int | bool
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
    if spec.pattern and not re.fullmatch(spec.pattern, value):
        return value, Message(spec.pattern_message)
    if spec.choices is not None and value not in set(spec.choices):
        return value, Message(N_("Choose one of the options offered."))
    if spec.kind == "int":
        # Only ASCII digits: int() would also take "١٢", "１２", "1_000" and "+1".
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
