"""The feedback pages: the public form (CSRF, 422 with the input kept, 429 past the limit, the
reference shown after a redirect or in the htmx fragment), the staff's list and answer (an
officer of any unit answers, an enterprise or an auditor cannot), and the public page of the
answers, which shows no personal data."""

from __future__ import annotations

import html

import pytest
from starlette.testclient import TestClient

import tests.dossier_web_fixtures as fx
from portal.db import db
from portal.models import Feedback
from portal.services import feedback
from tests.helpers import HX, csrf_from

forms, people, sessions = fx.forms, fx.people, fx.sessions
tr = fx.tr
QUESTION = {
    "name": "Trần Thị Bình",
    "email": "binh@example.vn",
    "phone": "0987 654 321",
    "about": "02CI-251204-0001",
    "subject": "Thời hạn trả kết quả",
    "content": "Hồ sơ của tôi khi nào có kết quả?",
    "publish": "1",
}


@pytest.fixture
def visitor(app):
    """An anonymous browser with the form's CSRF token."""
    with TestClient(app, base_url="http://testserver") as c:
        c.token = csrf_from(c.get("/feedback/new").text)
        yield c


def send(client, data: dict, headers: dict | None = None):
    return client.post(
        "/feedback/new",
        data={**data, "csrf_token": client.token},
        headers=headers or {},
        follow_redirects=False,
    )


def only() -> Feedback:
    with db.connection_context():
        return Feedback.get()


def test_the_form_is_public_and_linked_from_every_page(visitor):
    page = visitor.get("/feedback/new")
    assert page.status_code == 200 and 'name="csrf_token"' in page.text
    assert 'data-hx-post="/feedback/new"' in page.text
    home = visitor.get("/").text
    assert 'href="/feedback/new"' in home and 'href="/feedback/answers"' in home
    assert 'href="/feedback"' not in home  # the staff's list: not for visitors


def test_a_question_without_javascript(visitor):
    r = send(visitor, QUESTION)
    assert r.status_code == 303 and r.headers["location"] == "/feedback/new"
    item = only()
    assert item.email == "binh@example.vn" and item.publish
    page = visitor.get("/feedback/new").text
    assert item.reference in page and "binh@example.vn" in page  # the flash


def test_a_question_with_htmx_answers_the_form_s_place(visitor):
    r = send(visitor, QUESTION, HX)
    assert r.status_code == 200 and "<html" not in r.text
    assert r.text.lstrip().startswith('<div id="feedback-form">')
    assert only().reference in r.text and 'role="status"' in r.text


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_errors_come_back_with_the_input_kept(visitor, headers):
    r = send(visitor, {**QUESTION, "email": "binh@", "content": "", "subject": "Hỏi <b>"}, headers)
    assert r.status_code == 422
    assert ("<html" in r.text) == (not headers)
    assert 'value="binh@"' in r.text and 'value="Hỏi &lt;b&gt;"' in r.text
    assert 'value="0987 654 321"' in r.text and 'name="publish" value="1" checked' in r.text
    assert r.text.count('class="app-field-error"') == 2
    with db.connection_context():
        assert Feedback.select().count() == 0


