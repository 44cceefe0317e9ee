"""Properties of the dossier state machine (hypothesis): random sequences of actions by random
actors, first through `workflow.check`/`available` alone, judged by the table written from the
rules in tests/workflow_rules.py (not by `workflow.TRANSITIONS`), then through
`processing.act` on a real dossier in the database, which must do exactly what `check` allows
(`check` itself being held to that table by test_workflow.py).

Each step is either any action by anybody (mostly refused) or, to get deep into the life of a
dossier, one of the actions somebody is offered at that moment."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.db import db
from portal.models import Attachment, Dossier, DossierEvent, Procedure
from portal.services import dossiers, processing, workflow
from portal.services.access import actor_kind
from portal.services.errors import DomainError, NotFound, ValidationError
from portal.services.history import verify_chain
from portal.services.workflow import Facts, available, check
from tests.dossier_fixtures import PDF, complete_draft, ctx_of, documents, forms, people
from tests.workflow_rules import (
    EXPECTED,
    REFUSED,
    RETURNED,
    STOPPED,
    WITHDRAWN,
    expected_outcome,
)
from tests.workflow_rules import (
    KIND_OF as REFUSAL_KIND,
)

__all__ = ["ctx_of", "forms", "people"]  # fixtures used by the tests below

ACTORS = (workflow.OWNER, workflow.OFFICER, workflow.LEADER, None)
ACTIONS = [*EXPECTED, "teleport", ""]
FINISHING = {"withdraw", "refuse_reception", "stop_processing", "return_result"}
FINAL = {REFUSED, WITHDRAWN, STOPPED, RETURNED}


def allowed(action: str, actor: str | None, facts: Facts) -> tuple[int | None] | None:
    """(the status the action leads to, None: back to before the supplement request) when the
    rules allow it, else None; `check` must agree, and refuse with the rules' status."""
    if action in EXPECTED:
        variant = {"approval": facts.approval, "has_result": facts.has_result,
                   "online_level": facts.online_level}
        want = expected_outcome(facts.status, action, actor, variant)
    else:
        want = 422
    if want == 200:
        transition = check(action, actor, facts)
        target = EXPECTED[action][1]
        assert (transition.action, transition.target) == (action, target)
        return (target,)
    try:
        check(action, actor, facts)
    except DomainError as exc:
        assert exc.message and exc.kind == REFUSAL_KIND[want], (action, actor, facts)
        return None
    raise AssertionError(f"{action} by {actor} allowed in {facts}")


def next_step(data: st.DataObject, facts: Facts) -> tuple[str, str | None]:
    """Mostly the step onward, else an action somebody is offered, else anything."""
    roll = data.draw(st.integers(0, 9))
    if roll < 4:
        action, who = onward(facts, supplement_sent=True)
        return action, KIND_OF[who]
    offered = [(t.action, who) for who in ACTORS for t in available(who, facts)]
    if offered and roll < 7:
        return data.draw(st.sampled_from(offered))
    return data.draw(st.sampled_from(ACTIONS)), data.draw(st.sampled_from(ACTORS))


@given(st.data(), st.sampled_from([3, 4]))
def test_random_actions_only_move_along_the_table(data: st.DataObject, online_level: int):
    """With the facts updated as services.processing updates them: `check` allows exactly what
    the rules allow, leading where they say, `available` offers exactly that, final statuses
    allow nothing and no other status is a dead end."""
    status, approval, has_result, resume = workflow.DRAFT, "", False, None
    for _ in range(data.draw(st.integers(0, 40))):
        facts = Facts(status, approval, has_result, online_level)
        assert status in workflow.STATUS_LABELS
        for who in ACTORS:
            offered = {t.action for t in available(who, facts)}
            assert offered == {a for a in EXPECTED if allowed(a, who, facts)}
            if status in FINAL:
                assert offered == set()
        if status not in FINAL:
            assert any(available(who, facts) for who in ACTORS)
        action, actor = next_step(data, facts)
        if action == "attach_result":  # what processing.upload_result allows
            has_result = has_result or status == workflow.PROCESSING
            continue
        outcome = allowed(action, actor, facts)
        if outcome is None:
            continue
        (target,) = outcome
        if target is None:  # the supplement goes back to where the request came from
            assert status == workflow.SUPPLEMENT and resume is not None
            after = resume
        else:
            after = target
        if action == "request_supplement":
            resume = workflow.NEW if status == workflow.NEW else workflow.PROCESSING
        approval = {
            "submit_for_approval": "pending",
            "approve": "approved",
            "refuse_approval": "",
        }.get(action, approval)
        if action == "forward" and data.draw(st.booleans()):  # to another unit
            approval = ""
        assert after in workflow.STATUS_LABELS
        assert (after in FINAL) == (action in FINISHING)
        status = after


