"""Issue 14 end to end in Debian's chromium, with JavaScript and without: a level-4 procedure
from a signed submission through online payment to a signed result that the applicant downloads
and a stranger verifies.

The enterprise files a dossier of a procedure that requires signed documents (an unsigned file
refused with the reason, signed ones accepted); the officer receives it and asks the procedure's
fee (the form prefilled); the enterprise pays at the sandbox gateway, a separate process, going
through the outcomes that leave the fee unpaid before one that pays it (with JavaScript: decline,
wrong amount, then a notification that comes late, which the page the payer is on shows by
itself; without: a time-out, then a return whose signature does not check out, settled by the
reconciliation, which the payer sees by checking again); the officer sees the wrong amount among
the payments to check; the officer's result signed by an unregistered certificate is refused and
the registered leader's accepted; the applicant sees who signed it and downloads it; a stranger
verifies it at /verify by code and fingerprint and by the QR code's link.

The payments that succeed in other ways (approve, notify twice, notify before the return) are
paid in the browser too, each in both modes, by `test_paying_online`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from portal.db import db
from portal.models import PaymentOrder, Procedure
from portal.services import dossiers, payment_notices, payments, processing, signatures
from tests import dossier_web_fixtures as fx
from tests.dossier_fixtures import GOOD_ANSWERS, PDF, PNG, make_ctx
from tests.dossier_web_fixtures import ANSWERS, PROCEDURE, UNIT, code_of, document_ids, tr
from tests.live_server import LiveServer, SandboxGateway
from tests.payment_fixtures import gateway_env, gateway_settings
from tests.pki import make_pdf, sign_pdf
from tests.test_browser_dossier import TIMEOUT_MS, Actor, dossier_id

pytestmark = pytest.mark.browser
forms, people = fx.forms, fx.people
OWNER_TAX = "0100112437"
WAITING = ("The payment service says you have paid. The portal is waiting for the payment "
           "service to confirm it directly; the dossier goes on then.")


@pytest.fixture
def servers(settings, units, catalogue, forms, people,
            signed_result) -> Iterator[tuple[LiveServer, SandboxGateway]]:
    with db.connection_context():
        Procedure.update(requires_signature=True).where(Procedure.code == PROCEDURE).execute()
    sandbox = SandboxGateway({**gateway_env("http://unused"), "PORTAL_SANDBOX_LATE_SECONDS": "4"})
    portal = LiveServer(settings, env=gateway_env(sandbox.url))
    yield portal, sandbox
    portal.stop()
    sandbox.stop()


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


# --- the enterprise's signed submission ------------------------------------------------------


def attach(page: Page, doc: int, path: Path, javascript: bool) -> None:
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
    attach(page, first, files["chua-ky.pdf"], javascript)
    expect(page.locator(f"#doc-{first}")).to_contain_text(tr(signatures.NO_SIGNATURE))
    page.goto(f"{e.server.url}/dossiers/{did}/edit")
    for doc, name in ((first, "don-de-nghi.pdf"), (second, "chung-tu.pdf")):
        attach(page, doc, files[name], javascript)
        page.wait_for_url(f"**/dossiers/{did}/edit#doc-{doc}")
        expect(page.locator(f"#doc-{doc} .app-files")).to_contain_text(name)
    page.click("button[name=next][value=review]")
    page.wait_for_url(f"**/dossiers/{did}/review")
    page.check("#f-confirm")
    page.click(f"form[action='/dossiers/{did}/submit'] button[type=submit]")
    page.wait_for_url(f"**/dossiers/{did}/receipt")
    return did


# --- payment --------------------------------------------------------------------------------


def request_fee(officer: Actor, did: int) -> None:
    """The officer asks the fee: the form comes filled with the procedure's fee."""
    page = officer.open(f"/dossiers/{did}")
    form = page.locator(f"form[action='/dossiers/{did}/payment/request']")
    details = page.locator("details.app-action", has=form)
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    expect(form.locator("#f-request_payment-label-0")).to_have_value(
        "Lệ phí làm thủ tục hải quan")
    expect(form.locator("#f-request_payment-amount-0")).to_have_value("20000")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/dossiers/{did}")
    expect(page.locator("#flash")).to_contain_text(
        tr("Payment is requested; the enterprise is told."))


