"""The statistics' maintained counts: one fact per submitted dossier (DossierFact) and the
counts per unit and day (StatDay) that the facts add up to.

`refresh` runs in the transaction of every event recorded on a dossier (services/history.py),
so the counts change with the dossier, on every path (web, API, jobs); `rebuild` recomputes
everything from the dossiers (`run.py rebuild-statistics`), for data loaded in bulk. The
definitions are those of the direct recount in services/stats.py: a dossier is received on
the day it was submitted, completed on the day its result was returned (or, while it waits to
be returned, issued), on time when that moment is not after its promised date, and withdrawn,
refused or stopped on the day it ended so. Days are Vietnam's calendar days.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass, fields, replace

from peewee import fn

from portal.db import transactional
from portal.models import Dossier, DossierEvent, DossierFact, StatDay, StatFirst, Unit
from portal.services import stat_enterprises
from portal.services.deadlines import to_local
from portal.services.status import DRAFT, PROCESSED, REFUSED, RETURNED, STOPPED, WITHDRAWN

TOP_KIND = "department"  # departments (2016) and regional branches (2025)
COMPLETED = (PROCESSED, RETURNED)
CLOSED = {WITHDRAWN: "withdrawn", REFUSED: "refused", STOPPED: "stopped"}
COUNTS = ("received", "counter", "completed", "on_time", "withdrawn", "refused", "stopped")
# The dossier's columns a fact is made of.
COLUMNS = (
    Dossier.id,
    Dossier.unit,
    Dossier.procedure,
    Dossier.enterprise,
    Dossier.status,
    Dossier.channel,
    Dossier.submitted_at,
    Dossier.due_at,
    Dossier.finished_at,
)
BATCH = 2_000  # rows per INSERT: SQLite takes at most 32,766 values


@dataclass(frozen=True)
class Fact:
    dossier_id: int
    unit_id: int
    top_id: int
    procedure_id: int
    enterprise_id: int
    received_on: dt.date
    counter: bool
    done_on: dt.date | None
    on_time: bool
    closed_on: dt.date | None
    closed_status: int | None
    prev_any: dt.date | None = None
    prev_top: dt.date | None = None

    def counts(self) -> Iterator[tuple[tuple[int, dt.date], str]]:
        """The (unit, day) counts this dossier adds one to."""
        yield (self.unit_id, self.received_on), "received"
        if self.counter:
            yield (self.unit_id, self.received_on), "counter"
        if self.done_on is not None:
            yield (self.unit_id, self.done_on), "completed"
            if self.on_time:
                yield (self.unit_id, self.done_on), "on_time"
        if self.closed_on is not None and self.closed_status in CLOSED:
            yield (self.unit_id, self.closed_on), CLOSED[self.closed_status]


def _day(moment: dt.datetime) -> dt.date:
    return to_local(moment).date()


def tops() -> dict[int, int]:
    """Each unit's department or regional branch (itself, or its ancestor of that kind)."""
    units = {u.id: u for u in Unit.select(Unit.id, Unit.kind, Unit.parent)}
    found: dict[int, int] = {}
    for unit in units.values():
        node, seen = unit, set()
        while node.kind != TOP_KIND and node.parent_id in units and node.id not in seen:
            seen.add(node.id)
            node = units[node.parent_id]
        if node.kind == TOP_KIND:
            found[unit.id] = node.id
    return found


def top_of(unit_id: int) -> int:
    """One unit's department or regional branch (0 if none)."""
    seen: set[int] = set()
    while unit_id and unit_id not in seen:
        seen.add(unit_id)
        unit = Unit.select(Unit.kind, Unit.parent).where(Unit.id == unit_id).first()
        if unit is None:
            return 0
        if unit.kind == TOP_KIND:
            return unit_id
        unit_id = unit.parent_id or 0
    return 0


def fact_of(row: dict, issued_at: dt.datetime | None, top_id: int) -> Fact | None:
    """The fact of a dossier's row (COLUMNS, as a dict) whose result was last issued at
    `issued_at` (None if never); None for a draft."""
    if row["status"] == DRAFT or row["submitted_at"] is None:
        return None
    unit_id = row["unit"] or 0
    done = row["finished_at"] or issued_at
    completed = row["status"] in COMPLETED and done is not None
    closed = row["status"] in CLOSED and row["finished_at"] is not None
    return Fact(
        dossier_id=row["id"],
        unit_id=unit_id,
        top_id=top_id,
        procedure_id=row["procedure"],
        enterprise_id=row["enterprise"],
        received_on=_day(row["submitted_at"]),
        counter=row["channel"] == "counter",
        done_on=_day(done) if completed else None,
        on_time=completed and row["due_at"] is not None and done <= row["due_at"],
        closed_on=_day(row["finished_at"]) if closed else None,
        closed_status=row["status"] if closed else None,
    )


