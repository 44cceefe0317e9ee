"""What surrounds the sign-in with the national identity, against the real OpenID provider on
loopback (tests/oidc_provider.py): the accounts it makes have no password (nothing to change,
no reset link gives them one), the worker purges the used and expired sign-in requests, and a
provider that does not answer (stopped, 5xx, too slow) is a clear message on the login page,
never a 500."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from starlette.testclient import TestClient

from portal import jobs
from portal.app import create_app
from portal.db import db
from portal.models import (
    NationalIdentity,
    OutgoingMail,
    SecurityCount,
    SignOnRequest,
    User,
    utcnow,
)
from portal.services import oidc_client
from portal.services.account_links import RESET, AccountLinks
from tests import test_national_login as nl
from tests.conftest import PASSWORD
from tests.helpers import csrf_from
from tests.oidc_provider import OidcProvider

# The shared fixtures, found by pytest under these names.
provider, sso_settings, sso = nl.provider, nl.sso_settings, nl.sso
CITIZEN = {**nl.CITIZEN, "email": "an.nguyen@example.vn"}
UNAVAILABLE = "does not answer. Try again later."


def national_user() -> User:
    with db.connection_context():
        return NationalIdentity.get().user


def mails_to(address: str) -> list[OutgoingMail]:
    with db.connection_context():
        return list(OutgoingMail.select().where(OutgoingMail.to_addr == address)
                    .order_by(OutgoingMail.id))


def requests_left() -> int:
    with db.connection_context():
        return SignOnRequest.select().count()


def failures_counted() -> int:
    with db.connection_context():
        return SecurityCount.select().count()


def press_button(client: TestClient):
    token = csrf_from(client.get("/login").text)
    return client.post("/login/national", data={"csrf_token": token, "next": ""},
                       follow_redirects=False)


def unavailable(r) -> bool:
    """The login page again, 503, saying next to the national button that the provider does
    not answer."""
    return (r.status_code == 503 and 'id="f-national-error"' in r.text
            and UNAVAILABLE in r.text and 'action="/login/national"' in r.text)


# --- accounts made by a national sign-in have no password ----------------------------------


def test_an_account_made_by_a_national_sign_in_has_no_password_to_change(sso, make_user):
    assert nl.national_login(sso, CITIZEN).status_code == 303
    user = national_user()
    assert not user.has_password
    page = sso.get("/account")
    assert page.status_code == 200 and 'id="no-password"' in page.text
    assert 'action="/account/password"' not in page.text  # nothing to change
    assert "Link my national identity" not in page.text  # linked already: it made the account
    r = sso.post("/account/password", data={
        "csrf_token": csrf_from(page.text), "current_password": "x",
        "password": "a new long password 1", "password_confirm": "a new long password 1"})
    assert r.status_code == 409 and "has no password" in r.text
    with db.connection_context():
        assert User.get_by_id(user.id).password_hash == user.password_hash
    # An account that has a password keeps the form, also once it linked its identity.
    other = make_user("enterprise")
    with TestClient(sso.app, base_url=nl.BASE, cookies={"lang": "en"}) as browser:
        nl.password_login(browser, other)
        mine = browser.get("/account").text
        assert 'action="/account/password"' in mine and 'id="no-password"' not in mine
        assert "Link my national identity" in mine


def test_a_password_reset_for_a_national_account_tells_how_to_log_in(sso, sso_settings):
    nl.national_login(sso, CITIZEN)
    user = national_user()
    assert user.email == CITIZEN["email"]
    sent_before = len(mails_to(user.email))  # the activation's
    anonymous = nl.other_browser(sso)
    token = csrf_from(anonymous.get("/password/forgot").text)
    r = anonymous.post("/password/forgot", data={"csrf_token": token, "email": user.email},
                       follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/check-email")
    mails = mails_to(user.email)
    assert len(mails) == sent_before + 1
    assert "VNeID" in mails[-1].body and "/password/reset" not in mails[-1].body
    # A reset link made for it anyway (it never gets one by e-mail) sets no password.
    with db.connection_context():
        link = AccountLinks.of(sso_settings).token(RESET, User.get_by_id(user.id))
    assert anonymous.get("/password/reset", params={"t": link}).status_code == 410
    r = anonymous.post("/password/reset", data={
        "t": link, "password": "a new long password 1",
        "password_confirm": "a new long password 1", "csrf_token": token})
    assert r.status_code == 422 and "does not work any more" in r.text
    with db.connection_context():
        assert not User.get_by_id(user.id).has_password
    # No password logs it in, not even the tests' usual one.
    r = nl.other_browser(sso)
    login = csrf_from(r.get("/login").text)
    refused = r.post("/login", data={"username": user.username, "password": PASSWORD,
                                     "csrf_token": login}, follow_redirects=False)
    assert refused.status_code == 422


# --- the worker purges used and expired sign-in requests -----------------------------------


def test_used_and_expired_sign_on_requests_are_purged_by_the_worker(sso):
    browsers = [nl.other_browser(sso) for _ in range(3)]
    used, expired, waiting = (nl.start(b) for b in browsers)
    assert requests_left() == 3
    callback = nl.at_provider(used, CITIZEN)
    assert browsers[0].get(callback, follow_redirects=False).status_code == 303
    expired_state = dict(p.split("=", 1) for p in expired.split("?", 1)[1].split("&"))["state"]
    with db.connection_context():
        SignOnRequest.update(expires_at=utcnow() - dt.timedelta(seconds=1)).where(
            SignOnRequest.state == expired_state).execute()
    assert jobs.purge_sign_on_requests.call_local() == 2
    assert requests_left() == 1 and jobs.purge_sign_on_requests.call_local() == 0
    # The used state stays refused once its row is gone; the waiting sign-in still completes.
    assert browsers[0].get(callback, follow_redirects=False).status_code == 422
    back = nl.at_provider(waiting, {**CITIZEN, "sub": "another-citizen",
                                    "id_number": "001090000002"})
    assert browsers[2].get(back, follow_redirects=False).status_code == 303
    assert jobs.purge_sign_on_requests.call_local() == 1 and requests_left() == 0


# --- a provider that does not answer --------------------------------------------------------


def test_a_stopped_provider_is_a_message_on_the_login_page(settings, units, catalogue):
    stopped = OidcProvider(nl.CLIENT_ID, nl.CLIENT_SECRET, f"{nl.BASE}/login/national/callback")
    stopped.stop()
    oidc_client.forget_metadata()
    configured = dataclasses.replace(
        settings, base_url=nl.BASE, national_id_discovery_url=stopped.discovery_url,
        national_id_client_id=nl.CLIENT_ID, national_id_client_secret=nl.CLIENT_SECRET)
    with TestClient(create_app(configured), base_url=nl.BASE, cookies={"lang": "en"}) as c:
        assert unavailable(press_button(c))
        assert requests_left() == 0 and failures_counted() == 0


@pytest.mark.parametrize("outage", ["discovery", "token", "jwks", "token_slow"])
def test_a_provider_answering_errors_is_a_message_on_the_login_page(
    sso, provider, outage, monkeypatch
):
    if outage == "discovery":
        provider.configure(outage="discovery")
        try:
            assert unavailable(press_button(sso)) and requests_left() == 0
        finally:
            provider.configure(outage="")
        return
    before = nl.counts()
    location = nl.start(sso)  # the discovery document is read (and kept) here
    callback = nl.at_provider(location, CITIZEN)
    monkeypatch.setattr(oidc_client, "TIMEOUT", 1.0)  # the portal waits 1 s, not 10
    provider.configure(outage=outage, delay=3)
    try:
        r = sso.get(callback, follow_redirects=False)
    finally:
        provider.configure(outage="")
    assert unavailable(r)
    assert nl.counts() == before and failures_counted() == 0  # not the person's failure
    assert sso.get("/account", follow_redirects=False).status_code == 303  # not signed in
    # Once the provider answers again, a new sign-in goes through.
    assert nl.national_login(sso, CITIZEN).status_code == 303


@pytest.mark.parametrize("error", ["temporarily_unavailable", "server_error"])
def test_a_provider_that_cannot_serve_the_sign_in_says_so(sso, error):
    r = sso.get(f"/login/national/callback?error={error}&state=x")
    assert unavailable(r) and failures_counted() == 0


def test_logging_out_while_the_provider_does_not_answer_ends_the_portal_session(sso, provider):
    nl.national_login(sso, CITIZEN)
    oidc_client.forget_metadata()
    provider.configure(outage="discovery")
    try:
        token = csrf_from(sso.get("/account").text)
        r = sso.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    finally:
        provider.configure(outage="")
    assert (r.status_code, r.headers["location"]) == (303, "/")
    assert sso.get("/account", follow_redirects=False).status_code == 303
