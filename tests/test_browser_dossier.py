"""A dossier's whole life in Debian's chromium, through the real pages and forms, once with
JavaScript (htmx autosaves the answers) and once without (plain forms, full page loads):
the enterprise files it online, the officer of 02CI receives it and asks for a supplement,
the enterprise sends it, the leader approves, the officer issues and returns the result, and
the enterprise downloads it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from portal.db import db
from portal.models import OutgoingMail, User
from tests import dossier_web_fixtures as fx
from tests.conftest import PASSWORD
from tests.dossier_fixtures import tax_code
from tests.dossier_web_fixtures import (
    ANSWERS,
    PROCEDURE,
    UNIT,
    code_of,
    document_ids,
    pdf_bytes,
    tr,
)
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser
# The shared fixtures, found by pytest under these names.
forms, people = fx.forms, fx.people
TIMEOUT_MS = 10_000


@pytest.fixture
def server(settings, units, catalogue, forms, people) -> Iterator[LiveServer]:
    live = LiveServer(settings)  # after the users and forms exist in its database
    yield live
    live.stop()


@pytest.fixture
def files(tmp_path: Path, signed_result: bytes) -> dict[str, Path]:
    out = {}
    for name, text in [("don-de-nghi.pdf", "Don de nghi huy to khai"),
                       ("chung-tu.pdf", "Chung tu chung minh"),
                       ("hop-dong.pdf", "Hop dong bo sung")]:
        path = tmp_path / name
        path.write_bytes(pdf_bytes(text))
        out[name] = path
    # The result, signed by the leader whose certificate is registered for 02CI.
    out["quyet-dinh.pdf"] = tmp_path / "quyet-dinh.pdf"
    out["quyet-dinh.pdf"].write_bytes(signed_result)
    return out


def confirmation_path(email: str) -> str:
    """The path and token of the confirmation link e-mailed to `email`."""
    with db.connection_context():
        mail = OutgoingMail.select().where(OutgoingMail.to_addr == email).order_by(
            OutgoingMail.id.desc()).first()
    match = re.search(r"(/register/confirm\?t=[A-Za-z0-9_.\-]+)", mail.body)
    assert match, mail.body
    return match.group(1)


def activate(officer: Actor, email: str) -> None:
    """The officer has checked the newcomer's papers and activates the account in the queue."""
    with db.connection_context():
        user = User.get(User.username == email)
    page = officer.open("/officer/enterprises")
    page.click(f"form[action='/officer/enterprises/{user.id}/activate'] button[type=submit]")
    page.wait_for_url("**/officer/enterprises")
    with db.connection_context():
        assert User.get_by_id(user.id).may_act_for_enterprise


