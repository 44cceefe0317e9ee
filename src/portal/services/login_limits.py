"""How many failed logins are allowed, counted from the bounded security log
(services/security_log.py), never from the official history.

Three sliding windows over the failed logins, each counted per key and minute:

- per account and address (`pair`): a few wrong passwords, then that pair waits;
- per address (`address`), whatever the account: one address guessing many accounts;
- per account (`account`), whatever the address: a higher ceiling against guessing spread
  over many addresses. It only slows guessing down: nothing is ever locked for good, and
  attempts that were refused for throttling do not count, so an attacker cannot keep an
  account shut by hammering it.

A failure counts from the start of its minute, so a wait ends up to a minute before the
window has passed since the failure itself. A successful login clears its own pair's count
(the failures before it no longer count for that account and address)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass

from portal.db import reading
from portal.models import utcnow
from portal.services import security_log

FAILED = "login_failed"
THROTTLED = "login_throttled"
SUCCEEDED = "login"


@dataclass(frozen=True)
class Limit:
    """At most `failures` failed logins within `window` (sliding) for one key."""

    scope: str  # "pair" (account and address), "address" or "account"
    failures: int
    window: dt.timedelta


# The thresholds, in one place.
PAIR = Limit("pair", 5, dt.timedelta(minutes=15))
ADDRESS = Limit("address", 20, dt.timedelta(minutes=15))
ACCOUNT = Limit("account", 50, dt.timedelta(hours=1))
LIMITS = (PAIR, ADDRESS, ACCOUNT)


@dataclass(frozen=True)
class Throttle:
    """Why and until when a login attempt is refused without checking the password."""

    limit: Limit
    until: dt.datetime

    def seconds_left(self, now: dt.datetime) -> int:
        """Whole seconds to wait, rounded up (at least 1)."""
        return max(1, math.ceil((self.until - now).total_seconds()))

    def minutes_left(self, now: dt.datetime) -> int:
        """Whole minutes to wait, rounded up (at least 1)."""
        return math.ceil(self.seconds_left(now) / 60)


def keys(name: str, client_addr: str) -> dict[Limit, str]:
    """The key each limit counts a login as `name` from `client_addr` by."""
    client_addr = client_addr[:64]
    return {PAIR: f"{name}\x1f{client_addr}", ADDRESS: client_addr, ACCOUNT: name}


def count_failure(name: str, client_addr: str, now: dt.datetime) -> None:
    """Count a failed login in every limit's key (inside the caller's transaction)."""
    for limit, key in keys(name, client_addr).items():
        security_log.add(FAILED, limit.scope, key, now)


def count_throttled(client_addr: str, now: dt.datetime) -> None:
    """Count a refused (throttled) attempt by its address; it never counts as a failure."""
    security_log.add(THROTTLED, ADDRESS.scope, client_addr[:64], now)


def clear_pair(name: str, client_addr: str) -> None:
    """A successful login: the pair's failures no longer count."""
    security_log.clear(FAILED, PAIR.scope, keys(name, client_addr)[PAIR])


def until_free(
    limit: Limit, key: str, now: dt.datetime, actions: tuple[str, ...] = (FAILED,)
) -> dt.datetime | None:
    """When the limit's `failures`-th latest event (of `actions`, counted in the security log
    for `key`) leaves the window, if the limit is reached; else None."""
    per_minute: dict[dt.datetime, int] = {}
    for action in actions:
        for minute, count in security_log.minutes(action, limit.scope, key, now, limit.window):
            per_minute[minute] = per_minute.get(minute, 0) + count
    seen = 0
    for minute in sorted(per_minute, reverse=True):
        seen += per_minute[minute]
        if seen >= limit.failures:
            return minute + limit.window
    return None


def longest_wait(
    pairs: Iterable[tuple[Limit, str]], now: dt.datetime, actions: tuple[str, ...]
) -> Throttle | None:
    """The throttle that ends last among the (limit, key) pairs reached now, or None."""
    found: Throttle | None = None
    for limit, key in pairs:
        until = until_free(limit, key, now, actions)
        if until is not None and until > now and (found is None or until > found.until):
            found = Throttle(limit, until)
    return found


@reading
def throttle(name: str, client_addr: str, now: dt.datetime | None = None) -> Throttle | None:
    """Whether a login as `name` (the login name as `logins.login_name` gives it) from
    `client_addr` must wait, and until when (the latest end among the limits it reached)."""
    return longest_wait(keys(name, client_addr).items(), now or utcnow(), (FAILED,))


# Requests that send an e-mail (registration, a forgotten password): per address, and per
# e-mail address they send to, so nobody is flooded with mails (counted in the security log).
REQUESTS_PER_ADDRESS = Limit("address", 10, dt.timedelta(minutes=15))
REQUESTS_PER_EMAIL = Limit("account", 3, dt.timedelta(hours=1))


def count_request(action: str, email: str, client_addr: str, now: dt.datetime) -> None:
    """Count a request that may send a mail (inside the caller's transaction): by address and
    by the e-mail address it names. Anonymous, so it goes to the security log."""
    security_log.add(action, REQUESTS_PER_ADDRESS.scope, client_addr[:64], now)
    security_log.add(action, REQUESTS_PER_EMAIL.scope, email, now)


@reading
def requests_throttle(
    actions: tuple[str, ...], email: str, client_addr: str, now: dt.datetime | None = None
) -> Throttle | None:
    """Whether one more request counted as one of `actions` (for `email`, from
    `client_addr`) must wait, and until when. Refused requests are not counted, so they do
    not prolong the wait."""
    pairs = ((REQUESTS_PER_ADDRESS, client_addr[:64]), (REQUESTS_PER_EMAIL, email))
    return longest_wait(pairs, now or utcnow(), actions)
