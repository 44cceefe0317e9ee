"""Satisfaction and feedback in Debian's chromium, with JavaScript (htmx swaps the rating
section, the feedback form and the answer in place) and without it (plain forms, whole
pages): the applicant rates an ended dossier from the notice on their list; a visitor sends a
question, an officer answers it, and the answer is published without the visitor's name."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page

from tests import dossier_web_fixtures as fx
from tests import page_tour
from tests.page_tour import Tour

pytestmark = pytest.mark.browser
forms, people, tour_server = fx.forms, fx.people, page_tour.tour_server
REFERENCE = re.compile(r"PAKN-\d{4}-\d{6}")
QUESTION = {
    "#f-name": "Lê Thị Hoa",
    "#f-email": "hoa@example.vn",
    "#f-phone": "0903 111 222",
    "#f-about": "1.005458",
    "#f-content": "Tờ khai đã thông quan có hủy được không?",
}
SUBJECT = "Hủy tờ khai đã thông quan"
ANSWER = "Không: chỉ hủy được tờ khai chưa thông quan (Điều 22 Thông tư 38/2015/TT-BTC)."


def console_errors(page: Page) -> list[str]:
    """The page's console errors, but the 422 and 429 the browser logs for the answers with
    errors (expected here)."""
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            errors.append(m.text) if m.type == "error" and "status of 422" not in m.text else None
        ),
    )
    return errors


def submit(page: Page, form: str, javascript: bool) -> None:
    """Press the form's button: htmx swaps the answer in (JavaScript), or a page loads."""
    button = f"{form} button[type=submit]"
    if javascript:
        page.click(button)
    else:
        with page.expect_navigation():
            page.click(button)


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_the_applicant_rates_an_ended_dossier(browser, tour_server, people, javascript):
    server, ids = tour_server
    tour = Tour(browser, server, people, ids, "vi", java_script_enabled=javascript)
    try:
        page = tour.page_for("enterprise")
        errors = console_errors(page)
        page.goto(f"{server.url}/dossiers")
        assert "chờ bạn đánh giá" in page.locator("main .app-notice").inner_text()
        with page.expect_navigation():
            page.click(f"a[href='/dossiers/{ids['ended']}#rating']")
        page.evaluate("window.__samePage = true")
        form = "#rating form"
        page.fill("#f-rate-comment", "Cán bộ hướng dẫn tận tình.")
        page.check("#f-rate-information")  # very satisfied
        submit(page, form, javascript)
        page.locator("#f-rate-timeliness-error").wait_for()
        assert page.locator("#f-rate-information").is_checked()  # the input is kept
        assert page.locator("#f-rate-comment").input_value() == "Cán bộ hướng dẫn tận tình."
        assert page.locator(".app-error-summary").count() == 1
        for name in ("timeliness", "conduct", "result", "online_service"):
            page.check(f"#f-rate-{name}-2")  # satisfied
        page.check("#f-rate-overall-1")  # dissatisfied
        submit(page, form, javascript)
        page.locator("#rating dl").wait_for()
        rating = page.locator("#rating").inner_text()
        assert "Cán bộ hướng dẫn tận tình." in rating and "Không hài lòng" in rating
        assert page.locator("#rating form").count() == 0
        assert page.evaluate("window.__samePage === true") == javascript
        page.goto(f"{server.url}/dossiers/{ids['ended']}")
        assert "Đánh giá chung: Không hài lòng" in page.locator(".app-timeline").inner_text()
        page.goto(f"{server.url}/dossiers")
        assert page.locator(f"a[href='/dossiers/{ids['ended']}#rating']").count() == 0
        assert errors == [], errors
    finally:
        tour.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_a_question_is_answered_and_published(browser, tour_server, people, javascript):
    server, ids = tour_server
    tour = Tour(browser, server, people, ids, "vi", java_script_enabled=javascript)
    try:
        page = tour.page_for("anonymous")
        errors = console_errors(page)
        with page.expect_navigation():
            page.click("footer a[href='/feedback/new']")
        page.evaluate("window.__samePage = true")
        for selector, text in QUESTION.items():
            page.fill(selector, text)
        page.check("#f-publish")
        submit(page, "#feedback-form form", javascript)  # no subject
        page.locator("#f-subject-error").wait_for()
        assert page.locator("#f-email").input_value() == "hoa@example.vn"
        assert page.locator("#f-publish").is_checked()
        page.fill("#f-subject", SUBJECT)
        submit(page, "#feedback-form form", javascript)
        sent = page.locator("#feedback-form" if javascript else "#flash")
        sent.get_by_text(REFERENCE).first.wait_for()
        reference = REFERENCE.search(sent.inner_text()).group(0)
        assert page.evaluate("window.__samePage === true") == javascript

        officer = tour.page_for("officer")
        officer.goto(f"{server.url}/feedback?state=open")
        with officer.expect_navigation():
            officer.click(f"text={reference}")
        assert "hoa@example.vn" in officer.locator("main").inner_text()  # staff see who asked
        submit(officer, "#answer form", javascript)  # empty
        officer.locator("#f-answer-error").wait_for()
        officer.fill("#f-answer", ANSWER)
        submit(officer, "#answer form", javascript)
        officer.locator("#answer .app-feedback__answer").wait_for()
        assert ANSWER in officer.locator("#answer").inner_text()

        page.goto(f"{server.url}/feedback/answers")
        published = page.locator("main").inner_text()
        assert SUBJECT in published and ANSWER in published
        for private in ("Lê Thị Hoa", "hoa@example.vn", "0903 111 222"):
            assert private not in published
        assert errors == [], errors
    finally:
        tour.close()
