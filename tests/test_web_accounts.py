"""Accounts belong to the enterprise they name (issue 12, items 9-11), over HTTP and on the
services: registration that tells nobody who is registered, is throttled, and confirms the
e-mail address by a single-use link; an account that files only once customs staff have
activated it; the staff queue; changing and resetting one's password, logging out
everywhere; the language switched only by a POST."""

from __future__ import annotations

import html
import re
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from starlette.testclient import TestClient

from portal.db import db
from portal.models import DossierEvent, Enterprise, OutgoingMail, SecurityCount, User, UserSession
from portal.services import dossiers
from portal.services.errors import DomainError
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import complete_draft
from tests.helpers import csrf_from

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
# The history's actions these tests look for (the new modules are imported inside the tests
# that call them, so that the tests over HTTP also run, and fail, on the code before them).
REGISTERED, RESET_REQUESTED = "register", "password_reset_requested"
LINK = re.compile(r"http://\S+?(/[a-z/-]+)\?t=([A-Za-z0-9_.\-]+)")


def mails_to(address: str) -> list[OutgoingMail]:
    with db.connection_context():
        return list(OutgoingMail.select().where(OutgoingMail.to_addr == address)
                    .order_by(OutgoingMail.id))


def link_in(mail: OutgoingMail) -> tuple[str, str]:
    """The path and token of the link an e-mail carries."""
    match = LINK.search(mail.body)
    assert match, mail.body
    return match.group(1), match.group(2)


def events(action: str) -> list[DossierEvent]:
    with db.connection_context():
        return list(DossierEvent.select().where(DossierEvent.action == action))


def requests_counted(action: str) -> int:
    """How many anonymous requests of `action` the security log counted (by e-mail address);
    such requests never enter the official history."""
    with db.connection_context():
        rows = SecurityCount.select().where(SecurityCount.action == action,
                                            SecurityCount.scope == "account")
        return sum(r.count for r in rows)


def register(client: TestClient, **changes: str):
    token = csrf_from(client.get("/register").text)
    return client.post("/register", data={**REGISTRATION, **changes, "csrf_token": token},
                       follow_redirects=False)


def post_form(client: TestClient, page: str, action: str, data: dict | None = None):
    token = csrf_from(client.get(page).text)
    return client.post(action, data={**(data or {}), "csrf_token": token},
                       follow_redirects=False)


def confirm(client: TestClient, email: str):
    """Follow the confirmation link of the last e-mail to `email` and press its button."""
    path, token = link_in(mails_to(email)[-1])
    assert path == "/register/confirm"
    page = client.get(path, params={"t": token})
    assert page.status_code == 200
    return client.post(path, data={"t": token, "csrf_token": csrf_from(page.text)},
                       follow_redirects=False)


def log_in(client: TestClient, username: str, password: str):
    token = csrf_from(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token}, follow_redirects=False)


# --- 10. registration tells nobody who is registered, and is throttled ---------------------


def test_registration_answers_alike_for_known_and_unknown_tax_codes_and_addresses(client):
    """A new registration, one with a tax code already registered and one with an e-mail
    address that has an account get the same answer; the address's holder is told by mail."""
    first = register(client)
    assert first.status_code == 303
    confirm(client, REGISTRATION["email"])
    known_tax = register(client, email="other@example.vn")
    known_email = register(client, tax_code="0100112437")
    for r in (known_tax, known_email):
        assert (r.status_code, r.headers["location"]) == (first.status_code,
                                                         first.headers["location"])
        assert "f-tax_code-error" not in r.text and "f-email-error" not in r.text
    page = client.get(first.headers["location"])
    assert page.status_code == 200 and "f-email-error" not in page.text
    # the holder of the known address gets a mail saying so, not a second account
    to_holder = mails_to(REGISTRATION["email"])
    assert len(to_holder) == 2 and "/password/forgot" in to_holder[1].body
    with db.connection_context():
        assert User.select().where(User.username == REGISTRATION["email"]).count() == 1
        assert Enterprise.select().where(Enterprise.tax_code == "0100112437").count() == 0
        # the second claim on the known tax code waits, like the first, for the customs check
        claims = User.select().join(Enterprise).where(Enterprise.tax_code == "0100109106")
        assert sorted(u.enterprise_status for u in claims) == ["pending", "unconfirmed"]
    assert requests_counted(REGISTERED) == 3 and events(REGISTERED) == []


def test_registration_is_throttled_per_address_and_per_email(client):
    for n in range(3):
        assert register(client, email="flood@example.vn").status_code == 303, n
    r = register(client, email="flood@example.vn")
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert 'id="f-email-error"' in r.text
    assert len(mails_to("flood@example.vn")) == 3
    for n in range(7):  # the address's other requests: 10 in all, then it waits
        assert register(client, email=f"n{n}@example.vn").status_code == 303, n
    assert register(client, email="last@example.vn").status_code == 429
    assert mails_to("last@example.vn") == []


# --- 9. the e-mail address first, then the customs check; no dossier filed meanwhile -------


