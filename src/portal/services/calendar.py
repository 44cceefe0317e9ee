"""The working calendar as data: holidays kept by administrators, office hours per deployment."""

from __future__ import annotations

import datetime as dt
from typing import Any

from portal.db import reading, transactional
from portal.models import Holiday
from portal.services.deadlines import Calendar
from portal.services.errors import N_, Message, NotFound, ValidationError
from portal.services.validation import DATE_PATTERN, Field, validate


@reading
def load_calendar(office_hours: str = "") -> Calendar:
    return Calendar.of((h.day for h in Holiday.select()), office_hours or None)


@reading
def holidays(year: int | None = None) -> list[Holiday]:
    query = Holiday.select().order_by(Holiday.day)
    if year:
        query = query.where(Holiday.day.between(dt.date(year, 1, 1), dt.date(year, 12, 31)))
    return list(query)


def _date(value: Any) -> Message | None:
    try:
        dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        return Message(N_("Enter a real date as YYYY-MM-DD."))
    return None


HOLIDAY_FIELDS = [
    Field(
        "day",
        max_length=10,
        pattern=DATE_PATTERN,
        check=_date,
        pattern_message=N_("Enter a real date as YYYY-MM-DD."),
    ),
    Field("name", max_length=255),
]


@transactional
def add_holiday(data: dict[str, str]) -> Holiday:
    """Add a day off; raises ValidationError (bad date, name, or a day already listed)."""
    cleaned = validate(data, HOLIDAY_FIELDS)
    day = dt.date.fromisoformat(cleaned["day"])
    if Holiday.get_or_none(Holiday.day == day):
        raise ValidationError({"day": Message(N_("This day is already a holiday."))})
    return Holiday.create(day=day, name=cleaned["name"])


@transactional
def remove_holiday(holiday_id: int) -> None:
    if not Holiday.delete().where(Holiday.id == holiday_id).execute():
        raise NotFound(holiday_id)
