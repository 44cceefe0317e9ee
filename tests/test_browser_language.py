"""Issue 13 item 7 in Debian's chromium, with JavaScript and without: the dossier form takes
a date typed as dd/mm/yyyy and says what a wrong declaration number must be (as the answers
are autosaved, and next to the field after a plain save); the notifications are read in the
reader's language. Screenshots go to /tmp/shots/language/ (or $SHOTS_DIR)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from portal.db import db
from portal.models import Dossier
from portal.services import dossiers
from tests import dossier_web_fixtures as fx
from tests.conftest import PASSWORD
from tests.dossier_fixtures import complete_draft, make_ctx
from tests.dossier_web_fixtures import PROCEDURE, UNIT
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser
forms, people = fx.forms, fx.people
TIMEOUT_MS = 10_000
SHOTS = Path(os.environ.get("SHOTS_DIR", "/tmp/shots/language"))
PATTERN_VI = "Số tờ khai gồm 12 chữ số."
PATTERN_EN = "A declaration number has 12 digits."


@pytest.fixture
def server(settings, units, catalogue, forms, people) -> Iterator[LiveServer]:
    live = LiveServer(settings)
    yield live
    live.stop()


def logged_in(browser: Browser, server: LiveServer, user, javascript: bool) -> Page:
    context = browser.new_context(java_script_enabled=javascript, viewport={"width": 900,
                                                                           "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{server.url}/login")
    page.fill("#f-username", user.username)
    page.fill("#f-password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    return page


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_the_form_takes_dd_mm_yyyy_and_says_what_a_declaration_number_is(
        browser, server, settings, people, javascript):
    draft = dossiers.start_draft(make_ctx(people.enterprise, settings), PROCEDURE, UNIT)
    page = logged_in(browser, server, people.enterprise, javascript)
    page.goto(f"{server.url}/dossiers/{draft.id}/edit")
    expect(page.locator("#f-declaration_date-hint")).to_contain_text("dd/mm/yyyy")
    page.fill("#f-declaration_no", "12345")
    page.fill("#f-declaration_date", "04/12/2026")
    page.select_option("#f-declaration_type", "Nhập khẩu")
    if javascript:  # the autosave tells it as the answers change
        page.locator("#f-reason").fill("Hàng hóa không xuất khẩu được.")
        page.locator("#f-reason").blur()
        expect(page.locator("#save-status")).to_contain_text(PATTERN_VI)
    else:
        page.fill("#f-reason", "Hàng hóa không xuất khẩu được.")
    page.click("button[name=next][value=save]")
    expect(page.locator("#f-declaration_no-error")).to_have_text(PATTERN_VI)
    expect(page.locator(".app-error-summary")).to_contain_text(PATTERN_VI)
    expect(page.locator("#f-declaration_no")).to_have_value("12345")  # kept as typed
    expect(page.locator("#f-declaration_date-error")).to_have_count(0)
    shoot(page, f"form-error-vi-{'js' if javascript else 'nojs'}.png")
    # In English, the same field says it in English.
    page.click("form[action^='/lang/en'] button[type=submit]")
    page.wait_for_url(f"**/dossiers/{draft.id}/edit")
    page.click("button[name=next][value=save]")
    expect(page.locator("#f-declaration_no-error")).to_have_text(PATTERN_EN)
    expect(page.locator("#f-declaration_date-hint")).to_contain_text("dd/mm/yyyy")
    shoot(page, f"form-error-en-{'js' if javascript else 'nojs'}.png")
    page.fill("#f-declaration_no", "105123456789")
    page.click("button[name=next][value=save]")
    page.wait_for_url(f"**/dossiers/{draft.id}/edit")
    expect(page.locator("#f-declaration_no-error")).to_have_count(0)
    expect(page.locator("#f-declaration_date")).to_have_value("04/12/2026")
    with db.connection_context():
        assert '"declaration_date": "2026-12-04"' in Dossier.get_by_id(draft.id).form_data
    page.context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_notifications_are_read_in_the_readers_language(
        browser, server, settings, people, javascript):
    owner = make_ctx(people.enterprise, settings)
    code = dossiers.submit(owner, complete_draft(owner), "shots").code
    page = logged_in(browser, server, people.officer, javascript)
    page.goto(f"{server.url}/notifications")
    expect(page.locator(".app-notes")).to_contain_text(f"Hồ sơ mới {code} đang chờ tiếp nhận.")
    expect(page.locator(".app-notes")).to_contain_text("/2")  # a dd/mm/yyyy date
    if javascript:
        shoot(page, "notifications-vi.png")
    page.click("form[action^='/lang/en'] button[type=submit]")
    page.wait_for_url("**/notifications")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    notes = page.locator(".app-notes")
    expect(notes).to_contain_text(f"New dossier {code} is waiting for reception.")
    expect(notes).not_to_contain_text("Hồ sơ mới")
    if javascript:
        shoot(page, "notifications-en.png")
    page.context.close()
