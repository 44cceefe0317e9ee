"""First web checks: the main pages render, fragments are fragments, CSRF is enforced."""

from __future__ import annotations

from tests.helpers import HX, csrf_from


def test_catalogue_search_finds_cancellation_without_diacritics(client):
    r = client.get("/procedures", params={"q": "huy to khai"})
    assert r.status_code == 200
    assert "1.005458" in r.text and "<html" in r.text


def test_catalogue_fragment_for_htmx(client):
    r = client.get("/procedures", params={"q": "huy to khai"}, headers=HX)
    assert r.status_code == 200
    assert 'id="results"' in r.text and "<html" not in r.text
    assert "HX-Request" in r.headers["vary"]


def test_post_without_csrf_token_is_refused(client):
    r = client.post("/login", data={"username": "admin", "password": "x"})
    assert r.status_code == 403


def test_login_and_logout(client, make_user, login):
    user = make_user("admin")
    login(user)
    assert client.get("/admin").status_code == 200
    token = csrf_from(client.get("/admin").text)
    r = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/admin", follow_redirects=False).status_code == 303


def test_logins_of_every_role_are_in_the_history(client, make_user, login):
    from portal.db import db
    from portal.models import DossierEvent

    officer = make_user("officer")
    login(officer)
    enterprise_user = make_user("enterprise")
    client.cookies.clear()
    login(enterprise_user)
    with db.connection_context():
        logins = [(e.actor_id, e.actor_role, e.actor_unit, e.public)
                  for e in DossierEvent.select().where(DossierEvent.action == "login")]
    assert logins == [(officer.id, "officer", "2025:02CI", False),
                      (enterprise_user.id, "enterprise", "", False)]
