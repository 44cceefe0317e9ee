"""The dossier state machine's rules as a table written from the domain rules, not read from
`workflow.TRANSITIONS`: the oracle of test_workflow.py and test_properties_workflow.py."""

from __future__ import annotations

import itertools

STATUSES = range(11)
(DRAFT, NEW, RECEIVED, REFUSED, PROCESSING, SUPPLEMENT, PAYMENT, WITHDRAWN, STOPPED, PROCESSED,
 RETURNED) = STATUSES
ACTORS = ("owner", "officer", "leader", "system", None)  # system: what a gateway confirmed
STAFF = {"officer", "leader"}

# action: (statuses it starts from, status it leads to (None: back to before the supplement
# request), who may take it, whether a note is required)
EXPECTED = {
    "submit": ({DRAFT}, NEW, {"owner"}, False),
    "withdraw": ({NEW, RECEIVED, PROCESSING, SUPPLEMENT, PAYMENT}, WITHDRAWN, {"owner"}, True),
    "supplement": ({SUPPLEMENT}, None, {"owner"}, False),
    "receive": ({NEW}, RECEIVED, STAFF, False),
    "receive_at_counter": ({DRAFT}, RECEIVED, STAFF, False),  # a paper dossier recorded
    "refuse_reception": ({NEW}, REFUSED, STAFF, True),
    "request_supplement": ({NEW, RECEIVED, PROCESSING}, SUPPLEMENT, STAFF, True),
    "record_supplement": ({SUPPLEMENT}, None, STAFF, False),  # brought to the counter
    "start_processing": ({RECEIVED}, PROCESSING, STAFF, False),
    # with its items: the reason is asked only when they differ from the procedure's fees
    "request_payment": ({RECEIVED, PROCESSING}, PAYMENT, STAFF, False),
    "confirm_payment": ({PAYMENT}, PROCESSING, STAFF, False),  # paid at the counter
    "payment_received": ({PAYMENT}, PROCESSING, {"system"}, False),  # confirmed by a gateway
    "forward": ({RECEIVED, PROCESSING}, PROCESSING, STAFF, True),
    "stop_processing": ({RECEIVED, PROCESSING, SUPPLEMENT, PAYMENT}, STOPPED, STAFF, True),
    "submit_for_approval": ({PROCESSING}, PROCESSING, {"officer"}, False),
    "approve": ({PROCESSING}, PROCESSING, {"leader"}, False),
    "refuse_approval": ({PROCESSING}, PROCESSING, {"leader"}, True),
    "issue_result": ({PROCESSING}, PROCESSED, STAFF, False),
    "return_result": ({PROCESSED}, RETURNED, STAFF, False),
}
# Every combination of what the guards look at.
FACT_VARIANTS = [
    dict(approval=approval, has_result=has_result, online_level=level)
    for approval, has_result, level in itertools.product(
        ("", "pending", "approved"), (False, True), (3, 4))
]


def guard_passes(action: str, approval: str, has_result: bool, online_level: int) -> bool:
    if action == "approve" or action == "refuse_approval":
        return approval == "pending"
    if action == "submit_for_approval":
        return approval == ""  # not twice, and not once approved
    if action == "issue_result":
        return approval == "approved" and (has_result or online_level < 4)
    if action == "return_result":  # the signed result must be there to be returned
        return has_result or online_level < 4
    return True


# The kind of refusal the services raise for each HTTP answer `expected_outcome` names.
KIND_OF = {403: "forbidden", 409: "conflict", 422: "unknown"}


def expected_outcome(status: int, action: str, actor: str | None, facts: dict) -> int:
    """200 when allowed, else the HTTP status of the refusal."""
    sources, _, actors, _ = EXPECTED[action]
    if actor not in actors:
        return 403
    if status not in sources:
        return 409
    if not guard_passes(action, **facts):
        return 409
    return 200
