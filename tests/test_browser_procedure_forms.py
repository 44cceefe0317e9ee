"""Forms to download in Debian's chromium, with JavaScript on and off: the administrator's
wrong file is refused next to the field with the title kept, the right one is attached, and
the procedure's page offers it for download under its title."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import PASSWORD
from tests.dossier_fixtures import PNG
from tests.live_server import LiveServer
from tests.real_files import docx

pytestmark = pytest.mark.browser

BORDER = "1.008002"
TITLE = "Tờ khai của cư dân biên giới"


@pytest.fixture
def server(settings, units, catalogue) -> Iterator[LiveServer]:
    live = LiveServer(settings)
    yield live
    live.stop()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_the_admin_attaches_a_form_and_it_downloads_from_the_procedure_page(
    browser, server, make_user, tmp_path, javascript
):
    admin = make_user("admin")
    context = browser.new_context(java_script_enabled=javascript, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{server.url}/login")
    page.fill("#f-username", admin.username)
    page.fill("#f-password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)

    page.goto(f"{server.url}/procedures/{BORDER}")
    page.click(f"a[href='/admin/procedures/{BORDER}/forms']")
    page.wait_for_url(f"**/admin/procedures/{BORDER}/forms")
    wrong = tmp_path / "anh.docx"
    wrong.write_bytes(PNG)
    page.fill("#f-title", TITLE)
    page.set_input_files("#f-file", str(wrong))
    page.click("form[enctype='multipart/form-data'] button[type=submit]")
    page.locator("#f-file-error").wait_for()
    assert "PDF" in page.locator("#f-file-error").inner_text()
    assert page.input_value("#f-title") == TITLE  # what was typed is kept
    assert page.locator(".app-error-summary").count() == 1

    right = tmp_path / "to-khai.docx"
    right.write_bytes(docx())
    page.set_input_files("#f-file", str(right))
    page.click("form[enctype='multipart/form-data'] button[type=submit]")
    page.wait_for_url(f"**/admin/procedures/{BORDER}/forms")
    assert page.locator("#f-file-error").count() == 0
    assert TITLE in page.locator("table.app-table").inner_text()

    page.goto(f"{server.url}/procedures/{BORDER}")
    link = page.locator("#forms + ul a", has_text=TITLE)
    with page.expect_download() as caught:
        link.click()
    download = caught.value
    assert download.suggested_filename == f"{TITLE}.docx"
    saved = tmp_path / "downloaded.docx"
    download.save_as(saved)
    assert saved.read_bytes() == right.read_bytes()
    refused = "the server responded with a status of 422"  # the wrong file, on purpose
    assert [e for e in errors if refused not in e] == [], errors  # e.g. a CSP violation
    context.close()