def test_the_confirmation_link_works_once_and_only_then_can_the_account_log_in(client):
    register(client)
    assert log_in(client, REGISTRATION["email"], NEW_PASSWORD).status_code == 422
    r = confirm(client, REGISTRATION["email"])
    assert r.status_code == 303 and r.headers["location"] == "/login"
    with db.connection_context():
        assert User.get(User.username == REGISTRATION["email"]).enterprise_status == "pending"
    _, token = link_in(mails_to(REGISTRATION["email"])[-1])
    again = client.get("/register/confirm", params={"t": token})
    assert again.status_code == 410 and "<button" not in again.text.split("<main")[1]
    assert client.post("/register/confirm", data={
        "t": token, "csrf_token": csrf_from(again.text)}).status_code == 422
    assert client.get("/register/confirm", params={"t": token[:-2] + "xx"}).status_code == 410
    assert log_in(client, REGISTRATION["email"], NEW_PASSWORD).status_code == 303
    assert len(events("email_confirmed")) == 1


def test_a_pending_account_prepares_a_draft_but_files_only_once_activated(
        settings, people, ctx_of, make_user):
    from portal.services import enrolment

    with db.connection_context():
        User.update(enterprise_status="pending").where(User.id == people.owner.id).execute()
        owner = User.get_by_id(people.owner.id)
    draft = complete_draft(ctx_of(owner))
    with pytest.raises(DomainError) as exc:
        dossiers.submit(ctx_of(owner), draft, "k-1")
    assert exc.value.kind == "forbidden" and "customs staff" in str(exc.value)
    with db.connection_context():
        assert User.get_by_id(owner.id).enterprise_status == "pending"
        assert dossiers.Dossier.get_by_id(draft).status == 0
    enrolment.activate(owner.id, people.officer, "192.0.2.1")
    with db.connection_context():
        owner = User.get_by_id(owner.id)
    assert dossiers.submit(ctx_of(owner), draft, "k-1").code
    (event,) = events("enterprise_activated")
    assert event.dossier_id is None and event.actor_id == people.officer.id
    assert "0100112437" in event.note


def test_staff_see_the_queue_and_activate_or_refuse_with_a_reason(client, make_user, login):
    register(client)
    confirm(client, REGISTRATION["email"])
    register(client, email="squatter@example.vn", enterprise_name="Không phải")
    confirm(client, "squatter@example.vn")
    client.cookies.clear()
    with db.connection_context():
        holder = User.get(User.username == REGISTRATION["email"])
        squatter = User.get(User.username == "squatter@example.vn")
    login(make_user("officer"))
    page = client.get("/officer/enterprises")
    assert page.status_code == 200
    text = html.unescape(page.text)
    for shown in ("0100109106", REGISTRATION["enterprise_name"], REGISTRATION["full_name"],
                  "squatter@example.vn", "Không phải"):
        assert shown in text, shown
    # a refusal needs its reason: the form comes back with the error at the field
    r = post_form(client, "/officer/enterprises", f"/officer/enterprises/{squatter.id}/reject",
                  {"reason": ""})
    assert r.status_code == 422
    assert f'id="f-{squatter.id}-reason-error"' in r.text
    assert f'href="#f-{squatter.id}-reason"' in r.text
    reason = "Giấy đăng ký doanh nghiệp không khớp"
    r = post_form(client, "/officer/enterprises", f"/officer/enterprises/{squatter.id}/reject",
                  {"reason": reason})
    assert r.status_code == 303
    r = post_form(client, "/officer/enterprises", f"/officer/enterprises/{holder.id}/activate")
    assert r.status_code == 303
    again = post_form(client, "/officer/enterprises",
                      f"/officer/enterprises/{holder.id}/activate")
    assert again.status_code == 409
    with db.connection_context():
        assert User.get_by_id(holder.id).enterprise_status == "active"
        squatter = User.get_by_id(squatter.id)
        assert (squatter.enterprise_status, squatter.status_reason) == ("rejected", reason)
    (rejected,) = events("enterprise_rejected")
    assert rejected.dossier_id is None and reason in rejected.note
    assert len(events("enterprise_activated")) == 1
    assert any(reason in m.body for m in mails_to("squatter@example.vn"))
    assert "0100109106" not in client.get("/officer/enterprises").text


def test_my_dossiers_page_says_why_a_pending_account_cannot_file(client, make_user, login):
    user = make_user("enterprise")
    with db.connection_context():
        User.update(enterprise_status="pending").where(User.id == user.id).execute()
    login(user)
    page = html.unescape(client.get("/dossiers").text)
    assert "customs staff" in page or "cán bộ hải quan" in page


def test_the_demo_enterprise_account_is_active(settings):
    from portal.services import seed

    seed.seed_demo()
    with db.connection_context():
        demo = User.get(User.username == "doanhnghiep@example.vn")
    assert demo.may_act_for_enterprise


# --- 11. self-service -----------------------------------------------------------------------


