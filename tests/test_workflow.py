"""The state machine, exhaustively: every status × action × actor × guard facts, against a table
written from the rules in tests/workflow_rules.py (not read from `workflow.TRANSITIONS`)."""

from __future__ import annotations

import itertools

import pytest

from portal.services import workflow
from portal.services.errors import DomainError
from portal.services.workflow import Facts, available, check
from tests.workflow_rules import (
    ACTORS,
    EXPECTED,
    FACT_VARIANTS,
    KIND_OF,
    NEW,
    PROCESSED,
    PROCESSING,
    REFUSED,
    RETURNED,
    STATUSES,
    STOPPED,
    WITHDRAWN,
    expected_outcome,
)


def test_the_table_covers_exactly_the_actions():
    assert set(workflow.TRANSITIONS) == set(EXPECTED)


@pytest.mark.parametrize("actor", ACTORS, ids=lambda a: str(a))
@pytest.mark.parametrize("action", sorted(EXPECTED))
@pytest.mark.parametrize("status", STATUSES)
def test_check(status: int, action: str, actor: str | None):
    sources, target, actors, note = EXPECTED[action]
    for variant in FACT_VARIANTS:
        facts = Facts(status, **variant)
        want = expected_outcome(status, action, actor, variant)
        if want == 200:
            transition = check(action, actor, facts)
            assert transition.action == action
            assert status in transition.sources and actor in transition.actors
            assert transition.target == target
            assert transition.note_required is note
            assert workflow.guard_problem(action, facts) is None
        else:
            with pytest.raises(DomainError) as caught:
                check(action, actor, facts)
            assert caught.value.kind == KIND_OF[want], (status, action, actor, variant)
            assert caught.value.message


@pytest.mark.parametrize("actor", ACTORS, ids=lambda a: str(a))
def test_available_lists_what_check_allows_in_table_order(actor: str | None):
    order = list(workflow.TRANSITIONS)
    for status, variant in itertools.product(STATUSES, FACT_VARIANTS):
        want = [a for a in order if expected_outcome(status, a, actor, variant) == 200]
        got = [t.action for t in available(actor, Facts(status, **variant))]
        assert got == want, (status, variant)


def test_nobody_acts_on_a_final_dossier():
    for status, actor, variant in itertools.product(workflow.FINAL, ACTORS, FACT_VARIANTS):
        assert available(actor, Facts(status, **variant)) == []


def test_guard_messages():
    with pytest.raises(DomainError, match="submitted for approval") as caught:
        check("approve", "leader", Facts(PROCESSING, approval=""))
    assert caught.value.kind == "conflict"
    with pytest.raises(DomainError, match="must approve"):
        check("issue_result", "officer", Facts(PROCESSING, approval="pending", has_result=True))
    with pytest.raises(DomainError, match="result document"):
        check("issue_result", "officer", Facts(PROCESSING, approval="approved", has_result=False))
    # At level 3 the result is given in person: no file is needed.
    assert check("issue_result", "leader",
                 Facts(PROCESSING, approval="approved", online_level=3)).target == PROCESSED


def test_unknown_action_is_422():
    with pytest.raises(DomainError) as caught:
        check("teleport", "officer", Facts(NEW))
    assert caught.value.kind == "unknown"


def test_role_lists():
    assert set(workflow.OWNER_ACTIONS) == {"submit", "withdraw", "supplement"}
    assert set(workflow.STAFF_ACTIONS) == set(EXPECTED) - {
        "submit", "withdraw", "supplement", "payment_received"}
    assert set(workflow.SYSTEM_ACTIONS) == {"payment_received"}
    final = set(workflow.FINAL)
    assert final == {REFUSED, WITHDRAWN, STOPPED, RETURNED}
    destructive = {a for a, t in workflow.TRANSITIONS.items() if t.destructive}
    assert destructive == {"withdraw", "refuse_reception", "stop_processing"}
