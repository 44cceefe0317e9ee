"""Enterprises joining the portal: self-registration, the e-mail address confirmed by a
single-use link, and the customs check that the enterprise is the registrant's.

Registration answers alike whoever is registered ("check your e-mail"): the holder of an
address that has an account already is told by e-mail instead, and a tax code that is
registered already gets one more claim for customs staff to decide. An account may prepare
drafts while it waits; it files dossiers only once active (dossiers.submit asks the row).

Three ways make an account active (ACTIVATION_WAYS): customs staff who checked the
enterprise's papers (`activate`), a PDF signed with a digital certificate naming the tax code
(`activate_by_certificate`), or a sign-in with the enterprise's national identity at a high
enough assurance level (`activate_by_national_identity`, services/national_identity.py)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Any

from peewee import JOIN, fn

from portal import storage
from portal.db import db, reading, transactional
from portal.i18n import current_language
from portal.models import Enterprise, User, utcnow
from portal.services import history, login_limits, signed_documents
from portal.services.access import Ctx
from portal.services.account_links import CONFIRM, AccountLinks
from portal.services.accounts import (
    REGISTER_FIELDS,
    hash_password,
    normalise_tax_code,
    password_problem,
)
from portal.services.errors import N_, DomainError, Message, NotFound, ValidationError
from portal.services.login_limits import Throttle
from portal.services.notify import in_language, language_of, queue_mail
from portal.services.paging import Page, paginate
from portal.services.signatures import Verdict
from portal.services.validation import Field, validate

REGISTERED = "register"
RESET_REQUESTED = "password_reset_requested"
MAIL_SENDING = (REGISTERED, RESET_REQUESTED)  # throttled together: each may send a mail
ACTIVATION_WAYS = ("papers", "certificate", "national_identity")
ACTIVE_BY_PAPERS = N_("Customs staff have checked your enterprise: you can now file dossiers.")
ACTIVE_BY_CERTIFICATE = N_(
    "Your enterprise's digital certificate showed that the enterprise is yours: you can now "
    "file dossiers."
)
ACTIVE_BY_NATIONAL_ID = N_(
    "Your enterprise's national identity account showed that the enterprise is yours: you can "
    "now file dossiers."
)
ACTIVE_BY = {
    "papers": ACTIVE_BY_PAPERS,
    "certificate": ACTIVE_BY_CERTIFICATE,
    "national_identity": ACTIVE_BY_NATIONAL_ID,
}


def mail_text(message: str, language: str, **params: Any) -> str:
    """An e-mail's text in its reader's language."""
    return in_language(language, message, **params)


def send(to_addr: str, subject: str, body: str, language: str) -> None:
    """Queue a mail that announces no dossier event (a key of its own each time), its
    subject (a message id) in `language`, the language its body is written in."""
    key = f"account:{secrets.token_hex(16)}"
    queue_mail(None, to_addr, in_language(language, subject), body, key=key)


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    form = {
        **data,
        "password": data.get("password", "") or "",
        "password_confirm": data.get("password_confirm", "") or "",
    }
    try:
        cleaned = validate(form, REGISTER_FIELDS)
        errors: dict[str, Message] = {}
    except ValidationError as exc:
        cleaned, errors = {}, dict(exc.errors)
    email = str(cleaned.get("email") or data.get("email") or "").strip().lower()
    problem = password_problem(form["password"], email)
    if problem:
        errors["password"] = problem
    elif form["password"] != form["password_confirm"] and "password_confirm" not in errors:
        errors["password_confirm"] = Message(N_("The two passwords differ."))
    if errors:
        raise ValidationError(errors)
    return {**cleaned, "email": email, "tax_code": normalise_tax_code(cleaned["tax_code"])}


def register(data: dict[str, Any], client_addr: str, links: AccountLinks) -> Throttle | None:
    """Take a registration: the same outcome whether the tax code or the e-mail address is
    known (a mail to the address says what happens next). Returns the throttle when this
    address or e-mail has asked too often (nothing done); raises ValidationError on a form
    that is wrong in itself."""
    cleaned = _clean(data)
    throttle = login_limits.requests_throttle(MAIL_SENDING, cleaned["email"], client_addr)
    if throttle is not None:
        return throttle
    # Hashed whether or not an account is made, so the answer takes the same time.
    password_hash = hash_password(data["password"])
    _register(cleaned, password_hash, client_addr, links)
    return None


@transactional
def _register(
    cleaned: dict[str, Any], password_hash: str, client_addr: str, links: AccountLinks
) -> None:
    email = cleaned["email"]
    login_limits.count_request(REGISTERED, email, client_addr, utcnow())
    known = User.get_or_none(User.username == email)
    if known is not None and known.enterprise_status == "unconfirmed":
        _send_confirmation(known, links)
        return
    if known is not None:
        _send_known(known, links)
        return
    # Inserts that a registration running at the same moment cannot make fail: the second
    # of two for one new tax code joins the first's enterprise, and the second of two for
    # one address is answered like a known address.
    Enterprise.insert(
        tax_code=cleaned["tax_code"], name=cleaned["enterprise_name"], email=email
    ).on_conflict_ignore().execute()
    enterprise = Enterprise.get(Enterprise.tax_code == cleaned["tax_code"])
    (
        User.insert(
            username=email,
            password_hash=password_hash,
            full_name=cleaned["full_name"],
            email=email,
            role="enterprise",
            enterprise=enterprise,
            enterprise_status="unconfirmed",
            given_enterprise_name=cleaned["enterprise_name"],
            language=current_language.get(),  # the language they registered in
        )
        .on_conflict_ignore()
        .execute()
    )
    user = User.get(User.username == email)
    if user.password_hash != password_hash:  # another registration's row (unique salts)
        _send_known(user, links)
        return
    _send_confirmation(user, links)


def _send_known(user: User, links: AccountLinks) -> None:
    """Tell the holder of a known address, in their language, that someone registered it."""
    language = language_of(user)
    body = mail_text(
        N_(
            "Someone, perhaps you, tried to register an enterprise with this e-mail address, "
            "which already has an account on the customs online public-service portal. "
            "If it was you, log in; if you have forgotten your password, set a new one at "
            "%(link)s . If it was not you, you need not do anything."
        ),
        language,
        link=f"{links.base_url}/password/forgot",
    )
    send(user.email, N_("Registration with your e-mail address"), body, language)


def _send_confirmation(user: User, links: AccountLinks) -> None:
    language = language_of(user)
    body = mail_text(
        N_(
            "To confirm your e-mail address and finish registering your enterprise, open "
            "%(link)s within two days. Customs staff will then check the enterprise's papers "
            "before the account can file dossiers. If you did not register, ignore this e-mail."
        ),
        language,
        link=links.url("/register/confirm", CONFIRM, user),
    )
    send(user.email, N_("Confirm your e-mail address"), body, language)


@reading
def confirmation_user(token: str, links: AccountLinks) -> User | None:
    """The account a confirmation link is for, while the link is good; else None."""
    return links.user(CONFIRM, token)


@transactional
def confirm_email(token: str, client_addr: str, links: AccountLinks) -> User:
    """Mark the e-mail address of the link's account confirmed: the account then waits for
    the customs check. Raises DomainError when the link is forged, expired or used."""
    user = links.user(CONFIRM, token)
    if user is None:
        raise DomainError(
            N_("This link does not work any more: it was used, or it has expired."),
            kind="invalid",
        )
    User.update(enterprise_status="pending").where(
        User.id == user.id, User.enterprise_status == "unconfirmed"
    ).execute()
    history.record(history.Actor.of(user, client_addr), "email_confirmed", public=False)
    return User.get_by_id(user.id)


@dataclass(frozen=True)
class Claim:
    """A pending account as the customs queue shows it."""

    user: User
    active_accounts: int  # other accounts of the same enterprise that are active already


@reading
def pending_claims(page: int = 1) -> Page:
    """The accounts waiting for the customs check, oldest first (a Page of Claim)."""
    query = (
        User.select(User, Enterprise)
        .join(Enterprise, JOIN.LEFT_OUTER)
        .where(User.role == "enterprise", User.enterprise_status == "pending")
        .order_by(User.created_at, User.id)
    )
    result = paginate(query, page, 30)
    ids = {u.enterprise_id for u in result.items}
    counts = dict(
        User.select(User.enterprise, fn.COUNT(User.id))
        .where(User.enterprise.in_(ids or {0}), User.enterprise_status == "active")
        .group_by(User.enterprise)
        .tuples()
    )
    return replace(result, items=[Claim(u, counts.get(u.enterprise_id, 0)) for u in result.items])


def _pending(user_id: int) -> User:
    user = User.get_or_none(User.id == user_id, User.role == "enterprise")
    if user is None:
        raise NotFound(user_id)
    if user.enterprise_status != "pending":
        raise DomainError(N_("This account is not waiting for a check."), kind="conflict")
    return user


def _make_active(user: User, actor: history.Actor, how: str, note: str = "") -> None:
    """Activate a pending account (the one door for every way of proving the enterprise)."""
    if how not in ACTIVATION_WAYS:
        raise ValueError(how)
    changed = (
        User.update(enterprise_status="active", status_reason="")
        .where(User.id == user.id, User.enterprise_status == "pending")
        .execute()
    )
    if not changed:
        raise DomainError(N_("This account is not waiting for a check."), kind="conflict")
    enterprise = Enterprise.get_by_id(user.enterprise_id)
    if (
        not User.select()
        .where(
            User.enterprise == enterprise.id, User.enterprise_status == "active", User.id != user.id
        )
        .exists()
    ):  # the first holder shown: the enterprise is named as they gave it
        Enterprise.update(
            name=user.given_enterprise_name or enterprise.name, email=user.email
        ).where(Enterprise.id == enterprise.id).execute()
    text = f"{enterprise.tax_code} {user.username} ({how}) {note}".strip()
    history.record(actor, "enterprise_activated", note=text[:2000], public=False)
    if not user.email:  # an account made by the national identity may have no address
        return
    language = language_of(user)
    told = ACTIVE_BY[how]
    send(user.email, N_("Your enterprise account is active"), mail_text(told, language), language)


def activate_by_national_identity(user: User, actor: history.Actor, note: str) -> None:
    """Activate a pending account whose holder signed in with the national identity of its
    enterprise (services/national_identity.py checked the tax code); inside its transaction.
    Raises DomainError (not pending)."""
    _make_active(user, actor, "national_identity", note)


def activate_by_certificate(ctx: Ctx, chunks: Any) -> None:
    """Activate the pending account of `ctx.user` with a PDF signed by a valid certificate
    that names its enterprise's tax code (checked, then the file is dropped: it is not kept).
    Raises DomainError (not pending) or ValidationError on `signed_file` saying what failed."""
    with db.connection_context():
        user = _pending(ctx.user.id)
        tax_code = Enterprise.get_by_id(user.enterprise_id).tax_code
    try:
        stored = storage.store(chunks, ctx.uploads, ctx.max_upload_bytes, ["pdf"])
    except storage.UploadRejected:
        raise ValidationError({"signed_file": Message(signed_documents.SIGNED_PDF_ONLY)}) from None
    try:
        verdict = signed_documents.check(ctx, stored, tax_code, "signed_file")
    finally:
        storage.remove(ctx.uploads, stored.stored_name)
    _activate_signed(ctx, verdict)


@transactional
def _activate_signed(ctx: Ctx, verdict: Verdict) -> None:
    note = f"{verdict.signer_name}, {verdict.signer_uid}, {verdict.cert_sha256[:16]}"
    actor = history.Actor.of(ctx.user, ctx.client_addr)
    _make_active(_pending(ctx.user.id), actor, "certificate", note)


@transactional
def activate(user_id: int, officer: User, client_addr: str) -> None:
    """Activate a pending account once staff have checked the enterprise's papers; raises
    NotFound or DomainError (not pending)."""
    _make_active(_pending(user_id), history.Actor.of(officer, client_addr), "papers")


REJECT_FIELDS = [Field("reason", max_length=1000, multiline=True)]


@transactional
def reject(user_id: int, data: dict[str, Any], officer: User, client_addr: str) -> None:
    """Refuse a pending account with the reason, told to its holder; raises ValidationError
    (no reason), NotFound or DomainError (not pending)."""
    user = _pending(user_id)
    reason = validate(data, REJECT_FIELDS)["reason"]
    User.update(enterprise_status="rejected", status_reason=reason).where(
        User.id == user.id
    ).execute()
    tax_code = user.enterprise.tax_code if user.enterprise_id else ""
    history.record(
        history.Actor.of(officer, client_addr),
        "enterprise_rejected",
        note=f"{tax_code} {user.username}: {reason}"[:2000],
        public=False,
    )
    language = language_of(user)
    send(
        user.email,
        N_("Your enterprise account was not activated"),
        mail_text(
            N_("Customs staff could not confirm your enterprise: %(reason)s"),
            language,
            reason=reason,
        ),
        language,
    )