def to_gateway(enterprise: Actor, did: int, gateway: str, outcome: str) -> Page:
    """From the dossier page to the sandbox gateway's page, where the payer chooses `outcome`."""
    page = enterprise.open(f"/dossiers/{did}")
    form = page.locator("form.app-pay")
    expect(form.locator("button[type=submit]")).to_be_visible()
    form.locator(f"input[value={gateway}]").check()
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/(vnpay/paymentv2/vpcpay\.html|national/pay/)"))
    expect(page.locator("#ref")).to_be_visible()
    page.click(f"button[value={outcome}]")
    return page


def pay(enterprise: Actor, did: int, gateway: str, outcome: str) -> Page:
    """Pay with `outcome` and come back to the portal's return page."""
    page = to_gateway(enterprise, did, gateway, outcome)
    page.wait_for_url(re.compile(rf".*/payments/return/{gateway}\?.*"))
    return page


def open_receipt(page: Page, did: int) -> None:
    page.click("#outcome a[href*='/receipt']")
    page.wait_for_url(re.compile(rf".*/dossiers/{did}/payments/\d+/receipt$"))
    expect(page.locator("h1")).to_have_text("BIÊN LAI THU PHÍ, LỆ PHÍ")
    expect(page.locator(".app-receipt")).to_contain_text("20.000 đồng")
    with page.expect_download() as info:
        page.click("a[href$='/receipt.pdf']")
    assert Path(info.value.path()).read_bytes().startswith(b"%PDF-")


def pay_with_javascript(enterprise: Actor, officer: Actor, did: int) -> None:
    """Declined, then paid another amount than asked, then paid with a late notification."""
    page = pay(enterprise, did, "vnpay", "decline")
    expect(page.locator("#outcome")).to_contain_text(tr(
        "The payment was not made (the payment service's code: %(code)s). You can pay again "
        "from the dossier's page.", code="51"))
    page = pay(enterprise, did, "vnpay", "wrong_amount")
    expect(page.locator("#outcome")).to_contain_text(tr(
        "The payment service reports another amount than the one asked. The payment is not "
        "counted: the unit's staff are told and will settle it with you."))
    page = pay(enterprise, did, "vnpay", "notify_late")
    expect(page.locator("#outcome")).to_contain_text(tr(WAITING))
    page.evaluate("window.__samePage = true")
    expect(page.locator("#outcome")).to_contain_text(tr("The payment is confirmed."),
                                                     timeout=15_000)
    assert page.evaluate("window.__samePage === true")  # htmx swapped, no reload
    open_receipt(page, did)
    # The officer finds the wrong amount among the payments to check.
    page = officer.open("/officer/payments")
    row = page.locator("#results tr", has_text=code_of(did))
    expect(row).to_contain_text(tr("Another amount than the one asked"))
    expect(row).to_contain_text("21.000")


def pay_without_javascript(enterprise: Actor, sandbox: SandboxGateway, settings,
                           did: int) -> None:
    """Abandoned at the gateway (time-out), then paid with a return whose signature does not
    check out: the reconciliation settles it from the gateway's own answer."""
    page = to_gateway(enterprise, did, "national", "timeout")
    expect(page.locator("h1")).to_contain_text("Hết thời gian thanh toán")
    page.click("a:has-text('Quay lại')")
    page.wait_for_url(re.compile(r".*/dossiers$"))
    page = pay(enterprise, did, "national", "bad_signature")
    expect(page.locator("#outcome")).to_contain_text(tr(
        "The answer the payment service sent back with you could not be verified. The portal "
        "keeps to what the payment service confirms to it directly, which has not come yet."))
    # The worker's reconciliation, run here as its schedule would: both open orders are asked.
    with db.connection_context():
        latest = PaymentOrder.select().order_by(PaymentOrder.created_at.desc()).first()
    setup = payments.Setup.of(dataclasses.replace(
        settings, payment_gateways=gateway_settings(sandbox.url)))
    counts = payment_notices.reconcile(setup, latest.created_at + dt.timedelta(hours=1))
    assert counts == {"asked": 2, "unavailable": 0}
    page.locator("#outcome a", has_text=tr("Check again")).click()
    expect(page.locator("#outcome")).to_contain_text(tr("The payment is confirmed."))
    open_receipt(page, did)


