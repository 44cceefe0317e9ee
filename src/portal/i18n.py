"""Translations (gettext catalogs kept as .po files, compiled in memory at start-up) and
locale-aware formatting with Babel. The current language is a context variable set per request."""

from __future__ import annotations

import contextvars
import datetime as dt
import gettext
import io
import json
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date as _format_date
from babel.dates import format_datetime as _format_datetime
from babel.dates import get_timezone
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency as _format_currency
from babel.numbers import format_decimal as _format_decimal

from portal.config import LANGUAGES
from portal.services.errors import LocalText, Message

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
LOCALES = {"vi": "vi_VN", "en": "en_GB"}
TIMEZONE = "Asia/Ho_Chi_Minh"

current_language: contextvars.ContextVar[str] = contextvars.ContextVar("language", default="vi")


def po_path(language: str) -> Path:
    return TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po"


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog of `language` (read once per process)."""
    path = po_path(language)
    if not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as f:
        catalog = read_po(f, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def gettext_(message: str) -> str:
    return translations(current_language.get()).gettext(message)


def ngettext_(singular: str, plural: str, n: int) -> str:
    return translations(current_language.get()).ngettext(singular, plural, n)


def pgettext_(context: str, message: str) -> str:
    """A message whose words depend on where it is used ("Kind" of a file, of a unit)."""
    return translations(current_language.get()).pgettext(context, message)


def npgettext_(context: str, singular: str, plural: str, n: int) -> str:
    return translations(current_language.get()).npgettext(context, singular, plural, n)


def translate(message: Message | str) -> str:
    """A service message in the current language, with its parameters filled in."""
    if isinstance(message, str):
        return gettext_(message)
    if isinstance(message, LocalText):
        return message.texts.get(current_language.get()) or message.text
    text = gettext_(message.text)
    return text % message.params if message.params else text


def message_text(message: str, params: dict[str, Any] | None, language: str) -> str:
    """A kept message in `language`: `message` is a message id, `params` its parameters,
    where a parameter given as {"msgid": ...} is itself a message to translate."""
    catalog = translations(language)
    text = catalog.gettext(message)
    if not params:
        return text
    values = {
        name: catalog.gettext(value["msgid"]) if isinstance(value, dict) else value
        for name, value in params.items()
    }
    try:
        return text % values
    except (KeyError, TypeError, ValueError):  # a catalog that lost a placeholder
        return message % values


def notification_text(notification: Any, language: str | None = None) -> str:
    """A notification in the reader's language (the current one unless named); one written
    before messages were kept shows its text."""
    if not notification.message:
        return notification.text
    try:
        params = json.loads(notification.params) if notification.params else None
        return message_text(notification.message, params, language or current_language.get())
    except (ValueError, KeyError, TypeError):  # parameters that do not fit: the text kept
        return notification.text


def pick_language(*candidates: str | None) -> str:
    """The first candidate that is a supported language."""
    for value in candidates:
        if value in LANGUAGES:
            return value
    return LANGUAGES[0]


# Babel parses a locale or time zone given by name on every call: parsed once here.
_LOCALE_OBJECTS = {language: Locale.parse(name) for language, name in LOCALES.items()}
_ZONE = get_timezone(TIMEZONE)


def _locale() -> Locale:
    return _LOCALE_OBJECTS[current_language.get()]


# Dates as Vietnamese write them, on pages in both languages: 04/12/2026 and 04/12/2026 14:30.
DATE_FORMAT = "dd/MM/yyyy"
DATETIME_FORMAT = "dd/MM/yyyy HH:mm"
NAMED_FORMATS = {"short": DATE_FORMAT, "medium": DATE_FORMAT, "weekday": "EEEE, dd/MM/yyyy"}


def format_date(value: dt.date | dt.datetime | None, fmt: str = "medium") -> str:
    """A date as dd/mm/yyyy (a stored UTC datetime: its day in Vietnam's time zone);
    "weekday" puts the day's name first; "long"/"full" (and any other Babel pattern) as asked."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = _local_date(value)
    return _format_date(value, format=NAMED_FORMATS.get(fmt, fmt), locale=_locale())


def _local_date(value: dt.datetime) -> dt.date:
    aware = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
    return aware.astimezone(_ZONE).date()


def format_datetime(value: dt.datetime | None, fmt: str = "short") -> str:
    """A stored UTC datetime shown in Vietnam's time zone, as 04/12/2026 14:30."""
    if value is None:
        return ""
    aware = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
    pattern = DATETIME_FORMAT if fmt in ("short", "medium") else fmt
    return _datetime_text(aware, pattern, current_language.get())


def format_long_date(value: dt.date | dt.datetime | None, language: str | None = None) -> str:
    """A date as official documents write it: "ngày 04 tháng 12 năm 2026" (in English,
    "4 December 2026"); a datetime is taken in Vietnam's time zone. A day below 10 and the
    months 1 and 2 take a leading zero (Decree 30/2020/NĐ-CP, appendix I)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = _local_date(value)
    language = language or current_language.get()
    if language == "vi":
        month = f"{value.month:02d}" if value.month <= 2 else str(value.month)
        return f"ngày {value.day:02d} tháng {month} năm {value.year}"
    return _format_date(value, format="d MMMM yyyy", locale=_LOCALE_OBJECTS[language])


# Pages show the same times (a dossier's history, a list's dates) again and again.
@lru_cache(maxsize=4096)
def _datetime_text(value: dt.datetime, fmt: str, language: str) -> str:
    return _format_datetime(value, format=fmt, tzinfo=_ZONE, locale=_LOCALE_OBJECTS[language])


def format_number(value: int | float | Decimal | None) -> str:
    return "" if value is None else _number_text(value, current_language.get())


@lru_cache(maxsize=4096)
def _number_text(value: int | float | Decimal, language: str) -> str:
    return _format_decimal(value, locale=_LOCALE_OBJECTS[language])


def format_vnd(value: int | None) -> str:
    return "" if value is None else _format_currency(value, "VND", locale=_locale())


def template_filters() -> dict[str, Any]:
    """`{{ d.submitted_at|datetime }}`, `{{ day|date }}`, `{{ slip.issued_at|long_date }}`."""
    return {
        "datetime": format_datetime,
        "date": format_date,
        "long_date": format_long_date,
        "number": format_number,
    }


def template_globals() -> dict[str, Any]:
    return {
        "format_date": format_date,
        "format_datetime": format_datetime,
        "format_long_date": format_long_date,
        "notification_text": notification_text,
        "format_number": format_number,
        "format_vnd": format_vnd,
        "translate": translate,
    }
