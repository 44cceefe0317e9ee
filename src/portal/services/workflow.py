"""The dossier state machine: states × actions × roles × guards, and what each action does.
It is the only place that says which status change is allowed; each row names the small
function that applies it (`services.effects`), the slip it issues and what the unit is told,
and `services.processing.act` runs the row.

Status codes are those exchanged with the National Public Service Portal (0 is a draft)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from portal.models import RESULT_ONLINE_FROM_LEVEL
from portal.services import effects
from portal.services.access import LEADER, OFFICER, OWNER, SYSTEM
from portal.services.errors import N_, DomainError
from portal.services.status import (
    CLOCK_RUNS,
    DRAFT,
    FINAL,
    NEW,
    PAYMENT,
    PROCESSED,
    PROCESSING,
    RECEIVED,
    REFUSED,
    RETURNED,
    STATUS_LABELS,
    STOPPED,
    SUPPLEMENT,
    WITHDRAWN,
    Status,
)

__all__ = [
    "CLOCK_RUNS", "FINAL", "STATUS_LABELS", "Status", "LEADER", "OFFICER", "OWNER", "SYSTEM"
]

STAFF = {OFFICER, LEADER}
# Who may apply a row: its own service (the submission checks the form and gives the code;
# the counter, services/counter.py, records a paper dossier or supplement with its scanned
# files), the payments (services/payments.py: a payment request carries its items, a payment
# is confirmed by the gateway's notification or recorded at the counter with its receipt), or
# `processing.act`, the generic action path of a submitted dossier.
SUBMISSION, COUNTER, PAYMENTS, ACT = "submission", "counter", "payments", "act"


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[int]
    target: int | None  # None: back to the status before the supplement request
    actors: frozenset[str]
    note_required: bool = False
    label: str = ""
    destructive: bool = False
    effect: Callable[[effects.Step], effects.Changes] = effects.nothing
    slip: str | None = None  # the kind of slip the action issues
    tell_unit: str | None = None  # what the unit's officers are told (a message id)
    internal: bool = False  # kept from the applicant's view of the history
    path: str = ACT


def _t(
    action: str,
    sources: set[int],
    target: int | None,
    actors: set[str],
    label: str,
    note: bool = False,
    destructive: bool = False,
    **more,
) -> Transition:
    return Transition(
        action, frozenset(sources), target, frozenset(actors), note, label, destructive, **more
    )


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in [
        _t(
            "submit",
            {DRAFT},
            NEW,
            {OWNER},
            N_("Submit"),
            tell_unit=N_("New dossier %(code)s is waiting for reception."),
            path=SUBMISSION,
        ),
        _t(
            "withdraw",
            {NEW, RECEIVED, PROCESSING, SUPPLEMENT, PAYMENT},
            WITHDRAWN,
            {OWNER},
            N_("Withdraw the dossier"),
            note=True,
            destructive=True,
            effect=effects.finish,
        ),
        _t(
            "supplement",
            {SUPPLEMENT},
            None,
            {OWNER},
            N_("Send the supplement"),
            effect=effects.supplement,
            tell_unit=N_("Dossier %(code)s: the applicant sent the supplement."),
        ),
        _t(
            "receive",
            {NEW},
            RECEIVED,
            STAFF,
            N_("Receive"),
            effect=effects.receive,
            slip="receipt",
        ),
        _t(
            "receive_at_counter",
            {DRAFT},
            RECEIVED,
            STAFF,
            N_("Receive at the counter"),
            effect=effects.receive,
            slip="receipt",
            path=COUNTER,
        ),
        _t(
            "refuse_reception",
            {NEW},
            REFUSED,
            STAFF,
            N_("Refuse at reception"),
            note=True,
            destructive=True,
            effect=effects.finish,
            slip="refusal",
        ),
        _t(
            "request_supplement",
            {NEW, RECEIVED, PROCESSING},
            SUPPLEMENT,
            STAFF,
            N_("Request a supplement"),
            note=True,
            effect=effects.request_supplement,
            slip="supplement",
        ),
        _t(
            "record_supplement",
            {SUPPLEMENT},
            None,
            STAFF,
            N_("Record a supplement brought to the counter"),
            effect=effects.supplement,
            path=COUNTER,
        ),
        _t(
            "start_processing",
            {RECEIVED},
            PROCESSING,
            STAFF,
            N_("Start processing"),
            effect=effects.start_processing,
            internal=True,
        ),
        _t(
            "request_payment",
            {RECEIVED, PROCESSING},
            PAYMENT,
            STAFF,
            N_("Request payment"),
            path=PAYMENTS,
        ),
        _t(
            "confirm_payment",
            {PAYMENT},
            PROCESSING,
            STAFF,
            N_("Record a payment made at the counter"),
            path=PAYMENTS,
        ),
        _t(
            "payment_received",
            {PAYMENT},
            PROCESSING,
            {SYSTEM},
            N_("Fees paid online"),
            tell_unit=N_("Dossier %(code)s: the fees are paid."),
            path=PAYMENTS,
        ),
        _t(
            "forward",
            {RECEIVED, PROCESSING},
            PROCESSING,
            STAFF,
            N_("Forward"),
            note=True,
            effect=effects.forward,
            tell_unit=N_("Dossier %(code)s was forwarded to you."),
        ),
        _t(
            "stop_processing",
            {RECEIVED, PROCESSING, SUPPLEMENT, PAYMENT},
            STOPPED,
            STAFF,
            N_("Stop processing"),
            note=True,
            destructive=True,
            effect=effects.finish,
        ),
        _t(
            "submit_for_approval",
            {PROCESSING},
            PROCESSING,
            {OFFICER},
            N_("Submit for approval"),
            effect=effects.submit_for_approval,
            tell_unit=N_("Dossier %(code)s is waiting for approval."),
            internal=True,
        ),
        _t(
            "approve",
            {PROCESSING},
            PROCESSING,
            {LEADER},
            N_("Approve"),
            effect=effects.approve,
            internal=True,
        ),
        _t(
            "refuse_approval",
            {PROCESSING},
            PROCESSING,
            {LEADER},
            N_("Send back"),
            note=True,
            effect=effects.send_back,
            internal=True,
        ),
        _t("issue_result", {PROCESSING}, PROCESSED, STAFF, N_("Issue the result")),
        _t(
            "return_result",
            {PROCESSED},
            RETURNED,
            STAFF,
            N_("Return the result"),
            effect=effects.finish,
        ),
    ]
}
OWNER_ACTIONS = tuple(a for a, t in TRANSITIONS.items() if OWNER in t.actors)
STAFF_ACTIONS = tuple(a for a, t in TRANSITIONS.items() if t.actors & STAFF)
SYSTEM_ACTIONS = tuple(a for a, t in TRANSITIONS.items() if SYSTEM in t.actors)


UNSIGNED_RESULT = N_(
    "Attach the result document, signed by a signer registered for the unit, first."
)


@dataclass(frozen=True)
class Facts:
    """What the guards need to know about a dossier besides its status."""

    status: int
    approval: str = ""  # "" | "pending" | "approved"
    has_result: bool = False  # a result signed by a registered signer is attached
    online_level: int = 4


def guard_problem(action: str, facts: Facts) -> str | None:
    """Why `action` may not happen in this state (a message id), or None."""
    if action == "submit_for_approval" and facts.approval in ("pending", "approved"):
        return N_("The dossier is already with the leader or approved.")
    if action in ("approve", "refuse_approval") and facts.approval != "pending":
        return N_("The dossier has not been submitted for approval.")
    if action == "issue_result":
        if facts.approval != "approved":
            return N_("A leader must approve the dossier before the result is issued.")
        if facts.online_level >= RESULT_ONLINE_FROM_LEVEL and not facts.has_result:
            return UNSIGNED_RESULT
    # Also a result attached before signatures were checked is not returned.
    returnable = facts.has_result or facts.online_level < RESULT_ONLINE_FROM_LEVEL
    if action == "return_result" and not returnable:
        return UNSIGNED_RESULT
    return None


def check(action: str, actor: str | None, facts: Facts, path: str | None = None) -> Transition:
    """The transition for `action` by `actor` in `facts` (applied through `path`, when one is
    named); raises DomainError: "unknown" (no such action, or not on this path), "forbidden"
    (not by this actor) or "conflict" (not in this state)."""
    transition = TRANSITIONS.get(action)
    if transition is None or path not in (None, transition.path):
        raise DomainError(N_("This action is not known."), kind="unknown")
    if actor not in transition.actors:
        raise DomainError(N_("You may not do this with this dossier."), kind="forbidden")
    if facts.status not in transition.sources:
        raise DomainError(
            N_("This action is not possible in the dossier's current status."), kind="conflict"
        )
    problem = guard_problem(action, facts)
    if problem:
        raise DomainError(problem, kind="conflict")
    return transition


def available(actor: str | None, facts: Facts) -> list[Transition]:
    """The actions `actor` can take now, in the table's order (for the buttons shown)."""
    out = []
    for transition in TRANSITIONS.values():
        try:
            check(transition.action, actor, facts)
        except DomainError:
            continue
        out.append(transition)
    return out