# --- the signed result and its verification ---------------------------------------------------


def upload_result(officer: Actor, did: int, path: Path) -> Page:
    page = officer.open(f"/dossiers/{did}")
    form = page.locator(f"form[action='/dossiers/{did}/result']")
    form.locator("input[type=file]").set_input_files(path)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    return page


def verify_as_stranger(stranger: Page, server: LiveServer, code: str, got: bytes,
                       verify_href: str, javascript: bool) -> None:
    fingerprint = hashlib.sha256(got).hexdigest()
    stranger.goto(f"{server.url}/verify")
    if javascript:
        stranger.evaluate("window.__samePage = true")
    stranger.fill("#f-code", code)
    stranger.fill("#f-fingerprint", fingerprint)
    stranger.click("#verify-form button[type=submit]")
    expect(stranger.locator("#verify-result")).to_contain_text(tr(
        "This document is the result the portal issued, unchanged since it was signed."))
    expect(stranger.locator("#verify-result")).to_contain_text("Nguyễn Văn Lãnh")
    if javascript:  # htmx swapped the answer into the page
        assert stranger.evaluate("window.__samePage === true")
    # A changed copy is not confirmed.
    stranger.goto(f"{server.url}/verify")
    stranger.fill("#f-code", code)
    stranger.fill("#f-fingerprint", hashlib.sha256(got + b"x").hexdigest())
    stranger.click("#verify-form button[type=submit]")
    expect(stranger.locator("#verify")).to_contain_text(tr(
        "The portal issued no result with this fingerprint for this dossier: the document "
        "is not the one issued, or it was changed."))
    link = urlsplit(verify_href)  # the configured base URL, not the test server's
    stranger.goto(f"{server.url}{link.path}?{link.query}")
    expect(stranger.locator("#verify-result")).to_contain_text(fingerprint)
    assert b"%PDF" not in stranger.content().encode()


def level4_life(browser: Browser, servers: tuple[LiveServer, SandboxGateway], settings, people,
                files: dict[str, Path], javascript: bool) -> list[str]:
    server, sandbox = servers
    errors: list[str] = []
    enterprise = Actor(browser, server, people.enterprise, javascript, errors)
    officer = Actor(browser, server, people.officer, javascript, errors)
    leader = Actor(browser, server, people.leader, javascript, errors)
    stranger = browser.new_context(java_script_enabled=javascript)
    stranger.set_default_timeout(TIMEOUT_MS)
    try:
        did = file_signed_dossier(enterprise, files, javascript)
        code = code_of(did)
        page = officer.open(f"/dossiers/{did}")  # the application documents' signatures
        expect(page.locator(".app-signature").first).to_contain_text("Công ty A")
        officer.act(did, "receive")
        request_fee(officer, did)
        if javascript:
            pay_with_javascript(enterprise, officer, did)
        else:
            pay_without_javascript(enterprise, sandbox, settings, did)

        # The dossier goes on once paid.
        page = officer.open(f"/dossiers/{did}")
        assert tr("Fees paid online") in page.locator(".app-timeline").inner_text()
        officer.act(did, "submit_for_approval")
        leader.open(f"/dossiers/{did}")
        leader.act(did, "approve")
        # Signed by an officer whose certificate is not registered: refused, saying so.
        page = upload_result(officer, did, files["kq-cong-chuc.pdf"])
        expect(page.locator("#f-result-error")).to_contain_text("Trần Thị Cán")
        page = upload_result(officer, did, files["quyet-dinh.pdf"])
        page.wait_for_url(f"**/dossiers/{did}")
        expect(page.locator("#flash")).to_contain_text(tr("The result document is attached."))
        officer.act(did, "issue_result")
        officer.act(did, "return_result")

        # The applicant sees who signed the result and downloads it.
        page = enterprise.open(f"/dossiers/{did}")
        expect(page.locator(".app-signature").last).to_contain_text(
            "Nguyễn Văn Lãnh, Chi cục trưởng")
        with page.expect_download() as info:
            page.locator("a", has_text="quyet-dinh.pdf").click()
        got = Path(info.value.path()).read_bytes()
        assert got == files["quyet-dinh.pdf"].read_bytes()
        verify_href = page.locator(".app-verify a").get_attribute("href")
        verify_as_stranger(stranger.new_page(), server, code, got, verify_href, javascript)
    finally:
        stranger.close()
        for actor in (enterprise, officer, leader):
            actor.close()
    return errors


