"""Deadlines in working time: office hours 07:00–11:30 and 13:30–17:00 (480 minutes a day),
weekends, holidays, the after-hours cut-off, calendar-day limits and the supplement pause.

March 2025: Monday 3 .. Friday 7, Saturday 8, Sunday 9, Monday 10."""

from __future__ import annotations

import datetime as dt

import pytest

from portal.services.deadlines import Calendar, parse_hours, to_local, to_utc

CAL = Calendar()


def at(day: int, hh: int, mm: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2025, month, day, hh, mm)


def test_default_day_has_480_minutes():
    assert CAL.minutes_per_day == 480
    assert Calendar.of([], "08:00-12:00,13:00-17:30").minutes_per_day == 240 + 270


def test_working_days():
    assert [CAL.is_working_day(dt.date(2025, 3, d)) for d in range(3, 11)] == [
        True, True, True, True, True, False, False, True]
    assert CAL.next_working_day(dt.date(2025, 3, 7)) == dt.date(2025, 3, 10)
    holiday = Calendar.of([dt.date(2025, 3, 10)])
    assert not holiday.is_working_day(dt.date(2025, 3, 10))
    assert holiday.next_working_day(dt.date(2025, 3, 7)) == dt.date(2025, 3, 11)


@pytest.mark.parametrize(("received", "starts"), [
    (at(3, 6, 0), at(3, 7, 0)),  # before opening: the same day's opening
    (at(3, 7, 0), at(3, 7, 0)),
    (at(3, 10, 15), at(3, 10, 15)),  # inside office hours: at once
    (at(3, 11, 30), at(3, 13, 30)),  # the morning has closed: after lunch
    (at(3, 12, 0), at(3, 13, 30)),  # lunch break
    (at(3, 16, 59), at(3, 16, 59)),
    (at(3, 17, 0), at(4, 7, 0)),  # closing time is after hours
    (at(3, 20, 0), at(4, 7, 0)),
    (at(7, 17, 30), at(10, 7, 0)),  # Friday evening: Monday
    (at(8, 10, 0), at(10, 7, 0)),  # Saturday
    (at(9, 23, 59), at(10, 7, 0)),  # Sunday
])
def test_clock_start(received: dt.datetime, starts: dt.datetime):
    assert CAL.clock_start(received) == starts


def test_procedure_cutoff_at_15():
    cutoff = dt.time(15, 0)
    assert CAL.clock_start(at(3, 14, 59), cutoff) == at(3, 14, 59)
    assert CAL.clock_start(at(3, 15, 0), cutoff) == at(4, 7, 0)
    assert CAL.clock_start(at(7, 15, 30), cutoff) == at(10, 7, 0)
    # One working day from the cut-off: counted from the next morning.
    assert CAL.due(at(3, 15, 1), 1, "working_days", cutoff) == at(4, 17, 0)
    assert CAL.due(at(3, 14, 0), 1, "working_days", cutoff) == at(4, 14, 0)
    # A cut-off during lunch: before it, the clock starts after lunch.
    assert CAL.clock_start(at(3, 11, 45), dt.time(12, 0)) == at(3, 13, 30)
    assert CAL.clock_start(at(3, 12, 0), dt.time(12, 0)) == at(4, 7, 0)


@pytest.mark.parametrize(("received", "days", "due"), [
    (at(3, 7, 0), 1, at(3, 17, 0)),  # a whole day from the opening ends at closing
    (at(3, 8, 0), 1, at(4, 8, 0)),
    (at(3, 10, 0), 5, at(10, 10, 0)),  # five working days: the weekend does not count
    (at(7, 10, 0), 1, at(10, 10, 0)),  # Friday to Monday
    (at(3, 12, 0), 1, at(4, 11, 30)),  # received at lunch: counted from 13:30
    (at(3, 17, 0), 1, at(4, 17, 0)),  # after hours: from the next opening
    (at(3, 16, 59), 1, at(4, 16, 59)),
    (at(8, 9, 0), 2, at(11, 17, 0)),  # Saturday: from Monday's opening
    (at(5, 15, 0), 3, at(10, 15, 0)),
])
def test_due_in_working_days(received: dt.datetime, days: int, due: dt.datetime):
    assert CAL.due(received, days, "working_days") == due


def test_due_skips_holidays():
    # Tết 2025: Monday 27 to Friday 31 January are days off (plus the weekends around them).
    tet = Calendar.of([dt.date(2025, 1, d) for d in range(27, 32)])
    assert tet.due(dt.datetime(2025, 1, 24, 10), 2, "working_days") == dt.datetime(2025, 2, 4, 10)
    assert tet.due(dt.datetime(2025, 1, 24, 17, 30), 1, "working_days") == \
        dt.datetime(2025, 2, 3, 17)
    assert tet.due(dt.datetime(2025, 1, 28, 9), 1, "working_days") == dt.datetime(2025, 2, 3, 17)


