"""The statistics' maintained counts (services/stat_facts.py) equal a direct recount
(stats.recount) after random activity through the services, and `rebuild` makes the same
counts from the dossiers; on SQLite and PostgreSQL (the suite's DATABASE_URL)."""

from __future__ import annotations

import contextlib
import datetime as dt
import random

import pytest

from portal.db import db
from portal.models import Dossier, DossierFact, StatDay, StatFirst, Unit, utcnow
from portal.services import dossiers, processing, stat_facts, stats, stats_trend
from portal.services.errors import DomainError, NotFound, ValidationError
from portal.services.status import DRAFT
from portal.services.workflow import available
from tests.dossier_fixtures import PDF, complete_draft, ctx_of, documents, forms, people
from tests.test_properties_workflow import KIND_OF, PEOPLE, onward, snapshot
from tests.test_stats import enterprises

__all__ = ["ctx_of", "enterprises", "forms", "people"]  # fixtures used by the tests below

OTHER_UNIT = "01AB"  # another regional branch's office than tests.dossier_fixtures.UNIT


def random_activity(rng: random.Random, ctxs: dict, signed_result: bytes, n: int) -> list[int]:
    """`n` dossiers of two enterprises to two offices, moved by random steps (mostly onward,
    some offered to somebody, some refused); one in five promised a date already past."""
    owners = ["owner", "stranger"]
    made = []
    for i in range(n):
        owner = ctxs[owners[i % 2]]
        did = complete_draft(owner, "02CI" if i % 3 else OTHER_UNIT)
        if i % 4 != 3:  # some stay drafts, which are never counted
            dossiers.submit(owner, did, f"counts-{did}")
        made.append(did)
    supplement = documents()[0].id
    for _ in range(n * 12):
        did = rng.choice(made)
        dossier, facts, _ = snapshot(did)
        if facts.status == DRAFT:
            continue
        roll = rng.random()
        if roll < 0.6:
            action, who = onward(facts, supplement_sent=rng.random() < 0.7)
        else:
            offered = [(t.action, p) for p in PEOPLE if p in KIND_OF
                       for t in available(KIND_OF[p], facts)]
            if not offered:
                continue
            action, who = rng.choice(offered)
        if who == "owner" and dossier.owner_id != ctxs["owner"].user.id:
            who = "stranger"
        ctx = ctxs[who]
        with contextlib.suppress(DomainError, NotFound, ValidationError):
            if action == "attach_result":
                processing.upload_result(ctx, did, "ket-qua.pdf", [signed_result])
            elif action == "attach_supplement":
                dossiers.add_attachment(ctx, did, supplement, "bo-sung.pdf", [PDF],
                                        purpose="supplement")
            else:
                processing.act(ctx, did, action, "Ghi chú kiểm thử", to_user=None)
        if rng.random() < 0.2:
            with db.connection_context():
                past = utcnow() - dt.timedelta(days=rng.randint(1, 3))
                Dossier.update(due_at=past).where(Dossier.id == did, Dossier.due_at.is_null(False)
                                                  ).execute()
                # The promised date passing is not an event: nothing else records it.
                stat_facts.refresh(did)
    return made


def compare(query: stats.StatsQuery, now: dt.datetime) -> stats.Report:
    counted, recounted = stats.build_report(query, now), stats.recount(query, now)
    assert counted.figures == recounted.figures, query
    assert stats_trend.monthly_trend(query) == stats_trend.recount_trend(query, now), query
    assert stats_trend.procedure_reach(query) == stats_trend.recount_reach(query, now), query
    with db.connection_context():
        assert stats.unit_rows(query, now) == list(recounted.units.items), query
    return counted


def table_rows() -> tuple[list, list, list]:
    """The maintained counts, without the rows that count nothing (left by changes)."""
    with db.connection_context():
        facts = list(DossierFact.select().order_by(DossierFact.dossier).tuples())
        days = [r for r in StatDay.select().order_by(StatDay.day, StatDay.unit_id).tuples()
                if any(r[3:])]
        firsts = [r for r in StatFirst.select(StatFirst.scope, StatFirst.day,
                                              StatFirst.prev_month, StatFirst.n)
                  .order_by(StatFirst.scope, StatFirst.day, StatFirst.prev_month).tuples()
                  if r[3]]
    return facts, [r[1:] for r in days], firsts


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_counts_equal_a_recount_after_random_activity(people, ctx_of, signed_result, seed):
    ctxs = {name: ctx_of(getattr(people, name)) for name in PEOPLE}
    random_activity(random.Random(seed), ctxs, signed_result, n=8)
    today = stats.local_today()
    with db.connection_context():
        top = Unit.get_by_id(stat_facts.top_of(Unit.get(Unit.code == "02CI",
                                                        Unit.structure == "2025").id))
    periods = [
        {},  # 1 January to today
        {"from": today.isoformat(), "to": today.isoformat()},
        {"from": (today - dt.timedelta(days=400)).isoformat(), "to": today.isoformat()},
        {"from": "2001-01-01", "to": "2001-12-31"},  # nothing
    ]
    seen = 0
    for later in (0, 40):  # now, and when the promised dates have passed
        now = utcnow() + dt.timedelta(days=later)
        for period in periods:
            for unit in ("", top.code):
                for sort in ("-received", "rate", "unit", "-overdue"):
                    raw = {**period, "unit": unit, "sort": sort}
                    report = compare(stats.clean_query(raw, 1, today), now)
                    seen += report.figures.received
    assert seen > 0  # the comparisons were not all of empty periods
    before = table_rows()
    with db.connection_context():
        stat_facts.rebuild()
    assert table_rows() == before


