"""Logging in with the national identity against a real OpenID provider on loopback
(tests/oidc_provider.py, a separate process): the happy paths, and every faulty answer
refused on the login page with nothing created."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from starlette.testclient import TestClient

from portal.app import create_app
from portal.config import ConfigError, Settings
from portal.db import db
from portal.models import DossierEvent, Enterprise, NationalIdentity, SignOnRequest, User
from portal.services import oidc_client
from portal.services.oidc_client import Provider, SignOnError
from tests.conftest import PASSWORD
from tests.helpers import csrf_from
from tests.oidc_provider import OidcProvider

CLIENT_ID = "cong-dvc-hai-quan"
CLIENT_SECRET = "test-client-secret-1234"
BASE = "http://testserver"
CITIZEN = {"sub": "vneid-citizen-1", "account_type": "1", "id_number": "001090000001",
           "tax_code": "", "name": "Nguyễn Văn An", "assurance_level": "2"}
ENTERPRISE = {"sub": "vneid-enterprise-1", "account_type": "2", "id_number": "",
              "tax_code": "0100112437", "name": "Công ty A", "assurance_level": "2"}


@pytest.fixture(scope="module")
def provider() -> Iterator[OidcProvider]:
    p = OidcProvider(CLIENT_ID, CLIENT_SECRET, f"{BASE}/login/national/callback")
    yield p
    p.stop()


@pytest.fixture
def sso_settings(settings: Settings, provider: OidcProvider) -> Settings:
    provider.configure(fault="")
    oidc_client.forget_metadata()
    return dataclasses.replace(
        settings,
        base_url=BASE,
        national_id_discovery_url=provider.discovery_url,
        national_id_client_id=CLIENT_ID,
        national_id_client_secret=CLIENT_SECRET,
    )


@pytest.fixture
def sso(sso_settings: Settings, units: None, catalogue: None) -> Iterator[TestClient]:
    with TestClient(create_app(sso_settings), base_url=BASE, cookies={"lang": "en"}) as c:
        yield c  # in English: the messages are checked by their text


def other_browser(client: TestClient) -> TestClient:
    return TestClient(client.app, base_url=BASE, cookies={"lang": "en"})


def start(client: TestClient, page: str = "/login") -> str:
    """Press the national identity button on `page`: the provider's sign-in address."""
    token = csrf_from(client.get(page).text)
    r = client.post("/login/national", data={"csrf_token": token, "next": ""},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["location"]


def at_provider(location: str, identity: dict[str, str]) -> str:
    """Sign in at the provider as `identity`: the portal's callback path it sends back."""
    with httpx2.Client() as h:
        page = h.get(location)
        assert page.status_code == 200 and "<form" in page.text
        r = h.post(location, data=identity)
    assert r.status_code == 302, r.text
    back = r.headers["location"]
    assert back.startswith(f"{BASE}/login/national/callback?"), back
    return back[len(BASE):]


def national_login(client: TestClient, identity: dict[str, str], page: str = "/login"):
    return client.get(at_provider(start(client, page), identity), follow_redirects=False)


def password_login(client: TestClient, user) -> None:
    token = csrf_from(client.get("/login").text)
    r = client.post("/login", data={"username": user.username, "password": PASSWORD,
                                    "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303


def counts() -> tuple[int, int, int]:
    with db.connection_context():
        return User.select().count(), Enterprise.select().count(), NationalIdentity.select().count()


def events(action: str) -> list[DossierEvent]:
    with db.connection_context():
        return list(DossierEvent.select().where(DossierEvent.action == action))


def test_the_authorisation_request_uses_pkce_state_and_nonce(sso):
    query = parse_qs(urlsplit(start(sso)).query)
    assert query["response_type"] == ["code"] and query["client_id"] == [CLIENT_ID]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == [f"{BASE}/login/national/callback"]
    assert "openid" in query["scope"][0].split()
    with db.connection_context():
        row = SignOnRequest.get(SignOnRequest.state == query["state"][0])
    assert row.nonce == query["nonce"][0] and row.code_verifier not in str(query)


def test_a_new_citizen_gets_an_active_account(sso):
    r = national_login(sso, CITIZEN)
    assert r.status_code == 303 and r.headers["location"] == "/"
    with db.connection_context():
        link = NationalIdentity.get()
        user = link.user
        assert (link.kind, link.identifier, link.assurance_level) == (1, "001090000001", 2)
        assert user.role == "enterprise" and user.enterprise_status == "active"
        assert user.enterprise.kind == "person" and user.enterprise.tax_code == "001090000001"
        assert user.full_name == "Nguyễn Văn An"
    assert [e.actor_id for e in events("login")] == [user.id]
    assert "national_identity" in events("enterprise_activated")[0].note
    page = sso.get("/account")
    assert page.status_code == 200 and "Nguyễn Văn An" in page.text


def test_an_existing_linked_account_signs_in_again(sso):
    national_login(sso, CITIZEN)
    before = counts()
    token = csrf_from(sso.get("/").text)
    sso.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    r = national_login(sso, {**CITIZEN, "name": "Nguyễn Văn An"})
    assert r.status_code == 303 and counts() == before
    assert len(events("login")) == 2
    assert len({e.actor_id for e in events("login")}) == 1


def test_an_enterprise_identity_activates_the_pending_account(sso, make_user):
    user = make_user("enterprise", email="a@example.vn")
    with db.connection_context():
        User.update(enterprise_status="pending").where(User.id == user.id).execute()
    password_login(sso, user)
    r = national_login(sso, ENTERPRISE, page="/account")
    assert r.status_code == 303 and r.headers["location"] == "/account"
    with db.connection_context():
        assert User.get_by_id(user.id).enterprise_status == "active"
        assert NationalIdentity.get().user_id == user.id
    note = events("enterprise_activated")[0].note
    assert "0100112437" in note and "(national_identity)" in note
    assert "sẵn sàng" not in sso.get("/account").text  # the page renders for the active user


def test_an_enterprise_identity_of_another_tax_code_is_refused(sso, make_user):
    user = make_user("enterprise")
    with db.connection_context():
        User.update(enterprise_status="pending").where(User.id == user.id).execute()
    password_login(sso, user)
    before = counts()
    r = national_login(sso, {**ENTERPRISE, "tax_code": "0100109106"}, page="/account")
    assert r.status_code == 422
    assert "0100109106" in r.text and "0100112437" in r.text and 'id="f-national-error"' in r.text
    assert counts() == before
    with db.connection_context():
        assert User.get_by_id(user.id).enterprise_status == "pending"
    assert events("enterprise_activated") == []


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("wrong_signature", "signature is not the national identity service"),
        ("wrong_audience", "issued for another service"),
        ("expired", "has expired"),
    ],
)
def test_a_faulty_id_token_is_refused_and_nothing_is_created(sso, provider, fault, message):
    before = counts()
    provider.configure(fault=fault)
    r = national_login(sso, CITIZEN)
    assert r.status_code == 422
    assert message.replace("'", "&#39;") in r.text.replace("’", "'") or message in r.text
    assert 'id="f-national-error"' in r.text and counts() == before
    assert events("login") == []
    assert "portal_session" in sso.cookies and sso.get("/account", follow_redirects=False
                                                        ).status_code == 303


def test_a_replayed_nonce_is_refused(sso, provider):
    national_login(sso, CITIZEN)  # the provider has now seen a nonce
    before = counts()
    provider.configure(fault="replay_nonce")
    r = national_login(other_browser(sso), {**CITIZEN, "sub": "another"})
    assert r.status_code == 422 and "replayed" in r.text
    assert counts() == before


def test_a_replayed_state_is_refused(sso):
    callback = at_provider(start(sso), CITIZEN)
    assert sso.get(callback, follow_redirects=False).status_code == 303
    before = counts()
    again = sso.get(callback, follow_redirects=False)
    assert again.status_code == 422 and counts() == before


def test_a_state_is_accepted_once_even_in_its_own_browser(sso_settings, sso):
    provider = Provider.of(sso_settings)
    callback = at_provider(start(sso), CITIZEN)
    query = parse_qs(urlsplit(callback).query)
    state, code = query["state"][0], query["code"][0]
    oidc_client.finish(provider, state, code, state)
    with pytest.raises(SignOnError, match="already used"):
        oidc_client.finish(provider, state, code, state)


def test_a_callback_not_started_in_this_browser_is_refused(sso):
    callback = at_provider(start(other_browser(sso)), CITIZEN)
    r = sso.get(callback, follow_redirects=False)
    assert r.status_code == 422 and "not started in this browser" in r.text
    assert counts()[2] == 0


def test_a_cancelled_sign_in_says_so(sso):
    r = sso.get("/login/national/callback?error=access_denied&state=x")
    assert r.status_code == 422 and "cancelled" in r.text


def test_logout_ends_the_provider_session(sso, provider):
    national_login(sso, CITIZEN)
    token = csrf_from(sso.get("/account").text)
    r = sso.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    target = urlsplit(r.headers["location"])
    assert f"{target.scheme}://{target.netloc}" == provider.url and target.path == "/logout"
    query = parse_qs(target.query)
    assert query["post_logout_redirect_uri"] == [f"{BASE}/"] and query["id_token_hint"]
    with httpx2.Client() as h:
        back = h.get(r.headers["location"])
    assert back.status_code == 302 and back.headers["location"] == f"{BASE}/"
    assert provider.log()["logouts"][-1]["id_token_hint"] == query["id_token_hint"][0]
    assert sso.get("/account", follow_redirects=False).status_code == 303


def test_the_button_and_the_form_action_follow_the_configuration(sso, provider, client):
    page = sso.get("/login")
    assert 'action="/login/national"' in page.text
    assert f"form-action 'self' {provider.url}" in page.headers["content-security-policy"]
    plain = client.get("/login")
    assert "/login/national" not in plain.text
    token = csrf_from(plain.text)
    assert client.post("/login/national", data={"csrf_token": token}).status_code == 404


def test_configuration_from_the_environment():
    env = {"PORTAL_DATA_DIR": "/nonexistent-dir-for-test", "PORTAL_SECRET_KEY": "x" * 40,
           "PORTAL_HISTORY_KEY": "k" * 40,
           "PORTAL_NATIONAL_ID_DISCOVERY_URL": "https://id.example/.well-known/openid-configuration",
           "PORTAL_NATIONAL_ID_CLIENT_ID": "portal", "PORTAL_NATIONAL_ID_CLIENT_SECRET": "s",
           "PORTAL_NATIONAL_ID_CLAIMS": "type=loai_tai_khoan, level=acr"}
    s = Settings.from_env(env)
    claims = dict(s.national_id_claims)
    assert claims["type"] == "loai_tai_khoan" and claims["level"] == "acr"
    assert claims["tax_code"] == "tax_code" and s.national_id_scopes == "openid profile"
    with pytest.raises(ConfigError, match="CLIENT_SECRET"):
        Settings.from_env({**env, "PORTAL_NATIONAL_ID_CLIENT_SECRET": ""})
    with pytest.raises(ConfigError, match="role=claim"):
        Settings.from_env({**env, "PORTAL_NATIONAL_ID_CLAIMS": "colour=blue"})
    assert Settings.from_env({**env, "PORTAL_NATIONAL_ID_DISCOVERY_URL": ""}
                             ).national_id_discovery_url == ""
