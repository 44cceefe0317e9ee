"""Logging in with the national identity in Debian's chromium, with JavaScript and without: the
login page's button, the OpenID provider's page (tests/oidc_provider.py on loopback, a separate
process), back on the portal signed in as the identity's account; logging out also ends the
provider's session (its end-session endpoint is reached, the portal's session is gone); a
sign-in cancelled at the provider is a message next to the button."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portal.db import db
from portal.models import NationalIdentity
from portal.services import oidc_client
from tests.live_server import LiveServer
from tests.oidc_provider import OidcProvider

pytestmark = pytest.mark.browser
CLIENT_ID = "cong-dvc-hai-quan"
CLIENT_SECRET = "test-client-secret-1234"
CITIZEN = {"sub": "vneid-citizen-browser", "account_type": "1", "id_number": "001090000009",
           "tax_code": "", "name": "Trần Thị Bình", "assurance_level": "2", "email": ""}


@pytest.fixture
def sso_server(settings, units, catalogue) -> Iterator[tuple[LiveServer, OidcProvider]]:
    """The portal configured with the loopback provider, both served on free ports."""
    provider = OidcProvider(CLIENT_ID, CLIENT_SECRET, "http://127.0.0.1/unknown-yet")
    oidc_client.forget_metadata()
    try:
        live = LiveServer(settings, {
            "PORTAL_NATIONAL_ID_DISCOVERY_URL": provider.discovery_url,
            "PORTAL_NATIONAL_ID_CLIENT_ID": CLIENT_ID,
            "PORTAL_NATIONAL_ID_CLIENT_SECRET": CLIENT_SECRET,
        })
    except Exception:
        provider.stop()
        raise
    provider.configure(redirect_uri=f"{live.url}/login/national/callback", fault="",
                       identity=CITIZEN)
    yield live, provider
    live.stop()
    provider.stop()


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_sign_in_and_out_through_the_provider(browser, sso_server, javascript):
    server, provider = sso_server
    context = browser.new_context(java_script_enabled=javascript)
    context.add_cookies([{"name": "lang", "value": "en", "url": server.url}])
    page = context.new_page()
    page.goto(f"{server.url}/login")
    page.click("#f-national")  # Log in with VNeID
    page.wait_for_url(f"{provider.url}/authorize?*")
    assert page.locator("#id_number").input_value() == CITIZEN["id_number"]
    page.click("button:not([name=cancel])")  # log in at the provider
    page.wait_for_url(f"{server.url}/")
    assert page.locator(".app-header__user").inner_text() == "Trần Thị Bình"
    with db.connection_context():
        link = NationalIdentity.get()
        assert link.user.full_name == "Trần Thị Bình" and link.identifier == "001090000009"
    page.goto(f"{server.url}/account")
    assert page.url == f"{server.url}/account"
    assert page.locator("#no-password").count() == 1  # the account has no password
    logouts = len(provider.log()["logouts"])
    page.click("header form[action='/logout'] button")
    page.wait_for_url(f"{server.url}/")  # through the provider's end-session endpoint
    ended = provider.log()["logouts"]
    assert len(ended) == logouts + 1
    assert ended[-1]["post_logout_redirect_uri"] == f"{server.url}/"
    assert ended[-1]["id_token_hint"].count(".") == 2  # the last ID token, as the hint
    assert page.locator(".app-header__user").count() == 0
    page.goto(f"{server.url}/account")
    assert "/login" in page.url  # the portal's session is gone
    context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_a_sign_in_cancelled_at_the_provider_is_shown_on_the_login_page(
    browser, sso_server, javascript
):
    server, provider = sso_server
    context = browser.new_context(java_script_enabled=javascript)
    context.add_cookies([{"name": "lang", "value": "en", "url": server.url}])
    page = context.new_page()
    page.goto(f"{server.url}/login")
    page.click("#f-national")
    page.wait_for_url(f"{provider.url}/authorize?*")
    with page.expect_navigation(url=f"{server.url}/login/national/callback?*") as navigation:
        page.click("button[name=cancel]")
    assert navigation.value is not None and navigation.value.status == 422
    error = page.locator("#f-national-error")
    assert "cancelled" in error.inner_text()
    assert page.locator(".app-error-summary a[href='#f-national']").count() == 1
    assert page.locator(".app-header__user").count() == 0
    with db.connection_context():
        assert NationalIdentity.select().count() == 0
    context.close()
