"""Deadlines counted in working time: office hours, weekends, holidays, the after-hours
cut-off, and the pause while a supplement is pending.

All datetimes here are naive local times (Vietnam, UTC+7, no daylight saving); `to_local` and
`to_utc` convert from and to the naive UTC datetimes the database keeps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

VIETNAM = dt.timedelta(hours=7)
DEFAULT_HOURS = ((dt.time(7, 0), dt.time(11, 30)), (dt.time(13, 30), dt.time(17, 0)))
MAX_DAYS_SCANNED = 3660  # ten years of calendar: a bound, never reached by real deadlines


def to_local(utc: dt.datetime) -> dt.datetime:
    return utc + VIETNAM


def to_utc(local: dt.datetime) -> dt.datetime:
    return local - VIETNAM


def parse_hours(text: str) -> tuple[tuple[dt.time, dt.time], ...]:
    """'07:00-11:30,13:30-17:00' → ((07:00, 11:30), (13:30, 17:00)); raises ValueError."""
    spans = []
    for part in text.split(","):
        start, _, end = part.strip().partition("-")
        a, b = dt.time.fromisoformat(start.strip()), dt.time.fromisoformat(end.strip())
        if b <= a:
            raise ValueError(f"office hours {part!r}: the end must follow the start")
        spans.append((a, b))
    spans.sort()
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise ValueError("office hours overlap")
    if not spans:
        raise ValueError("no office hours")
    return tuple(spans)


@dataclass(frozen=True)
class Calendar:
    holidays: frozenset[dt.date] = field(default_factory=frozenset)
    hours: tuple[tuple[dt.time, dt.time], ...] = DEFAULT_HOURS
    # weekend days worked in exchange for a day off (a swapped Saturday)
    working_days: frozenset[dt.date] = field(default_factory=frozenset)

    @classmethod
    def of(
        cls,
        holidays: Iterable[dt.date],
        hours: str | None = None,
        working_days: Iterable[dt.date] = (),
    ) -> Calendar:
        return cls(
            frozenset(holidays),
            parse_hours(hours) if hours else DEFAULT_HOURS,
            frozenset(working_days),
        )

    @property
    def minutes_per_day(self) -> int:
        return sum(_minutes(a, b) for a, b in self.hours)

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.working_days:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def next_working_day(self, day: dt.date) -> dt.date:
        """The first working day strictly after `day`."""
        for _ in range(MAX_DAYS_SCANNED):
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                return day
        raise ValueError("no working day in the calendar")

    def opening(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.hours[0][0])

    def closing(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.hours[-1][1])

    def clock_start(self, at: dt.datetime, cutoff: dt.time | None = None) -> dt.datetime:
        """When the clock starts for something received at `at`: at once inside office hours,
        the next opening otherwise; after the cut-off (default: closing time), the next
        working day's opening."""
        day = at.date()
        if self.is_working_day(day) and at.time() < (cutoff or self.hours[-1][1]):
            for start, end in self.hours:
                if at.time() < start:
                    return dt.datetime.combine(day, start)
                if at.time() < end:
                    return at
        return self.opening(self.next_working_day(day))

    def add_working_minutes(self, start: dt.datetime, minutes: int) -> dt.datetime:
        """The instant `minutes` of office time after `start` (itself inside office time)."""
        if minutes < 0:
            raise ValueError("minutes must not be negative")
        current = self.clock_start(start)
        remaining = minutes
        for _ in range(MAX_DAYS_SCANNED):
            day = current.date()
            for a, b in self.hours:
                span_start = max(current, dt.datetime.combine(day, a))
                span_end = dt.datetime.combine(day, b)
                if span_start >= span_end:
                    continue
                available = _minutes_dt(span_start, span_end)
                if remaining <= available:
                    return span_start + dt.timedelta(minutes=remaining)
                remaining -= available
            current = self.opening(self.next_working_day(day))
        raise ValueError("deadline beyond the calendar")

    def working_minutes_between(self, a: dt.datetime, b: dt.datetime) -> int:
        """Office minutes from `a` to `b` (0 if b is not after a)."""
        if b <= a:
            return 0
        total = 0
        day = a.date()
        for _ in range(MAX_DAYS_SCANNED):
            if day > b.date():
                return total
            if self.is_working_day(day):
                for s, e in self.hours:
                    lo = max(a, dt.datetime.combine(day, s))
                    hi = min(b, dt.datetime.combine(day, e))
                    if hi > lo:
                        total += _minutes_dt(lo, hi)
            day += dt.timedelta(days=1)
        raise ValueError("interval beyond the calendar")

    def due(
        self, received: dt.datetime, amount: int, unit: str, cutoff: dt.time | None = None
    ) -> dt.datetime:
        """The promised date for a time limit of `amount` working days or calendar days."""
        start = self.clock_start(received, cutoff)
        if unit == "working_days":
            return self.add_working_minutes(start, amount * self.minutes_per_day)
        day = start.date() + dt.timedelta(days=amount)
        while not self.is_working_day(day):
            day = self.next_working_day(day)
        return self.closing(day)

    def resume(
        self, due: dt.datetime, paused_at: dt.datetime, resumed_at: dt.datetime
    ) -> dt.datetime:
        """The new due date after a pause from `paused_at` to `resumed_at`: the office time that
        was left at the pause counts again from when the clock restarts."""
        left = self.working_minutes_between(self.clock_start(paused_at), due)
        return self.add_working_minutes(self.clock_start(resumed_at), left)


def _minutes(a: dt.time, b: dt.time) -> int:
    return (b.hour * 60 + b.minute) - (a.hour * 60 + a.minute)


def _minutes_dt(a: dt.datetime, b: dt.datetime) -> int:
    return int((b - a).total_seconds() // 60)
