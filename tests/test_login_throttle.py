"""Login throttling, counted from the bounded security log (never from the official history):
per account and address, per address, per account from everywhere; sliding windows counted by
the minute that free up; 429 with the wait. Failed and throttled logins of clients nobody has
signed in leave nothing in the hash-chained history, and the log stays bounded."""

from __future__ import annotations

import datetime as dt
import html

from starlette.testclient import TestClient

from portal import i18n, jobs
from portal.db import db
from portal.models import DossierEvent, SecurityCount, utcnow
from portal.services import login_limits, security_log
from portal.services.login_limits import ACCOUNT, ADDRESS, PAIR
from portal.services.logins import log_in
from tests.conftest import PASSWORD
from tests.helpers import csrf_from

WRONG = "wrong-password-123"
HERE, THERE = "203.0.113.10", "198.51.100.20"
MINUTE = dt.timedelta(minutes=1)


def a_minute() -> dt.datetime:
    """The start of the current minute: failures counted at it count from it exactly."""
    return security_log.minute_of(utcnow())


def fail(name: str, addr: str, times: int = 1, now: dt.datetime | None = None) -> None:
    for _ in range(times):
        attempt = log_in(name, WRONG, addr, now=now)
        assert attempt.user is None and attempt.throttle is None, (name, addr)


def history_actions(action: str) -> list[DossierEvent]:
    with db.connection_context():
        return list(DossierEvent.select().where(DossierEvent.action == action)
                    .order_by(DossierEvent.id))


def counted(action: str, scope: str = "address") -> int:
    return sum(row.count for row in security_log.counts(action) if row.scope == scope)


# --- the thresholds -------------------------------------------------------------------------

def test_the_thresholds():
    assert (PAIR.failures, PAIR.window) == (5, dt.timedelta(minutes=15))
    assert (ADDRESS.failures, ADDRESS.window) == (20, dt.timedelta(minutes=15))
    assert (ACCOUNT.failures, ACCOUNT.window) == (50, dt.timedelta(hours=1))
    assert login_limits.LIMITS == (PAIR, ADDRESS, ACCOUNT)


# --- per account and address ----------------------------------------------------------------

def test_five_failures_stop_the_pair_but_not_the_account_elsewhere(make_user):
    user = make_user("officer")
    fail(user.username, HERE, 4)
    assert log_in(user.username, PASSWORD, HERE, now=utcnow()).throttle is None  # 4 < 5
    fail(user.username, HERE, 5)  # the success cleared the count: five new failures
    # the sixth attempt is refused even with the right password, which is not checked
    attempt = log_in(user.username, PASSWORD, HERE)
    assert attempt.user is None and attempt.throttle is not None
    assert attempt.throttle.limit == PAIR
    assert counted("login_throttled") == 1
    # the same account from another address is not throttled
    assert log_in(user.username, PASSWORD, THERE).user.id == user.id
    # nor is another account from this address
    other = make_user("officer")
    assert log_in(other.username, PASSWORD, HERE).user.id == other.id


def test_the_wait_is_counted_from_the_oldest_failure_of_the_window(make_user):
    user = make_user("officer")
    oldest = a_minute()
    fail(user.username, HERE, 3, now=oldest)
    fail(user.username, HERE, 2, now=oldest + 2 * MINUTE)
    attempt = log_in(user.username, PASSWORD, HERE, now=oldest + 10 * MINUTE)
    assert attempt.throttle.until == oldest + 15 * MINUTE
    assert attempt.minutes_left == 5
    attempt = log_in(user.username, PASSWORD, HERE, now=oldest + 14 * MINUTE + dt.timedelta(
        seconds=30))
    assert attempt.minutes_left == 1  # rounded up
    # once the oldest failure leaves the window, the pair may try again
    attempt = log_in(user.username, PASSWORD, HERE, now=oldest + 15 * MINUTE)
    assert attempt.throttle is None and attempt.user.id == user.id


def test_a_failure_counts_from_the_start_of_its_minute(make_user):
    user = make_user("officer")
    minute = a_minute()
    fail(user.username, HERE, 5, now=minute + dt.timedelta(seconds=59))
    attempt = log_in(user.username, PASSWORD, HERE, now=minute + MINUTE)
    assert attempt.throttle.until == minute + 15 * MINUTE


def test_throttled_attempts_do_not_extend_the_wait(make_user):
    """No lock an attacker can keep set: refused attempts are counted apart, never as
    failures."""
    user = make_user("officer")
    oldest = a_minute()
    fail(user.username, HERE, 5, now=oldest)
    for _ in range(25):
        assert log_in(user.username, WRONG, HERE, now=oldest).throttle is not None
    assert counted("login_throttled") == 25
    assert counted("login_failed", "pair") == 5
    later = oldest + 15 * MINUTE
    assert log_in(user.username, PASSWORD, HERE, now=later).user.id == user.id


