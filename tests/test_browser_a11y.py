"""Accessibility in Debian's chromium, on every page of the portal (tests/page_tour.py), in
Vietnamese and in English: axe-core's WCAG 2.1 A and AA rules find nothing; no id is used
twice; fields name their hint and error in aria-describedby; a page with errors says so in its
title, and its error summary is at the top and takes the focus, each link leading to a field;
and no page scrolls sideways on a 360-pixel-wide phone.

axe-core comes from npm (tests/axe, pinned by its package-lock.json; `python3 run.py test`
installs it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page

from portal import i18n
from tests import dossier_web_fixtures as fx
from tests import page_tour
from tests.conftest import MARKUP_ONLY
from tests.page_tour import (
    LANGUAGES,
    PAGES,
    SUMMARY,
    SUMMARY_FIRST,
    PageSpec,
    Tour,
    focus_reaches,
)

pytestmark = [pytest.mark.browser, MARKUP_ONLY]
# The shared fixtures, found by pytest under these names.
forms, people, tour_server = fx.forms, fx.people, page_tour.tour_server

AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` in tests/axe (python3 run.py test does)")
    return AXE.read_text(encoding="utf-8")


def axe_violations(page: Page, axe_source: str) -> list[dict]:
    # The page's Content-Security-Policy refuses inline scripts, so add_script_tag cannot put
    # axe in; the test evaluates it through the browser's devtools protocol instead.
    page.evaluate(axe_source)
    return page.evaluate("options => axe.run(document, options)", WCAG_AA)["violations"]


def describe(violations: list[dict]) -> str:
    return "\n".join(
        f"  {v['id']} ({v['impact']}): {v['help']}\n"
        + "".join(
            f"    {json.dumps(n['target'])} {n.get('failureSummary', '')!r}\n"
            for n in v["nodes"][:5]
        )
        for v in violations
    )


# Problems axe does not look for: duplicate ids (axe 4.14 checks only those ARIA refers to),
# and on pages with errors, fields that do not name their label's hint and error, and error
# summary links that lead nowhere a keyboard user can type (or press, for a button-only choice).
FORM_PROBLEMS = """() => {
  const problems = [];
  const seen = new Set();
  for (const el of document.querySelectorAll('[id]')) {
    if (seen.has(el.id)) problems.push(`duplicate id ${el.id}`);
    seen.add(el.id);
  }
  const controls = 'input:not([type=hidden]), select, textarea';
  const named = el => (el.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean);
  for (const field of document.querySelectorAll('.app-field')) {
    const control = field.querySelector(controls);
    if (!control) continue;
    const ids = named(control);
    for (const part of field.querySelectorAll('.app-hint, .app-field-error')) {
      if (!part.id || !ids.includes(part.id))
        problems.push(`#${control.id} does not name "${part.textContent.trim()}"`);
    }
    if (field.querySelector('.app-field-error') && control.getAttribute('aria-invalid') !== 'true')
      problems.push(`#${control.id} has an error but no aria-invalid`);
  }
  for (const control of document.querySelectorAll('[aria-invalid=true]')) {
    const errors = named(control).map(id => document.getElementById(id))
      .filter(el => el && el.classList.contains('app-field-error'));
    if (!errors.length) problems.push(`#${control.id} is invalid but names no error message`);
  }
  for (const error of document.querySelectorAll('main .app-field-error')) {
    const ref = error.id && document.querySelector(`[aria-describedby~="${error.id}"]`);
    if (!ref && !error.closest('#save-status'))
      problems.push(`no field names the error "${error.textContent.trim()}"`);
  }
  // A choice that is only a button (the national identity's sign-in) has that button as its
  // field: the link leads to what tries again, and the button names the error.
  const fields = controls + ', button[aria-describedby]';
  for (const link of document.querySelectorAll('.app-error-summary a[href^="#"]')) {
    const target = document.getElementById(link.getAttribute('href').slice(1));
    if (!target || !target.matches(fields))
      problems.push(`the summary link "${link.textContent.trim()}" leads to no field`);
  }
  return problems;
}"""


def summary_problems(page: Page) -> list[str]:
    if problem := page.evaluate(SUMMARY_FIRST):
        return [problem]
    # autofocus happens as the page is first rendered, just after it loads
    return [] if focus_reaches(page, SUMMARY) else ["the error summary does not take the focus"]


# The innermost elements whose right edge passes the window's: what to fix in the CSS.
WIDEST = """() => {
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.right <= window.innerWidth + 0.5) continue;
    if ([...el.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 0.5))
      continue;
    const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
      + (el.className ? '.' + String(el.className).split(' ')[0] : '');
    out.push(`${name} (${Math.round(r.right)}px)`);
  }
  return out.slice(0, 6);
}"""


def form_problems(page: Page, spec: PageSpec, language: str) -> list[str]:
    problems = page.evaluate(FORM_PROBLEMS)
    if spec.shows_errors:
        if not page.locator(".app-field-error").count():
            problems.append("no error shown next to a field")
        problems += summary_problems(page)
        error = i18n.translations(language).gettext("Error:")
        if not page.title().startswith(f"{error} "):
            problems.append(f"the title does not start with {error!r}: {page.title()}")
    return problems


def phone_problems(page: Page) -> list[str]:
    """What sticks out of a 360px-wide window (the page is laid out again at that width)."""
    page.set_viewport_size(PHONE)
    try:
        width, inner = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert inner == PHONE["width"]
        return [f"{width}px wide: " + ", ".join(page.evaluate(WIDEST))] if width > inner else []
    finally:
        page.set_viewport_size(DESKTOP)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_is_accessible(browser, tour_server, people, axe_source, language):
    """One tour of every page (a tour costs about half a minute) with the three checks."""
    server, ids = tour_server
    tour = Tour(browser, server, people, ids, language, viewport=DESKTOP)
    axe_found: dict[str, list[dict]] = {}
    forms_found: dict[str, list[str]] = {}
    wide: dict[str, list[str]] = {}
    try:
        for spec in PAGES:
            page = tour.visit(spec)
            name = f"{spec.name} ({spec.path})"
            if problems := form_problems(page, spec, language):  # first: it looks at the focus
                forms_found[name] = problems
            if violations := axe_violations(page, axe_source):
                axe_found[name] = violations
            if problems := phone_problems(page):
                wide[name] = problems
    finally:
        tour.close()
    report = [
        f"axe: WCAG 2.1 A/AA violations on {name}:\n{describe(v)}" for name, v in axe_found.items()
    ]
    report += [f"forms: {name}: {problems}" for name, problems in forms_found.items()]
    report += [f"phone: wider than 360px: {name}: {problems}" for name, problems in wide.items()]
    assert not report, "\n".join(report)
