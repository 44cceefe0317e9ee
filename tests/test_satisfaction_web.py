"""The rating from the applicant's dossier page: the section shown once the dossier has ended
(to its applicant only), the notice on their list, the POST answered with a redirect or (htmx)
the section, and every refusal a clear 422, 404 or 403, never a 500."""

from __future__ import annotations

import html

import pytest

import tests.dossier_web_fixtures as fx
from portal.db import db
from portal.models import Rating
from portal.services import dossiers, processing, satisfaction
from tests.dossier_fixtures import complete_draft, make_ctx
from tests.helpers import HX

forms, people, sessions = fx.forms, fx.people, fx.sessions
tr = fx.tr
ANSWERS = {name: "3" for name in satisfaction.QUESTIONS}


def filed(settings, people, *steps: str) -> int:
    owner = make_ctx(people.enterprise, settings)
    officer = make_ctx(people.officer, settings)
    did = dossiers.submit(owner, complete_draft(owner), "").id
    for action in steps:
        note = "Dừng theo đề nghị." if action == "stop_processing" else ""
        processing.act(officer, did, action, note)
    return did


@pytest.fixture
def ended(settings, people) -> int:
    return filed(settings, people, "receive", "stop_processing")


def rating_url(did: int) -> str:
    return f"/dossiers/{did}/rating"


def test_the_applicant_sees_the_form_and_the_list_says_what_waits(
    sessions, ended, settings, people
):
    running = filed(settings, people, "receive")
    owner = sessions["enterprise"]
    page = owner.get(f"/dossiers/{ended}")
    assert page.status_code == 200
    assert 'id="rating"' in page.text and f'action="{rating_url(ended)}"' in page.text
    assert "htmx-4.0.1" in page.text  # the form posts with htmx where it can
    for question in satisfaction.QUESTIONS.values():
        assert html.escape(tr(question), quote=True) in page.text
    assert tr("Very satisfied") == "Rất hài lòng"
    assert 'id="rating"' not in owner.get(f"/dossiers/{running}").text  # not ended
    assert 'id="rating"' not in sessions["officer"].get(f"/dossiers/{ended}").text

    listing = owner.get("/dossiers").text
    assert f'href="/dossiers/{ended}#rating"' in listing
    assert f'href="/dossiers/{running}#rating"' not in listing
    assert html.escape(tr("Rate the service")) in listing


def test_a_rating_without_javascript(sessions, ended):
    owner = sessions["enterprise"]
    r = owner.post(rating_url(ended), {**ANSWERS, "overall": "2", "comment": "Tốt."})
    assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{ended}#rating"
    page = owner.get(f"/dossiers/{ended}").text
    assert html.escape(tr("Thank you: your rating is recorded.")) in page  # the flash
    assert "<form" not in page.split('id="rating"')[1].split("</section>")[0]
    assert "Tốt." in page
    assert tr("Rated by the applicant") in page  # in the processing history
    assert "Đánh giá chung: Hài lòng" in page
    assert f'href="/dossiers/{ended}#rating"' not in owner.get("/dossiers").text
    with db.connection_context():
        assert Rating.get(Rating.dossier == ended).overall == 2


def test_a_rating_with_htmx_answers_the_section(sessions, ended):
    r = sessions["enterprise"].post(rating_url(ended), ANSWERS, headers=HX)
    assert r.status_code == 200 and "HX-Request" in r.headers["vary"]
    assert r.text.lstrip().startswith('<section id="rating"') and "<html" not in r.text
    assert "Rất hài lòng" in r.text and "<form" not in r.text


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_missing_answers_come_back_with_the_input_kept(sessions, ended, headers):
    r = sessions["enterprise"].post(
        rating_url(ended), {"information": "1", "comment": "Chưa rõ <b>"}, headers=headers
    )
    assert r.status_code == 422
    assert ("<html" in r.text) == (not headers)
    section = r.text.split('<section id="rating"')[1]
    assert 'id="f-rate-information" name="information" value="3">' in section  # not checked
    assert 'name="information" value="1" checked>' in section
    assert "Chưa rõ &lt;b&gt;" in section
    assert section.count('class="app-field-error"') == len(satisfaction.QUESTIONS) - 1
    # The error summary: at the top of the whole page, at the top of the section sent alone.
    summary = r.text.index('role="alert"')
    assert summary < r.text.index('id="rating-title"' if headers else "<h1>")
    with db.connection_context():
        assert Rating.select().count() == 0


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_a_second_rating_and_a_running_dossier_are_refused(
    sessions, ended, settings, people, headers
):
    owner = sessions["enterprise"]
    assert owner.post(rating_url(ended), ANSWERS).status_code == 303
    again = owner.post(rating_url(ended), {**ANSWERS, "overall": "1"}, headers=headers)
    assert again.status_code == 422
    assert html.escape(tr(satisfaction.RATED_ALREADY)) in again.text
    running = filed(settings, people, "receive")
    early = owner.post(rating_url(running), ANSWERS, headers=headers)
    assert early.status_code == 422
    assert html.escape(tr(satisfaction.NOT_ENDED)) in early.text
    with db.connection_context():
        assert [r.overall for r in Rating.select()] == [3]


def test_nobody_else_rates(sessions, ended, app):
    assert sessions["stranger"].post(rating_url(ended), ANSWERS).status_code == 404
    assert sessions["officer"].post(rating_url(ended), ANSWERS).status_code == 403
    assert sessions["admin"].post(rating_url(ended), ANSWERS).status_code == 403
    assert sessions["enterprise"].post(rating_url(999999), ANSWERS).status_code == 404
    assert sessions["enterprise"].post("/dossiers/x/rating", ANSWERS).status_code == 404
    no_token = sessions["enterprise"].post(rating_url(ended), ANSWERS, csrf=False)
    assert no_token.status_code == 403
    from starlette.testclient import TestClient

    with TestClient(app, base_url="http://testserver") as anonymous:
        assert anonymous.post(rating_url(ended), data=ANSWERS).status_code == 401
    with db.connection_context():
        assert Rating.select().count() == 0
