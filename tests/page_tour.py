"""Every page of the portal, as data, and a tour that opens each one in Debian's chromium as the
person who sees it, in one language: shared by the accessibility, phone-width and page-structure
browser tests.

A page is a `PageSpec`: who looks at it, its address (`{draft}` and the like are the dossiers
`build_dossiers` makes), and for a page that shows errors, what to type and which button to
press first. Add a page by adding a line to `PAGES`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Response

from portal.db import db
from portal.models import Dossier, Enterprise, Payment, Slip, User
from portal.services import api_clients, dossiers, feedback, payments, processing, satisfaction
from portal.services.calendar import load_holidays
from portal.web import routes
from tests.conftest import PASSWORD
from tests.dossier_fixtures import complete_draft, make_ctx
from tests.dossier_web_fixtures import NOT_ONLINE, PROCEDURE, UNIT
from tests.live_server import LiveServer
from tests.sync_fixtures import failed_messages

TIMEOUT_MS = 10_000
LANGUAGES = ("vi", "en")


@dataclass(frozen=True)
class PageSpec:
    name: str
    role: str  # "anonymous", "enterprise", "officer", "leader", "admin" or "auditor"
    path: str  # formatted with the ids of `build_dossiers`
    status: int = 200
    fill: tuple[tuple[str, str], ...] = ()  # (selector, text) typed before pressing `press`
    press: str = ""  # a submit button: the page is the answer to that POST
    # True: `press` sends its form itself (form.submit(), which htmx does not see), as a
    # browser without JavaScript does: htmx would swap the answer into the page instead
    plain: bool = False

    @property
    def shows_errors(self) -> bool:
        return self.status == 422


def _errors(name: str, role: str, path: str, press: str, *fill: tuple[str, str]) -> PageSpec:
    return PageSpec(name, role, path, 422, tuple(fill), press)


SUBMIT = "main form.app-form button[type=submit]"
# fmt: off
PAGES: list[PageSpec] = [
    PageSpec("home", "anonymous", "/"),
    PageSpec("catalogue", "anonymous", "/procedures"),
    PageSpec("catalogue search", "anonymous", "/procedures?q=huy+to+khai"),
    PageSpec("catalogue search, no result", "anonymous", "/procedures?q=zzzxq"),
    PageSpec("procedure", "anonymous", f"/procedures/{PROCEDURE}"),
    PageSpec("procedure not online", "anonymous", f"/procedures/{NOT_ONLINE}"),
    PageSpec("login", "anonymous", "/login"),
    PageSpec("dossier lookup", "anonymous", "/lookup"),
    PageSpec("dossier lookup, errors", "anonymous",
             "/lookup?code=02CI-000000-0001&tax_code=0100112437", 422),
    PageSpec("dossier lookup, found", "anonymous",
             "/lookup?code={processing_code}&tax_code=0100112437"),
    PageSpec("result check", "anonymous", "/verify"),
    PageSpec("result check, errors", "anonymous", "/verify?code=02CI-000000-0001&fingerprint=x",
             422),
    _errors("login, errors", "anonymous", "/login", SUBMIT),
    PageSpec("register", "anonymous", "/register"),
    _errors("register, errors", "anonymous", "/register", SUBMIT, ("#f-tax_code", "0100112438")),
    PageSpec("not found", "anonymous", "/no-such-page", status=404),
    PageSpec("home, enterprise", "enterprise", "/"),
    PageSpec("my dossiers", "enterprise", "/dossiers"),
    PageSpec("new dossier", "enterprise", f"/dossiers/new?procedure={PROCEDURE}"),
    _errors("new dossier, errors", "enterprise", f"/dossiers/new?procedure={PROCEDURE}", SUBMIT),
    PageSpec("dossier form", "enterprise", "/dossiers/{draft}/edit"),
    _errors("dossier form, errors", "enterprise", "/dossiers/{typo}/edit",
            "button[name=next][value=save]", ("#f-declaration_no", "12")),
    _errors("dossier form, file errors", "enterprise", "/dossiers/{typo}/edit",
            "form[action$='/files'] button[type=submit]"),
    PageSpec("review", "enterprise", "/dossiers/{draft}/review"),
    _errors("review, errors", "enterprise", "/dossiers/{draft}/review", SUBMIT),
    PageSpec("review, incomplete", "enterprise", "/dossiers/{empty}/review"),
    PageSpec("delete draft", "enterprise", "/dossiers/{empty}/delete"),
    PageSpec("receipt", "enterprise", "/dossiers/{new}/receipt"),
    PageSpec("tracking", "enterprise", "/dossiers/{new}"),
    PageSpec("tracking, supplement asked", "enterprise", "/dossiers/{supplement}"),
    _errors("supplement, errors", "enterprise", "/dossiers/{supplement}",
            "form[action$='/actions/supplement'] button[type=submit]"),
    _errors("supplement, file errors", "enterprise", "/dossiers/{supplement}",
            "form[action$='/supplement-files'] button[type=submit]"),
    PageSpec("slip", "enterprise", "/dossiers/{supplement}/slips/{slip}"),
    PageSpec("notifications", "enterprise", "/notifications"),
    PageSpec("inbox", "officer", "/officer/inbox"),
    PageSpec("inbox, search", "officer", "/officer/inbox?view=all&q=cong+ty"),
    PageSpec("counter, procedures", "officer", "/officer/counter"),
    PageSpec("counter form", "officer", f"/officer/counter?procedure={NOT_ONLINE}"),
    _errors("counter form, errors", "officer", f"/officer/counter?procedure={PROCEDURE}",
            "button[name=step][value=record]", ("#f-id_number", "0100112438")),
    PageSpec("officer, new dossier", "officer", "/dossiers/{new}"),
    _errors("officer, refusal errors", "officer", "/dossiers/{new}",
            "form[action$='/actions/refuse_reception'] button[type=submit]"),
    PageSpec("officer, processing", "officer", "/dossiers/{processing}"),
    _errors("officer, result errors", "officer", "/dossiers/{processing}",
            "form[action$='/result'] button[type=submit]"),
    PageSpec("apology form", "officer", "/dossiers/{processing}/apology"),
    _errors("apology form, errors", "officer", "/dossiers/{processing}/apology", SUBMIT),
    PageSpec("officer, notifications", "officer", "/notifications"),
    PageSpec("leader, inbox", "leader", "/officer/inbox?view=all"),
    PageSpec("leader, approval", "leader", "/dossiers/{approval}"),
    PageSpec("admin", "admin", "/admin"),
    PageSpec("users", "admin", "/admin/users"),
    PageSpec("user form", "admin", "/admin/users/{officer}"),
    _errors("user form, errors", "admin", "/admin/users/new", SUBMIT),
    PageSpec("units", "admin", "/admin/units"),
    PageSpec("unit form", "admin", f"/admin/units/{UNIT}"),
    _errors("unit form, errors", "admin", "/admin/units/new", SUBMIT),
    _errors("units, structure date errors", "admin", "/admin/units", SUBMIT),
    PageSpec("procedure form", "admin", f"/admin/procedures/{PROCEDURE}"),
    _errors("procedure form, errors", "admin", "/admin/procedures/new", SUBMIT),
    PageSpec("catalogue import and export", "admin", "/admin/catalogue"),
    _errors("catalogue import, errors", "admin", "/admin/catalogue", SUBMIT),
    PageSpec("holidays", "admin", "/admin/holidays"),
    PageSpec("national portal sync", "admin", "/admin/sync"),
    PageSpec("send a failed message again", "admin", "/admin/sync/{sync_message}/retry"),
    PageSpec("catalogue sync", "admin", "/admin/catalogue/sync"),
    _errors("catalogue sync, errors", "admin", "/admin/catalogue/sync", SUBMIT),
    PageSpec("result signers", "admin", "/admin/signers"),
    _errors("result signers, errors", "admin", "/admin/signers", SUBMIT, ("#f-unit", "ZZ99")),
    PageSpec("holidays of 2025, seeded, with a swapped working day", "admin",
             "/admin/holidays?year=2025"),
    _errors("holidays, errors", "admin", "/admin/holidays", SUBMIT, ("#f-name", "Tết")),
    PageSpec("check your e-mail", "anonymous", "/check-email"),
    PageSpec("confirmation link, used or expired", "anonymous", "/register/confirm?t=x", 410),
    PageSpec("forgotten password", "anonymous", "/password/forgot"),
    _errors("forgotten password, errors", "anonymous", "/password/forgot", SUBMIT),
    PageSpec("reset link, used or expired", "anonymous", "/password/reset?t=x", 410),
    PageSpec("my account", "enterprise", "/account"),
    _errors("my account, errors", "enterprise", "/account",
            "form[action='/account/password'] button[type=submit]"),
    PageSpec("enterprises to check", "officer", "/officer/enterprises"),
    _errors("enterprises to check, errors", "officer", "/officer/enterprises",
            "form[action$='/reject'] button[type=submit]"),
]
# fmt: on


# The statistics page, public (its figures and SVG charts) and for staff (the table by unit
# too), when its route exists.
if '"/statistics"' in Path(routes.__file__).read_text(encoding="utf-8"):
    PAGES += [
        PageSpec("statistics, public", "anonymous", "/statistics"),
        PageSpec("statistics, an empty period", "anonymous",
                 "/statistics?from=01/01/2001&to=31/12/2001"),
        PageSpec("statistics", "officer", "/statistics"),
        PageSpec("statistics, errors", "leader", "/statistics?from=31/02/2026", 422),
    ]
# The auditor's search, when its route exists.
if '"/audit"' in Path(routes.__file__).read_text(encoding="utf-8"):
    PAGES += [
        PageSpec("audit, dossiers", "auditor", "/audit"),
        PageSpec("audit, history events", "auditor", "/audit?tab=events"),
        PageSpec("audit, errors", "auditor", "/audit?from=31/02/2026", 422),
    ]
# Forms to download: the administrator's page of a procedure's forms, and a procedure that
# is not online refusing an online dossier (409, with the counter's instructions).
PAGES += [
    PageSpec("procedure's forms", "admin", f"/admin/procedures/{NOT_ONLINE}/forms"),
    _errors("procedure's forms, errors", "admin", f"/admin/procedures/{NOT_ONLINE}/forms", SUBMIT),
    PageSpec("new dossier, not online", "enterprise", f"/dossiers/new?procedure={NOT_ONLINE}",
             409),
]
# Fees and payments: a dossier asked to pay (the owner's and the officer's view), the officer's
# request sent with other amounts and no reason, a payment's receipt, the staff's list.
PAGES += [
    PageSpec("tracking, payment asked", "enterprise", "/dossiers/{payment}"),
    PageSpec("officer, payment asked", "officer", "/dossiers/{payment}"),
    _errors("officer, payment request errors", "officer", "/dossiers/{processing}",
            "form[action$='/payment/request'] button[type=submit]",
            ("#f-request_payment-amount-0", "99000")),
    PageSpec("receipt of a payment", "enterprise",
             "/dossiers/{paid}/payments/{paid_payment}/receipt"),
    PageSpec("payments to check", "officer", "/officer/payments"),
]
# The API's clients: the list, its form's errors, the confirmations, and the new secret shown
# once after a rotation.
PAGES += [
    PageSpec("API clients", "admin", "/admin/api-clients"),
    _errors("API clients, errors", "admin", "/admin/api-clients", SUBMIT),
    PageSpec("API client, rotate?", "admin", "/admin/api-clients/{api_key}/rotate"),
    PageSpec("API client, revoke?", "admin", "/admin/api-clients/{api_key}/revoke"),
    PageSpec("API client, new secret", "admin", "/admin/api-clients/{api_key}/rotate",
             press="main form button[type=submit]"),
]
# Single sign-on with the national identity (the tour's portal is configured with a provider,
# NATIONAL_ID: the login page shows its button, My account the link): a sign-in cancelled at
# the provider, and a provider that cannot serve it, each said next to the button.
PAGES += [
    PageSpec("login, national sign-in cancelled", "anonymous",
             "/login/national/callback?error=access_denied&state=x", 422),
    PageSpec("login, national identity service not answering", "anonymous",
             "/login/national/callback?error=temporarily_unavailable&state=x", 503),
]
# Satisfaction and feedback: an ended dossier's rating form, the form sent empty (as without
# JavaScript: with it, htmx swaps the section in place), the rating given; the public form of
# questions and complaints and its errors, the answers published, the staff's list, a question
# and its answer's errors, a question answered.
PAGES += [
    PageSpec("tracking, ended: rate it", "enterprise", "/dossiers/{ended}"),
    PageSpec("rating, errors", "enterprise", "/dossiers/{ended}", 422,
             press="form[action$='/rating'] button[type=submit]", plain=True),
    PageSpec("tracking, rated", "enterprise", "/dossiers/{rated}"),
    PageSpec("feedback form", "anonymous", "/feedback/new"),
    PageSpec("feedback form, errors", "anonymous", "/feedback/new", 422, press=SUBMIT,
             plain=True),
    PageSpec("answers to questions", "anonymous", "/feedback/answers"),
    PageSpec("questions to answer", "officer", "/feedback"),
    PageSpec("question", "officer", "/feedback/{question}"),
    PageSpec("question, answer errors", "officer", "/feedback/{question}", 422, press=SUBMIT,
             plain=True),
    PageSpec("question answered", "leader", "/feedback/{answered_question}"),
]
# The provider's settings: its pages are never opened in the tour, so nothing answers there.
NATIONAL_ID = {
    "PORTAL_NATIONAL_ID_DISCOVERY_URL": "http://127.0.0.1:9/.well-known/openid-configuration",
    "PORTAL_NATIONAL_ID_CLIENT_ID": "cong-dvc-hai-quan",
    "PORTAL_NATIONAL_ID_CLIENT_SECRET": "tour-client-secret",
}


# --- data ----------------------------------------------------------------------------------


def build_dossiers(people, settings) -> dict[str, int]:
    """Dossiers of procedure 1.005458 at 02CI in the states the pages show, made through the
    services; returns the ids the page addresses use."""
    owner, officer, leader = (
        make_ctx(p, settings) for p in (people.enterprise, people.officer, people.leader)
    )

    def filed(*steps: tuple[object, str, str]) -> int:
        did = dossiers.submit(owner, complete_draft(owner), "").id
        for ctx, action, note in steps:
            processing.act(ctx, did, action, note)
        return did

    def asked() -> int:
        did = filed((officer, "receive", ""))
        view = dossiers.load(did, officer.user)
        rows = [(i.label, str(i.amount)) for i in payments.proposed(view)]
        payments.request_payment(officer, did, rows, "")
        return did

    ids = {
        "draft": complete_draft(owner),
        "typo": complete_draft(owner),  # its form is sent with a mistake
        "empty": dossiers.start_draft(owner, PROCEDURE, UNIT).id,
        "new": filed(),
        "supplement": filed(
            (officer, "receive", ""),
            (officer, "request_supplement", "Đề nghị bổ sung hợp đồng đã ký."),
        ),
        "processing": filed((officer, "receive", ""), (officer, "start_processing", "")),
        "approval": filed(
            (officer, "receive", ""),
            (officer, "start_processing", ""),
            (officer, "submit_for_approval", ""),
        ),
        "officer": people.officer.id,
        "payment": asked(),
        "paid": asked(),
    }
    payments.record_counter_payment(officer, ids["paid"], "")
    ids["api_key"] = api_clients.register(  # type: ignore[assignment]
        settings.secret_key, "Cổng Dịch vụ công quốc gia", ["procedures:read"], None)[0].key_id
    with db.connection_context():
        ids["slip"] = Slip.get(Slip.dossier == ids["supplement"], Slip.kind == "supplement").id
        ids["processing_code"] = Dossier.get_by_id(ids["processing"]).code  # for the lookup
        ids["paid_payment"] = Payment.get(Payment.dossier == ids["paid"]).id
        # an account waiting for the customs check, for the officers' queue
        enterprise, _ = Enterprise.get_or_create(
            tax_code="0100109106", defaults={"name": "Công ty Chờ Duyệt", "email": "c@example.vn"}
        )
        User.create(username="cho.duyet@example.vn", password_hash="-", email="c@example.vn",
                    full_name="Người Chờ Duyệt", role="enterprise", enterprise=enterprise,
                    enterprise_status="pending", given_enterprise_name="Công ty Chờ Duyệt")
    ids["sync_message"] = failed_messages(ids["new"])[0]  # a delivery the receiver refused
    # Ended dossiers (stopped): one waits for its rating, one is rated.
    ids["ended"] = filed((officer, "receive", ""), (officer, "stop_processing", "Dừng xử lý."))
    ids["rated"] = filed((officer, "receive", ""), (officer, "stop_processing", "Dừng xử lý."))
    satisfaction.rate(owner, ids["rated"], {**{q: "2" for q in satisfaction.QUESTIONS},
                                            "comment": "Hướng dẫn rõ ràng."})
    # Questions through the public form: one waits for its answer, one is answered and public.
    question = {"name": "Nguyễn Văn An", "email": "an@example.vn", "phone": "0912 345 678",
                "subject": "Thời hạn hủy tờ khai", "publish": "1",
                "content": "Sau bao lâu thì không được hủy tờ khai nữa?"}
    ids["question"] = feedback.submit(question, "198.51.100.1", "vi")[0].id
    answered = feedback.submit({**question, "email": "b@example.vn"}, "198.51.100.2", "vi")[0]
    feedback.answer(people.leader, answered.id, {"answer": "Xem Điều 22 Thông tư 38/2015."})
    ids["answered_question"] = answered.id
    return ids


@pytest.fixture
def tour_server(settings, units, catalogue, forms, people) -> Iterator[tuple[LiveServer, dict]]:
    """The portal with the tour's people and dossiers, served on a free port."""
    ids = build_dossiers(people, settings)
    load_holidays()  # the statutory days off the portal starts with (data/seed/holidays_vn.csv)
    live = LiveServer(settings, NATIONAL_ID)
    yield live, ids
    live.stop()