SLIP_NAMES = {
    "receipt": N_("Receipt and appointment slip"),
    "supplement": N_("Supplement guidance slip"),
    "refusal": N_("Refusal slip"),
    "apology": N_("Apology slip"),
}
PURPOSE_NAMES = {
    "application": N_("Application"),
    "supplement": N_("Supplement"),
    "result": N_("Result"),
}
ACTION_NAMES = {
    **{t.action: t.label for t in TRANSITIONS.values()},
    "submit": N_("Submitted"),
    "submitted_via_api": N_("Submitted through the API"),
    "api_client_registered": N_("API client registered"),
    "api_client_rotated": N_("API client's secret rotated"),
    "api_client_revoked": N_("API client revoked"),
    "receive_at_counter": N_("Received at the counter"),
    "confirm_payment": N_("Payment recorded by an officer"),
    "record_supplement": N_("Supplement recorded at the counter"),
    "assign": N_("Assigned"),
    "apology": N_("Apology slip issued"),
    "view_confidential": N_("Confidential document opened"),
    "make_confidential": N_("Files made confidential"),
    "add_file": N_("File added"),
    "remove_file": N_("File removed"),
    "login": N_("Logged in"),
    "holiday_added": N_("Day added to the calendar"),
    "holiday_removed": N_("Day removed from the calendar"),
    "holidays_confirmed": N_("Year's holidays confirmed"),
    "attach_form": N_("Form file attached to a procedure"),
    "remove_form": N_("Form file removed from a procedure"),
    "structure_dated": N_("Unit structure's effective date recorded"),
    "attach_result": N_("Signed result attached"),
    "signer_registered": N_("Result signer registered"),
    "signer_removed": N_("Result signer removed"),
    "national_sync_retry": N_("Sent again to the National Public Service Portal"),
    "catalogue_synced": N_("Catalogue updated from the national catalogue"),
    "rate": N_("Rated by the applicant"),
    "feedback_answered": N_("Question from the public answered"),
}
