"""The counter in Debian's chromium: without JavaScript the officer chooses the procedure,
fills the form, sees the errors next to the fields with the input kept, sends the scanned
documents again and lands on the received dossier; with JavaScript htmx finds the known
applicant in place, and the dossier is recorded the same way (in English)."""

from __future__ import annotations

import os
import re

import pytest

from tests import dossier_web_fixtures as fx
from tests import page_tour
from tests.conftest import PASSWORD
from tests.dossier_web_fixtures import ANSWERS, NOT_ONLINE, PROCEDURE, document_ids, pdf_bytes

pytestmark = pytest.mark.browser
forms, people, tour_server = fx.forms, fx.people, page_tour.tour_server
SHOTS = os.environ.get("PORTAL_SHOTS", "")  # a folder to save screenshots in, if set
CODE = re.compile(r"02CI-[0-9]{6}-[0-9]{4}")


def log_in(page, server, user) -> None:
    page.goto(f"{server.url}/login")
    page.fill("#f-username", user.username)
    page.fill("#f-password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def attach_scans(page, code: str) -> None:
    for doc in document_ids(code):
        page.set_input_files(f"#f-doc-{doc}", files=[{
            "name": f"ban-quet-{doc}.pdf", "mimeType": "application/pdf",
            "buffer": pdf_bytes(f"scan {doc}")}])


def test_counter_without_javascript(browser, tour_server, people):
    server, _ = tour_server
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    log_in(page, server, people.officer)
    page.goto(f"{server.url}/officer/inbox")
    page.click("a[href='/officer/counter']")
    page.select_option("#f-procedure", NOT_ONLINE)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"**/officer/counter?procedure={NOT_ONLINE}")
    page.check("#f-kind-person")
    page.fill("#f-id_number", "001203004567")
    page.fill("#f-name", "Nguyễn Thị Biên")
    page.fill("#f-contact_name", "Nguyễn Thị Biên")
    page.fill("#f-contact_phone", "gọi sau")
    attach_scans(page, NOT_ONLINE)
    page.click("button[name=step][value=record]")
    page.locator(".app-error-summary").wait_for()
    assert page.locator("#f-contact_phone-error").count() == 1
    assert page.locator("#f-address-error").count() == 1  # a new person needs an address
    assert page.input_value("#f-name") == "Nguyễn Thị Biên"  # kept
    assert page.is_checked("#f-kind-person")
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/counter-form-errors-vi.png", full_page=True)
    page.fill("#f-contact_phone", "0912 345 678")
    page.fill("#f-address", "Thôn Pò Hèn, xã Hải Sơn, Quảng Ninh")
    attach_scans(page, NOT_ONLINE)  # files are not kept by a form sent back
    page.click("button[name=step][value=record]")
    page.wait_for_url(re.compile(r".*/dossiers/[0-9]+$"))
    text = page.locator("main").inner_text()
    assert CODE.search(text) and "Nộp trực tiếp (hồ sơ giấy)" in text
    assert "Tiếp nhận tại bộ phận một cửa" in page.locator(".app-timeline").inner_text()
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/counter-dossier-vi.png", full_page=True)
    page.goto(f"{server.url}/statistics")
    figures = page.locator("#results").inner_text()
    assert "Tiếp nhận tại bộ phận một cửa" in figures and "Nộp trực tuyến" in figures
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/counter-statistics-vi.png", full_page=True)
    context.close()


def test_counter_with_javascript_in_english(browser, tour_server, people):
    server, _ = tour_server
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error"
            and "status of 422" not in m.text else None)
    log_in(page, server, people.officer)
    page.goto(f"{server.url}/")
    with page.expect_navigation():
        page.click("header button[lang=en]")
    page.goto(f"{server.url}/officer/counter?procedure={PROCEDURE}")
    page.evaluate("window.__samePage = true")
    page.fill("#f-id_number", "0100112437")
    page.click("button[name=step][value=find]")
    page.locator("#applicant .app-callout").wait_for()
    assert "Công ty A" in page.locator("#applicant").inner_text()
    assert page.evaluate("window.__samePage === true"), "reloaded instead of swapped"
    page.fill("#f-contact_name", "Trần Văn Giao")
    page.fill("#f-contact_phone", "024 3825 1234")
    page.fill("#f-declaration_no", ANSWERS["declaration_no"])
    page.fill("#f-declaration_date", ANSWERS["declaration_date"])
    page.select_option("#f-declaration_type", ANSWERS["declaration_type"])
    page.fill("#f-reason", ANSWERS["reason"])
    attach_scans(page, PROCEDURE)
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/counter-form-found-en.png", full_page=True)
    page.click("button[name=step][value=record]")
    page.wait_for_url(re.compile(r".*/dossiers/[0-9]+$"))
    text = page.locator("main").inner_text()
    assert CODE.search(text) and "Received on paper at the counter" in text
    assert "Trần Văn Giao" in text and "Công ty A" in text
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/counter-dossier-en.png", full_page=True)
    assert errors == [], errors
    page.close()
