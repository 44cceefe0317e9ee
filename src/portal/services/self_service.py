"""What users do to their own account: change the password, log out everywhere, and reset a
forgotten password by an e-mailed single-use link. Each is recorded in the history (never
public).

An account made by a sign-in with the national identity has no password (User.has_password):
it logs in only with the national identity, so it has none to change, and a reset link never
gives it one (that would add a weaker way in than the identity's); a reset asked for its
e-mail address tells it by e-mail to log in with VNeID."""

from __future__ import annotations

from typing import Any

from portal.db import db, reading, transactional
from portal.models import NO_PASSWORD as NO_PASSWORD_HASH
from portal.models import User, utcnow
from portal.services import accounts, history, login_limits
from portal.services.account_links import RESET, AccountLinks
from portal.services.enrolment import MAIL_SENDING, RESET_REQUESTED, mail_text, send
from portal.services.errors import N_, DomainError, Message, ValidationError
from portal.services.login_limits import Throttle
from portal.services.notify import language_of
from portal.services.validation import validate

USED_LINK = N_("This link does not work any more: it was used, or it has expired.")
NO_PASSWORD = N_(
    "Your account has no password: you log in with your national identity (the Log in with "
    "VNeID button of the login page)."
)
EMAIL_FIELD = [accounts.email_field()]


def _new_password_errors(data: dict[str, Any], username: str) -> dict[str, Message]:
    password = data.get("password", "") or ""
    problem = accounts.password_problem(password, username)
    if problem:
        return {"password": problem}
    if password != (data.get("password_confirm", "") or ""):
        return {"password_confirm": Message(N_("The two passwords differ."))}
    return {}


def change_password(user_id: int, data: dict[str, Any], session_key: str, client_addr: str) -> None:
    """Change the user's password after checking the current one, and end the user's other
    sessions (this one, `session_key`, goes on). Raises ValidationError, DomainError
    (conflict) for an account that has no password."""
    with db.connection_context():
        user = User.get_by_id(user_id)
    if not user.has_password:
        raise DomainError(NO_PASSWORD, kind="conflict")
    errors = _new_password_errors(data, user.username)
    if not accounts.check_password(user, str(data.get("current_password", ""))[:256]):
        errors["current_password"] = Message(N_("This is not your current password."))
    if errors:
        raise ValidationError(errors)
    new_hash = accounts.hash_password(data["password"])
    if not _set_password(user, new_hash, "password_changed", client_addr, keep=session_key):
        raise ValidationError(
            {"current_password": Message(N_("This is not your current password."))}
        )


@transactional
def _set_password(user: User, new_hash: str, action: str, client_addr: str, keep: str = "") -> bool:
    """Replace the password the user had when `user` was read (False, nothing done, when it
    was changed meanwhile), ending the sessions but `keep`."""
    changed = (
        User.update(password_hash=new_hash)
        .where(User.id == user.id, User.password_hash == user.password_hash)
        .execute()
    )
    if not changed:
        return False
    accounts.end_sessions(user.id, keep=keep)
    history.record(history.Actor.of(user, client_addr), action, public=False)
    return True


@transactional
def log_out_everywhere(user_id: int, client_addr: str) -> int:
    """End every session of the user, this one included; returns how many."""
    user = User.get_by_id(user_id)
    ended = accounts.end_sessions(user.id)
    history.record(history.Actor.of(user, client_addr), "logout_everywhere", public=False)
    return ended


def request_reset(data: dict[str, Any], client_addr: str, links: AccountLinks) -> Throttle | None:
    """Send a reset link to the address if an active account has it (the answer is the same
    either way). Returns the throttle when asked too often; raises ValidationError on a
    malformed address."""
    email = str(validate(data, EMAIL_FIELD)["email"]).strip().lower()
    throttle = login_limits.requests_throttle(MAIL_SENDING, email, client_addr)
    if throttle is not None:
        return throttle
    _request_reset(email, client_addr, links)
    return None


@transactional
def _request_reset(email: str, client_addr: str, links: AccountLinks) -> None:
    login_limits.count_request(RESET_REQUESTED, email, client_addr, utcnow())
    user = User.get_or_none(User.username == email)
    if user is None:
        _tell_national_accounts(email)
        return
    if not user.active or not user.email or not user.has_password:
        return
    language = language_of(user)
    body = mail_text(
        N_(
            "To set a new password for your account on the customs online public-service "
            "portal, open %(link)s within an hour. The link works once. If you did not ask "
            "for it, ignore this e-mail: your password stays as it is."
        ),
        language,
        link=links.url("/password/reset", RESET, user),
    )
    send(user.email, N_("Set a new password"), body, language)


def _tell_national_accounts(email: str) -> None:
    """Tell the accounts without a password that have this address how they log in (their
    user name is not their address, so a reset never finds them)."""
    without_password = User.password_hash.startswith(NO_PASSWORD_HASH)
    found = User.select().where(User.email == email, User.active, without_password).first()
    if found is None:
        return
    language = language_of(found)
    body = mail_text(
        N_(
            "Someone asked to reset the password of your account on the customs online "
            "public-service portal. Your account has no password: you log in with your "
            "national identity, by the Log in with VNeID button of the login page. If you did "
            "not ask, ignore this e-mail."
        ),
        language,
    )
    send(found.email, N_("How you log in"), body, language)


@reading
def reset_user(token: str, links: AccountLinks) -> User | None:
    """The account a reset link is for, while the link is good and the account has a
    password; else None."""
    user = links.user(RESET, token)
    return user if user is not None and user.has_password else None


def reset_password(token: str, data: dict[str, Any], client_addr: str, links: AccountLinks) -> None:
    """Set the new password of the link's account and end all its sessions; the link is then
    used up. Raises DomainError (bad link) or ValidationError."""
    user = reset_user(token, links)
    if user is None:
        raise DomainError(USED_LINK, kind="invalid")
    errors = _new_password_errors(data, user.username)
    if errors:
        raise ValidationError(errors)
    new_hash = accounts.hash_password(data["password"])
    if not _set_password(user, new_hash, "password_reset", client_addr):  # used meanwhile
        raise DomainError(USED_LINK, kind="invalid")
