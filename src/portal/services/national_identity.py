"""The national identity (VNeID / the national portal's account) mapped to a local account.

The provider's verified claims say the identity's type (1 a citizen by the 12-digit ID
number, 2 an enterprise by its tax code, 3 an organisation by its tax code), the number, the
name and the assurance level (the claim names are configured: PORTAL_NATIONAL_ID_CLAIMS).

- An identity already linked (`national_identity`: provider, subject → user) signs its
  account in, if the account still belongs to the same ID number or tax code.
- A signed-in applicant who started the sign-in from /account links the identity to their
  account; the identity must name the account's own tax code (or ID number), else it is
  refused and nothing is linked.
- Otherwise the first sign-in creates an applicant account for the ID number or tax code
  (joining the applicant if the counter or a registration recorded it), with no password.

An account still waiting for the customs check becomes active when the identity's assurance
level reaches PORTAL_NATIONAL_ID_MIN_LEVEL: the enrolment's "national_identity" way, in the
history. The login itself is recorded like a password login (services/logins.py). Everything
is one transaction: a refusal creates, links and activates nothing."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from portal.db import reading, transactional
from portal.i18n import current_language
from portal.models import NO_PASSWORD, Enterprise, NationalIdentity, User, utcnow
from portal.services import enrolment, history, login_limits, logins
from portal.services.accounts import normalise_tax_code, tax_code_problem
from portal.services.errors import N_
from portal.services.oidc_client import Completed, SignOnError

CITIZEN, ENTERPRISE, ORGANISATION = 1, 2, 3
KINDS = (CITIZEN, ENTERPRISE, ORGANISATION)
UNUSABLE_PASSWORD = NO_PASSWORD + "national-identity"  # no password logs in (User.has_password)
THROTTLE_NAME = "national identity"  # failed sign-ins are counted under this login name


@dataclass(frozen=True)
class Identity:
    """What the portal reads from the identity's claims."""

    kind: int
    identifier: str  # the ID number (citizen) or the tax code
    name: str
    level: int
    email: str


def read_identity(claims: dict[str, Any], names: dict[str, str]) -> Identity:
    """The identity in `claims`, read with the configured claim `names`; raises SignOnError
    when the type, number or tax code is missing or malformed."""
    kind = _int(claims.get(names["type"]))
    if kind not in KINDS:
        raise SignOnError(N_("The national identity does not say whether it is a citizen, an "
                             "enterprise or an organisation."))
    if kind == CITIZEN:
        identifier = str(claims.get(names["id_number"]) or "").strip()
        if not re.fullmatch(r"[0-9]{12}", identifier):
            raise SignOnError(N_("The national identity carries no valid 12-digit ID number."))
    else:
        identifier = normalise_tax_code(str(claims.get(names["tax_code"]) or "").strip())
        if tax_code_problem(identifier) is not None:
            raise SignOnError(N_("The national identity carries no valid tax code."))
    name = " ".join(str(claims.get(names["name"]) or "").split())[:255] or identifier
    email = str(claims.get(names["email"]) or "").strip().lower()[:254]
    if "@" not in email:
        email = ""
    return Identity(kind, identifier, name, _int(claims.get(names["level"])) or 0, email)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _applicant_code(user: User) -> str:
    return user.enterprise.tax_code if user.enterprise_id else ""


def _check_account(user: User, identity: Identity) -> None:
    """Refuse an identity that is not the account's applicant (its tax code or ID number)."""
    if user.role != "enterprise":
        raise SignOnError(
            N_("Only the accounts of enterprises and citizens sign in with the national identity.")
        )
    code = _applicant_code(user)
    if code != identity.identifier:
        raise SignOnError(
            N_(
                "This national identity is for %(identity)s, but the account is for "
                "%(account)s: it was not linked."
            ),
            identity=identity.identifier,
            account=code,
        )


def _username(provider: str, subject: str) -> str:
    digest = hashlib.sha256(f"{provider}\n{subject}".encode()).hexdigest()[:20]
    return f"vneid-{digest}"


def _create_account(identity: Identity, username: str) -> User:
    kind = "person" if identity.kind == CITIZEN else "enterprise"
    Enterprise.insert(
        tax_code=identity.identifier, name=identity.name, email=identity.email, kind=kind
    ).on_conflict_ignore().execute()
    enterprise = Enterprise.get(Enterprise.tax_code == identity.identifier)
    return User.create(
        username=username,
        password_hash=UNUSABLE_PASSWORD,
        full_name=identity.name,
        email=identity.email,
        role="enterprise",
        enterprise=enterprise,
        enterprise_status="pending",
        given_enterprise_name=identity.name,
        language=current_language.get(),
    )


@transactional
def sign_in(
    completed: Completed, names: dict[str, str], min_level: int, client_addr: str
) -> User:
    """The account the verified identity signs in (linked, the signed-in user's, or new),
    activated when it was waiting and the assurance level suffices; the login recorded.
    Raises SignOnError (the identity does not fit the account, or the account is closed)."""
    identity = read_identity(completed.claims, names)
    link = NationalIdentity.get_or_none(
        NationalIdentity.provider == completed.issuer[:255],
        NationalIdentity.subject == completed.subject[:255],
    )
    if completed.user_id is not None:  # started from /account: link to that account
        user = User.get_by_id(completed.user_id)
        if link is not None and link.user_id != user.id:
            raise SignOnError(N_("This national identity is linked to another account."))
        _check_account(user, identity)
    elif link is not None:
        user = link.user
        _check_account(user, identity)
    else:
        user = _create_account(identity, _username(completed.issuer, completed.subject))
    if not user.active or user.enterprise_status == "rejected":
        raise SignOnError(N_("This account is closed: it cannot sign in."))
    now = utcnow()
    if link is None:
        NationalIdentity.create(
            provider=completed.issuer[:255],
            subject=completed.subject[:255],
            user=user,
            kind=identity.kind,
            identifier=identity.identifier,
            assurance_level=identity.level,
            id_token=completed.id_token,
            created_at=now,
            last_login_at=now,
        )
    else:
        NationalIdentity.update(
            kind=identity.kind,
            assurance_level=identity.level,
            id_token=completed.id_token,
            last_login_at=now,
        ).where(NationalIdentity.id == link.id).execute()
    actor = history.Actor.of(user, client_addr)
    if link is None:
        history.record(
            actor,
            "national_identity_linked",
            note=f"{identity.identifier} (type {identity.kind}, level {identity.level})",
            public=False,
        )
    if user.enterprise_status == "pending" and identity.level >= min_level:
        enrolment.activate_by_national_identity(
            user, actor, f"type {identity.kind}, level {identity.level}"
        )
    logins.record_login(logins.login_name(user.username), client_addr, user.id)
    return User.get_by_id(user.id)


@reading
def last_id_token(user_id: int) -> str:
    """The ID token of the user's latest national sign-in ("" if none): the hint the
    provider's logout asks for."""
    link = (
        NationalIdentity.select(NationalIdentity.id_token)
        .where(NationalIdentity.user == user_id)
        .order_by(NationalIdentity.last_login_at.desc())
        .first()
    )
    return link.id_token if link else ""


def throttled(client_addr: str) -> login_limits.Throttle | None:
    """The throttle on national sign-ins from this address (failures count like wrong
    passwords), or None."""
    return login_limits.throttle(THROTTLE_NAME, client_addr[:64], utcnow())


@transactional
def count_failure(client_addr: str) -> None:
    """Count a refused national sign-in in the security log (never the history)."""
    login_limits.count_failure(THROTTLE_NAME, client_addr[:64], utcnow())