def test_unknown_names_are_throttled_the_same_way(settings):
    """The throttle does not tell which accounts exist."""
    fail("nobody.here", HERE, 5)
    attempt = log_in("nobody.here", WRONG, HERE)
    assert attempt.throttle is not None and attempt.throttle.limit == PAIR


def test_the_name_counts_as_typed_in_any_case_and_spacing(make_user):
    user = make_user("officer")
    for typed in (user.username, user.username.upper(), f"  {user.username} ",
                  user.username.title(), user.username):
        fail(typed, HERE)
    assert log_in(user.username, PASSWORD, HERE).throttle is not None


# --- per address ----------------------------------------------------------------------------

def test_twenty_failures_from_one_address_stop_it_for_every_account(make_user):
    user = make_user("officer")
    oldest = a_minute()
    for n in range(5):
        fail(f"guess{n}@example.vn", HERE, 4, now=oldest)  # below the pair limit each time
    attempt = log_in(user.username, PASSWORD, HERE, now=oldest)
    assert attempt.user is None and attempt.throttle.limit == ADDRESS
    assert log_in(user.username, PASSWORD, THERE, now=oldest).user.id == user.id
    assert log_in(user.username, PASSWORD, HERE,
                  now=oldest + 15 * MINUTE).user.id == user.id


# --- per account, from everywhere -----------------------------------------------------------

def test_fifty_failures_from_many_addresses_slow_the_account_down(make_user):
    user = make_user("officer")
    oldest = a_minute()
    for n in range(12):
        fail(user.username, f"192.0.2.{n}", 4, now=oldest)
    fail(user.username, "192.0.2.99", 2, now=oldest)  # 50, no pair or address at its limit
    attempt = log_in(user.username, PASSWORD, "192.0.2.200", now=oldest)
    assert attempt.user is None and attempt.throttle.limit == ACCOUNT
    assert attempt.throttle.until == oldest + dt.timedelta(hours=1)
    # an hour later the oldest failure has left the window: the account works again
    later = oldest + dt.timedelta(hours=1)
    assert log_in(user.username, PASSWORD, "192.0.2.200", now=later).user.id == user.id


def test_the_account_ceiling_also_applies_to_unknown_names(settings):
    for n in range(10):
        fail("ghost", f"192.0.2.{n}", 5)
    assert log_in("ghost", WRONG, "192.0.2.250").throttle.limit == ACCOUNT


# --- several limits at once ----------------------------------------------------------------

def test_when_two_limits_are_reached_the_longer_wait_is_given(make_user):
    """The pair's five failures wait 15 minutes, the account's fifty an hour: the hour."""
    user = make_user("officer")
    oldest = a_minute()
    for n in range(11):
        fail(user.username, f"192.0.2.{n}", 4, now=oldest)
    fail(user.username, "192.0.2.99", 1, now=oldest)
    fail(user.username, HERE, 5, now=oldest + 2 * MINUTE)  # 50 in all, the last five here
    now = oldest + 3 * MINUTE
    with db.connection_context():
        found = login_limits.throttle(user.username, HERE, now)
    assert counted("login_failed", "account") == 50
    # Both are reached: the pair alone would wait until oldest + 17 minutes.
    assert found.limit == ACCOUNT
    assert found.until == oldest + dt.timedelta(hours=1)
    attempt = log_in(user.username, PASSWORD, HERE, now=now)
    assert attempt.throttle == found and attempt.minutes_left == 57


def test_when_the_pairs_wait_is_the_longer_one_it_is_given(make_user):
    """The account's fifty failures are 50 minutes old (10 minutes left); five new ones from
    one address wait 15 minutes: the 15."""
    user = make_user("officer")
    now = a_minute()
    for n in range(12):
        fail(user.username, f"192.0.2.{n}", 4, now=now - 50 * MINUTE)
    fail(user.username, "192.0.2.99", 2, now=now - 50 * MINUTE)
    with db.connection_context(), db.atomic():  # refused attempts would not count: count
        for _ in range(5):                      # the failures as log_in does
            login_limits.count_failure(user.username, HERE, now)
    with db.connection_context():
        found = login_limits.throttle(user.username, HERE, now)
    account_until = now + 10 * MINUTE  # the 50th latest failure is 50 minutes old
    assert (found.limit, found.until) == (PAIR, now + 15 * MINUTE)
    # From another address only the account's wait is left.
    with db.connection_context():
        elsewhere = login_limits.throttle(user.username, THERE, now)
    assert (elsewhere.limit, elsewhere.until) == (ACCOUNT, account_until)


# --- the official record and the bounded log ----------------------------------------------

