"""Registration, login, logout, sessions, CSRF and Origin checks, cookies, protective headers
and the language switch, over HTTP."""

from __future__ import annotations

import html
import re

import pytest
from starlette.testclient import TestClient

from portal import i18n
from portal.db import db
from portal.models import Enterprise, User, UserSession
from tests.helpers import HX, csrf_from

COOKIE = "portal_session"
PASSWORD = "correct-horse-42"  # the make_user fixture's password
NEW_PASSWORD = "Mat-khau-rat-manh-9"
REGISTRATION = {
    "tax_code": "0100109106",
    "enterprise_name": "Công ty TNHH Thử Nghiệm Bắc Hà",
    "full_name": "Nguyễn Thị Hoa",
    "email": "hoa@example.vn",
    "password": NEW_PASSWORD,
    "password_confirm": NEW_PASSWORD,
}


def tr(msgid: str, language: str = "vi", **params: object) -> str:
    text = i18n.translations(language).gettext(msgid)
    return text % params if params else text


def text_of(response) -> str:
    return html.unescape(response.text)


def hidden_next(page: str) -> str:
    match = re.search(r'<input type="hidden" name="next" value="([^"]*)">', page)
    assert match, "the login form has no next field"
    return html.unescape(match.group(1))


def signed_in_as(client: TestClient, user) -> bool:
    """Whether the header of the home page shows `user` with a logout button."""
    r = client.get("/")
    assert r.status_code == 200
    shown = 'action="/logout"' in r.text and html.escape(user.full_name) in r.text
    assert shown or 'href="/login"' in r.text
    return shown


def post_login(client: TestClient, username: str, password: str = PASSWORD, *,
               next_: str | None = None, headers: dict | None = None):
    token = csrf_from(client.get("/login").text)
    data = {"username": username, "password": password, "csrf_token": token}
    if next_ is not None:
        data["next"] = next_
    return client.post("/login", data=data, headers=headers or {}, follow_redirects=False)


# --- registration ---------------------------------------------------------------------------


def test_registration_form(client):
    r = client.get("/register")
    assert r.status_code == 200
    for name in ("tax_code", "enterprise_name", "full_name", "email", "password",
                 "password_confirm"):
        assert f'id="f-{name}" name="{name}"' in r.text
    assert 'name="csrf_token"' in r.text and 'action="/register"' in r.text
    assert 'class="app-error-summary"' not in r.text


def test_registration_with_a_bad_tax_code_shows_the_error_at_the_field(client):
    token = csrf_from(client.get("/register").text)
    data = {**REGISTRATION, "tax_code": "0100109107", "csrf_token": token}
    r = client.post("/register", data=data, follow_redirects=False)
    assert r.status_code == 422
    page = text_of(r)
    error = tr("This tax code's check digit is wrong: please check it.")
    assert f'<p class="app-field-error" id="f-tax_code-error">{error}</p>' in page
    assert f'<li><a href="#f-tax_code">{error}</a></li>' in page
    assert 'aria-invalid="true"' in r.text and "f-tax_code-error" in r.text
    # the other answers are kept, the passwords are not sent back
    assert f'value="{REGISTRATION["enterprise_name"]}"' in page
    assert f'value="{REGISTRATION["full_name"]}"' in page
    assert f'value="{REGISTRATION["email"]}"' in page
    assert 'value="0100109107"' in r.text
    assert NEW_PASSWORD not in r.text
    with db.connection_context():
        assert not Enterprise.select().where(
            Enterprise.name == REGISTRATION["enterprise_name"]).exists()
    assert 'action="/logout"' not in client.get("/").text


REGISTRATION_ERRORS = [
    ({"tax_code": "12345"}, "tax_code"),
    ({"email": "not-an-address"}, "email"),
    ({"password": "short", "password_confirm": "short"}, "password"),
    ({"password_confirm": NEW_PASSWORD + "x"}, "password_confirm"),
    ({"enterprise_name": ""}, "enterprise_name"),
]


def test_registration_errors_name_the_field(client):
    token = csrf_from(client.get("/register").text)
    for change, field in REGISTRATION_ERRORS:
        r = client.post("/register", data={**REGISTRATION, **change, "csrf_token": token},
                        follow_redirects=False)
        assert r.status_code == 422, change
        assert f'id="f-{field}-error"' in r.text and f'href="#f-{field}"' in r.text, change
        for secret in {REGISTRATION["password"], change.get("password", NEW_PASSWORD),
                       change.get("password_confirm", NEW_PASSWORD)}:
            assert f'value="{secret}"' not in r.text, change


