"""Submissions at once: fifty drafts to one unit get gap-free, distinct codes and an intact
history; one draft sent twice at once (a double click reaching two workers) is submitted once."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

from portal.db import db, is_postgres
from portal.models import Dossier, DossierEvent, DossierSequence
from portal.services import dossiers, history
from portal.services.errors import DomainError
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import UNIT, complete_draft

COUNT = 50


def test_fifty_simultaneous_submissions_get_consecutive_codes(people, ctx_of):
    ctx = ctx_of(people.owner)
    drafts = [complete_draft(ctx) for _ in range(COUNT)]

    def submit(dossier_id: int) -> str:
        return dossiers.submit(ctx, dossier_id, f"key-{dossier_id}").code

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(submit, drafts))  # re-raises the first error of any thread

    assert len(set(codes)) == COUNT
    day = codes[0][len(UNIT) + 1:len(UNIT) + 7]
    assert all(re.fullmatch(rf"{UNIT}-{day}-\d{{4}}", code) for code in codes)
    assert sorted(int(code[-4:]) for code in codes) == list(range(1, COUNT + 1))
    with db.connection_context():
        rows = {d.id: d for d in Dossier.select().where(Dossier.id.in_(drafts))}
        assert all(rows[i].status == 1 and rows[i].code == c for i, c in zip(drafts, codes,
                                                                                strict=True))
        sequence = DossierSequence.get(DossierSequence.day == day)
        assert sequence.last == COUNT
        assert DossierEvent.select().where(DossierEvent.action == "submit").count() == COUNT
    checked, broken, problem = history.verify_chain()
    assert (checked, broken, problem) == (COUNT, None, "")


def _wait_until_blocked(count: int) -> None:
    """Wait until `count` other sessions wait, directly or behind each other, on a lock this
    session holds (PostgreSQL); on SQLite give the threads time to reach the lock."""
    if not is_postgres():
        time.sleep(0.5)
        return
    query = """
        SELECT count(*) FROM pg_stat_activity a
         WHERE pg_backend_pid() = ANY(pg_blocking_pids(a.pid))
           OR EXISTS (SELECT 1 FROM pg_stat_activity b
                      WHERE pg_backend_pid() = ANY(pg_blocking_pids(b.pid))
                        AND b.pid = ANY(pg_blocking_pids(a.pid)))"""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        db.execute_sql("SELECT pg_stat_clear_snapshot()")
        if db.execute_sql(query).fetchone()[0] >= count:
            return
        time.sleep(0.02)
    raise AssertionError("the submissions never reached the lock")


def test_a_draft_submitted_twice_at_once_is_submitted_once(people, ctx_of):
    ctx = ctx_of(people.owner)
    dossiers.submit(ctx, complete_draft(ctx), "earlier")  # today's sequence row: 0001
    draft = complete_draft(ctx)

    def submit() -> str | DomainError:
        try:
            return dossiers.submit(ctx, draft, "double-click").code
        except DomainError as exc:  # "no longer a draft" is an acceptable answer
            return exc

    with ThreadPoolExecutor(max_workers=2) as pool:
        # Hold today's sequence row (and SQLite's write lock) so both requests are in flight
        # together, then let them go.
        with db.connection_context(), db.atomic():
            DossierSequence.update(last=DossierSequence.last).execute()
            futures = [pool.submit(submit) for _ in range(2)]
            _wait_until_blocked(2)
        answers = [f.result(timeout=30) for f in futures]

    with db.connection_context():
        final = Dossier.get_by_id(draft)
        submits = DossierEvent.select().where(DossierEvent.dossier == draft,
                                              DossierEvent.action == "submit").count()
        last = DossierSequence.get().last
    assert final.code.endswith("-0002")
    assert [a for a in answers if not isinstance(a, DomainError)] in ([final.code],
                                                                      [final.code] * 2)
    assert submits == 1
    assert last == 2