def test_csrf_and_cross_site_posts_are_refused(visitor):
    r = visitor.post("/feedback/new", data=QUESTION, follow_redirects=False)
    assert r.status_code == 403
    r = visitor.post(
        "/feedback/new",
        data={**QUESTION, "csrf_token": visitor.token},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    with db.connection_context():
        assert Feedback.select().count() == 0


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_too_many_questions_from_one_address_wait(visitor, headers):
    for n in range(10):
        assert send(visitor, {**QUESTION, "email": f"hoi{n}@example.vn"}).status_code == 303
    r = send(visitor, {**QUESTION, "email": "them@example.vn"}, headers)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert 'value="them@example.vn"' in r.text and ("<html" in r.text) == (not headers)
    with db.connection_context():
        assert Feedback.select().count() == 10


def test_staff_of_any_unit_answer_and_enterprises_cannot(sessions, visitor):
    send(visitor, QUESTION)
    item = only()
    path = f"/feedback/{item.id}"
    for name in ("enterprise", "stranger"):
        assert sessions[name].get("/feedback").status_code == 403
        assert sessions[name].get(path).status_code == 403
        assert sessions[name].post(path, {"answer": "x"}).status_code == 403
    assert visitor.get("/feedback", follow_redirects=False).headers["location"].startswith("/login")
    assert (
        visitor.post(
            path, data={"answer": "x", "csrf_token": visitor.token}, follow_redirects=False
        ).status_code
        == 401
    )
    for name in ("officer", "leader", "other_officer", "admin"):
        listing = sessions[name].get("/feedback")
        assert listing.status_code == 200 and item.reference in listing.text
        assert sessions[name].get(path).status_code == 200
    assert not only().answered

    far = sessions["other_officer"]  # an officer of 01AB: questions are nobody's unit's
    r = far.post(path, {"answer": "Kết quả được trả trong 5 ngày làm việc."})
    assert r.status_code == 303 and r.headers["location"] == path
    shown = far.get(path).text
    assert "Kết quả được trả trong 5 ngày làm việc." in shown and "<textarea" not in shown
    assert only().answered_by_id == far.user.id
    again = sessions["officer"].post(path, {"answer": "Lần hai"})
    assert again.status_code == 422
    assert html.escape(tr(feedback.ANSWERED_ALREADY)) in again.text
    assert sessions["admin"].get("/feedback?state=answered").status_code == 200
    assert sessions["admin"].get("/feedback/999999").status_code == 404
    assert sessions["admin"].get("/feedback/abc").status_code == 404


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_an_empty_answer_is_refused_with_the_form_again(sessions, visitor, headers):
    send(visitor, QUESTION)
    path = f"/feedback/{only().id}"
    officer = sessions["officer"]
    r = officer.post(path, {"answer": "   "}, headers=headers)
    assert r.status_code == 422 and ("<html" in r.text) == (not headers)
    assert 'aria-invalid="true"' in r.text and "<textarea" in r.text
    long = "x" * (feedback.MAX_CONTENT + 1)
    r = officer.post(path, {"answer": long}, headers=headers)
    assert r.status_code == 422 and long in r.text
    assert officer.post(path, {"answer": "Có."}, csrf=False).status_code == 403
    r = officer.post(path, {"answer": "Có."}, headers=headers)
    assert r.status_code == (200 if headers else 303)
    if headers:
        assert r.text.lstrip().startswith('<section id="answer"') and "Có." in r.text


def test_the_staff_list_filters_and_swaps_with_htmx(sessions, visitor):
    send(visitor, QUESTION)
    send(visitor, {**QUESTION, "email": "b@example.vn", "subject": "Câu hỏi thứ hai"})
    officer = sessions["officer"]
    with db.connection_context():
        ids = sorted(i.id for i in Feedback.select())
    officer.post(f"/feedback/{ids[0]}", {"answer": "Đã trả lời."})
    r = officer.get("/feedback?state=open", headers=HX)
    assert r.status_code == 200 and r.text.lstrip().startswith('<section id="results"')
    assert "Câu hỏi thứ hai" in r.text and QUESTION["subject"] not in r.text
    r = officer.get("/feedback?state=answered")
    assert "<html" in r.text and QUESTION["subject"] in r.text
    assert "Câu hỏi thứ hai" not in r.text
    assert officer.get("/feedback?state=zzz&page=999").status_code == 200


def test_the_public_page_shows_consented_answers_without_personal_data(sessions, visitor, app):
    send(visitor, QUESTION)
    send(visitor, {**QUESTION, "email": "kin@example.vn", "subject": "Riêng tư", "publish": ""})
    with db.connection_context():
        items = list(Feedback.select().order_by(Feedback.id))
    for item in items:
        sessions["officer"].post(f"/feedback/{item.id}", {"answer": f"Trả lời số {item.id}."})
    with TestClient(app, base_url="http://testserver") as reader:  # no flash of the sender's
        page = reader.get("/feedback/answers")
    assert page.status_code == 200
    assert QUESTION["subject"] in page.text and f"Trả lời số {items[0].id}." in page.text
    assert "Riêng tư" not in page.text
    for private in ("Trần Thị Bình", "binh@example.vn", "0987 654 321", "02CI-251204-0001"):
        assert private not in page.text
    fragment = visitor.get("/feedback/answers?page=1", headers=HX)
    assert fragment.text.lstrip().startswith('<section id="results"')
