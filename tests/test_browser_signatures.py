"""Issue 14 in Debian's chromium, with and without JavaScript: the enterprise files a dossier
of a procedure that requires signed documents (an unsigned file refused with the reason, signed
ones accepted), the officer's result signed by an unregistered certificate is refused and the
registered leader's accepted, the result is returned, the applicant sees who signed it and
downloads it, and a stranger verifies it at /verify by code and fingerprint and by the QR
code's link."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from portal.db import db
from portal.models import Procedure
from portal.services import signatures
from tests import dossier_web_fixtures as fx
from tests.dossier_web_fixtures import ANSWERS, PROCEDURE, UNIT, code_of, document_ids, tr
from tests.live_server import LiveServer
from tests.pki import make_pdf, sign_pdf
from tests.test_browser_dossier import TIMEOUT_MS, Actor, dossier_id

pytestmark = pytest.mark.browser
forms, people = fx.forms, fx.people
OWNER_TAX = "0100112437"


@pytest.fixture
def server(settings, units, catalogue, forms, people, signed_result) -> Iterator[LiveServer]:
    with db.connection_context():
        Procedure.update(requires_signature=True).where(Procedure.code == PROCEDURE).execute()
    live = LiveServer(settings)
    yield live
    live.stop()


@pytest.fixture
def files(tmp_path: Path, pki, signed_result) -> dict[str, Path]:
    owner = pki.issue("Công ty A", uid=f"MST:{OWNER_TAX}", org="Công ty A")
    made = {
        "chua-ky.pdf": make_pdf("Đơn đề nghị chưa ký"),
        "don-de-nghi.pdf": sign_pdf(make_pdf("Đơn đề nghị hủy tờ khai"), owner, pki),
        "chung-tu.pdf": sign_pdf(make_pdf("Chứng từ chứng minh"), owner, pki),
        "kq-cong-chuc.pdf": sign_pdf(make_pdf("Quyết định"), pki.officer, pki),
        "quyet-dinh.pdf": signed_result,
    }
    for name, data in made.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in made}


def act(actor: Actor, did: int, action: str) -> None:
    page = actor.page
    form = page.locator(f"form[action='/dossiers/{did}/actions/{action}']")
    details = page.locator("details.app-action", has=form)
    if details.count() and details.get_attribute("open") is None:
        details.locator("summary").click()
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/dossiers/{did}")
    expect(page.locator("#flash")).to_contain_text(tr("Done: %(action)s.", action="")[:6])


def attach(page: Page, did: int, doc: int, path: Path, javascript: bool) -> None:
    page.set_input_files(f"#f-doc-{doc}", path)
    page.locator(f"#doc-{doc} button[type=submit]").click()
    if not javascript:
        page.wait_for_load_state()


def file_signed_dossier(e: Actor, files: dict[str, Path], javascript: bool) -> int:
    page = e.open(f"/dossiers/new?procedure={PROCEDURE}")
    page.select_option("#f-unit", UNIT)
    page.click("form[action='/dossiers/new'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/dossiers/\d+/edit$"))
    did = dossier_id(page)
    expect(page.locator("main")).to_contain_text(tr(
        "This procedure requires PDF documents signed with your enterprise's digital "
        "certificate."))
    page.fill("#f-declaration_no", ANSWERS["declaration_no"])
    page.fill("#f-declaration_date", ANSWERS["declaration_date"])
    page.select_option("#f-declaration_type", ANSWERS["declaration_type"])
    page.fill("#f-reason", ANSWERS["reason"])
    page.click("button[name=next][value=save]")
    page.wait_for_url(re.compile(rf".*/dossiers/{did}/edit.*"))
    first, second = document_ids()
    # An unsigned file is refused, and the page says why, next to the document.
    attach(page, did, first, files["chua-ky.pdf"], javascript)
    expect(page.locator(f"#doc-{first}")).to_contain_text(tr(signatures.NO_SIGNATURE))
    page.goto(f"{e.server.url}/dossiers/{did}/edit")
    for doc, name in ((first, "don-de-nghi.pdf"), (second, "chung-tu.pdf")):
        attach(page, did, doc, files[name], javascript)
        page.wait_for_url(f"**/dossiers/{did}/edit#doc-{doc}")
        expect(page.locator(f"#doc-{doc} .app-files")).to_contain_text(name)
    page.click("button[name=next][value=review]")
    page.wait_for_url(f"**/dossiers/{did}/review")
    page.check("#f-confirm")
    page.click(f"form[action='/dossiers/{did}/submit'] button[type=submit]")
    page.wait_for_url(f"**/dossiers/{did}/receipt")
    return did


def upload_result(officer: Actor, did: int, path: Path) -> Page:
    page = officer.open(f"/dossiers/{did}")
    form = page.locator(f"form[action='/dossiers/{did}/result']")
    form.locator("input[type=file]").set_input_files(path)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    return page


def signed_life(browser: Browser, server: LiveServer, people, files, javascript: bool):
    errors: list[str] = []
    enterprise = Actor(browser, server, people.enterprise, javascript, errors)
    officer = Actor(browser, server, people.officer, javascript, errors)
    leader = Actor(browser, server, people.leader, javascript, errors)
    stranger = browser.new_context(java_script_enabled=javascript)
    stranger.set_default_timeout(TIMEOUT_MS)
    try:
        did = file_signed_dossier(enterprise, files, javascript)
        code = code_of(did)
        # The officer sees the application documents' signatures.
        page = officer.open(f"/dossiers/{did}")
        expect(page.locator(".app-signature").first).to_contain_text("Công ty A")
        for action in ("receive", "start_processing", "submit_for_approval"):
            officer.open(f"/dossiers/{did}")
            act(officer, did, action)
        leader.open(f"/dossiers/{did}")
        act(leader, did, "approve")
        # Signed by an officer whose certificate is not registered: refused, saying so.
        page = upload_result(officer, did, files["kq-cong-chuc.pdf"])
        expect(page.locator("#f-result-error")).to_contain_text("Trần Thị Cán")
        page = upload_result(officer, did, files["quyet-dinh.pdf"])
        page.wait_for_url(f"**/dossiers/{did}")
        expect(page.locator("#flash")).to_contain_text(tr("The result document is attached."))
        act(officer, did, "issue_result")
        act(officer, did, "return_result")

        # The applicant sees who signed the result and downloads it.
        page = enterprise.open(f"/dossiers/{did}")
        expect(page.locator(".app-signature").last).to_contain_text(
            "Nguyễn Văn Lãnh, Chi cục trưởng")
        with page.expect_download() as info:
            page.locator("a", has_text="quyet-dinh.pdf").click()
        got = Path(info.value.path()).read_bytes()
        assert got == files["quyet-dinh.pdf"].read_bytes()
        fingerprint = hashlib.sha256(got).hexdigest()
        verify_href = page.locator(".app-verify a").get_attribute("href")

        # A stranger checks it by code and fingerprint, then by the QR code's link.
        seen = stranger.new_page()
        seen.goto(f"{server.url}/verify")
        seen.evaluate("window.__samePage = true") if javascript else None
        seen.fill("#f-code", code)
        seen.fill("#f-fingerprint", fingerprint)
        seen.click("#verify-form button[type=submit]")
        expect(seen.locator("#verify-result")).to_contain_text(tr(
            "This document is the result the portal issued, unchanged since it was signed."))
        expect(seen.locator("#verify-result")).to_contain_text("Nguyễn Văn Lãnh")
        if javascript:  # htmx swapped the answer into the page
            assert seen.evaluate("window.__samePage === true")
        # A changed copy is not confirmed.
        seen.goto(f"{server.url}/verify")
        seen.fill("#f-code", code)
        seen.fill("#f-fingerprint", hashlib.sha256(got + b"x").hexdigest())
        seen.click("#verify-form button[type=submit]")
        expect(seen.locator("#verify")).to_contain_text(tr(
            "The portal issued no result with this fingerprint for this dossier: the document "
            "is not the one issued, or it was changed."))
        link = urlsplit(verify_href)  # the configured base URL, not the test server's
        seen.goto(f"{server.url}{link.path}?{link.query}")
        expect(seen.locator("#verify-result")).to_contain_text(fingerprint)
        assert b"%PDF" not in seen.content().encode()
    finally:
        stranger.close()
        for actor in (enterprise, officer, leader):
            actor.close()
    return errors


def test_signed_life_with_javascript(browser, server, people, files):
    errors = signed_life(browser, server, people, files, javascript=True)
    # The two refusals (the unsigned document, the unregistered signer) are the browser's 422s.
    refused = [e for e in errors if "status of 422" in e]
    assert len(refused) == 2 and [e for e in errors if e not in refused] == [], errors


def test_signed_life_without_javascript(browser, server, people, files):
    signed_life(browser, server, people, files, javascript=False)
