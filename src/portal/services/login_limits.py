"""How many failed logins are allowed, counted from the official history (no table of its own).

Three sliding windows, each over the `login_failed` events of the history:

- per account and address: a few wrong passwords, then that pair waits;
- per address, whatever the account: one address guessing many accounts;
- per account, whatever the address: a higher ceiling against guessing spread over many
  addresses. It only slows guessing down: nothing is ever locked for good, and attempts that
  were refused for throttling do not count, so an attacker cannot keep an account shut by
  hammering it.

A successful login clears its own pair's count (the failures before it no longer count for
that account and address).

The history has no index on `created_at`, only on `action` (SQLite also orders that index by
rowid) and the primary key. Events are appended in time order, so the first event id of the
window is found by bisecting the primary key, and every count is bounded by `id >= first`:
the database then reads only the window's failed logins, never the whole history."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from peewee import Expression, Select, fn

from portal.db import reading
from portal.models import DossierEvent, utcnow

FAILED = "login_failed"
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
# Web servers' clocks may differ a little: the id bound looks this much further back (the
# counts themselves compare the exact times).
CLOCK_SKEW = dt.timedelta(minutes=5)


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


def _starts_at_or_after(event_id: int, since: dt.datetime) -> bool:
    """Whether the first event with an id >= `event_id` happened at or after `since`."""
    created = (
        DossierEvent.select(DossierEvent.created_at)
        .where(DossierEvent.id >= event_id)
        .order_by(DossierEvent.id)
        .limit(1)
        .scalar()
    )
    return created is not None and created >= since


def first_event_id(since: dt.datetime) -> int | None:
    """The lowest id from which on every history event happened at or after `since`, or None
    when no event did. Gallops down from the newest event, then bisects: about twice log2 of
    the number of events since then, each a primary-key lookup."""
    last = DossierEvent.select(fn.MAX(DossierEvent.id)).scalar()
    if last is None or not _starts_at_or_after(last, since):
        return None
    good, step = last, 1
    while True:
        probe = max(good - step, 0)
        if not _starts_at_or_after(probe, since):
            bad = probe
            break
        good = probe
        if probe == 0:
            return 0
        step *= 2
    while good - bad > 1:
        middle = (good + bad) // 2
        if _starts_at_or_after(middle, since):
            good = middle
        else:
            bad = middle
    return good


def nth_latest_failure(
    first_id: int, limit: Limit, now: dt.datetime, *conditions: Expression
) -> Select:
    """The query for the time of the `limit.failures`-th latest failure within the limit's
    window that matches `conditions` (no row when there are fewer)."""
    return (
        DossierEvent.select(DossierEvent.created_at)
        .where(
            DossierEvent.action == FAILED,
            DossierEvent.id >= first_id,
            DossierEvent.created_at > now - limit.window,
            *conditions,
        )
        .order_by(DossierEvent.created_at.desc())
        .offset(limit.failures - 1)
        .limit(1)
    )


def _last_success(first_id: int, name: str, client_addr: str) -> int:
    """The id of this pair's latest successful login in the window (0 if none)."""
    return (
        DossierEvent.select(fn.MAX(DossierEvent.id))
        .where(
            DossierEvent.action == SUCCEEDED,
            DossierEvent.id >= first_id,
            DossierEvent.note == name,
            DossierEvent.client_addr == client_addr,
        )
        .scalar()
        or 0
    )


@reading
def throttle(name: str, client_addr: str, now: dt.datetime | None = None) -> Throttle | None:
    """Whether a login as `name` (the login name as recorded in the history's notes) from
    `client_addr` must wait, and until when (the latest end among the limits it reached)."""
    now = now or utcnow()
    longest = max(limit.window for limit in LIMITS)
    first_id = first_event_id(now - longest - CLOCK_SKEW)
    if first_id is None:
        return None
    client_addr = client_addr[:64]
    keys = {
        PAIR: (
            DossierEvent.note == name,
            DossierEvent.client_addr == client_addr,
            DossierEvent.id > _last_success(first_id, name, client_addr),
        ),
        ADDRESS: (DossierEvent.client_addr == client_addr,),
        ACCOUNT: (DossierEvent.note == name,),
    }
    found: Throttle | None = None
    for limit in LIMITS:
        oldest = nth_latest_failure(first_id, limit, now, *keys[limit]).scalar()
        if oldest is not None:
            until = oldest + limit.window
            if until > now and (found is None or until > found.until):
                found = Throttle(limit, until)
    return found


# Requests that send an e-mail (registration, a forgotten password): per address, and per
# e-mail address they send to (the history's note), so nobody is flooded with mails.
REQUESTS_PER_ADDRESS = Limit("address", 10, dt.timedelta(minutes=15))
REQUESTS_PER_EMAIL = Limit("account", 3, dt.timedelta(hours=1))


@reading
def requests_throttle(
    actions: tuple[str, ...], email: str, client_addr: str, now: dt.datetime | None = None
) -> Throttle | None:
    """Whether one more request recorded as one of `actions` (for `email`, from
    `client_addr`) must wait, and until when. Refused requests are not recorded as these
    actions, so they do not count."""
    now = now or utcnow()
    limits = {
        REQUESTS_PER_ADDRESS: DossierEvent.client_addr == client_addr[:64],
        REQUESTS_PER_EMAIL: DossierEvent.note == email,
    }
    first_id = first_event_id(now - max(x.window for x in limits) - CLOCK_SKEW)
    if first_id is None:
        return None
    found: Throttle | None = None
    for limit, condition in limits.items():
        oldest = (
            DossierEvent.select(DossierEvent.created_at)
            .where(
                DossierEvent.action.in_(actions),
                DossierEvent.id >= first_id,
                DossierEvent.created_at > now - limit.window,
                condition,
            )
            .order_by(DossierEvent.created_at.desc())
            .offset(limit.failures - 1)
            .limit(1)
            .scalar()
        )
        if oldest is not None and oldest + limit.window > now:
            until = oldest + limit.window
            if found is None or until > found.until:
                found = Throttle(limit, until)
    return found