@pytest.mark.parametrize(("received", "days", "due"), [
    (at(5, 10, 0), 2, at(7, 17, 0)),  # Wednesday + 2 days: Friday's closing
    (at(5, 10, 0), 3, at(10, 17, 0)),  # lands on Saturday: the next working day
    (at(3, 10, 0), 6, at(10, 17, 0)),  # lands on Sunday
    (at(3, 17, 30), 2, at(6, 17, 0)),  # after hours: counted from Tuesday
    (at(8, 10, 0), 1, at(11, 17, 0)),  # received on Saturday: counted from Monday
])
def test_due_in_calendar_days(received: dt.datetime, days: int, due: dt.datetime):
    assert CAL.due(received, days, "days") == due


def test_calendar_days_landing_on_a_holiday_after_a_weekend():
    cal = Calendar.of([dt.date(2025, 3, 10)])
    assert cal.due(at(5, 10, 0), 3, "days") == at(11, 17, 0)
    # Calendar days count holidays in between (only the landing day moves).
    assert cal.due(at(7, 10, 0), 4, "days") == at(11, 17, 0)
    assert cal.due(at(7, 10, 0), 5, "days") == at(12, 17, 0)


def test_add_working_minutes():
    assert CAL.add_working_minutes(at(3, 11, 0), 60) == at(3, 14, 0)  # over lunch
    assert CAL.add_working_minutes(at(3, 11, 0), 30) == at(3, 11, 30)
    assert CAL.add_working_minutes(at(3, 16, 0), 120) == at(4, 8, 0)  # over the night
    assert CAL.add_working_minutes(at(7, 16, 0), 61) == at(10, 7, 1)  # over the weekend
    assert CAL.add_working_minutes(at(3, 10, 0), 0) == at(3, 10, 0)
    with pytest.raises(ValueError):
        CAL.add_working_minutes(at(3, 10, 0), -1)


@pytest.mark.parametrize(("a", "b", "minutes"), [
    (at(3, 8, 0), at(3, 16, 0), 210 + 150),
    (at(3, 11, 0), at(3, 14, 0), 30 + 30),  # lunch does not count
    (at(3, 12, 0), at(3, 13, 0), 0),
    (at(7, 16, 0), at(10, 8, 0), 60 + 60),  # the weekend does not count
    (at(3, 10, 0), at(10, 10, 0), 5 * 480),
    (at(3, 18, 0), at(4, 6, 0), 0),
    (at(3, 6, 0), at(3, 20, 0), 480),
    (at(3, 10, 0), at(3, 10, 0), 0),
    (at(4, 10, 0), at(3, 10, 0), 0),  # b before a
])
def test_working_minutes_between(a: dt.datetime, b: dt.datetime, minutes: int):
    assert CAL.working_minutes_between(a, b) == minutes


def test_working_minutes_between_skips_holidays_and_inverts_add():
    cal = Calendar.of([dt.date(2025, 3, 5)])
    assert cal.working_minutes_between(at(4, 10, 0), at(6, 10, 0)) == 480
    for minutes in (1, 59, 270, 271, 480, 1000, 2400):
        end = cal.add_working_minutes(at(4, 10, 0), minutes)
        assert cal.working_minutes_between(at(4, 10, 0), end) == minutes


def test_resume_moves_the_due_date_by_the_working_time_waited():
    due = at(5, 15, 0)  # Wednesday 15:00
    paused, resumed = at(3, 10, 0), at(6, 10, 0)  # Monday 10:00 to Thursday 10:00
    waited = CAL.working_minutes_between(paused, resumed)
    assert waited == 3 * 480
    new_due = CAL.resume(due, paused, resumed)
    assert new_due == at(10, 15, 0)  # three working days later: the next Monday
    assert new_due == CAL.add_working_minutes(due, waited)


def test_resume_after_hours_and_over_a_weekend():
    due = at(5, 15, 0)
    # Asked in the evening, answered before the next opening: no office time was lost.
    assert CAL.resume(due, at(3, 17, 30), at(4, 6, 30)) == due
    # Asked on Friday at 16:00, answered on Saturday: one office hour waited.
    due = at(12, 9, 0)
    assert CAL.resume(due, at(7, 16, 0), at(8, 10, 0)) == at(12, 10, 0)
    # Answered during lunch: the clock restarts at 13:30.
    due = at(4, 10, 0)
    assert CAL.resume(due, at(3, 11, 0), at(3, 12, 30)) == CAL.add_working_minutes(due, 30)


