"""A level-4 dossier through online payment in Debian's chromium, with JavaScript and without:
the officer asks the procedure's fee (the form prefilled), the enterprise pays at the sandbox
gateway (a declined attempt first, then a payment whose notification comes late: with
JavaScript the page the payer is on updates by itself, without it a link checks again), opens
its receipt, and the officer takes the dossier on to the result the enterprise downloads."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from portal.services import dossiers, processing
from tests import dossier_web_fixtures as fx
from tests.dossier_fixtures import GOOD_ANSWERS, PDF, PNG, make_ctx
from tests.dossier_web_fixtures import PROCEDURE, UNIT, document_ids, tr
from tests.live_server import LiveServer, SandboxGateway
from tests.payment_fixtures import gateway_env
from tests.test_browser_dossier import Actor, upload_result

pytestmark = pytest.mark.browser
forms, people = fx.forms, fx.people


@pytest.fixture
def servers(settings, units, catalogue, forms,
            people) -> Iterator[tuple[LiveServer, SandboxGateway]]:
    sandbox = SandboxGateway({**gateway_env("http://unused"), "PORTAL_SANDBOX_LATE_SECONDS": "4"})
    portal = LiveServer(settings, env=gateway_env(sandbox.url))
    yield portal, sandbox
    portal.stop()
    sandbox.stop()


def received(people, settings) -> int:
    """A dossier of procedure 1.005458 filed by the enterprise and received at 02CI."""
    owner = make_ctx(people.enterprise, settings)
    draft = dossiers.start_draft(owner, PROCEDURE, UNIT)
    dossiers.save_answers(owner, draft.id, GOOD_ANSWERS)
    first, second = document_ids()
    dossiers.add_attachment(owner, draft.id, first, "don.pdf", [PDF])
    dossiers.add_attachment(owner, draft.id, second, "chung-tu.png", [PNG])
    did = dossiers.submit(owner, draft.id, "").id
    processing.act(make_ctx(people.officer, settings), did, "receive")
    return did


def choose(page, outcome: str) -> None:
    """On the sandbox gateway's page: press the button of `outcome`."""
    expect(page.locator("#ref")).to_be_visible()
    page.click(f"button[value={outcome}]")


def pay(enterprise: Actor, did: int, gateway: str, outcome: str):
    page = enterprise.open(f"/dossiers/{did}")
    form = page.locator("form.app-pay")
    expect(form.locator("button[type=submit]")).to_be_visible()
    form.locator(f"input[value={gateway}]").check()
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/(vnpay/paymentv2/vpcpay\.html|national/pay/)"))
    choose(page, outcome)
    page.wait_for_url(re.compile(rf".*/payments/return/{gateway}\?.*"))
    return page


def life(browser: Browser, portal: LiveServer, people, settings, files: Path, javascript: bool,
         gateway: str) -> list[str]:
    errors: list[str] = []
    did = received(people, settings)
    enterprise = Actor(browser, portal, people.enterprise, javascript, errors)
    officer = Actor(browser, portal, people.officer, javascript, errors)
    leader = Actor(browser, portal, people.leader, javascript, errors)
    try:
        # The officer asks the fee: the form comes filled with the procedure's fee.
        page = officer.open(f"/dossiers/{did}")
        form = page.locator(f"form[action='/dossiers/{did}/payment/request']")
        details = page.locator("details.app-action", has=form)
        if details.get_attribute("open") is None:
            details.locator("summary").click()
        expect(form.locator("#f-request_payment-label-0")).to_have_value(
            "Lệ phí làm thủ tục hải quan")
        expect(form.locator("#f-request_payment-amount-0")).to_have_value("20000")
        form.locator("button[type=submit]").click()
        officer.page.wait_for_url(f"**/dossiers/{did}")
        expect(officer.page.locator("#flash")).to_contain_text(
            tr("Payment is requested; the enterprise is told."))

        # A declined attempt, then a payment whose notification comes after the payer is back.
        page = pay(enterprise, did, gateway, "decline")
        expect(page.locator("#outcome")).to_contain_text(tr(
            "The payment was not made (the payment service's code: %(code)s). You can pay again "
            "from the dossier's page.", code="51"))
        page = pay(enterprise, did, gateway, "notify_late")
        waiting = tr("The payment service says you have paid. The portal is waiting for the "
                     "payment service to confirm it directly; the dossier goes on then.")
        expect(page.locator("#outcome")).to_contain_text(waiting)
        if javascript:
            page.evaluate("window.__samePage = true")
            expect(page.locator("#outcome")).to_contain_text(tr("The payment is confirmed."),
                                                             timeout=15_000)
            assert page.evaluate("window.__samePage === true")  # htmx swapped, no reload
        else:
            page.wait_for_timeout(5_000)
            page.locator("#outcome a", has_text=tr("Check again")).click()
            expect(page.locator("#outcome")).to_contain_text(tr("The payment is confirmed."))
        page.click("#outcome a[href*='/receipt']")
        page.wait_for_url(re.compile(rf".*/dossiers/{did}/payments/\d+/receipt$"))
        expect(page.locator("h1")).to_have_text("BIÊN LAI THU PHÍ, LỆ PHÍ")
        expect(page.locator(".app-receipt")).to_contain_text("20.000 đồng")
        with page.expect_download() as info:
            page.click("a[href$='/receipt.pdf']")
        assert Path(info.value.path()).read_bytes().startswith(b"%PDF-")

        # The dossier goes on: the officer processes it to the result the enterprise gets.
        page = officer.open(f"/dossiers/{did}")
        timeline = page.locator(".app-timeline").inner_text()
        assert tr("Fees paid online") in timeline
        officer.act(did, "submit_for_approval")
        leader.open(f"/dossiers/{did}")
        leader.act(did, "approve")
        officer.open(f"/dossiers/{did}")
        upload_result(officer, did, files)
        officer.act(did, "issue_result")
        officer.act(did, "return_result")
        page = enterprise.open(f"/dossiers/{did}")
        with page.expect_download() as info:
            page.locator("a", has_text="quyet-dinh.pdf").click()
        assert info.value.suggested_filename == "quyet-dinh.pdf"
    finally:
        for actor in (enterprise, officer, leader):
            actor.close()
    return errors


@pytest.fixture
def result_file(tmp_path: Path, signed_result: bytes) -> Path:
    """The result, signed by the leader registered for 02CI (a result must be signed)."""
    path = tmp_path / "quyet-dinh.pdf"
    path.write_bytes(signed_result)
    return path


def test_paying_online_with_javascript(browser, servers, people, settings, result_file):
    errors = life(browser, servers[0], people, settings, result_file, True, "vnpay")
    assert errors == [], errors  # e.g. a Content-Security-Policy violation


def test_paying_online_without_javascript(browser, servers, people, settings, result_file):
    life(browser, servers[0], people, settings, result_file, False, "national")