# --- the tour ------------------------------------------------------------------------------


class Tour:
    """One browser context per role, logged in and switched to `language`."""

    def __init__(
        self,
        browser: Browser,
        server: LiveServer,
        people,
        ids: dict[str, int],
        language: str,
        **context_options: object,
    ) -> None:
        self.browser, self.server, self.people, self.ids = browser, server, people, ids
        self.language = language
        self.options = context_options
        self.contexts: dict[str, BrowserContext] = {}
        self.pages: dict[str, Page] = {}
        self.response: Response | None = None  # the last page's

    def page_for(self, role: str) -> Page:
        if role not in self.pages:
            context = self.browser.new_context(**self.options)
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            if role != "anonymous":
                page.goto(f"{self.server.url}/login")
                page.fill("#f-username", getattr(self.people, role).username)
                page.fill("#f-password", PASSWORD)
                page.click(SUBMIT)
                page.wait_for_url(lambda url: "/login" not in url)
            # The language switch a person uses (the header's button, a POST): it sets the
            # `lang` cookie and comes back.
            page.goto(f"{self.server.url}/")
            if page.evaluate("document.documentElement.lang") != self.language:
                with page.expect_navigation():
                    page.click(f"form[action^='/lang/{self.language}'] button[type=submit]")
            assert page.url == f"{self.server.url}/"
            self.contexts[role], self.pages[role] = context, page
        return self.pages[role]

    def visit(self, spec: PageSpec) -> Page:
        """Open the page of `spec` (pressing its button when it shows errors), with every
        <details> open; asserts the status and the language."""
        try:
            return self._visit(spec)
        except Exception as exc:
            exc.add_note(f"while opening the page {spec.name!r} ({spec.path}) as {spec.role}")
            raise

    def _visit(self, spec: PageSpec) -> Page:
        page = self.page_for(spec.role)
        response: Response | None = page.goto(self.server.url + spec.path.format(**self.ids))
        assert response is not None
        if spec.press:
            open_details(page)
            for selector, text in spec.fill:
                page.fill(selector, text)
            with page.expect_navigation() as navigation:
                if spec.plain:
                    page.evaluate(PLAIN_SUBMIT, spec.press)
                else:
                    page.click(spec.press)
            response = navigation.value
            assert response is not None
        assert response.status == spec.status, f"{spec.name}: HTTP {response.status}"
        self.response = response
        open_details(page)
        assert page.evaluate("document.documentElement.lang") == self.language, spec.name
        return page

    def close(self) -> None:
        for context in self.contexts.values():
            context.close()


