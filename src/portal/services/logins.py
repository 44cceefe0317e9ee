"""Logging in: the throttle first, then the password, and every attempt in the official
history (`login`, `login_failed`, `login_throttled`; never public).

Each event's note holds the login name as it was typed, trimmed and lower-cased (the form the
accounts are looked up by), cut to 254 characters, with control characters replaced; the
throttle counts by it. A failed login names the account as its actor when the name exists."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from portal.db import transactional
from portal.models import User, utcnow
from portal.services import accounts, history, login_limits
from portal.services.login_limits import Throttle
from portal.services.text import has_forbidden_chars


@dataclass(frozen=True)
class Attempt:
    """What came of a login attempt: the user, or a refusal (throttled or wrong)."""

    user: User | None
    throttle: Throttle | None = None
    checked_at: dt.datetime | None = None

    @property
    def seconds_left(self) -> int:
        """Whole seconds before a throttled attempt may be made again (0 when not throttled)."""
        if self.throttle is None or self.checked_at is None:
            return 0
        return self.throttle.seconds_left(self.checked_at)

    @property
    def minutes_left(self) -> int:
        """Whole minutes before a throttled attempt may be made again (0 when not throttled)."""
        if self.throttle is None or self.checked_at is None:
            return 0
        return self.throttle.minutes_left(self.checked_at)


def login_name(username: str) -> str:
    """The login name as the history records it: trimmed, lower-case, at most 254 characters,
    control and bidi-override characters replaced by U+FFFD."""
    name = username.strip().lower()[:254]
    if has_forbidden_chars(name):
        name = "".join("\ufffd" if has_forbidden_chars(ch) else ch for ch in name)
    return name


def _actor(user: User | None, client_addr: str) -> history.Actor:
    if user is None:
        return history.Actor(None, "", "anonymous", "", client_addr)
    return history.Actor.of(user, client_addr)


@transactional
def _record(action: str, name: str, client_addr: str, user_id: int | None = None) -> None:
    """Write one login event; the actor is the account named, when it exists."""
    user = User.get_or_none(User.id == user_id) if user_id else None
    if user is None and action != "login":
        user = User.get_or_none(User.username == name) if name else None
    history.record(_actor(user, client_addr), action, note=name, public=False)


def log_in(
    username: str, password: str, client_addr: str, *, now: dt.datetime | None = None
) -> Attempt:
    """Check the throttle, then the credentials, and record the attempt in the history.

    A throttled attempt does not check the password. The password is checked outside any
    write transaction (argon2 is slow on purpose): attempts running at the very same moment
    may therefore pass the throttle together, by at most the number of attempts in flight."""
    name = login_name(username)
    client_addr = client_addr[:64]
    now = now or utcnow()
    throttle = login_limits.throttle(name, client_addr, now)
    if throttle is not None:
        _record("login_throttled", name, client_addr)
        return Attempt(None, throttle, now)
    user = accounts.authenticate(username, password)
    if user is None:
        _record(login_limits.FAILED, name, client_addr)
        return Attempt(None)
    _record(login_limits.SUCCEEDED, name, client_addr, user.id)
    return Attempt(user)
