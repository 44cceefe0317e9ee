"""The official history records every login and (up to a rate) every permission denial of a
signed-in user, with the client's address; the chain still verifies. Failed and throttled
logins of anonymous clients are only counted in the bounded security log. A privilege change
made by an administrator ends the user's sessions."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from portal.db import db
from portal.models import DossierEvent, User, utcnow
from portal.services import denials, history, security_log
from portal.services.logins import log_in, login_name
from tests import dossier_web_fixtures as fx
from tests.conftest import PASSWORD
from tests.dossier_web_fixtures import PROCEDURE, UNIT, Session
from tests.helpers import csrf_from

forms, people, sessions = fx.forms, fx.people, fx.sessions
ADDR = "198.51.100.23"


def events(action: str) -> list[DossierEvent]:
    with db.connection_context():
        return list(DossierEvent.select().where(DossierEvent.action == action)
                    .order_by(DossierEvent.id))


def client_at(app, addr: str = ADDR) -> TestClient:
    return TestClient(app, base_url="http://testserver", client=(addr, 40000))


def post_login(client: TestClient, username: str, password: str = PASSWORD):
    token = csrf_from(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token}, follow_redirects=False)


def chain_is_whole() -> bool:
    checked, broken, problem = history.verify_chain()
    return checked > 0 and broken is None and problem == ""


# --- logins ---------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["enterprise", "officer", "leader", "admin", "auditor"])
def test_every_roles_login_is_recorded_with_the_address(app, make_user, role):
    with db.connection_context():  # make_user("enterprise") reads outside a connection
        user = make_user(role)
    with client_at(app) as c:
        assert post_login(c, f"  {user.username.upper()}").status_code == 303
    (event,) = events("login")
    assert (event.actor_id, event.actor_role, event.actor_name) == (
        user.id, role, user.full_name)
    assert event.actor_unit == ("2025:02CI" if role in ("officer", "leader") else "")
    assert (event.client_addr, event.note, event.public, event.dossier_id) == (
        ADDR, user.username, False, None)
    assert chain_is_whole()


def log_keys(action: str) -> set[tuple[str, str, int]]:
    return {(r.scope, r.key, r.count) for r in security_log.counts(action)}


def test_a_failed_login_is_counted_in_the_security_log_not_the_history(app, make_user):
    user = make_user("officer")
    inactive = make_user("officer", active="")
    with client_at(app) as c:
        assert post_login(c, user.username.upper(), "wrong-password-123").status_code == 422
        assert post_login(c, inactive.username).status_code == 422  # right password, inactive
        assert post_login(c, " Nobody.Here@Example.vn ").status_code == 422
    assert events("login_failed") == [] and events("login") == []
    assert log_keys("login_failed") == {
        ("address", ADDR, 3),
        ("account", user.username, 1), ("pair", f"{user.username}\x1f{ADDR}", 1),
        ("account", inactive.username, 1), ("pair", f"{inactive.username}\x1f{ADDR}", 1),
        ("account", "nobody.here@example.vn", 1),
        ("pair", f"nobody.here@example.vn\x1f{ADDR}", 1)}


def test_the_name_is_kept_safely(app, settings):
    assert login_name("  Admin\u202e\x07 ") == "admin\ufffd\ufffd"
    assert len(login_name("a" * 5000)) == 254
    with client_at(app) as c:
        r = post_login(c, "x" * 3000 + "\u202e", "whatever-password")
        assert r.status_code == 422
    assert ("account", "x" * 254, 1) in log_keys("login_failed")
    log_in("evil\u202ename\x1b[31m", "whatever-password", ADDR)
    assert ("account", "evil\ufffdname\ufffd[31m", 1) in log_keys("login_failed")
    assert events("login_failed") == []


def test_throttled_logins_are_counted_by_address(app, make_user):
    user = make_user("officer")
    with client_at(app) as c:
        for _ in range(5):
            assert post_login(c, user.username, "wrong-password-123").status_code == 422
        assert post_login(c, user.username).status_code == 429
        assert post_login(c, user.username).status_code == 429
    assert log_keys("login_throttled") == {("address", ADDR, 2)}
    assert events("login_throttled") == [] and events("login_failed") == []
    with db.connection_context():
        assert DossierEvent.select().count() == 0


# --- permission denials ---------------------------------------------------------------------

def test_a_page_refused_to_a_signed_in_user_is_recorded(app, make_user):
    officer = make_user("officer")
    with client_at(app) as c:
        assert post_login(c, officer.username).status_code == 303
        assert c.get("/admin/users", params={"q": "x"}, follow_redirects=False).status_code == 403
        token = csrf_from(c.get("/").text)
        r = c.post("/admin/units/new", data={"csrf_token": token}, follow_redirects=False)
        assert r.status_code == 403
    first, second = events("access_denied")
    assert (first.actor_id, first.actor_role, first.actor_unit) == (
        officer.id, "officer", "2025:02CI")
    assert (first.note, first.client_addr, first.public, first.dossier_id) == (
        "GET /admin/users", ADDR, False, None)
    assert second.note == "POST /admin/units/new"
    assert chain_is_whole()


def test_anonymous_visitors_and_expired_forms_are_not_denials(app, make_user):
    with client_at(app) as c:
        assert c.get("/admin", follow_redirects=False).status_code == 303
        token = csrf_from(c.get("/login").text)
        assert c.post("/admin/units/new", data={"csrf_token": token},
                      follow_redirects=False).status_code == 401
        assert post_login(c, make_user("officer").username).status_code == 303
        r = c.post("/logout", data={"csrf_token": "stale"}, follow_redirects=False)
        assert r.status_code == 403  # a CSRF refusal, not a permission denial
    assert events("access_denied") == []


def start_draft(s: Session) -> int:
    r = s.post("/dossiers/new", {"procedure": PROCEDURE, "unit": UNIT})
    assert r.status_code == 303, r.text
    return int(re.fullmatch(r"/dossiers/(\d+)/edit", r.headers["location"]).group(1))


def test_an_object_refused_is_recorded_but_a_missing_one_is_not(sessions, forms):
    draft = start_draft(sessions["enterprise"])
    stranger = sessions["stranger"]
    assert stranger.get(f"/dossiers/{draft}/edit").status_code == 404
    assert stranger.post(f"/dossiers/{draft}/edit", fx.ANSWERS).status_code == 404
    assert stranger.get("/dossiers/999999").status_code == 404
    assert sessions["officer"].get(f"/dossiers/{draft}").status_code == 404  # a draft
    first, second, third = events("access_denied")
    assert (first.actor_id, first.note, first.dossier_id) == (
        stranger.user.id, f"GET /dossiers/{draft}/edit [dossier {draft}]", None)
    assert second.note == f"POST /dossiers/{draft}/edit [dossier {draft}]"
    assert (third.actor_id, third.note) == (
        sessions["officer"].user.id, f"GET /dossiers/{draft} [dossier {draft}]")
    assert chain_is_whole()


def test_denials_beyond_the_rate_are_only_counted(app, make_user):
    """A signed-in user hammering a forbidden page cannot grow the history for ever."""
    officer = make_user("officer")
    with client_at(app) as c:
        assert post_login(c, officer.username).status_code == 303
        for _ in range(denials.RECORDED + 15):
            assert c.get("/admin/users", follow_redirects=False).status_code == 403
    assert len(events("access_denied")) == denials.RECORDED
    assert log_keys("access_denied") <= {("user", str(officer.id), n) for n in range(1, 36)}
    assert sum(r.count for r in security_log.counts("access_denied")) == denials.RECORDED + 15
    assert chain_is_whole()


def test_the_denial_rate_is_a_sliding_window(make_user):
    officer = make_user("officer")
    start = security_log.minute_of(utcnow())
    recorded = [denials.record_denial(officer.id, ADDR, "GET", "/admin", now=start)
                for _ in range(denials.RECORDED + 1)]
    assert recorded == [True] * denials.RECORDED + [False]
    later = start + denials.WINDOW
    assert denials.record_denial(officer.id, ADDR, "GET", "/admin", now=later) is True


def test_an_action_refused_to_the_user_is_recorded(sessions, forms):
    owner = sessions["enterprise"]
    draft = start_draft(owner)
    r = owner.post(f"/dossiers/{draft}/actions/receive", {})
    assert r.status_code == 403
    (event,) = events("access_denied")
    assert (event.actor_id, event.note) == (
        owner.user.id, f"POST /dossiers/{draft}/actions/receive [dossier {draft}]")


# --- privilege changes end the sessions -----------------------------------------------------

def edit_form(user, **changes: str) -> dict[str, str]:
    data = {"full_name": user.full_name, "email": user.email, "role": user.role,
            "unit_code": "02CI", "tax_code": "", "clearance": "", "active": "1",
            "password": ""}
    data.update(changes)
    return data


def signed_in(client: TestClient) -> bool:
    return 'action="/logout"' in client.get("/").text


@pytest.mark.parametrize("changes", [{"role": "leader"}, {"unit_code": "01AB"},
                                     {"clearance": "1"}, {"active": ""},
                                     {"full_name": "Tên Mới"}])
def test_an_admins_privilege_change_ends_the_users_sessions(app, client, make_user, changes):
    admin, officer = make_user("admin"), make_user("officer")
    assert post_login(client, admin.username).status_code == 303
    with client_at(app) as other:
        assert post_login(other, officer.username).status_code == 303
        assert signed_in(other)
        token = csrf_from(client.get("/admin").text)
        r = client.post(f"/admin/users/{officer.id}",
                        data={**edit_form(officer, **changes), "csrf_token": token},
                        follow_redirects=False)
        assert r.status_code == 303, r.text
        harmless = "full_name" in changes
        assert signed_in(other) is harmless
    with db.connection_context():
        assert User.get_by_id(officer.id).full_name == changes.get("full_name",
                                                                  officer.full_name)
