"""The access policy: every route names one rule, and this module alone says who it admits."""

from __future__ import annotations

from portal.models import ROLES, UNIT_STAFF_ROLES, User

# rule -> roles admitted; None admits everybody, including anonymous visitors.
RULES: dict[str, frozenset[str] | None] = {
    "public": None,
    # a payment gateway's server-to-server notification: anybody may send one, without a
    # session or a CSRF token; its signature is what is checked (services/payment_notices.py)
    "gateway": None,
    # a system calling the API (/api/v1): no session; each request is signed with a
    # registered client's key and checked against its scopes (web/api_auth.py)
    "api_client": None,
    "signed_in": frozenset(ROLES),
    "enterprise": frozenset({"enterprise"}),
    "unit_staff": frozenset(UNIT_STAFF_ROLES),
    "staff": frozenset({"officer", "leader", "admin", "auditor"}),
    "admin": frozenset({"admin"}),
    # who checks that an enterprise account is the enterprise's (services/enrolment.py)
    "enterprise_checks": frozenset({"officer", "leader", "admin"}),
    # the audit search (services/audit.py): auditors only. Administrators change accounts,
    # roles and units, so they are among the audited; and they may not open dossiers
    # (services/access.py), so the search's rows would lead them nowhere.
    "audit": frozenset({"auditor"}),
    # who records a dossier or a supplement received on paper at the counter
    # (services/counter.py): the people of a unit who handle its dossiers; not enterprises
    # (they file online), auditors or administrators (they never change a dossier)
    "counter_intake": frozenset(UNIT_STAFF_ROLES),
    # who is warned, from 1 October, that next year's holidays are not confirmed
    "calendar_warning": frozenset({"officer", "leader", "admin"}),
    # who reads and answers the questions and complaints of the public form
    # (services/feedback.py): customs staff of any unit and the administrators; not auditors
    # (they change nothing) or enterprises
    "feedback_staff": frozenset({"officer", "leader", "admin"}),
}


def allows(rule: str, user: User | None) -> bool:
    """Whether `user` (None when anonymous) may use a route guarded by `rule`."""
    roles = RULES[rule]
    if roles is None:
        return True
    return user is not None and user.active and user.role in roles
