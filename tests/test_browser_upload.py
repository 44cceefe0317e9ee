"""The resumable upload in Debian's chromium: static/js/dossier.js sends a file in chunks over a
slow link, shows its progress, survives the browser going offline in the middle, and the file
that arrives is the one that was chosen."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portal.db import db
from portal.models import Attachment
from tests import dossier_web_fixtures as fx
from tests.conftest import PASSWORD
from tests.dossier_web_fixtures import PROCEDURE, UNIT, document_ids, tr
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser
forms, people = fx.forms, fx.people


@pytest.fixture
def server(settings, units, catalogue, forms, people) -> Iterator[LiveServer]:
    live = LiveServer(settings)
    yield live
    live.stop()


def test_upload_resumes_after_the_browser_goes_offline(browser, server, people, tmp_path: Path):
    data = b"%PDF-1.7\n" + os.urandom(3 * 1024 * 1024)
    path = tmp_path / "to-khai-lon.pdf"
    path.write_bytes(data)
    context = browser.new_context()
    context.set_default_timeout(60_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}/login")
    page.fill("#f-username", people.enterprise.username)
    page.fill("#f-password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(f"{server.url}/dossiers/new?procedure={PROCEDURE}")
    page.select_option("#f-unit", UNIT)
    page.click("form[action='/dossiers/new'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/dossiers/\d+/edit$"))
    did = int(re.search(r"/dossiers/(\d+)/", page.url).group(1))

    # A slow link (4 Mbit/s): the 3 MB file takes several seconds, in 256 KB chunks.
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    link = {"offline": False, "latency": 50, "downloadThroughput": 500_000,
            "uploadThroughput": 500_000}
    cdp.send("Network.emulateNetworkConditions", link)
    patches: list[str] = []
    page.on("requestfinished", lambda r: patches.append(r.url)
            if r.method == "PATCH" else None)
    doc = document_ids()[0]
    page.set_input_files(f"#f-doc-{doc}", path)
    page.locator(f"#doc-{doc} button[type=submit]").click()

    status = page.locator(f"#doc-{doc} .app-progress [role=status]")
    expect(status).to_contain_text("%")  # "Đã gửi 0.5 MB / 3.0 MB (16%)"
    page.wait_for_function("() => document.querySelector('progress').value >= 25")
    # The link drops (the same DevTools emulation that makes it slow, so the two agree).
    cdp.send("Network.emulateNetworkConditions", {**link, "offline": True})
    expect(status).to_have_text(tr("The connection dropped. Trying again; what was sent is kept."))
    page.wait_for_timeout(1000)
    cdp.send("Network.emulateNetworkConditions", link)

    page.wait_for_url(f"**/dossiers/{did}/edit#doc-{doc}")
    expect(page.locator(f"#doc-{doc} .app-files")).to_contain_text("to-khai-lon.pdf")
    with db.connection_context():
        att = Attachment.get(Attachment.dossier == did)
    assert att.sha256 == hashlib.sha256(data).hexdigest() and att.size == len(data)
    assert len(patches) >= 12  # 3 MB in 256 KB chunks, each acknowledged
    assert errors == []
    context.close()
