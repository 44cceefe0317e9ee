"""The applicant's rating of an ended dossier (once, final, in the history; refused before the
end, twice, or by anybody else) and the satisfaction figures over hand-built ratings: the
summary of a period and units, and the rows per department (or regional branch) and quarter
of Vietnam's calendar."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from portal.db import db
from portal.models import Dossier, DossierEvent, Procedure, Rating, Unit, User
from portal.services import dossiers, history, processing, satisfaction
from portal.services.deadlines import to_utc
from portal.services.errors import DomainError, NotFound, ValidationError
from portal.services.satisfaction import DISSATISFIED, SATISFIED, VERY_SATISFIED
from portal.services.status import RETURNED, STOPPED
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import complete_draft

ALL_SATISFIED = {name: str(SATISFIED) for name in satisfaction.QUESTIONS}


def ended(people, ctx_of) -> int:
    """A dossier of the owner, received then stopped by the officer: it has ended."""
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    did = dossiers.submit(owner, complete_draft(owner), "").id
    processing.act(officer, did, "receive")
    processing.act(officer, did, "stop_processing", "Doanh nghiệp đề nghị dừng.")
    return did


def test_the_applicant_rates_an_ended_dossier_once(people, ctx_of):
    did = ended(people, ctx_of)
    answers = {
        **ALL_SATISFIED,
        "conduct": str(VERY_SATISFIED),
        "overall": str(DISSATISFIED),
        "comment": "  Cán bộ hướng dẫn tận tình.\r\nNhưng chậm.  ",
    }
    rating = satisfaction.rate(ctx_of(people.owner), did, answers)

    with db.connection_context():
        stored = Rating.get(Rating.dossier == did)
        dossier = Dossier.get_by_id(did)
    assert stored.id == rating.id and stored.unit_id == dossier.unit_id
    assert (
        stored.information,
        stored.timeliness,
        stored.conduct,
        stored.result,
        stored.online_service,
        stored.overall,
    ) == (2, 2, 3, 2, 2, 1)
    assert stored.comment == "Cán bộ hướng dẫn tận tình.\nNhưng chậm."
    # In the processing history, public, by the applicant, the status unchanged.
    event = history.latest(did, "rate")
    assert event is not None and event.public and event.actor_id == people.owner.id
    assert event.status_before == event.status_after == STOPPED
    assert event.note == "Đánh giá chung: Không hài lòng"
    assert history.verify_chain()[2] == ""

    # Final: nobody of the enterprise rates it again, and nothing changed.
    for who in (people.owner, people.colleague):
        with pytest.raises(DomainError) as exc:
            satisfaction.rate(ctx_of(who), did, ALL_SATISFIED)
        assert exc.value.kind == "conflict"
        assert exc.value.message.text == satisfaction.RATED_ALREADY
    with db.connection_context():
        assert Rating.select().count() == 1
        assert DossierEvent.select().where(DossierEvent.action == "rate").count() == 1
    assert satisfaction.rating_of(did).overall == DISSATISFIED


def test_a_dossier_that_has_not_ended_is_not_rated(people, ctx_of):
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    did = dossiers.submit(owner, complete_draft(owner), "").id
    processing.act(officer, did, "receive")
    with pytest.raises(DomainError) as exc:
        satisfaction.rate(owner, did, ALL_SATISFIED)
    assert exc.value.kind == "conflict" and exc.value.message.text == satisfaction.NOT_ENDED
    # Withdrawn: it has ended, the applicant may rate it.
    processing.act(owner, did, "withdraw", "Không cần nữa.")
    assert satisfaction.rate(owner, did, ALL_SATISFIED).overall == SATISFIED


def test_nobody_but_the_applicant_rates(people, ctx_of):
    did = ended(people, ctx_of)
    with pytest.raises(NotFound):  # another enterprise's: it does not exist for them
        satisfaction.rate(ctx_of(people.stranger), did, ALL_SATISFIED)
    with pytest.raises(NotFound):
        satisfaction.rate(ctx_of(people.far_officer), did, ALL_SATISFIED)
    with pytest.raises(DomainError) as exc:  # the unit's officer sees it but does not rate
        satisfaction.rate(ctx_of(people.officer), did, ALL_SATISFIED)
    assert exc.value.kind == "forbidden"
    with pytest.raises(NotFound):
        satisfaction.rate(ctx_of(people.owner), 999_999, ALL_SATISFIED)
    with db.connection_context():
        assert Rating.select().count() == 0


def test_every_answer_is_required_and_checked(people, ctx_of):
    did = ended(people, ctx_of)
    owner = ctx_of(people.owner)
    with pytest.raises(ValidationError) as exc:
        satisfaction.rate(owner, did, {})
    assert set(exc.value.errors) == set(satisfaction.QUESTIONS)
    with pytest.raises(ValidationError) as exc:
        satisfaction.rate(
            owner,
            did,
            {**ALL_SATISFIED, "result": "4", "online_service": "x", "comment": "x" * 2001},
        )
    assert set(exc.value.errors) == {"result", "online_service", "comment"}
    with db.connection_context():
        assert Rating.select().count() == 0
        assert DossierEvent.select().where(DossierEvent.action == "rate").count() == 0
    satisfaction.rate(owner, did, {**ALL_SATISFIED, "comment": "x" * 2000})


def test_the_list_knows_which_ended_dossiers_wait_for_a_rating(people, ctx_of):
    first, second = ended(people, ctx_of), ended(people, ctx_of)
    owner = ctx_of(people.owner)
    running = dossiers.submit(owner, complete_draft(owner), "").id
    enterprise = people.owner.enterprise_id
    assert satisfaction.awaiting(enterprise, [first, second, running]) == (2, {first, second})
    satisfaction.rate(owner, first, ALL_SATISFIED)
    assert satisfaction.awaiting(enterprise, [first, running]) == (1, set())
    assert satisfaction.awaiting(people.stranger.enterprise_id, [second]) == (0, set())


# --- figures over hand-built ratings ---------------------------------------------------------


def local(*args: int) -> dt.datetime:
    """A local (Vietnam) time as the UTC datetime the database keeps."""
    return to_utc(dt.datetime(*args))


def unit(code: str, structure: str = "2016") -> Unit:
    return Unit.get(Unit.code == code, Unit.structure == structure)


def add_rating(
    code: str, rated_at: dt.datetime, overall: int, structure: str = "2016", **answers: int
) -> None:
    """A returned dossier of `code` and its rating (the other criteria satisfied unless
    given)."""
    proc = Procedure.get(Procedure.code == "1.005458")
    owner = User.get(User.role == "enterprise")
    dossier = Dossier.create(
        procedure=proc,
        enterprise=owner.enterprise_id,
        owner=owner,
        unit=unit(code, structure),
        status=RETURNED,
    )
    values = {name: answers.get(name, SATISFIED) for name in satisfaction.CRITERIA}
    Rating.create(
        dossier=dossier, unit=dossier.unit_id, rated_at=rated_at, overall=overall, **values
    )


@pytest.fixture
def ratings(people):
    """Ratings around the first quarter of 2025 in Vietnam's time; comments say where each
    falls."""
    with db.connection_context():
        add_rating("02CI", local(2024, 12, 31, 23, 59), VERY_SATISFIED)  # before Q1
        add_rating(
            "02CI",
            local(2025, 1, 1, 0, 0),
            VERY_SATISFIED,  # Q1's first instant
            information=DISSATISFIED,
        )
        add_rating("02AB", local(2025, 2, 10, 9), SATISFIED, online_service=VERY_SATISFIED)
        add_rating(
            "02CI",
            local(2025, 3, 31, 23, 59),
            DISSATISFIED,  # Q1 (16:59 UTC)
            timeliness=DISSATISFIED,
        )
        add_rating("01AB", local(2025, 3, 5, 9), SATISFIED)
        add_rating("02CI", local(2025, 4, 1, 0, 30), DISSATISFIED)  # Q2 (31/3 17:30 UTC)
        add_rating("02CI", local(2025, 5, 2, 9), VERY_SATISFIED, structure="2025")  # KV02
        add_rating("02", local(2025, 5, 3, 9), SATISFIED)  # the department's own dossier


def test_the_summary_counts_the_period_and_the_units(ratings):
    q1 = (local(2025, 1, 1), local(2025, 4, 1))
    got = satisfaction.summary(*q1, None)
    assert (got.count, got.very_satisfied, got.satisfied, got.dissatisfied) == (4, 1, 2, 1)
    assert got.rate == Decimal("75.0")
    assert got.criteria["information"] == satisfaction.Counts(0, 3, 1)
    assert got.criteria["timeliness"] == satisfaction.Counts(0, 3, 1)
    assert got.criteria["online_service"] == satisfaction.Counts(1, 3, 0)
    assert got.criteria["conduct"].rate == Decimal("100.0")
    assert set(got.criteria) == set(satisfaction.CRITERIA)

    with db.connection_context():
        hcm = [unit("02CI").id, unit("02AB").id]
    mine = satisfaction.summary(*q1, hcm)
    assert (mine.count, mine.very_satisfied, mine.satisfied, mine.dissatisfied) == (3, 1, 1, 1)
    assert mine.rate == Decimal("66.7")
    empty = satisfaction.summary(*q1, [])
    assert (empty.count, empty.rate, empty.criteria["result"].count) == (0, None, 0)
    # The end is excluded, the start included.
    whole = satisfaction.summary(local(2024, 12, 31, 23, 59), local(2025, 5, 3, 9), None)
    assert whole.count == 7


def test_the_rows_per_top_unit_and_quarter(ratings):
    rows = satisfaction.by_unit_quarter(local(2025, 1, 1), local(2026, 1, 1), None)
    got = [(r.unit_code, r.year, r.quarter, r.count, r.rate) for r in rows]
    assert got == [
        ("01", 2025, 1, 1, Decimal("100.0")),
        ("02", 2025, 1, 3, Decimal("66.7")),
        ("02", 2025, 2, 2, Decimal("50.0")),  # 02CI's on 1 April, and the department's own
        ("KV02", 2025, 2, 1, Decimal("100.0")),  # the 2025 office's, under its branch
    ]
    with db.connection_context():
        assert rows[0].unit_name == unit("01").name
    # Limited to units: 02AB's only.
    with db.connection_context():
        only = [unit("02AB").id]
    rows = satisfaction.by_unit_quarter(local(2024, 10, 1), local(2026, 1, 1), only)
    assert [(r.unit_code, r.year, r.quarter, r.count) for r in rows] == [("02", 2025, 1, 1)]
    assert satisfaction.by_unit_quarter(local(2025, 6, 1), local(2025, 6, 2), None) == []


def test_quarters_follow_vietnams_calendar():
    spans = satisfaction.quarters(local(2024, 11, 15), local(2025, 4, 1))
    assert [(y, q) for y, q, _ in spans] == [(2024, 4), (2025, 1)]
    assert spans[1][2] == local(2025, 1, 1)
    one = satisfaction.quarters(local(2025, 4, 1), local(2025, 4, 1, 0, 1))
    assert [(y, q) for y, q, _ in one] == [(2025, 2)]
