"""The statistics' figures read from the maintained counts (services/stat_facts.py): sums over
a period's unit-days, however many dossiers there are; the figures of the moment (in
progress, overdue) from the open dossiers alone. Each equals the direct recount of
services/stats.py (tests/test_stat_counts.py compares them after random activity).

A period is [first, last] in days of Vietnam's calendar; `unit_ids` limits it to those units
(None: every unit, and dossiers without one).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from peewee import fn

from portal.models import Dossier, DossierFact, StatDay
from portal.services import stat_enterprises
from portal.services.stat_facts import COUNTS
from portal.services.status import NEW, PAYMENT, PROCESSING, RECEIVED, SUPPLEMENT

IN_PROGRESS = (NEW, RECEIVED, PROCESSING, SUPPLEMENT, PAYMENT)
# In progress with the legal clock running (a supplement request pauses it).
CLOCK_RUNNING = (RECEIVED, PROCESSING, PAYMENT)


def _days(first: dt.date, last: dt.date, unit_ids: list[int] | None) -> Any:
    condition = StatDay.day.between(first, last)
    return condition if unit_ids is None else condition & StatDay.unit_id.in_(unit_ids)


def _sums() -> list[Any]:
    return [fn.COALESCE(fn.SUM(getattr(StatDay, name)), 0).alias(name) for name in COUNTS]


def unit_counts(
    first: dt.date, last: dt.date, unit_ids: list[int] | None
) -> dict[int, dict[str, int]]:
    """The period's counts of each unit that has any."""
    rows = (
        StatDay.select(StatDay.unit_id, *_sums())
        .where(_days(first, last, unit_ids))
        .group_by(StatDay.unit_id)
        .dicts()
    )
    return {r.pop("unit_id"): {k: int(v) for k, v in r.items()} for r in rows}


def monthly_counts(
    first: dt.date, last: dt.date, unit_ids: list[int] | None
) -> dict[tuple[int, int], dict[str, int]]:
    """The period's counts by (year, month)."""
    found: dict[tuple[int, int], dict[str, int]] = {}
    rows = (
        StatDay.select(StatDay.day, *_sums())
        .where(_days(first, last, unit_ids))
        .group_by(StatDay.day)
        .dicts()
    )
    for row in rows:
        day = row.pop("day")
        month = found.setdefault((day.year, day.month), dict.fromkeys(COUNTS, 0))
        for name in COUNTS:
            month[name] += int(row[name])
    return found


def received_total(unit_id: int) -> int:
    """Every dossier the unit has (submitted to it, or forwarded to it), whenever."""
    total = StatDay.select(fn.SUM(StatDay.received)).where(StatDay.unit_id == unit_id).scalar()
    return int(total or 0)


def units_receiving(first: dt.date, last: dt.date, unit_ids: list[int] | None) -> set[int]:
    """The units that received dossiers in the period."""
    rows = (
        StatDay.select(StatDay.unit_id)
        .where(_days(first, last, unit_ids), StatDay.received > 0)
        .distinct()
        .tuples()
    )
    return {unit_id for (unit_id,) in rows}


def enterprises(first: dt.date, last: dt.date, top_id: int | None) -> int:
    """The enterprises that filed dossiers in the period (to the department or regional
    branch `top_id`, if given): each counts at its first submission in the period, the one
    whose previous submission was before it (services/stat_enterprises.py). The counts give
    those whose previous one was before the first day's month; the rest are counted here."""
    month_start = first.replace(day=1)
    day = DossierFact.received_on.between(first, last)
    if top_id is None:
        just_before = (DossierFact.prev_any >= month_start) & (DossierFact.prev_any < first)
        rest = DossierFact.select().where(just_before, day)
    else:
        just_before = (DossierFact.prev_top >= month_start) & (DossierFact.prev_top < first)
        rest = DossierFact.select().where(DossierFact.top_id == top_id, just_before, day)
    return stat_enterprises.counted(first, last, top_id) + rest.count()


def procedures_receiving(
    first: dt.date, last: dt.date, procedure_ids: list[int], top_id: int | None
) -> set[int]:
    """Of the procedures `procedure_ids`, those that received dossiers in the period (at the
    department or regional branch `top_id`, if given): one indexed look per procedure."""
    found = set()
    for procedure_id in procedure_ids:
        query = DossierFact.select(DossierFact.dossier).where(
            DossierFact.procedure_id == procedure_id,
            DossierFact.received_on.between(first, last),
        )
        if top_id is not None:
            query = query.where(DossierFact.top_id == top_id)
        if query.exists():
            found.add(procedure_id)
    return found


def _open(unit_ids: list[int] | None) -> Any:
    condition = Dossier.status.in_(IN_PROGRESS)
    return condition if unit_ids is None else condition & Dossier.unit.in_(unit_ids)


def open_counts(now: dt.datetime, unit_ids: list[int] | None) -> tuple[int, int]:
    """Dossiers in progress now, and of them those overdue (the clock running, past due)."""
    in_progress = Dossier.select().where(_open(unit_ids)).count()
    overdue = (
        Dossier.select()
        .where(_open(unit_ids), Dossier.status.in_(CLOCK_RUNNING), Dossier.due_at < now)
        .count()
    )
    return in_progress, overdue


def overdue_by_unit(now: dt.datetime, unit_ids: list[int] | None) -> dict[int, int]:
    """The overdue dossiers of each unit that has any."""
    rows = (
        Dossier.select(Dossier.unit, fn.COUNT(Dossier.id))
        .where(_open(unit_ids), Dossier.status.in_(CLOCK_RUNNING), Dossier.due_at < now)
        .group_by(Dossier.unit)
        .tuples()
    )
    return {unit_id or 0: int(n) for unit_id, n in rows}

