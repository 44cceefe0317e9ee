"""The public dossier lookup in Debian's chromium: with JavaScript htmx swaps the result (and
the form with its errors) in place; without it the plain GET form loads whole pages."""

from __future__ import annotations

import os

import pytest

from tests import dossier_web_fixtures as fx
from tests import page_tour

pytestmark = pytest.mark.browser
forms, people, tour_server = fx.forms, fx.people, page_tour.tour_server
TAX_CODE = "0100112437"
SHOTS = os.environ.get("PORTAL_SHOTS", "")  # a folder to save screenshots in, if set


def test_lookup_with_javascript_swaps_in_place(browser, tour_server):
    server, ids = tour_server
    page = browser.new_page()
    errors: list[str] = []  # the 422 of a miss is logged by the browser itself: not counted
    page.on("console", lambda m: errors.append(m.text) if m.type == "error"
            and "status of 422" not in m.text else None)
    page.goto(f"{server.url}/")
    page.click("header a[href='/lookup']")
    page.wait_for_url("**/lookup")
    page.evaluate("window.__samePage = true")
    page.fill("#f-code", "02CI-000000-0001")
    page.fill("#f-tax_code", TAX_CODE)
    page.click("#lookup-form button[type=submit]")
    page.locator("#f-code-error").wait_for()
    assert page.locator("#f-code").input_value() == "02CI-000000-0001"  # the input is kept
    page.fill("#f-code", ids["processing_code"])
    page.click("#lookup-form button[type=submit]")
    page.locator("#lookup-result dl").wait_for()
    assert page.locator("#f-code-error").count() == 0  # the error went with the old form
    assert ids["processing_code"] in page.locator("#lookup-result").inner_text()
    assert page.evaluate("window.__samePage === true"), "the page was reloaded instead of swapped"
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/lookup-found-vi.png", full_page=True)
    assert errors == [], errors
    page.close()


def test_lookup_without_javascript_loads_pages(browser, tour_server):
    server, ids = tour_server
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server.url}/lookup")
    page.fill("#f-code", ids["processing_code"])
    page.fill("#f-tax_code", "0100109106")  # another enterprise's
    page.click("#lookup-form button[type=submit]")
    page.wait_for_url("**/lookup?code=*")
    assert page.locator("#f-code-error").count() == 1
    assert page.locator(".app-error-summary").count() == 1
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/lookup-error-vi.png", full_page=True)
    page.fill("#f-tax_code", TAX_CODE)
    page.click("#lookup-form button[type=submit]")
    page.wait_for_url("**tax_code=0100112437*")
    assert ids["processing_code"] in page.locator("#lookup-result").inner_text()
    page.click("header button[lang=en]")  # the same lookup, in English
    page.locator("h1", has_text="Look up a dossier").wait_for()
    assert "Received on" in page.locator("#lookup-result").inner_text()
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/lookup-found-en.png", full_page=True)
    context.close()
