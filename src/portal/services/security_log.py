"""The bounded security log: security events that are not part of the official record (failed
and throttled logins, permission denials beyond the few recorded), counted per key and minute.

One row per (action, scope, key, minute) holds a counter that each event adds one to (an
upsert), so a client hammering the login form adds at most one row a minute per key instead of
one a request; `purge` drops the minutes older than RETENTION (run by a periodic job), so the
table holds at most the keys active in that time, times its minutes."""

from __future__ import annotations

import datetime as dt

from portal.db import reading, transactional
from portal.models import SecurityCount, utcnow

MINUTE = dt.timedelta(minutes=1)
# Longer than every window counted from the log (the login limits' hour).
RETENTION = dt.timedelta(hours=2)
MAX_KEY = 320


def minute_of(when: dt.datetime) -> dt.datetime:
    """The start of the minute `when` is counted in."""
    return when.replace(second=0, microsecond=0)


def add(action: str, scope: str, key: str, now: dt.datetime) -> None:
    """Count one `action` for `key` in the minute of `now` (inside the caller's transaction)."""
    SecurityCount.insert(
        action=action, scope=scope, key=key[:MAX_KEY], window_start=minute_of(now), count=1
    ).on_conflict(
        conflict_target=[
            SecurityCount.action,
            SecurityCount.scope,
            SecurityCount.key,
            SecurityCount.window_start,
        ],
        update={SecurityCount.count: SecurityCount.count + 1},
    ).execute()


def minutes(
    action: str, scope: str, key: str, now: dt.datetime, window: dt.timedelta
) -> list[tuple[dt.datetime, int]]:
    """(minute, count) of `key` whose minute started within `window` before `now`, newest
    first (an event counts from the start of its minute)."""
    query = (
        SecurityCount.select(SecurityCount.window_start, SecurityCount.count)
        .where(
            SecurityCount.action == action,
            SecurityCount.scope == scope,
            SecurityCount.key == key[:MAX_KEY],
            SecurityCount.window_start > now - window,
            SecurityCount.window_start <= now,
        )
        .order_by(SecurityCount.window_start.desc())
    )
    return [(row.window_start, row.count) for row in query]


def total(action: str, scope: str, key: str, now: dt.datetime, window: dt.timedelta) -> int:
    """How many `action`s `key` caused within `window` before `now`."""
    return sum(count for _, count in minutes(action, scope, key, now, window))


def clear(action: str, scope: str, key: str) -> None:
    """Forget every count of `key` for `action` (inside the caller's transaction)."""
    SecurityCount.delete().where(
        SecurityCount.action == action,
        SecurityCount.scope == scope,
        SecurityCount.key == key[:MAX_KEY],
    ).execute()


@reading
def counts(action: str) -> list[SecurityCount]:
    """Every row of `action`, oldest minute first (for the administrators and the tests)."""
    query = SecurityCount.select().where(SecurityCount.action == action)
    return list(query.order_by(SecurityCount.window_start, SecurityCount.id))


@transactional
def purge(now: dt.datetime | None = None) -> int:
    """Delete the minutes older than RETENTION; returns how many rows went."""
    cutoff = (now or utcnow()) - RETENTION
    return SecurityCount.delete().where(SecurityCount.window_start < cutoff).execute()