def test_level4_life_with_javascript(browser, servers, settings, people, files):
    errors = level4_life(browser, servers, settings, people, files, javascript=True)
    # The two refusals (the unsigned document, the unregistered signer) are the browser's 422s.
    refused = [e for e in errors if "status of 422" in e]
    assert len(refused) == 2 and [e for e in errors if e not in refused] == [], errors


def test_level4_life_without_javascript(browser, servers, settings, people, files):
    level4_life(browser, servers, settings, people, files, javascript=False)


# --- the other ways a payment succeeds ----------------------------------------------------


@pytest.fixture
def plain_servers(settings, units, catalogue, forms,
                  people) -> Iterator[tuple[LiveServer, SandboxGateway]]:
    """The portal and the sandbox, the procedure as seeded (no signed documents needed)."""
    sandbox = SandboxGateway(gateway_env("http://unused"))
    portal = LiveServer(settings, env=gateway_env(sandbox.url))
    yield portal, sandbox
    portal.stop()
    sandbox.stop()


def owing(people, settings) -> int:
    """A dossier of procedure 1.005458 received at 02CI and asked to pay the procedure's fee."""
    owner, officer = make_ctx(people.enterprise, settings), make_ctx(people.officer, settings)
    draft = dossiers.start_draft(owner, PROCEDURE, UNIT)
    dossiers.save_answers(owner, draft.id, GOOD_ANSWERS)
    first, second = document_ids()
    dossiers.add_attachment(owner, draft.id, first, "don.pdf", [PDF])
    dossiers.add_attachment(owner, draft.id, second, "chung-tu.png", [PNG])
    did = dossiers.submit(owner, draft.id, "").id
    processing.act(officer, did, "receive")
    rows = [(i.label, str(i.amount)) for i in payments.proposed(dossiers.load(did, officer.user))]
    payments.request_payment(officer, did, rows, "")
    return did


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
@pytest.mark.parametrize("outcome, gateway", [
    ("approve", "national"), ("notify_twice", "vnpay"), ("notify_before_return", "national"),
])
def test_paying_online(browser, plain_servers, settings, people, outcome, gateway, javascript):
    did = owing(people, settings)
    errors: list[str] = []
    enterprise = Actor(browser, plain_servers[0], people.enterprise, javascript, errors)
    try:
        page = pay(enterprise, did, gateway, outcome)
        # approve: the notification and the return race; the page shows the confirmation
        # (with JavaScript by itself, without it by checking again)
        confirmed = tr("The payment is confirmed.")
        for _ in range(20):
            if javascript or confirmed in page.locator("#outcome").inner_text():
                break
            page.wait_for_timeout(250)
            page.locator("#outcome a", has_text=tr("Check again")).click()
        expect(page.locator("#outcome")).to_contain_text(confirmed)
        page = enterprise.open(f"/dossiers/{did}")
        expect(page.locator("#payments .app-tag--pay-paid")).to_have_text(tr("Paid"))
        assert page.locator("form.app-pay").count() == 0
        timeline = page.locator(".app-timeline").inner_text()
        assert timeline.count(tr("Fees paid online")) == 1, timeline
    finally:
        enterprise.close()
    assert errors == [], errors
