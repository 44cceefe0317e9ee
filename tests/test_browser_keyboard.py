"""The portal with the keyboard alone, in Debian's chromium: an enterprise user logs in and
submits a dossier with Tab, Shift+Tab, typing, Space and Enter (no click). Every element the
Tab key reaches shows a focus indicator; after a failed submit the error summary is at the top
of the page and has the focus, and its links take the focus to the fields."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests import dossier_web_fixtures as fx
from tests import page_tour
from tests.conftest import MARKUP_ONLY, PASSWORD
from tests.page_tour import SUMMARY, SUMMARY_FIRST, TIMEOUT_MS, focus_reaches

pytestmark = [pytest.mark.browser, MARKUP_ONLY]
# The shared fixtures, found by pytest under these names.
forms, people, tour_server = fx.forms, fx.people, page_tour.tour_server

# What a sighted keyboard user sees of the focus: an outline or a ring drawn by box-shadow.
FOCUS_SHOWN = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return 'nothing has the focus';
  const s = getComputedStyle(el);
  const shown = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0)
    || s.boxShadow !== 'none';
  return el.matches(':focus-visible') && shown ? '' :
    `<${el.tagName.toLowerCase()} ${el.id || el.className}> shows no focus indicator`;
}"""


class Keyboard:
    """Presses keys on `page` and keeps what went wrong with the focus on the way."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.unseen: list[str] = []

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        if key in ("Tab", "Shift+Tab") and (problem := self.page.evaluate(FOCUS_SHOWN)):
            self.unseen.append(problem)

    def tab_to(self, selector: str, limit: int = 40) -> None:
        """Press Tab until the element matching `selector` has the focus."""
        for _ in range(limit):
            self.press("Tab")
            if self.has_focus(selector):
                return
        raise AssertionError(f"{limit} presses of Tab never reached {selector}")

    def has_focus(self, selector: str) -> bool:
        return self.page.evaluate("s => document.activeElement.matches(s)", selector)

    def submit(self, status: int) -> None:
        """Press Enter on the focused field or button; the answer has `status`."""
        with self.page.expect_navigation() as navigation:
            self.page.keyboard.press("Enter")
        assert navigation.value is not None and navigation.value.status == status

    def follow_summary_link(self, field: str) -> None:
        """The error summary has the focus at the top of the page; its link to `field`, taken
        with Tab and Enter, gives the field the focus, and the field names its error."""
        assert self.page.evaluate(SUMMARY_FIRST) == ""
        assert focus_reaches(self.page, SUMMARY), "the error summary does not take the focus"
        self.tab_to(f".app-error-summary a[href='#{field[1:]}']", limit=5)
        self.page.keyboard.press("Enter")
        assert focus_reaches(self.page, field), f"the summary link does not focus {field}"
        described = self.page.get_attribute(field, "aria-describedby") or ""
        assert f"{field[1:]}-error" in described.split()
        assert self.page.get_attribute(field, "aria-invalid") == "true"


def test_log_in_and_submit_a_dossier_with_the_keyboard_alone(browser, tour_server, people):
    server, ids = tour_server
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    keys = Keyboard(page)
    try:
        page.goto(f"{server.url}/login")
        # The first Tab reaches the skip link, which then shows on the page.
        keys.press("Tab")
        assert keys.has_focus("a.app-skip[href='#main']")
        box = page.locator("a.app-skip").bounding_box()
        assert box is not None and box["x"] >= 0 and box["y"] >= 0

        # A wrong password: the summary takes the focus and leads back to the user name.
        keys.tab_to("#f-username")
        page.keyboard.type(people.enterprise.username)
        keys.press("Tab")
        assert keys.has_focus("#f-password")
        page.keyboard.type("not-the-password")
        keys.press("Shift+Tab")
        assert keys.has_focus("#f-username")
        keys.press("Tab")
        keys.submit(422)
        keys.follow_summary_link("#f-username")
        assert page.input_value("#f-username") == people.enterprise.username
        keys.press("Tab")
        assert keys.has_focus("#f-password")
        page.keyboard.type(PASSWORD)
        keys.submit(200)
        assert "/login" not in page.url

        # Submitting without ticking the box, then ticking it with Space.
        page.goto(f"{server.url}/dossiers/{ids['draft']}/review")
        submit = f"form[action='/dossiers/{ids['draft']}/submit'] button[type=submit]"
        keys.tab_to(submit)
        keys.submit(422)
        keys.follow_summary_link("#f-confirm")
        assert not page.is_checked("#f-confirm")
        page.keyboard.press("Space")
        assert page.is_checked("#f-confirm")
        keys.press("Tab")
        assert keys.has_focus(submit)
        keys.press("Shift+Tab")
        assert keys.has_focus("#f-confirm") and page.is_checked("#f-confirm")
        keys.press("Tab")
        keys.submit(200)
        assert page.url == f"{server.url}/dossiers/{ids['draft']}/receipt"
    finally:
        context.close()
    assert keys.unseen == [], keys.unseen
