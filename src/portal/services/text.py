"""Text rules: input normalisation and diacritic-insensitive folding of Vietnamese."""

from __future__ import annotations

import re
import unicodedata

_NOT_WORD = re.compile(r"[^0-9a-z]+")
# Control characters (C0 and C1) other than tab/newline, bidi overrides and isolates, and lone
# surrogates (from JSON "\ud800" escapes; no database can store them) are never accepted.
_FORBIDDEN = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def fold(text: str) -> str:
    """Lower-case `text`, drop Vietnamese diacritics (đ→d) and keep words separated by spaces."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d").replace("Đ", "d"))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_WORD.sub(" ", stripped).strip()


def clean(value: str, *, multiline: bool = False) -> str:
    """NFC-normalise user input, trim it and fold line breaks unless `multiline`."""
    value = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n").strip()
    if not multiline:
        value = " ".join(value.split())
    return value


def has_forbidden_chars(value: str) -> bool:
    """True when `value` holds control or bidi-override characters."""
    return bool(_FORBIDDEN.search(value))


_INT = re.compile(r"[0-9]{1,9}")


def as_int(raw: object, default: int | None = None) -> int | None:
    """`raw` as a non-negative whole number of at most 9 ASCII digits, else `default`
    (str.isdigit() accepts '²' and other digits int() refuses)."""
    if isinstance(raw, str) and _INT.fullmatch(raw):
        return int(raw)
    return default