def test_failed_and_throttled_logins_leave_nothing_in_the_history(make_user):
    """Only signed-in people's acts enter the hash-chained record: a client hammering the form
    adds nothing to it."""
    user = make_user("officer")
    fail(user.username, HERE, 5)
    fail("nobody.here", THERE, 3)
    for _ in range(30):
        assert log_in(user.username, WRONG, HERE).throttle is not None
    with db.connection_context():
        assert DossierEvent.select().count() == 0
    assert log_in(user.username, PASSWORD, THERE).user.id == user.id
    assert [e.action for e in history_actions("login")] == ["login"]


def test_the_log_holds_one_row_per_key_and_minute(settings):
    minute = a_minute()
    for second in range(0, 60, 2):  # 30 attempts in one minute from one client
        log_in("target", WRONG, HERE, now=minute + dt.timedelta(seconds=second))
    with db.connection_context():
        rows = list(SecurityCount.select())
    # three failure keys (pair, address, account) and one throttled key: four rows
    assert sorted((r.action, r.scope) for r in rows) == [
        ("login_failed", "account"), ("login_failed", "address"), ("login_failed", "pair"),
        ("login_throttled", "address")]
    assert {r.count for r in rows if r.action == "login_failed"} == {5}
    assert [r.count for r in rows if r.action == "login_throttled"] == [25]


def test_old_minutes_are_purged_by_the_job(settings, job_settings):
    now = a_minute()
    fail("target", HERE, 2, now=now - security_log.RETENTION - MINUTE)
    fail("target", THERE, 1, now=now - security_log.RETENTION + MINUTE)
    with db.connection_context():
        assert SecurityCount.select().count() == 6
    assert security_log.purge(now) == 3
    with db.connection_context():
        assert {r.key for r in SecurityCount.select() if r.scope == "address"} == {THERE}
    age_log(security_log.RETENTION)
    assert jobs.purge_security_log.call_local() == 3
    with db.connection_context():
        assert SecurityCount.select().count() == 0


# --- over HTTP ------------------------------------------------------------------------------

def post_login(client: TestClient, username: str, password: str):
    token = csrf_from(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token}, follow_redirects=False)


def age_log(by: dt.timedelta) -> None:
    """Move every count of the security log `by` into the past."""
    with db.connection_context(), db.atomic():
        for row in SecurityCount.select():
            SecurityCount.update(window_start=row.window_start - by).where(
                SecurityCount.id == row.id).execute()


def wait_message(minutes: int) -> str:
    text = i18n.translations("vi").ngettext(
        "Too many failed login attempts. For your security, try again in %(num)s minute.",
        "Too many failed login attempts. For your security, try again in %(num)s minutes.",
        minutes)
    return text % {"num": minutes}


def test_a_throttled_login_answers_429_with_the_wait_and_keeps_the_name(app, client, make_user):
    user = make_user("officer")
    for _ in range(5):
        assert post_login(client, user.username, WRONG).status_code == 422
    r = post_login(client, user.username, PASSWORD)
    assert r.status_code == 429
    page = html.unescape(r.text)
    waited = int(r.headers["retry-after"])
    assert 840 <= waited <= 900  # counted from the start of the failures' minute
    minutes = -(-waited // 60)
    assert f'id="f-username-error">{wait_message(minutes)}</p>' in page
    assert f'<a href="#f-username">{wait_message(minutes)}</a>' in page
    assert f'value="{user.username}"' in r.text and PASSWORD not in r.text
    assert 'action="/logout"' not in client.get("/").text
    # the same account from another address logs in
    with TestClient(app, base_url="http://testserver", client=(THERE, 50000)) as elsewhere:
        assert post_login(elsewhere, user.username, PASSWORD).status_code == 303


def test_the_login_page_frees_up_when_the_window_has_passed(client, make_user):
    user = make_user("officer")
    for _ in range(5):
        post_login(client, user.username, WRONG)
    assert post_login(client, user.username, PASSWORD).status_code == 429
    age_log(dt.timedelta(minutes=15))  # as if that time had passed
    r = post_login(client, user.username, PASSWORD)
    assert r.status_code == 303


def test_the_wait_shown_is_the_time_left(client, make_user):
    user = make_user("officer")
    for _ in range(5):
        post_login(client, user.username, WRONG)
    with db.connection_context():
        minute = SecurityCount.select().first().window_start
    age_log(dt.timedelta(minutes=7))
    ends = minute + 8 * MINUTE  # the window's end, seven minutes nearer
    before = utcnow()
    r = post_login(client, user.username, PASSWORD)
    after = utcnow()
    assert r.status_code == 429
    waited = int(r.headers["retry-after"])
    assert (ends - after).total_seconds() <= waited <= (ends - before).total_seconds() + 1
    assert wait_message(-(-waited // 60)) in html.unescape(r.text)