def test_rebuild_counts_dossiers_loaded_in_bulk(people, ctx_of, signed_result):
    """Counts lost or never made (a bulk load) come back with `rebuild`."""
    ctxs = {name: ctx_of(getattr(people, name)) for name in PEOPLE}
    random_activity(random.Random(7), ctxs, signed_result, n=6)
    query = stats.clean_query({}, 1, stats.local_today())
    want = stats.recount(query).figures
    assert want.received > 0
    with db.connection_context():
        DossierFact.delete().execute()
        StatDay.delete().execute()
    assert stats.build_report(query).figures.received == 0
    with db.connection_context():
        facts, days = stat_facts.rebuild(enterprises_per_batch=1)
    assert facts == want.received and days > 0
    assert stats.build_report(query).figures == want


def test_a_unit_moved_to_another_department_is_counted_there(people, ctx_of, signed_result):
    """An administrator moves a 2016 branch with dossiers under another department: the
    department figures follow it, as a recount does."""
    from portal.services.units import get_unit, save_unit

    ctxs = {name: ctx_of(getattr(people, name)) for name in PEOPLE}
    random_activity(random.Random(11), ctxs, signed_result, n=5)
    with db.connection_context():
        # The dossiers went to the 2025 offices; place some in a 2016 branch of department 02.
        branch = Unit.get(Unit.code == "02CI", Unit.structure == "2016")
        moved = [d.id for d in Dossier.select().where(Dossier.status != DRAFT).limit(3)]
        Dossier.update(unit=branch).where(Dossier.id.in_(moved)).execute()
        for did in moved:
            stat_facts.refresh(did)
    today = stats.local_today()
    last_year = {"from": (today - dt.timedelta(days=400)).isoformat(), "to": today.isoformat()}
    for department in ("02", "01"):
        compare(stats.clean_query({**last_year, "unit": f"2016:{department}"}, 1, today), utcnow())
    before = stats.build_report(stats.clean_query({**last_year, "unit": "2016:01"}, 1, today))
    with db.connection_context(), db.atomic():
        unit = get_unit("2016:02CI")
        save_unit({"code": unit.code, "name": unit.name, "kind": "branch", "structure": "2016",
                   "parent_code": "01", "active": "1"}, original_code="2016:02CI")
    after = compare(stats.clean_query({**last_year, "unit": "2016:01"}, 1, today), utcnow())
    compare(stats.clean_query({**last_year, "unit": "2016:02"}, 1, today), utcnow())
    assert after.figures.received == before.figures.received + 3
    assert after.figures.enterprises >= 1


def test_the_open_dossiers_index_names_the_inbox_open_statuses():
    from portal.models import OPEN_STATUSES
    from portal.services.inbox import OPEN

    assert OPEN_STATUSES == OPEN


@pytest.mark.parametrize(("first", "last", "want"), [
    ("2025-03-05", "2025-03-31", 1),  # the previous one (3 March) is in the same month
    ("2025-03-11", "2025-04-19", 0),  # nothing filed inside
    ("2025-04-01", "2025-04-30", 1),  # the previous one is in an earlier month
    ("2025-03-10", "2025-03-10", 1),
    ("2025-03-01", "2025-04-30", 1),  # three submissions, one enterprise
])
def test_an_enterprise_counts_once_however_its_submissions_fall(enterprises, first, last, want):
    """Enterprise A files on 3 and 10 March and 20 April 2025 to one office; B on 10 March to
    a branch of another department."""
    from tests.test_stats import add_dossier, local

    with db.connection_context():
        for day in ((3, 3), (3, 10), (4, 20)):
            add_dossier("02CI", enterprises["A"], 2, submitted_at=local(2025, *day, 9))
        add_dossier("01AB", enterprises["B"], 2, submitted_at=local(2025, 3, 10, 9))
    b_counts = first <= "2025-03-10" <= last
    for unit, expected in (("", want + b_counts), ("2016:02", want), ("2016:01", int(b_counts))):
        query = stats.clean_query({"from": first, "to": last, "unit": unit}, 1, dt.date(2025, 5, 1))
        assert compare(query, utcnow()).figures.enterprises == expected, unit


def test_the_counts_stay_equal_to_a_recount_when_dossiers_change_at_once(people, ctx_of):
    """Two enterprises' dossiers submitted, received and refused or withdrawn from ten threads
    at once (the counts are shared rows every change adds to): no change is lost."""
    from concurrent.futures import ThreadPoolExecutor

    owners = [ctx_of(people.owner), ctx_of(people.stranger)]
    drafts = [(owners[i % 2], complete_draft(owners[i % 2])) for i in range(16)]
    officer = ctx_of(people.officer)

    def move(item: tuple) -> None:
        owner, did = item
        dossiers.submit(owner, did, f"race-{did}")
        processing.act(officer, did, "receive")
        if did % 2:
            processing.act(officer, did, "start_processing")
        else:
            processing.act(owner, did, "withdraw", "Rút hồ sơ")

    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(move, drafts))  # re-raises the first error of any thread
    today = stats.local_today()
    report = compare(stats.clean_query({}, 1, today), utcnow())
    assert report.figures.received == 16 and report.figures.enterprises == 2
    assert report.figures.withdrawn + report.figures.in_progress == 16
    before = table_rows()
    with db.connection_context():
        stat_facts.rebuild()
    assert table_rows() == before
