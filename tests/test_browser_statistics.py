"""The public statistics page in Debian's chromium, as an anonymous visitor: changing the period
changes the figures, the charts and their tables (swapped in place by htmx with JavaScript,
whole pages without it), and a table downloads as XLSX with the new period in its name."""

from __future__ import annotations

import os

import pytest
from openpyxl import load_workbook

from tests import test_stats_public as hand_built

pytestmark = pytest.mark.browser
quarter, tr = hand_built.quarter, hand_built.tr  # the hand-built dossiers, found by pytest
SHOTS = os.environ.get("PORTAL_SHOTS", "")  # a folder to save screenshots in, if set


@pytest.fixture
def server(settings, units, catalogue):
    from tests.live_server import LiveServer

    live = LiveServer(settings)
    yield live
    live.stop()


def received(page) -> str:
    """The figure next to "Dossiers received"."""
    return page.locator(f"dt:text-is('{tr('Dossiers received')}') + dd").inner_text()


def change_period(page, start: str, end: str) -> None:
    page.fill("#f-from", start)
    page.fill("#f-to", end)
    page.click("#stats-form button[type=submit]")


def check_february_and_download(page, tmp_path) -> None:
    """The figures, chart and table of February 2025; its trend downloaded as XLSX."""
    assert received(page) == "5"
    assert page.locator("#table-trend tbody th").all_inner_texts() == ["02/2025"]
    # one month: three bars and the legend's three swatches
    assert page.locator("#chart-trend > rect").count() == 6
    assert page.locator("#chart-timeliness text").count() == 6  # three names, three figures
    assert "units-title" not in page.content()  # anonymous: no table by unit
    with page.expect_download() as download:
        page.click("section[aria-labelledby=trend-title] a:text-is('XLSX')")
    assert download.value.suggested_filename == "statistics-trend-2025-02-01-2025-02-28.xlsx"
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    rows = [r for r in load_workbook(path).active.iter_rows(values_only=True) if any(r)]
    assert rows[0][0] == tr("Dossiers by month")
    assert rows[-1][:4] == ("2025-02", 5, 2, 1)


def test_with_javascript_the_period_swaps_the_figures_and_charts(
    browser, server, quarter, tmp_path
):
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{server.url}/")
    page.click("footer a[href='/statistics']")
    page.wait_for_url("**/statistics")
    change_period(page, "01/01/2025", "31/03/2025")
    page.wait_for_url("**to=31%2F03%2F2025*")
    page.evaluate("window.__samePage = true")
    assert received(page) == "8"
    assert page.locator("#table-trend tbody th").count() == 3
    assert page.locator("#chart-trend > rect").count() == 12
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/statistics-public-vi.png", full_page=True)
    change_period(page, "01/02/2025", "28/02/2025")
    page.wait_for_url("**from=01%2F02%2F2025*")
    page.locator("#table-trend tbody th", has_text="02/2025").wait_for()
    check_february_and_download(page, tmp_path)
    assert page.evaluate("window.__samePage === true"), "the page was reloaded instead of swapped"
    assert errors == [], errors
    page.close()


def test_without_javascript_the_form_loads_the_page(browser, server, quarter, tmp_path):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server.url}/statistics?from=2025-01-01&to=2025-03-31")
    assert received(page) == "8"
    change_period(page, "01/02/2025", "28/02/2025")
    page.wait_for_url("**from=01%2F02%2F2025*")
    check_february_and_download(page, tmp_path)
    change_period(page, "01/01/2001", "31/12/2001")  # an empty period: no chart of it
    page.wait_for_url("**from=01%2F01%2F2001*")
    assert page.locator("#chart-trend").count() == 0
    assert tr("No dossier was submitted or completed in this period.") in page.content()
    context.close()