# Send the form of a button as a browser without JavaScript does (after the evaluation ends).
PLAIN_SUBMIT = "s => { const f = document.querySelector(s).form; setTimeout(() => f.submit(), 0); }"


def open_details(page: Page) -> None:
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")


# GOV.UK's error summary: above the <h1> (below the breadcrumbs), and focused as the page loads.
SUMMARY_FIRST = """() => {
  const summary = document.querySelector('main .app-error-summary');
  if (!summary) return 'no error summary';
  for (let box = summary; box.tagName !== 'MAIN'; box = box.parentElement)
    for (let el = box.previousElementSibling; el; el = el.previousElementSibling)
      if (el.id !== 'flash' && !el.matches('.app-breadcrumbs'))
        return `the error summary comes after <${el.tagName.toLowerCase()}>`;
  return '';
}"""
SUMMARY = ".app-error-summary"


def focus_reaches(page: Page, selector: str, timeout_s: float = 2.0) -> bool:
    """Whether the element matching `selector` gets the focus within `timeout_s`. (Playwright's
    wait_for_function polls with eval, which the pages' Content-Security-Policy refuses.)"""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate("s => document.activeElement.matches(s)", selector):
        if time.monotonic() > deadline:
            return False
        page.wait_for_timeout(50)
    return True
