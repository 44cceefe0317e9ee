"""The catalogue search in Debian's chromium, with JavaScript on (htmx swaps the results) and
off (a plain GET form and full page loads)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live_server import LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture
def server(settings, units, catalogue) -> Iterator[LiveServer]:
    live = LiveServer(settings)
    yield live
    live.stop()


def test_search_with_javascript_swaps_results_in_place(browser, server):
    page = browser.new_page()
    requests: list[dict[str, str]] = []
    page.on("request", lambda r: requests.append(r.headers) if "/procedures?" in r.url else None)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{server.url}/procedures")
    page.evaluate("window.__samePage = true")
    page.fill("#f-q", "huy to khai")
    page.press("#f-q", "Enter")
    page.wait_for_url("**/procedures?q=huy*")
    results = page.locator("#results")
    results.get_by_text("1.005458").wait_for()
    assert "Thủ tục huỷ tờ khai hải quan" in results.inner_text()
    assert page.evaluate("window.__samePage === true"), "the page was reloaded instead of swapped"
    assert any(h.get("hx-request") == "true" for h in requests)
    assert errors == [], errors  # e.g. a Content-Security-Policy violation
    page.close()


def test_search_without_javascript_uses_plain_form(browser, server):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server.url}/")
    page.fill("#home-q", "Hủy tờ khai")
    page.click("button[type=submit] >> text=/Tìm|Search/")
    page.wait_for_url("**/procedures?q=*")
    assert "1.005458" in page.locator("#results").inner_text()
    page.select_option("#f-level", "4")
    page.click(".app-filters button[type=submit]")
    page.wait_for_url("**level=4*")
    assert page.locator("#results .app-list__item").count() >= 1
    next_link = page.locator("a[rel=next]")
    assert next_link.count() == 0 or next_link.get_attribute("href").startswith("/procedures?")
    context.close()
