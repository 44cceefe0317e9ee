"""The working calendar as data: the days off and the weekend days worked in exchange, kept by
administrators (seeded from `data/seed/holidays_vn.csv`), office hours per deployment."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peewee import JOIN

from portal.config import ROOT
from portal.db import reading, transactional
from portal.models import HOLIDAY_KINDS, Holiday, HolidayYear, User, utcnow
from portal.services import history
from portal.services.access import Ctx
from portal.services.deadlines import Calendar, to_local
from portal.services.errors import N_, DomainError, Message, NotFound, ValidationError
from portal.services.validation import Field, validate

HOLIDAYS_FILE = ROOT / "data" / "seed" / "holidays_vn.csv"
WARNING_MONTH = 10  # from 1 October, staff are warned when next year is not confirmed


@reading
def load_calendar(office_hours: str = "") -> Calendar:
    rows = list(Holiday.select(Holiday.day, Holiday.kind))
    return Calendar.of(
        (h.day for h in rows if h.kind != "working_day"),
        office_hours or None,
        (h.day for h in rows if h.kind == "working_day"),
    )


@reading
def holidays(year: int | None = None) -> list[Holiday]:
    query = Holiday.select().order_by(Holiday.day)
    if year:
        query = query.where(Holiday.day.between(dt.date(year, 1, 1), dt.date(year, 12, 31)))
    return list(query)


@reading
def confirmation(year: int) -> HolidayYear | None:
    """Who confirmed the year's days off and when, or None while nobody has."""
    return (
        HolidayYear.select(HolidayYear, User)
        .join(User, on=(HolidayYear.confirmed_by == User.id), join_type=JOIN.LEFT_OUTER)
        .where(HolidayYear.year == year)
        .first()
    )


@dataclass(frozen=True)
class YearView:
    year: int
    days: list[Holiday]
    confirmed: HolidayYear | None


@reading
def year_view(year: int) -> YearView:
    """The year's days off and swapped working days, with its confirmation."""
    return YearView(year, holidays(year), confirmation(year))


@reading
def unconfirmed_next_year(today: dt.date | None = None) -> int | None:
    """Next year, from 1 October while its holidays are not confirmed; None otherwise."""
    today = today or to_local(utcnow()).date()
    if today.month < WARNING_MONTH:
        return None
    year = today.year + 1
    return None if HolidayYear.select().where(HolidayYear.year == year).exists() else year


HOLIDAY_FIELDS = [
    Field("day", max_length=10, kind="date"),  # dd/mm/yyyy or ISO, kept as ISO
    Field("kind", required=False, max_length=16, choices=HOLIDAY_KINDS),
    Field("name", max_length=255),
    Field("source", required=False, max_length=500),
]


@transactional
def add_holiday(data: dict[str, str], ctx: Ctx) -> Holiday:
    """Add a day off or a swapped working day, on the record as done by `ctx.user`; raises
    ValidationError (bad date, name, a working day that is not a weekend day, or a day already
    listed)."""
    cleaned = validate(data, HOLIDAY_FIELDS)
    cleaned["kind"] = cleaned["kind"] or "holiday"
    day = dt.date.fromisoformat(cleaned["day"])
    if cleaned["kind"] == "working_day" and day.weekday() < 5:
        raise ValidationError(
            {"day": Message(N_("A swapped working day must be a Saturday or a Sunday."))}
        )
    if Holiday.get_or_none(Holiday.day == day):
        raise ValidationError({"day": Message(N_("This day is already in the calendar."))})
    holiday = Holiday.create(
        day=day, name=cleaned["name"], kind=cleaned["kind"], source=cleaned["source"]
    )
    history.record(_actor(ctx), "holiday_added", note=_described(holiday), public=False)
    return holiday


@transactional
def remove_holiday(holiday_id: int, ctx: Ctx) -> None:
    """Take a day out of the calendar, on the record as done by `ctx.user`; raises NotFound."""
    holiday = Holiday.get_or_none(Holiday.id == holiday_id)
    if holiday is None:
        raise NotFound(holiday_id)
    Holiday.delete().where(Holiday.id == holiday.id).execute()
    history.record(_actor(ctx), "holiday_removed", note=_described(holiday), public=False)


def _actor(ctx: Ctx) -> history.Actor:
    return history.Actor.of(ctx.user, ctx.client_addr)


def _described(holiday: Holiday) -> str:
    """The day as the history notes it: date, kind, name and source."""
    text = f"{holiday.day.isoformat()} {holiday.kind}: {holiday.name}"
    return f"{text} ({holiday.source})"[:2000] if holiday.source else text[:2000]


@transactional
def confirm_year(year: int, ctx: Ctx) -> HolidayYear:
    """Record that `ctx.user` checked the year's days off against the government's notice."""
    if not 2000 <= year <= 2100:
        raise DomainError(N_("Choose a year between 2000 and 2100."), kind="invalid")
    if HolidayYear.get_or_none(HolidayYear.year == year):
        raise DomainError(N_("This year is already confirmed."), kind="conflict")
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    if not Holiday.select().where(Holiday.day.between(start, end)).exists():
        raise DomainError(N_("List this year's holidays before confirming it."), kind="invalid")
    confirmed = HolidayYear.create(year=year, confirmed_by=ctx.user, confirmed_at=utcnow())
    history.record(_actor(ctx), "holidays_confirmed", note=str(year), public=False)
    return confirmed


def read_holiday_file(path: Path) -> list[dict[str, Any]]:
    """The rows of a holidays CSV (date, kind, name, source); raises ValueError naming a bad
    row."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    out = []
    for number, row in enumerate(rows, start=2):
        try:
            day = dt.date.fromisoformat(row["date"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path.name} line {number}: bad date") from None
        kind, name = row.get("kind", ""), (row.get("name") or "").strip()
        if kind not in HOLIDAY_KINDS or not name:
            raise ValueError(f"{path.name} line {number}: bad kind or empty name")
        if kind == "working_day" and day.weekday() < 5:
            raise ValueError(f"{path.name} line {number}: a working day on a weekday")
        out.append({"day": day, "kind": kind, "name": name, "source": row.get("source", "")})
    return out


@transactional
def load_holidays(path: Path | None = None) -> int:
    """Add the file's days that the calendar does not list yet (a day an administrator has
    changed stays as it is); returns how many were added. Idempotent."""
    rows = read_holiday_file(path or HOLIDAYS_FILE)
    known = {h.day for h in Holiday.select(Holiday.day)}
    new = [row for row in rows if row["day"] not in known]
    if new:
        Holiday.insert_many(new).execute()
    return len(new)
