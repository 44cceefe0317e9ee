"""Questions and complaints: taken with a reference number and a confirmation mailed through a
real SMTP server (aiosmtpd on 127.0.0.1), limited per address and e-mail, listed for staff
(unanswered first), answered once (mailed, in the history), and published without personal
data only when the asker agreed."""

from __future__ import annotations

import pytest

from portal.db import db
from portal.models import DossierEvent, Feedback, OutgoingMail
from portal.services import feedback, history
from portal.services.errors import DomainError, NotFound, ValidationError
from tests.dossier_fixtures import *  # noqa: F403
from tests.test_mail import smtp  # noqa: F401 (the fixture)

QUESTION = {
    "name": "Nguyễn Văn An",
    "email": "An.Nguyen@Example.vn",
    "phone": "0912 345 678",
    "about": "1.005458",
    "subject": "Hủy tờ khai sau khi thông quan",
    "content": "Doanh nghiệp có được hủy tờ khai\r\nsau khi hàng đã thông quan không?",
    "publish": "1",
}


def ask(**changes: str) -> Feedback:
    item, throttle = feedback.submit({**QUESTION, **changes}, "198.51.100.20", "vi")
    assert throttle is None and item is not None
    return item


def test_a_question_gets_a_reference_and_a_confirmation(smtp):  # noqa: F811
    item = ask()
    assert item.reference == f"PAKN-{item.created_at:%Y}-{item.id:06d}"
    with db.connection_context():
        stored = Feedback.get_by_id(item.id)
    assert (stored.email, stored.phone, stored.publish, stored.answered) == (
        "an.nguyen@example.vn",
        "0912 345 678",
        True,
        False,
    )
    assert stored.content == "Doanh nghiệp có được hủy tờ khai\nsau khi hàng đã thông quan không?"
    [(to, message)] = smtp.inbox.messages
    assert to == ["an.nguyen@example.vn"]
    assert str(message["Subject"]) == f"Phản ánh, kiến nghị {item.reference} đã được tiếp nhận"
    assert item.reference in message.get_content()
    # In English for an asker who wrote in English.
    other = feedback.submit({**QUESTION, "email": "b@example.vn"}, "198.51.100.21", "en")[0]
    assert str(smtp.inbox.messages[1][1]["Subject"]) == (
        f"Your question {other.reference} is received"
    )


def test_the_form_is_checked_field_by_field(settings):
    with pytest.raises(ValidationError) as exc:
        feedback.submit({}, "198.51.100.20", "vi")
    assert set(exc.value.errors) == {"name", "email", "subject", "content"}
    with pytest.raises(ValidationError) as exc:
        feedback.submit(
            {**QUESTION, "email": "an@", "phone": "12", "content": "x" * 4001},
            "198.51.100.20",
            "vi",
        )
    assert set(exc.value.errors) == {"email", "phone", "content"}
    with db.connection_context():
        assert Feedback.select().count() == 0 and OutgoingMail.select().count() == 0
    assert ask(content="x" * 4000, phone="", about="", publish="").publish is False


def test_submissions_are_limited_per_address_and_per_email(settings):
    for n in range(3):
        ask(email="same@example.vn", subject=f"Lần {n}")
    item, throttle = feedback.submit(
        {**QUESTION, "email": "same@example.vn"}, "198.51.100.99", "vi"
    )
    assert item is None and throttle is not None  # the e-mail's limit, from another address
    for n in range(7):
        ask(email=f"khac{n}@example.vn")
    item, throttle = feedback.submit({**QUESTION, "email": "moi@example.vn"}, "198.51.100.20", "vi")
    assert item is None and throttle is not None  # the address's ten
    with db.connection_context():
        assert Feedback.select().count() == 10
        assert OutgoingMail.select().count() == 10


def test_staff_answer_once_and_the_answer_is_mailed(people, smtp):  # noqa: F811
    first, second, third = ask(), ask(email="b@example.vn"), ask(email="c@example.vn")
    page = feedback.staff_list()
    assert [i.id for i in page.items] == [first.id, second.id, third.id]
    assert feedback.open_count() == 3

    answered = feedback.answer(
        people.far_officer,
        second.id,
        {"answer": "  Được, theo Điều 22 Thông tư 38/2015/TT-BTC.  "},
        "203.0.113.9",
    )
    assert answered.answer == "Được, theo Điều 22 Thông tư 38/2015/TT-BTC."
    assert answered.answered_by_id == people.far_officer.id
    assert feedback.answerer_name(answered) == people.far_officer.full_name
    assert [i.id for i in feedback.staff_list().items] == [first.id, third.id, second.id]
    assert [i.id for i in feedback.staff_list("open").items] == [first.id, third.id]
    assert [i.id for i in feedback.staff_list("answered").items] == [second.id]
    assert feedback.open_count() == 2

    to, message = smtp.inbox.messages[-1]
    assert to == ["b@example.vn"]
    assert str(message["Subject"]) == f"Trả lời phản ánh, kiến nghị {second.reference}"
    assert "Điều 22 Thông tư 38/2015/TT-BTC" in message.get_content()
    with db.connection_context():
        event = DossierEvent.get(DossierEvent.action == feedback.ANSWERED)
    assert (event.actor_id, event.note, event.public, event.dossier_id) == (
        people.far_officer.id,
        second.reference,
        False,
        None,
    )
    assert history.verify_chain()[2] == ""

    with pytest.raises(DomainError) as exc:
        feedback.answer(people.officer, second.id, {"answer": "Lần hai"})
    assert exc.value.kind == "conflict"
    with pytest.raises(ValidationError):
        feedback.answer(people.officer, first.id, {"answer": "   "})
    with pytest.raises(NotFound):
        feedback.answer(people.officer, 999_999, {"answer": "x"})
    assert len(smtp.inbox.messages) == 4  # three confirmations and one answer


def test_only_answered_consented_questions_are_published(people):
    shown, private, waiting = (
        ask(),
        ask(email="b@example.vn", publish=""),
        ask(email="c@example.vn"),
    )
    for item in (shown, private):
        feedback.answer(people.officer, item.id, {"answer": f"Trả lời {item.id}"})
    later = ask(email="d@example.vn")
    feedback.answer(people.officer, later.id, {"answer": "Mới nhất"})
    page = feedback.published()
    assert [i.id for i in page.items] == [later.id, shown.id]
    assert waiting.id not in [i.id for i in page.items]
    row = page.items[1]
    assert (row.subject, row.answer) == (QUESTION["subject"], f"Trả lời {shown.id}")
    assert row.name is None and row.email is None and row.phone is None  # never read
