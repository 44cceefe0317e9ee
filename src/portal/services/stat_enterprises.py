"""The enterprises taking part in a period, counted from maintained counts: an enterprise
counts at its first submission in the period, the one whose previous submission (anywhere,
or to the same department or regional branch) came before the period's first day.

StatFirst holds, per scope (0: every unit; else a department or regional branch), day of
submission and month of the previous submission (0: none), how many submissions there were.
A period [first, last] adds up the rows whose previous month is before the first day's month,
and counts one by one (services/stat_figures) only the few submissions whose previous one falls
in the first day's month before it. services/stat_facts keeps the counts with the facts.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from peewee import fn

from portal.models import DossierFact, StatFirst

Key = tuple[int, dt.date, int]  # scope, day of submission, month of the previous one


def month_of(day: dt.date | None) -> int:
    return 0 if day is None else day.year * 12 + day.month - 1


def keys(top_id: int, day: dt.date, prev_any: dt.date | None, prev_top: dt.date | None
         ) -> list[Key]:
    """The counts one submission adds one to: every unit's, and its department's."""
    found = [(0, day, month_of(prev_any))]
    if top_id:
        found.append((top_id, day, month_of(prev_top)))
    return found


def _of(enterprise_ids: Iterable[int]) -> Counter:
    rows = DossierFact.select(
        DossierFact.top_id, DossierFact.received_on, DossierFact.prev_any, DossierFact.prev_top
    ).where(DossierFact.enterprise_id.in_(list(enterprise_ids))).tuples()
    return Counter(key for row in rows for key in keys(*row))


def add(deltas: Counter | dict[Key, int]) -> None:
    """Add `deltas` to the counts, creating the rows that are missing."""
    for (scope, day, month), n in sorted(deltas.items()):
        if n:
            StatFirst.insert(scope=scope, day=day, prev_month=month, n=n).on_conflict(
                conflict_target=[StatFirst.scope, StatFirst.day, StatFirst.prev_month],
                update={StatFirst.n: StatFirst.n + n},
            ).execute()


@contextmanager
def tracking(enterprise_ids: set[int]) -> Iterator[None]:
    """Bring the counts along with whatever the block changes in the enterprises' facts."""
    before = _of(enterprise_ids)
    yield
    after = _of(enterprise_ids)
    add({key: after[key] - before[key] for key in before.keys() | after.keys()})


def counted(first: dt.date, last: dt.date, top_id: int | None) -> int:
    """Submissions in [first, last] whose previous one was before the first day's month."""
    total = (
        StatFirst.select(fn.SUM(StatFirst.n))
        .where(
            StatFirst.scope == (top_id or 0),
            StatFirst.day.between(first, last),
            StatFirst.prev_month < month_of(first),
        )
        .scalar()
    )
    return int(total or 0)