def _stored(dossier_id: int) -> Fact | None:
    row = DossierFact.select().where(DossierFact.dossier == dossier_id).dicts().first()
    if row is None:
        return None
    row["dossier_id"] = row.pop("dossier")
    return Fact(**row)


def _add(deltas: dict[tuple[int, dt.date], Counter]) -> None:
    """Add `deltas` to the counts of each (unit, day), creating the rows that are missing."""
    for (unit_id, day), delta in sorted(deltas.items()):
        delta = {k: v for k, v in delta.items() if v}
        if not delta:
            continue
        values = {"unit_id": unit_id, "day": day, **dict.fromkeys(COUNTS, 0), **delta}
        StatDay.insert(values).on_conflict(
            conflict_target=[StatDay.day, StatDay.unit_id],
            update={getattr(StatDay, k): getattr(StatDay, k) + v for k, v in delta.items()},
        ).execute()


def _latest(enterprise_id: int, top_id: int | None = None) -> dt.date | None:
    """The enterprise's last day of submission (to the department `top_id`, if given)."""
    query = DossierFact.select(fn.MAX(DossierFact.received_on)).where(
        DossierFact.enterprise_id == enterprise_id
    )
    if top_id is not None:
        query = query.where(DossierFact.top_id == top_id)
    return query.scalar()


def refresh(dossier_id: int) -> None:
    """Bring the dossier's fact and the counts up to date with the dossier and its history
    (inside the transaction that changed it: history.record calls it for every event)."""
    row = Dossier.select(*COLUMNS).where(Dossier.id == dossier_id).dicts().first()
    if row is None:
        return
    old = _stored(dossier_id)
    unit_id = row["unit"] or 0
    # A unit's department changes only through retop(), which files its facts again.
    top_id = old.top_id if old is not None and old.unit_id == unit_id else top_of(unit_id)
    # The result's issue is its completion while it waits to be returned (no finished_at).
    waiting = row["status"] in COMPLETED and row["finished_at"] is None
    new = fact_of(row, _issued([dossier_id]).get(dossier_id) if waiting else None, top_id)
    placed = old is not None and new is not None and _place(old) == _place(new)
    if placed:
        new = replace(new, prev_any=old.prev_any, prev_top=old.prev_top)
    if new == old:
        return
    deltas: dict[tuple[int, dt.date], Counter] = defaultdict(Counter)
    for key, name in old.counts() if old else ():
        deltas[key][name] -= 1
    for key, name in new.counts() if new else ():
        deltas[key][name] += 1
    _add(deltas)
    if placed:  # its previous days, and the other facts', stay as they are
        DossierFact.delete().where(DossierFact.dossier == dossier_id).execute()
        _insert([new])
    elif old is None and new is not None and _is_last(new):
        # A new submission that comes last in its enterprise's chain (as they mostly do): its
        # previous days are the enterprise's latest; no other fact changes.
        latest_top = _latest(new.enterprise_id, new.top_id)
        new = replace(new, prev_any=_latest(new.enterprise_id), prev_top=latest_top)
        _insert([new])
        stat_enterprises.add(Counter(stat_enterprises.keys(*_chain_of(new))))
    else:
        affected = {f.enterprise_id for f in (old, new) if f is not None}
        with stat_enterprises.tracking(affected):
            DossierFact.delete().where(DossierFact.dossier == dossier_id).execute()
            _insert([new] if new else [])
            for enterprise_id in affected:
                rechain(enterprise_id)


def _chain_of(fact: Fact) -> tuple[int, dt.date, dt.date | None, dt.date | None]:
    return fact.top_id, fact.received_on, fact.prev_any, fact.prev_top


def _place(fact: Fact) -> tuple[int, int, dt.date]:
    """What a fact's previous days depend on."""
    return fact.enterprise_id, fact.top_id, fact.received_on


def _is_last(fact: Fact) -> bool:
    """Whether the fact comes after all of its enterprise's in the chain's order (day, then
    dossier), as rechain() and rebuild() order them: submissions made at once on one day may
    arrive in any order."""
    f = DossierFact
    after = (f.received_on > fact.received_on) | (
        (f.received_on == fact.received_on) & (f.dossier > fact.dossier_id)
    )
    return not f.select().where(f.enterprise_id == fact.enterprise_id, after).exists()


def rechain(enterprise_id: int) -> None:
    """Recompute the previous days of submission of the enterprise's dossiers."""
    rows = list(
        DossierFact.select(DossierFact.dossier, DossierFact.top_id, DossierFact.received_on,
                           DossierFact.prev_any, DossierFact.prev_top)
        .where(DossierFact.enterprise_id == enterprise_id)
        .order_by(DossierFact.received_on, DossierFact.dossier)
        .tuples()
    )
    last_any: dt.date | None = None
    last_top: dict[int, dt.date] = {}
    for dossier_id, top_id, day, prev_any, prev_top in rows:
        want = (last_any, last_top.get(top_id))
        if (prev_any, prev_top) != want:
            DossierFact.update(prev_any=want[0], prev_top=want[1]).where(
                DossierFact.dossier == dossier_id
            ).execute()
        last_any, last_top[top_id] = day, day