class Actor:
    """One person in their own browser context (own cookies), logged in through /login, or
    (an enterprise new to the portal) registered through /register."""

    def __init__(self, browser: Browser, server: LiveServer, user, javascript: bool,
                 errors: list[str], register: dict[str, str] | None = None) -> None:
        self.server = server
        self.context: BrowserContext = browser.new_context(java_script_enabled=javascript,
                                                           accept_downloads=True)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page: Page = self.context.new_page()
        self.requests: list[tuple[str, str]] = []
        self.page.on("request", lambda r: self.requests.append((r.method, r.url)))
        self.page.on("console", lambda m: errors.append(f"{user.username}: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda exc: errors.append(f"{user.username}: {exc}"))
        if register:
            self.page.goto(f"{server.url}/register")
            for name, value in register.items():
                self.page.fill(f"#f-{name}", value)
            self.page.click("form[action='/register'] button[type=submit]")
            self.page.wait_for_url(f"{server.url}/check-email")
            # the link of the confirmation e-mail, then the login it leads to
            self.page.goto(server.url + confirmation_path(register["email"]))
            self.page.click("form[action='/register/confirm'] button[type=submit]")
            self.page.wait_for_url(f"{server.url}/login")
            self.page.fill("#f-username", register["email"])
            self.page.fill("#f-password", register["password"])
            self.page.click("form[action='/login'] button[type=submit]")
            self.page.wait_for_url(f"{server.url}/")
            expect(self.page.locator(".app-header__user")).to_have_text(register["full_name"])
            return
        self.page.goto(f"{server.url}/login")
        self.page.fill("#f-username", user.username)
        self.page.fill("#f-password", PASSWORD)
        self.page.click("form[action='/login'] button[type=submit]")
        self.page.wait_for_url(lambda url: "/login" not in url)

    def open(self, path: str) -> Page:
        self.page.goto(f"{self.server.url}{path}")
        return self.page

    def action_form(self, did: int, action: str):
        """The form of one action on the dossier page, its <details> opened."""
        form = self.page.locator(f"form[action='/dossiers/{did}/actions/{action}']")
        details = self.page.locator("details.app-action", has=form)
        if details.get_attribute("open") is None:
            details.locator("summary").click()
        expect(form).to_be_visible()
        return form

    def act(self, did: int, action: str, note: str = "") -> None:
        form = self.action_form(did, action)
        if note:
            form.locator("textarea[name=note]").fill(note)
        form.locator("button[type=submit]").click()
        self.page.wait_for_url(f"**/dossiers/{did}")
        expect(self.page.locator("#flash")).to_contain_text(
            tr("Done: %(action)s.", action=tr(LABELS[action])))

    def close(self) -> None:
        self.context.close()


LABELS = {"receive": "Receive", "request_supplement": "Request a supplement",
          "supplement": "Send the supplement", "submit_for_approval": "Submit for approval",
          "approve": "Approve", "issue_result": "Issue the result",
          "return_result": "Return the result"}


def dossier_id(page: Page) -> int:
    match = re.search(r"/dossiers/(\d+)", page.url)
    assert match, page.url
    return int(match.group(1))


def file_dossier(e: Actor, files: dict[str, Path], javascript: bool) -> tuple[int, str]:
    """The enterprise finds the procedure, fills the form, attaches, reviews and submits."""
    page = e.open(f"/procedures/{PROCEDURE}")
    page.click(f"a[href='/dossiers/new?procedure={PROCEDURE}']")
    page.wait_for_url(f"**/dossiers/new?procedure={PROCEDURE}")
    page.select_option("#f-unit", UNIT)
    page.click("form[action='/dossiers/new'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/dossiers/\d+/edit$"))
    did = dossier_id(page)

    page.fill("#f-declaration_no", ANSWERS["declaration_no"])
    page.fill("#f-declaration_date", ANSWERS["declaration_date"])
    page.select_option("#f-declaration_type", ANSWERS["declaration_type"])
    page.fill("#f-reason", ANSWERS["reason"])
    if javascript:
        # htmx saves the answers as they change and swaps in the status line only.
        page.evaluate("window.__samePage = true")
        page.locator("#f-reason").blur()
        expect(page.locator("#save-status")).to_have_text(tr("Saved."))
        assert page.evaluate("window.__samePage === true")
    else:
        page.click("button[name=next][value=save]")
        page.wait_for_url(f"**/dossiers/{did}/edit")
        expect(page.locator("#flash")).to_contain_text(tr("Your answers are saved."))
    # The answers are kept by the server: a reload shows them.
    page.reload()
    expect(page.locator("#f-declaration_no")).to_have_value(ANSWERS["declaration_no"])

    for doc, name in zip(document_ids(), ["don-de-nghi.pdf", "chung-tu.pdf"], strict=True):
        page.set_input_files(f"#f-doc-{doc}", files[name])
        page.locator(f"#doc-{doc} button[type=submit]").click()
        page.wait_for_url(f"**/dossiers/{did}/edit#doc-{doc}")
        expect(page.locator(f"#doc-{doc} .app-files")).to_contain_text(name)

    page.click("button[name=next][value=review]")
    page.wait_for_url(f"**/dossiers/{did}/review")
    expect(page.locator(".app-summary")).to_contain_text(ANSWERS["declaration_no"])
    page.check("#f-confirm")
    page.click(f"form[action='/dossiers/{did}/submit'] button[type=submit]")
    page.wait_for_url(f"**/dossiers/{did}/receipt")
    code = code_of(did)
    assert code.startswith(f"{UNIT}-") and code.endswith("-0001")
    # The slip shows the dossier code (the declared section shows the tax code in the same style).
    expect(page.locator(".app-slip .app-code").first).to_have_text(code)
    assert page.locator("img.app-qr").first.get_attribute("src").startswith("data:image/svg+xml")
    return did, code


def upload_result(officer: Actor, did: int, path: Path) -> None:
    page = officer.page
    form = page.locator(f"form[action='/dossiers/{did}/result']")
    assert form.count() == 1, "the officer page offers no result upload"
    details = page.locator("details", has=form)
    if details.count() and details.get_attribute("open") is None:
        details.locator("summary").click()
    form.locator("input[type=file]").set_input_files(path)
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/dossiers/{did}")


def whole_life(browser: Browser, server: LiveServer, people, files: dict[str, Path],
               javascript: bool) -> list[str]:
    errors: list[str] = []
    # A new enterprise registers itself (JS on and off use different tax codes).
    newcomer = SimpleNamespace(username=f"giamdoc{int(javascript)}@moi.example.vn")
    enterprise = Actor(browser, server, newcomer, javascript, errors, register={
        "tax_code": tax_code("03099887" + str(int(javascript))),
        "enterprise_name": "Công ty TNHH Mới Đăng Ký",
        "full_name": "Trần Thị Giám Đốc",
        "email": newcomer.username,
        "password": "Dang-ky-moi-2026!",
        "password_confirm": "Dang-ky-moi-2026!"})
    officer = Actor(browser, server, people.officer, javascript, errors)
    leader = Actor(browser, server, people.leader, javascript, errors)
    activate(officer, newcomer.username)
    try:
        did, code = file_dossier(enterprise, files, javascript)

        # The officer finds it in the inbox and receives it.
        page = officer.open("/officer/inbox")
        page.click(f"#results a:text-is('{code}')")
        page.wait_for_url(f"**/dossiers/{did}")
        officer.act(did, "receive")
        guidance = "Đề nghị bổ sung hợp đồng đã ký với đối tác."
        officer.act(did, "request_supplement", note=guidance)

        # The enterprise reads the guidance, attaches a file and sends the supplement.
        page = enterprise.open(f"/dossiers/{did}")
        expect(page.locator(".app-timeline")).to_contain_text(guidance)
        enterprise.action_form(did, "supplement")
        doc = document_ids()[1]
        page.set_input_files(f"#s-{doc}", files["hop-dong.pdf"])
        page.locator(f"form#doc-{doc} button[type=submit]").click()
        page.wait_for_url(f"**/dossiers/{did}#doc-{doc}")
        enterprise.act(did, "supplement")

        officer.open(f"/dossiers/{did}")
        officer.act(did, "submit_for_approval")
        leader.open(f"/dossiers/{did}")
        leader.act(did, "approve")

        officer.open(f"/dossiers/{did}")
        upload_result(officer, did, files["quyet-dinh.pdf"])
        officer.act(did, "issue_result")
        officer.act(did, "return_result")
        # With JavaScript the files went as resumable (tus) uploads, without as plain forms.
        chunks = [url for method, url in enterprise.requests
                  if method == "PATCH" and "/uploads/" in url]
        assert len(chunks) >= 3 if javascript else chunks == []
        staff_history = officer.page.locator(".app-timeline").inner_text()
        assert tr("Submit for approval") in staff_history and tr("Approve") in staff_history

        # The enterprise downloads the result.
        page = enterprise.open(f"/dossiers/{did}")
        history = page.locator(".app-timeline").inner_text()
        for action in ("Receive", "Request a supplement", "Send the supplement",
                       "Issue the result", "Return the result"):
            assert tr(action) in history
        assert tr("Submit for approval") not in history
        link = page.locator("a", has_text="quyet-dinh.pdf")
        with page.expect_download() as info:
            link.click()
        download = info.value
        assert download.suggested_filename == "quyet-dinh.pdf"
        assert Path(download.path()).read_bytes() == files["quyet-dinh.pdf"].read_bytes()
    finally:
        for actor in (enterprise, officer, leader):
            actor.close()
    return errors


def test_whole_life_with_javascript(browser, server, people, files):
    errors = whole_life(browser, server, people, files, javascript=True)
    assert errors == [], errors  # e.g. a Content-Security-Policy violation


def test_whole_life_without_javascript(browser, server, people, files):
    whole_life(browser, server, people, files, javascript=False)