def test_registration_sends_a_confirmation_and_signs_nobody_in(client):
    """The form's answer is "check your e-mail"; the account works only after the e-mailed
    link is followed (tests/test_web_accounts.py follows it)."""
    token = csrf_from(client.get("/register").text)
    r = client.post("/register", data={**REGISTRATION, "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/check-email"
    with db.connection_context():
        user = User.get(User.username == REGISTRATION["email"])
        assert user.role == "enterprise" and user.enterprise.tax_code == "0100109106"
        assert user.enterprise_status == "unconfirmed"
    assert not signed_in_as(client, user)
    assert post_login(client, REGISTRATION["email"], NEW_PASSWORD).status_code == 422


def test_registration_with_a_long_email_is_refused_or_works(client):
    email = "a" * 70 + "@example.vn"
    token = csrf_from(client.get("/register").text)
    r = client.post("/register", data={**REGISTRATION, "email": email, "csrf_token": token},
                    follow_redirects=False)
    if r.status_code == 422:
        assert 'id="f-email-error"' in r.text
        return
    assert r.status_code == 303
    with db.connection_context():
        assert User.get(User.username == email).enterprise_status == "unconfirmed"


# --- login ----------------------------------------------------------------------------------


def test_login_with_a_wrong_password_keeps_the_user_name(client, make_user):
    user = make_user("officer")
    r = post_login(client, user.username, "wrong-password-123")
    assert r.status_code == 422
    page = text_of(r)
    error = tr("The user name or password is wrong.")
    assert f'id="f-username-error">{error}</p>' in page
    assert f'<a href="#f-username">{error}</a>' in page
    assert f'value="{user.username}"' in r.text
    assert "wrong-password-123" not in r.text
    assert not signed_in_as(client, user)


@pytest.mark.parametrize("case", ["unknown user", "inactive user", "empty password"])
def test_login_refusals_look_the_same(client, make_user, case):
    user = make_user("officer", active="" if case == "inactive user" else "1")
    username = "nobody.here" if case == "unknown user" else user.username
    password = "" if case == "empty password" else PASSWORD
    r = post_login(client, username, password)
    assert r.status_code == 422
    assert tr("The user name or password is wrong.") in text_of(r)
    assert client.get("/admin", follow_redirects=False).status_code == 303


def test_login_username_is_case_insensitive(client, make_user):
    user = make_user("admin")
    r = post_login(client, "  " + user.username.upper() + " ")
    assert r.status_code == 303 and r.headers["location"] == "/admin"


def test_login_with_a_nul_character_is_refused_not_a_server_error(client):
    r = post_login(client, "admin\x00x", "whatever-password")
    assert r.status_code == 422


def test_login_rotates_the_session_and_the_old_cookie_stops_working(app, client, make_user):
    admin = make_user("admin")
    client.get("/login")
    anonymous_cookie = client.cookies.get(COOKIE)
    assert anonymous_cookie
    assert post_login(client, admin.username).status_code == 303
    first = client.cookies.get(COOKIE)
    assert first and first != anonymous_cookie
    assert client.get("/admin", follow_redirects=False).status_code == 200

    # logging in again (the same browser) replaces the session
    token = csrf_from(client.get("/admin").text)
    r = client.post("/login", data={"username": admin.username, "password": PASSWORD,
                                    "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    second = client.cookies.get(COOKIE)
    assert second and second != first
    assert client.get("/admin", follow_redirects=False).status_code == 200

    with TestClient(app, cookies={COOKIE: first}) as old:
        r = old.get("/admin", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    with TestClient(app, cookies={COOKIE: anonymous_cookie}) as old:
        assert old.get("/admin", follow_redirects=False).status_code == 303
    with TestClient(app, cookies={COOKIE: second}) as current:
        assert current.get("/admin", follow_redirects=False).status_code == 200


def test_login_gives_a_new_csrf_token(client, make_user):
    user = make_user("admin")
    before = csrf_from(client.get("/login").text)
    assert post_login(client, user.username).status_code == 303
    after = csrf_from(client.get("/admin").text)
    assert after != before
    # the token of the anonymous session is no good any more
    r = client.post("/logout", data={"csrf_token": before}, follow_redirects=False)
    assert r.status_code == 403


def test_login_page_redirects_when_already_logged_in(client, make_user, login):
    login(make_user("officer"))
    r = client.get("/login", params={"next": "/procedures"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/procedures"


# --- logout ---------------------------------------------------------------------------------


def test_logout_needs_post_and_csrf(client, make_user, login):
    user = make_user("officer")
    login(user)
    assert client.get("/logout", follow_redirects=False).status_code == 405
    assert signed_in_as(client, user)
    r = client.post("/logout", data={}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/logout", data={"csrf_token": "not-the-token"}, follow_redirects=False)
    assert r.status_code == 403
    assert signed_in_as(client, user)

    token = csrf_from(client.get("/").text)
    r = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    home = client.get("/")
    assert tr("You have logged out.") in text_of(home)
    assert not signed_in_as(client, user)


def test_logout_with_the_csrf_header_as_htmx_sends_it(client, make_user, login):
    user = make_user("officer")
    login(user)
    token = csrf_from(client.get("/").text)
    r = client.post("/logout", headers={**HX, "X-CSRF-Token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert not signed_in_as(client, user)


def test_logout_ends_the_session_on_the_server(app, client, make_user, login):
    user = make_user("admin")
    login(user)
    cookie = client.cookies.get(COOKIE)
    token = csrf_from(client.get("/admin").text)
    assert client.post("/logout", data={"csrf_token": token},
                       follow_redirects=False).status_code == 303
    with db.connection_context():
        assert not UserSession.select().where(UserSession.user == user.id,
                                              UserSession.ended_at.is_null()).exists()
    with TestClient(app, cookies={COOKIE: cookie}) as replay:
        assert replay.get("/admin", follow_redirects=False).status_code == 303


# --- where login leads ----------------------------------------------------------------------


NEXT_TARGETS = [
    ("/procedures?q=huy+to+khai", "/procedures?q=huy+to+khai"),
    ("/procedures/1.005458", "/procedures/1.005458"),
    ("//evil.example", "/"),
    ("//evil.example/procedures", "/"),
    ("https://evil.example", "/"),
    ("https://evil.example/login", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
    ("procedures", "/"),
]


def test_next_is_honoured_only_for_local_paths(client, make_user):
    user = make_user("officer")
    for target, expected in NEXT_TARGETS:
        client.cookies.clear()
        form = client.get("/login", params={"next": target})
        assert form.status_code == 200, target
        assert hidden_next(form.text) == (target if expected != "/" else ""), target
        r = post_login(client, user.username, next_=target)
        assert r.status_code == 303, target
        assert r.headers["location"] == expected, target


def test_admin_goes_to_administration_when_next_is_foreign(client, make_user):
    admin = make_user("admin")
    r = post_login(client, admin.username, next_="https://evil.example")
    assert r.headers["location"] == "/admin"


def test_guarded_page_sends_the_visitor_to_login_and_back(client, make_user):
    admin = make_user("admin")
    r = client.get("/admin/users?role=officer", follow_redirects=False)
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith("/login?next=")
    form = client.get(location)
    assert hidden_next(form.text) == "/admin/users?role=officer"
    r = post_login(client, admin.username, next_=hidden_next(form.text))
    assert r.headers["location"] == "/admin/users?role=officer"


# --- cross-site requests --------------------------------------------------------------------


CROSS_SITE = [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://testserver.evil.example"},
    {"Sec-Fetch-Site": "cross-site"},
]


def test_cross_site_post_with_a_valid_token_is_refused(client, make_user):
    user = make_user("officer")
    for headers in CROSS_SITE:
        r = post_login(client, user.username, headers=headers)
        assert r.status_code == 403, headers
        assert r.headers["x-frame-options"] == "DENY"
        assert not signed_in_as(client, user), headers


def test_same_site_post_is_accepted(client, make_user):
    user = make_user("officer")
    for headers in ({"Origin": "http://testserver"}, {"Sec-Fetch-Site": "same-origin"}, {}):
        client.cookies.clear()
        assert post_login(client, user.username, headers=headers).status_code == 303, headers


def test_cross_site_logout_is_refused(client, make_user, login):
    user = make_user("officer")
    login(user)
    token = csrf_from(client.get("/").text)
    r = client.post("/logout", data={"csrf_token": token},
                    headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert r.status_code == 403
    assert signed_in_as(client, user)


# --- cookies and headers --------------------------------------------------------------------


def set_cookies(response, name: str) -> list[str]:
    return [v for k, v in response.headers.multi_items()
            if k == "set-cookie" and v.startswith(f"{name}=")]


def test_session_cookie_is_httponly_and_samesite_lax(client, make_user):
    r = client.get("/login")
    (cookie,) = set_cookies(r, COOKIE)
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    user = make_user("officer")
    r = post_login(client, user.username)
    (cookie,) = set_cookies(r, COOKIE)
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=lax" in flags


def test_pages_without_forms_start_no_session(client):
    r = client.get("/procedures/1.005458")
    assert r.status_code == 200
    assert set_cookies(r, COOKIE) == []


def test_protective_headers_on_pages(client):
    for path in ["/", "/login", "/procedures", "/procedures/9.999999", "/admin"]:
        r = client.get(path, follow_redirects=False)
        csp = r.headers["content-security-policy"]
        directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
        assert directives["default-src"] == ["'self'"], path
        assert directives["script-src"] == ["'self'"], path
        assert directives["style-src"] == ["'self'"], path
        assert directives["frame-ancestors"] == ["'none'"], path
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["referrer-policy"] == "same-origin", path


def test_no_hsts_without_secure_cookies(client):
    assert "strict-transport-security" not in client.get("/").headers


# --- language -------------------------------------------------------------------------------


def switch_language(client: TestClient, code: str, next_: str | None = "/", page: str = "/"):
    """Press the header's language button on `page`: a POST, with the CSRF token the page
    carries when the visitor has a session."""
    token = re.search(r'action="/lang/[^"]*"[^>]*>\s*(?:<input type="hidden" name="csrf_token" '
                      r'value="([^"]+)">)?', client.get(page).text)
    assert token is not None, "the page has no language button"
    data = {"csrf_token": token.group(1)} if token.group(1) else {}
    params = {"next": next_} if next_ is not None else {}
    return client.post(f"/lang/{code}", params=params, data=data, follow_redirects=False)


def test_language_switch_sets_the_cookie_and_redirects(client):
    assert '<html lang="vi">' in client.get("/procedures").text
    r = switch_language(client, "en", "/procedures", "/procedures")
    assert r.status_code == 303 and r.headers["location"] == "/procedures"
    (cookie,) = set_cookies(r, "lang")
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert flags[0] == "lang=en" and "httponly" in flags and "samesite=lax" in flags
    assert any(f.startswith("max-age=") and int(f.split("=")[1]) > 86400 for f in flags)
    page = client.get("/procedures")
    assert '<html lang="en">' in page.text
    assert f"<h1>{tr('Customs procedures', 'en')}</h1>" in text_of(page)
    assert 'action="/lang/vi?next=/procedures"' in page.text
    back = switch_language(client, "vi", "/procedures", "/procedures")
    assert back.headers["location"] == "/procedures"
    page = client.get("/procedures")
    assert '<html lang="vi">' in page.text
    assert f"<h1>{tr('Customs procedures')}</h1>" in text_of(page)


def test_a_get_or_a_post_without_the_token_does_not_switch_the_language(client, make_user, login):
    """Another site's link or image (a GET), or its form (no token), changes nothing."""
    user = make_user("officer")
    login(user)
    r = client.get("/lang/en", params={"next": "/"}, follow_redirects=False)
    assert r.status_code == 405 and set_cookies(r, "lang") == []
    r = client.post("/lang/en", params={"next": "/"}, follow_redirects=False)
    assert r.status_code == 403 and set_cookies(r, "lang") == []
    with db.connection_context():
        assert User.get_by_id(user.id).language == ""
    assert '<html lang="vi">' in client.get("/").text


def test_language_switch_button_keeps_the_query(client):
    r = client.get("/procedures", params={"q": "huy to khai", "level": "4"})
    form = re.search(r'action="(/lang/en\?next=[^"]+)"', r.text)
    assert form is not None
    target = client.post(html.unescape(form.group(1)), follow_redirects=False)
    assert target.status_code == 303
    assert target.headers["location"] in ("/procedures?q=huy%20to%20khai&level=4",
                                          "/procedures?q=huy+to+khai&level=4")


def test_unknown_language_sets_no_cookie(client):
    r = switch_language(client, "xx", "/procedures")
    assert r.status_code == 303 and r.headers["location"] == "/procedures"
    assert set_cookies(r, "lang") == []
    assert '<html lang="vi">' in client.get("/").text


def test_language_switch_does_not_redirect_off_site(client):
    for target in ["//evil.example", "https://evil.example/x", "/\\evil.example"]:
        r = switch_language(client, "en", target)
        assert r.status_code == 303 and r.headers["location"] == "/", target


def test_language_survives_login(client, make_user):
    user = make_user("officer")
    switch_language(client, "en", None)
    assert post_login(client, user.username).status_code == 303
    assert '<html lang="en">' in client.get("/").text


def test_the_language_is_kept_in_the_profile_and_follows_the_user(client, make_user, login):
    """The choice goes into a cookie and, signed in, into the profile; a later login on
    another device (no cookie) gets the same language back."""
    user = make_user("officer")
    login(user)
    r = switch_language(client, "en", "/")
    assert r.status_code == 303 and "lang=en" in r.headers["set-cookie"]
    with db.connection_context():
        assert User.get_by_id(user.id).language == "en"
    client.cookies.clear()  # another device
    token = csrf_from(client.get("/login").text)
    r = client.post("/login", data={"username": user.username, "password": PASSWORD,
                                    "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and "lang=en" in r.headers["set-cookie"]
    assert 'lang="en"' in client.get("/").text


def test_a_language_chosen_before_login_goes_into_an_empty_profile(client, make_user, login):
    user = make_user("officer")
    client.cookies.set("lang", "en")
    login(user)
    with db.connection_context():
        assert User.get_by_id(user.id).language == "en"