def retop() -> int:
    """After units moved in the tree or changed kind: give the facts of each moved unit its
    department or regional branch now, and its enterprises' previous days again. Returns
    how many units moved."""
    top_ids = tops()
    stored = DossierFact.select(DossierFact.unit_id, DossierFact.top_id).distinct().tuples()
    moved = [unit_id for unit_id, top_id in stored if top_ids.get(unit_id, 0) != top_id]
    if not moved:
        return 0
    enterprises = (
        DossierFact.select(DossierFact.enterprise_id)
        .where(DossierFact.unit_id.in_(moved))
        .distinct()
        .tuples()
    )
    affected = {enterprise_id for (enterprise_id,) in enterprises}
    with stat_enterprises.tracking(affected):
        for unit_id in moved:
            DossierFact.update(top_id=top_ids.get(unit_id, 0)).where(
                DossierFact.unit_id == unit_id
            ).execute()
        for enterprise_id in affected:
            rechain(enterprise_id)
    return len(moved)


def _insert(facts: Iterable[Fact]) -> None:
    names = [f.name for f in fields(Fact)]
    columns = [DossierFact.dossier if n == "dossier_id" else getattr(DossierFact, n) for n in names]
    rows = [astuple(f) for f in facts]
    if rows:
        DossierFact.insert_many(rows, fields=columns).execute()


def _issued(dossier_ids: list[int]) -> dict[int, dt.datetime]:
    """When each of the dossiers' results was last issued (status 9), for those issued."""
    rows = (
        DossierEvent.select(DossierEvent.dossier, fn.MAX(DossierEvent.created_at))
        .where(
            DossierEvent.dossier.in_(dossier_ids),
            DossierEvent.action == "issue_result",
            DossierEvent.status_after == PROCESSED,
        )
        .group_by(DossierEvent.dossier)
        .tuples()
    )
    return dict(rows)


def _chained(facts: list[Fact]) -> Iterator[Fact]:
    """The facts (of whole enterprises) with their previous days of submission."""
    facts.sort(key=lambda f: (f.enterprise_id, f.received_on, f.dossier_id))
    enterprise, last_any, last_top = None, None, {}
    for fact in facts:
        if fact.enterprise_id != enterprise:
            enterprise, last_any, last_top = fact.enterprise_id, None, {}
        yield replace(fact, prev_any=last_any, prev_top=last_top.get(fact.top_id))
        last_any = last_top[fact.top_id] = fact.received_on


@transactional
def rebuild(enterprises_per_batch: int = 500) -> tuple[int, int]:
    """Recompute every fact and count from the dossiers and their history, in one
    transaction: (facts, unit-days). Writers wait for it on SQLite."""
    top_ids = tops()
    DossierFact.delete().execute()
    StatDay.delete().execute()
    StatFirst.delete().execute()
    counts: dict[tuple[int, dt.date], Counter] = defaultdict(Counter)
    firsts: Counter = Counter()
    last = Dossier.select(fn.MAX(Dossier.enterprise)).scalar() or 0
    total = 0
    for first in range(0, last + 1, enterprises_per_batch):
        rows = list(
            Dossier.select(*COLUMNS)
            .where(
                Dossier.enterprise.between(first, first + enterprises_per_batch - 1),
                Dossier.status != DRAFT,
            )
            .dicts()
        )
        issued = _issued([r["id"] for r in rows]) if rows else {}
        made = (fact_of(r, issued.get(r["id"]), top_ids.get(r["unit"] or 0, 0)) for r in rows)
        facts = [fact for fact in made if fact is not None]
        chained = list(_chained(facts))
        for fact in chained:
            for key, name in fact.counts():
                counts[key][name] += 1
            firsts.update(stat_enterprises.keys(*_chain_of(fact)))
        for start in range(0, len(chained), BATCH):
            _insert(chained[start : start + BATCH])
        total += len(chained)
    rows = [
        {"unit_id": unit_id, "day": day, **{name: c[name] for name in COUNTS}}
        for (unit_id, day), c in sorted(counts.items())
    ]
    for start in range(0, len(rows), BATCH):
        StatDay.insert_many(rows[start : start + BATCH]).execute()
    first_rows = [
        {"scope": scope, "day": day, "prev_month": month, "n": n}
        for (scope, day, month), n in sorted(firsts.items())
    ]
    for start in range(0, len(first_rows), BATCH):
        StatFirst.insert_many(first_rows[start : start + BATCH]).execute()
    return total, len(rows)