def test_changing_the_password_ends_the_other_sessions_only(settings, make_user, login):
    from portal.app import create_app

    user = make_user("enterprise")
    app = create_app(settings)
    with TestClient(app) as here, TestClient(app) as elsewhere:
        for c in (here, elsewhere):
            assert log_in(c, user.username, PASSWORD).status_code == 303
        wrong = post_form(here, "/account", "/account/password", {
            "current_password": "not-it-at-all-1", "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD})
        assert wrong.status_code == 422 and 'id="f-current_password-error"' in wrong.text
        assert NEW_PASSWORD not in wrong.text
        r = post_form(here, "/account", "/account/password", {
            "current_password": PASSWORD, "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD})
        assert r.status_code == 303
        assert here.get("/account").status_code == 200
        assert elsewhere.get("/account", follow_redirects=False).status_code == 303
    assert len(events("password_changed")) == 1
    with TestClient(app) as fresh:
        assert log_in(fresh, user.username, PASSWORD).status_code == 422
        assert log_in(fresh, user.username, NEW_PASSWORD).status_code == 303


def test_log_out_everywhere(settings, make_user):
    from portal.app import create_app

    user = make_user("officer")
    app = create_app(settings)
    with TestClient(app) as here, TestClient(app) as elsewhere:
        for c in (here, elsewhere):
            assert log_in(c, user.username, PASSWORD).status_code == 303
        r = post_form(here, "/account", "/account/sessions/end")
        assert r.status_code == 303
        for c in (here, elsewhere):
            assert c.get("/account", follow_redirects=False).status_code == 303
    with db.connection_context():
        assert not UserSession.select().where(
            UserSession.user == user.id, UserSession.ended_at.is_null()).exists()
    assert len(events("logout_everywhere")) == 1


def test_a_forgotten_password_is_reset_by_a_single_use_link(client, make_user):
    user = make_user("enterprise", username="hoa.reset@example.vn", email="hoa.reset@example.vn")
    unknown = post_form(client, "/password/forgot", "/password/forgot",
                        {"email": "nobody@example.vn"})
    known = post_form(client, "/password/forgot", "/password/forgot", {"email": user.email})
    assert (unknown.status_code, unknown.headers["location"]) == (
        known.status_code, known.headers["location"]) == (303, "/check-email")
    assert mails_to("nobody@example.vn") == []
    path, token = link_in(mails_to(user.email)[-1])
    assert path == "/password/reset"
    page = client.get(path, params={"t": token})
    assert page.status_code == 200
    short = client.post(path, data={"t": token, "password": "short", "password_confirm": "short",
                                    "csrf_token": csrf_from(page.text)})
    assert short.status_code == 422 and 'id="f-password-error"' in short.text
    r = client.post(path, data={"t": token, "password": NEW_PASSWORD,
                                "password_confirm": NEW_PASSWORD,
                                "csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get(path, params={"t": token}).status_code == 410  # used up
    assert log_in(client, user.username, NEW_PASSWORD).status_code == 303
    assert len(events("password_reset")) == 1
    assert requests_counted(RESET_REQUESTED) == 2 and events(RESET_REQUESTED) == []


def test_a_reset_link_expires(settings, make_user):
    from portal.services import account_links
    from portal.services.account_links import AccountLinks

    user = make_user("officer", email="expire@example.vn")
    links = AccountLinks.of(settings)
    lifetime = int(account_links.LIFETIME[account_links.RESET].total_seconds())

    class Dated(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - lifetime - 60

    with db.connection_context():
        user = User.get_by_id(user.id)
        state = account_links._state(account_links.RESET, user)
    old = URLSafeTimedSerializer(settings.secret_key, salt=account_links.RESET,
                                 signer=Dated).dumps([user.id, state])
    fresh = links.token(account_links.RESET, user)
    with db.connection_context():
        assert links.user(account_links.RESET, fresh).id == user.id
        assert links.user(account_links.RESET, old) is None


@pytest.mark.parametrize("same_address", [False, True])
def test_two_registrations_at_the_same_moment_both_get_the_same_answer(settings, same_address):
    """For one new tax code (and, the second time, one address): neither fails on the unique
    keys; one enterprise, and one account per address."""
    import threading

    from portal.services import enrolment
    from portal.services.account_links import AccountLinks

    links = AccountLinks.of(settings)
    barrier = threading.Barrier(2)
    answers: list[object] = []

    def go(n: int) -> None:
        email = "cung.luc@example.vn" if same_address else f"cung.luc{n}@example.vn"
        barrier.wait()
        try:
            answers.append(enrolment.register({**REGISTRATION, "email": email},
                                              f"192.0.2.{n}", links))
        except Exception as exc:  # noqa: BLE001 - the test reports whatever it was
            answers.append(exc)

    threads = [threading.Thread(target=go, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [None, None]
    with db.connection_context():
        assert Enterprise.select().where(Enterprise.tax_code == "0100109106").count() == 1
        users = User.select().join(Enterprise).where(Enterprise.tax_code == "0100109106")
        assert users.count() == (1 if same_address else 2)
