"""Logging in: the throttle first, then the password.

A successful login is the act of a signed-in person: it enters the official history (`login`,
never public; its note the login name). Failed and throttled logins come from clients nobody
has signed in: they are only counted in the bounded security log (services/security_log.py,
by login name and address), which the throttle reads; they never enter the history.

The login name is the name as it was typed, trimmed and lower-cased (the form the accounts are
looked up by), cut to 254 characters, with control characters replaced."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from portal.db import transactional
from portal.models import User, utcnow
from portal.services import accounts, history, login_limits
from portal.services.login_limits import SUCCEEDED, Throttle
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


@transactional
def record_login(name: str, client_addr: str, user_id: int) -> None:
    """Write the successful login in the history and clear its pair's failures."""
    user = User.get_by_id(user_id)
    history.record(history.Actor.of(user, client_addr), SUCCEEDED, note=name, public=False)
    login_limits.clear_pair(name, client_addr)


@transactional
def _count_failure(name: str, client_addr: str, now: dt.datetime) -> None:
    login_limits.count_failure(name, client_addr, now)


@transactional
def _count_throttled(client_addr: str, now: dt.datetime) -> None:
    login_limits.count_throttled(client_addr, now)


def log_in(
    username: str, password: str, client_addr: str, *, now: dt.datetime | None = None
) -> Attempt:
    """Check the throttle, then the credentials; record a successful login in the history
    and count a failed or throttled one in the security log (at `now`).

    A throttled attempt does not check the password. The password is checked outside any
    write transaction (argon2 is slow on purpose): attempts running at the very same moment
    may therefore pass the throttle together, by at most the number of attempts in flight."""
    name = login_name(username)
    client_addr = client_addr[:64]
    now = now or utcnow()
    throttle = login_limits.throttle(name, client_addr, now)
    if throttle is not None:
        _count_throttled(client_addr, now)
        return Attempt(None, throttle, now)
    user = accounts.authenticate(username, password)
    if user is None:
        _count_failure(name, client_addr, now)
        return Attempt(None)
    record_login(name, client_addr, user.id)
    return Attempt(user)
