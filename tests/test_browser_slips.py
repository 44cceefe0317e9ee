"""Slips in Debian's chromium, with JavaScript on and off: an officer issues an apology slip
from the dossier's page (errors next to the fields, input kept, then the slip), the enterprise
opens it, prints it (print media: the portal's header and menus hidden, the document shown)
and downloads its PDF. Screenshots go to PORTAL_SHOTS when it is set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests import dossier_web_fixtures as fx
from tests import page_tour
from tests.conftest import PASSWORD
from tests.dossier_web_fixtures import tr

pytestmark = pytest.mark.browser
forms, people, tour_server = fx.forms, fx.people, page_tour.tour_server
SHOTS = os.environ.get("PORTAL_SHOTS", "")  # a folder to save screenshots in, if set
REASON = "Chờ kết quả giám định mẫu hàng của Chi cục Kiểm định Hải quan."


def signed_in(browser: Browser, url: str, user, javascript: bool, width: int = 1280) -> Page:
    context = browser.new_context(java_script_enabled=javascript, accept_downloads=True,
                                  viewport={"width": width, "height": 900}, locale="vi-VN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{url}/login")
    page.fill("#f-username", user.username)
    page.fill("#f-password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(lambda u: "/login" not in u)
    if page.evaluate("document.documentElement.lang") != "vi":  # the header's language button
        page.click("form[action^='/lang/vi'] button[type=submit]")
        page.wait_for_function("document.documentElement.lang === 'vi'")
    return page


def shoot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
def test_an_officer_issues_an_apology_and_the_enterprise_prints_it(
        browser, tour_server, people, javascript):
    server, ids = tour_server
    did = ids["processing"]
    tag = "js" if javascript else "nojs"
    officer = signed_in(browser, server.url, people.officer, javascript)
    officer.goto(f"{server.url}/dossiers/{did}")
    officer.click(f"a[href='/dossiers/{did}/apology']")
    officer.wait_for_url(f"**/dossiers/{did}/apology")
    expect(officer.locator("#draft-title")).to_be_visible()
    proposed = officer.locator("#f-new_date").input_value()
    assert len(proposed) == 10 and proposed[2] == "/" and proposed[5] == "/"
    shoot(officer, f"apology-form-{tag}")
    # Nothing written, a date that is no date: both errors, next to their fields.
    officer.fill("#f-new_date", "31/02/2027")
    officer.click(f"form[action='/dossiers/{did}/apology'] button[type=submit]")
    expect(officer.locator("#f-reason-error")).to_contain_text(
        tr("Write why the dossier is late: the enterprise reads it."))
    expect(officer.locator("#f-new_date-error")).to_be_visible()
    expect(officer.locator("#f-new_date")).to_have_value("31/02/2027")  # the input is kept
    expect(officer.locator(".app-error-summary")).to_be_visible()
    shoot(officer, f"apology-form-errors-{tag}")
    officer.fill("#f-reason", REASON)
    officer.fill("#f-new_date", proposed)
    officer.click(f"form[action='/dossiers/{did}/apology'] button[type=submit]")
    officer.wait_for_url(f"**/dossiers/{did}/slips/*")
    expect(officer.locator("#flash")).to_contain_text(
        tr("The apology slip is issued and the enterprise is told."))
    slip_path = officer.url.removeprefix(server.url)
    officer.context.close()

    e = signed_in(browser, server.url, people.enterprise, javascript)
    e.goto(f"{server.url}{slip_path}")
    doc = e.locator("article.app-doc")
    expect(doc).to_contain_text("PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ")
    expect(doc).to_contain_text(REASON)
    expect(doc).to_contain_text(people.officer.full_name)
    expect(doc).to_contain_text("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")
    shoot(e, f"slip-apology-{tag}")
    # Printing: the document alone.
    e.emulate_media(media="print")
    expect(e.locator("header.app-header")).to_be_hidden()
    expect(e.locator("footer.app-footer")).to_be_hidden()
    expect(e.locator(".app-slip-tools")).to_be_hidden()
    expect(doc).to_be_visible()
    expect(e.locator("#slip-title")).to_be_visible()
    e.emulate_media(media="screen")
    expect(e.locator("header.app-header")).to_be_visible()
    # The PDF, downloaded from the page.
    with e.expect_download() as download:
        e.click(".app-slip-tools a[download]")
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")
    e.context.close()


@pytest.mark.parametrize("width", [1280, 360])
def test_the_slip_and_the_apology_form_fit_the_screen(browser, tour_server, people, width):
    """The receipt-time slip and the apology form at a desktop's and a phone's width: nothing
    wider than the screen (screenshots of both)."""
    server, ids = tour_server
    e = signed_in(browser, server.url, people.enterprise, True, width)
    e.goto(f"{server.url}/dossiers/{ids['supplement']}/slips/{ids['slip']}")
    expect(e.locator("article.app-doc")).to_contain_text("PHIẾU YÊU CẦU BỔ SUNG")
    assert e.evaluate("document.documentElement.scrollWidth") <= width
    shoot(e, f"slip-supplement-{width}")
    e.click("form[action^='/lang/en'] button[type=submit]")  # the page in English
    expect(e.locator(".app-slip-tools")).to_contain_text("Download as PDF")
    expect(e.locator("article.app-doc")).to_contain_text("PHIẾU YÊU CẦU BỔ SUNG")
    shoot(e, f"slip-supplement-{width}-en")
    e.click("form[action^='/lang/vi'] button[type=submit]")  # the profile keeps the language
    expect(e.locator("html")).to_have_attribute("lang", "vi")
    e.context.close()
    officer = signed_in(browser, server.url, people.officer, True, width)
    officer.goto(f"{server.url}/dossiers/{ids['processing']}/apology")
    expect(officer.locator("#draft-title")).to_be_visible()
    assert officer.evaluate("document.documentElement.scrollWidth") <= width
    shoot(officer, f"apology-form-{width}")
    officer.context.close()
