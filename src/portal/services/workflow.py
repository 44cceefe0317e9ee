"""The dossier state machine: states × actions × roles × guards. It is the only place that says
which status change is allowed; `services.dossiers` applies what it allows.

Status codes are those exchanged with the National Public Service Portal (0 is a draft)."""

from __future__ import annotations

from dataclasses import dataclass

from portal.services.errors import N_

(
    DRAFT,
    NEW,
    RECEIVED,
    REFUSED,
    PROCESSING,
    SUPPLEMENT,
    PAYMENT,
    WITHDRAWN,
    STOPPED,
    PROCESSED,
    RETURNED,
) = range(11)

STATUS_LABELS = {
    DRAFT: N_("Draft"),
    NEW: N_("Submitted, waiting for reception"),
    RECEIVED: N_("Received"),
    REFUSED: N_("Refused at reception"),
    PROCESSING: N_("Being processed"),
    SUPPLEMENT: N_("Supplement requested"),
    PAYMENT: N_("Payment requested"),
    WITHDRAWN: N_("Withdrawn by the applicant"),
    STOPPED: N_("Processing stopped"),
    PROCESSED: N_("Result ready"),
    RETURNED: N_("Result returned"),
}
FINAL = frozenset({REFUSED, WITHDRAWN, STOPPED, RETURNED})
# Statuses in which the legal clock runs (overdue is computed only for these).
CLOCK_RUNS = frozenset({RECEIVED, PROCESSING, PAYMENT, PROCESSED})

# Who acts: the dossier's owner (a user of its enterprise), an officer or a leader of the
# handling unit. Admins and auditors never change a dossier.
OWNER, OFFICER, LEADER = "owner", "officer", "leader"


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[int]
    target: int | None  # None: back to the status before the supplement request
    actors: frozenset[str]
    note_required: bool = False
    label: str = ""
    destructive: bool = False


def _t(
    action: str,
    sources: set[int],
    target: int | None,
    actors: set[str],
    label: str,
    note: bool = False,
    destructive: bool = False,
) -> Transition:
    return Transition(
        action, frozenset(sources), target, frozenset(actors), note, label, destructive
    )


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in [
        _t("submit", {DRAFT}, NEW, {OWNER}, N_("Submit")),
        _t(
            "withdraw",
            {NEW, RECEIVED, PROCESSING, SUPPLEMENT, PAYMENT},
            WITHDRAWN,
            {OWNER},
            N_("Withdraw the dossier"),
            note=True,
            destructive=True,
        ),
        _t("supplement", {SUPPLEMENT}, None, {OWNER}, N_("Send the supplement")),
        _t("receive", {NEW}, RECEIVED, {OFFICER, LEADER}, N_("Receive")),
        _t(
            "refuse_reception",
            {NEW},
            REFUSED,
            {OFFICER, LEADER},
            N_("Refuse at reception"),
            note=True,
            destructive=True,
        ),
        _t(
            "request_supplement",
            {NEW, RECEIVED, PROCESSING},
            SUPPLEMENT,
            {OFFICER, LEADER},
            N_("Request a supplement"),
            note=True,
        ),
        _t("start_processing", {RECEIVED}, PROCESSING, {OFFICER, LEADER}, N_("Start processing")),
        _t(
            "request_payment",
            {RECEIVED, PROCESSING},
            PAYMENT,
            {OFFICER, LEADER},
            N_("Request payment"),
            note=True,
        ),
        _t("confirm_payment", {PAYMENT}, PROCESSING, {OFFICER, LEADER}, N_("Confirm payment")),
        _t(
            "forward",
            {RECEIVED, PROCESSING},
            PROCESSING,
            {OFFICER, LEADER},
            N_("Forward"),
            note=True,
        ),
        _t(
            "stop_processing",
            {RECEIVED, PROCESSING, SUPPLEMENT, PAYMENT},
            STOPPED,
            {OFFICER, LEADER},
            N_("Stop processing"),
            note=True,
            destructive=True,
        ),
        _t("submit_for_approval", {PROCESSING}, PROCESSING, {OFFICER}, N_("Submit for approval")),
        _t("approve", {PROCESSING}, PROCESSING, {LEADER}, N_("Approve")),
        _t("refuse_approval", {PROCESSING}, PROCESSING, {LEADER}, N_("Send back"), note=True),
        _t("issue_result", {PROCESSING}, PROCESSED, {OFFICER, LEADER}, N_("Issue the result")),
        _t("return_result", {PROCESSED}, RETURNED, {OFFICER, LEADER}, N_("Return the result")),
    ]
}
OWNER_ACTIONS = tuple(a for a, t in TRANSITIONS.items() if OWNER in t.actors)
STAFF_ACTIONS = tuple(a for a, t in TRANSITIONS.items() if t.actors & {OFFICER, LEADER})


@dataclass(frozen=True)
class Facts:
    """What the guards need to know about a dossier besides its status."""

    status: int
    approval: str = ""  # "" | "pending" | "approved"
    has_result: bool = False
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
        if facts.online_level >= 4 and not facts.has_result:
            return N_("Attach the result document first.")
    return None


class TransitionError(Exception):
    """The action is not possible; `status` is the HTTP status to answer (409 or 403)."""

    def __init__(self, message: str, status: int = 409) -> None:
        self.message = message
        self.status = status
        super().__init__(message)


def check(action: str, actor: str | None, facts: Facts) -> Transition:
    """The transition for `action` by `actor` in `facts`; raises TransitionError."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise TransitionError(N_("This action is not known."), 422)
    if actor not in transition.actors:
        raise TransitionError(N_("You may not do this with this dossier."), 403)
    if facts.status not in transition.sources:
        raise TransitionError(N_("This action is not possible in the dossier's current status."))
    problem = guard_problem(action, facts)
    if problem:
        raise TransitionError(problem)
    return transition


def available(actor: str | None, facts: Facts) -> list[Transition]:
    """The actions `actor` can take now, in the table's order (for the buttons shown)."""
    out = []
    for transition in TRANSITIONS.values():
        try:
            check(transition.action, actor, facts)
        except TransitionError:
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
    "assign": N_("Assigned"),
    "apology": N_("Apology slip issued"),
    "view_confidential": N_("Confidential document opened"),
    "login": N_("Logged in"),
}