# --- the same through the service, on a real dossier ------------------------------------------

PEOPLE = ("owner", "officer", "officer2", "leader", "far_officer", "stranger")
KIND_OF = {"owner": "owner", "officer": "officer", "officer2": "officer", "leader": "leader"}


def snapshot(did: int) -> tuple[Dossier, Facts, DossierEvent | None]:
    with db.connection_context():
        d = Dossier.get_by_id(did)
        has_result = (
            Attachment.select()
            .where(Attachment.dossier == did, Attachment.purpose == "result")
            .exists()
        )
        level = Procedure.get_by_id(d.procedure_id).online_level
        last = (
            DossierEvent.select()
            .where(DossierEvent.dossier == did)
            .order_by(DossierEvent.id.desc())
            .first()
        )
    return d, Facts(d.status, d.approval, has_result, level), last


def onward(facts: Facts, supplement_sent: bool) -> tuple[str, str]:
    """The step that takes the dossier towards its returned result."""
    if facts.status == workflow.SUPPLEMENT:
        return ("supplement", "owner") if supplement_sent else ("attach_supplement", "owner")
    if facts.status == workflow.PROCESSING:
        if facts.approval == "approved":
            return ("issue_result", "leader") if facts.has_result else ("attach_result", "officer")
        return (
            ("approve", "leader")
            if facts.approval == "pending"
            else ("submit_for_approval", "officer")
        )
    return {
        workflow.NEW: "receive",
        workflow.RECEIVED: "start_processing",
        workflow.PAYMENT: "confirm_payment",
    }.get(facts.status, "return_result"), "officer"


def service_step(data: st.DataObject, facts: Facts, supplement_sent: bool) -> tuple[str, str]:
    """Mostly onward, else an action somebody is offered, else anything by anybody."""
    roll = data.draw(st.integers(0, 9))
    if roll < 5:
        return onward(facts, supplement_sent)
    offered = [
        (t.action, who) for who in PEOPLE if who in KIND_OF for t in available(KIND_OF[who], facts)
    ]
    if offered and roll < 7:
        return data.draw(st.sampled_from(offered))
    extra = ["attach_result", "attach_supplement"]
    return data.draw(st.sampled_from(ACTIONS + extra)), data.draw(st.sampled_from(PEOPLE))


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_processing_applies_exactly_what_the_state_machine_allows(people, ctx_of, signed_result,
                                                                  data):
    ctxs = {name: ctx_of(getattr(people, name)) for name in PEOPLE}
    did = complete_draft(ctxs["owner"])
    dossiers.submit(ctxs["owner"], did, f"prop-{did}")
    supplement_doc = documents()[0].id
    supplement_sent = False
    for _ in range(data.draw(st.integers(0, 24))):
        before, facts, last_event = snapshot(did)
        action, who = service_step(data, facts, supplement_sent)
        ctx = ctxs[who]
        if action == "attach_result":
            with contextlib.suppress(DomainError, NotFound):
                processing.upload_result(ctx, did, "ket-qua.pdf", [signed_result])
            continue
        if action == "attach_supplement":
            try:
                dossiers.add_attachment(
                    ctx, did, supplement_doc, "bo-sung.pdf", [PDF], purpose="supplement"
                )
                supplement_sent = True
            except (ValidationError, NotFound, DomainError):
                pass
            continue
        kind = actor_kind(ctx.user, before)
        try:
            expected, refusal = check(action, kind, facts, workflow.ACT), None
        except DomainError as exc:
            expected, refusal = None, exc.kind
        try:
            processing.act(ctx, did, action, "Ghi chú kiểm thử", to_user=people.officer2.id)
        except NotFound:
            assert kind is None and who in ("far_officer", "stranger")
            outcome = "not_found"
        except ValidationError as exc:  # the supplement needs a new file (a DomainError too)
            assert expected is not None and action == "supplement" and not supplement_sent
            assert set(exc.errors) == {"files"}
            outcome = "refused"
        except DomainError as exc:
            assert expected is None and exc.kind == refusal, (action, who, facts)
            outcome = "refused"
        else:
            assert expected is not None, (action, who, facts)
            outcome = "done"
        after, _, event = snapshot(did)
        if outcome != "done":
            assert after.status == before.status and event == last_event
            continue
        assert before.status in expected.sources and kind in expected.actors
        target = before.resume_status if expected.target is None else expected.target
        assert after.status == target and after.status in workflow.STATUS_LABELS
        assert (event.action, event.status_before, event.status_after) == (
            action,
            before.status,
            after.status,
        )
        assert (after.finished_at is not None) == (after.status in workflow.FINAL)
        if action == "request_supplement":
            supplement_sent = False
    assert verify_chain()[1] is None  # the history stays one unbroken chain