def test_resume_across_a_holiday_counts_only_working_time():
    cal = Calendar.of([dt.date(2025, 3, 10)])
    # Paused Friday 10:00, resumed Tuesday 10:00: Friday 10:00-17:00 and Tuesday 07:00-10:00
    due = at(7, 16, 0)
    new_due = cal.resume(due, at(7, 10, 0), at(11, 10, 0))
    assert new_due == at(11, 16, 0)


def test_local_time_conversion():
    utc = dt.datetime(2025, 3, 3, 1, 0)
    assert to_local(utc) == at(3, 8, 0)
    assert to_utc(at(3, 8, 0)) == utc


@pytest.mark.parametrize("text", [
    "", ",", "7-11", "abc", "07:00", "07:00-", "-11:30", "11:30-07:00", "07:00-07:00",
    "07:00-12:00,11:00-17:00", "07:00-11:30;13:30-17:00", "25:00-26:00", "07:00-11:30,",
    "07:00-11:30,07:00-11:30",
])
def test_parse_hours_rejects(text: str):
    with pytest.raises(ValueError):
        parse_hours(text)


def test_parse_hours_accepts_and_sorts():
    assert parse_hours("07:00-11:30,13:30-17:00") == (
        (dt.time(7), dt.time(11, 30)), (dt.time(13, 30), dt.time(17)))
    assert parse_hours(" 13:30 - 17:00 , 07:00-11:30 ") == (
        (dt.time(7), dt.time(11, 30)), (dt.time(13, 30), dt.time(17)))
    assert parse_hours("08:00-12:00,12:00-16:00") == (
        (dt.time(8), dt.time(12)), (dt.time(12), dt.time(16)))
    cal = Calendar.of([], "08:00-12:00")
    assert cal.due(dt.datetime(2025, 3, 3, 13, 0), 1, "working_days") == at(4, 12, 0)


# The seeded calendar (data/seed/holidays_vn.csv), read as the database would hold it.
def seeded_calendar() -> Calendar:
    from portal.services.calendar import HOLIDAYS_FILE, read_holiday_file

    rows = read_holiday_file(HOLIDAYS_FILE)
    return Calendar.of(
        (r["day"] for r in rows if r["kind"] == "holiday"),
        None,
        (r["day"] for r in rows if r["kind"] == "working_day"),
    )


def test_deadline_crossing_tet_2026():
    """Received Friday 13/2/2026 10:00 with 3 working days: 5 h that Friday, then Tết (16–20/2)
    and the weekend are skipped; Monday 23 and Tuesday 24 are full, 3 h on Wednesday 25."""
    seeded = seeded_calendar()
    received = dt.datetime(2026, 2, 13, 10, 0)
    assert CAL.due(received, 3, "working_days") == dt.datetime(2026, 2, 18, 10, 0)
    assert seeded.due(received, 3, "working_days") == dt.datetime(2026, 2, 25, 10, 0)
    assert seeded.working_minutes_between(received, dt.datetime(2026, 2, 25, 10, 0)) == 3 * 480


def test_deadline_crossing_a_swapped_saturday():
    """Saturday 26/4/2025 was worked in exchange for Friday 2/5: a day received Friday 25/4 at
    10:00 ends on that Saturday at 10:00, and four days skip 30/4–4/5."""
    seeded = seeded_calendar()
    received = dt.datetime(2025, 4, 25, 10, 0)
    assert seeded.is_working_day(dt.date(2025, 4, 26))
    assert not seeded.is_working_day(dt.date(2025, 5, 2))
    assert CAL.due(received, 1, "working_days") == dt.datetime(2025, 4, 28, 10, 0)
    assert seeded.due(received, 1, "working_days") == dt.datetime(2025, 4, 26, 10, 0)
    assert seeded.due(received, 3, "working_days") == dt.datetime(2025, 4, 29, 10, 0)
    assert seeded.due(received, 4, "working_days") == dt.datetime(2025, 5, 5, 10, 0)
    assert seeded.next_working_day(dt.date(2025, 4, 25)) == dt.date(2025, 4, 26)
    # the clock starts on the swapped Saturday, and its hours count between two instants
    assert seeded.clock_start(dt.datetime(2025, 4, 25, 18, 0)) == dt.datetime(2025, 4, 26, 7, 0)
    assert seeded.working_minutes_between(received, dt.datetime(2025, 4, 28, 10, 0)) == 2 * 480
