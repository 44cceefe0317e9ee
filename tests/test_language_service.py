"""Issue 13 item 7 in the services: each person gets their messages in their language
(notifications kept as a message id, e-mails written in the recipient's language, through a
real SMTP server), dates as Vietnamese write them, and the answers forms accept."""

from __future__ import annotations

import datetime as dt
import json
import unicodedata

import pytest

from portal import i18n
from portal.db import db
from portal.models import Notification, User
from portal.services import dossiers, processing, self_service
from portal.services.account_links import AccountLinks
from portal.services.errors import LocalText, ValidationError
from portal.services.validation import Field, canonical, parse_date, ungroup, validate
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import complete_draft
from tests.test_mail import smtp  # noqa: F401 (the real SMTP server fixture)


def vietnamese(text: str) -> bool:
    """Whether `text` has a letter of Vietnamese's alphabet beyond ASCII (ă, ơ, ệ, đ ...)."""
    return any(ord(ch) > 127 and unicodedata.category(ch).startswith("L") for ch in text)


def speaks(user: User, language: str) -> None:
    with db.connection_context():
        User.update(language=language).where(User.id == user.id).execute()


def test_an_english_speaking_applicant_gets_mails_in_english_only(people, ctx_of, smtp):  # noqa: F811
    speaks(people.owner, "en")
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    dossier_id = complete_draft(owner)
    code = dossiers.submit(owner, dossier_id, "en-mail").code
    processing.act(officer, dossier_id, "receive")
    subjects = smtp.inbox.subjects()
    assert subjects == [f"{code}: Submitted, waiting for reception", f"{code}: Received"]
    assert not any(vietnamese(s) for s in subjects)
    body = smtp.inbox.messages[-1][1].get_content()
    assert "Status: Received" in body
    assert "This is an automatic message of the customs online public-service portal." in body
    assert "Trạng thái" not in body and "Đây là thư" not in body and " / " not in body


def test_a_vietnamese_speaking_applicant_gets_mails_in_vietnamese_only(people, ctx_of, smtp):  # noqa: F811
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    dossier_id = complete_draft(owner)
    code = dossiers.submit(owner, dossier_id, "vi-mail").code
    processing.act(officer, dossier_id, "receive")
    assert smtp.inbox.subjects()[-1] == f"{code}: Đã tiếp nhận"
    body = smtp.inbox.messages[-1][1].get_content()
    assert "Trạng thái: Đã tiếp nhận" in body and "Status" not in body


def test_a_password_reset_mail_is_in_the_holders_language(make_user, smtp):  # noqa: F811
    address = "reader@example.vn"
    speaks(make_user("enterprise", username=address, email=address), "en")
    links = AccountLinks("test-secret", "http://portal.test")
    assert self_service.request_reset({"email": address}, "203.0.113.9", links) is None
    [(rcpt, message)] = smtp.inbox.messages
    assert rcpt == [address] and message["Subject"] == "Set a new password"
    assert not vietnamese(message.get_content())


def test_unit_news_is_kept_once_per_reader_and_read_in_any_language(people, ctx_of):
    speaks(people.leader, "en")
    owner = ctx_of(people.owner)
    dossier_id = complete_draft(owner)
    code = dossiers.submit(owner, dossier_id, "unit-news").code
    with db.connection_context():
        rows = {n.user_id: n for n in Notification.select().where(
            Notification.dossier == dossier_id, Notification.user != people.owner.id)}
    assert set(rows) == {people.officer.id, people.officer2.id, people.leader.id}
    leader, officer = rows[people.leader.id], rows[people.officer.id]
    assert leader.message == officer.message == "New dossier %(code)s is waiting for reception."
    assert json.loads(leader.params) == {"code": code}
    # The text kept is in each reader's language; shown, it follows the reader's language.
    assert leader.text == f"New dossier {code} is waiting for reception."
    assert officer.text == f"Hồ sơ mới {code} đang chờ tiếp nhận."
    assert i18n.notification_text(leader, "vi") == officer.text
    assert i18n.notification_text(officer, "en") == leader.text


def test_the_applicants_notification_translates_its_status(people, ctx_of):
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    dossier_id = complete_draft(owner)
    code = dossiers.submit(owner, dossier_id, "status").code
    processing.act(officer, dossier_id, "request_supplement", "Bổ sung hóa đơn")
    with db.connection_context():
        last = (Notification.select().where(Notification.user == people.owner.id)
                .order_by(Notification.id.desc()).first())
    assert i18n.notification_text(last, "en") == (
        f"{code}: Supplement requested — Bổ sung hóa đơn")
    assert i18n.notification_text(last, "vi").startswith(f"{code}: Chờ bổ sung hồ sơ")


def test_a_notification_whose_parameters_do_not_fit_shows_its_text():
    broken = Notification(text="Đã tiếp nhận", message="%(code)s: %(status)s",
                          params='{"code": "X"}')
    assert i18n.notification_text(broken, "en") == "Đã tiếp nhận"
    assert i18n.notification_text(Notification(text="t", message="%(code)s", params="{"),
                                  "vi") == "t"


# --- dates and numbers ---------------------------------------------------------------------

WHEN = dt.datetime(2026, 12, 4, 7, 30)  # UTC: 14:30 in Vietnam


@pytest.mark.parametrize("language", ["vi", "en"])
def test_dates_on_pages_are_dd_mm_yyyy(language):
    token = i18n.current_language.set(language)
    try:
        assert i18n.format_datetime(WHEN) == "04/12/2026 14:30"
        assert i18n.format_date(WHEN) == "04/12/2026"
        assert i18n.format_date(dt.date(2026, 1, 2)) == "02/01/2026"
    finally:
        i18n.current_language.reset(token)


def test_a_slips_date_is_written_out():
    assert i18n.format_long_date(WHEN, "vi") == "ngày 04 tháng 12 năm 2026"
    assert i18n.format_long_date(dt.date(2026, 3, 1), "vi") == "ngày 01 tháng 3 năm 2026"
    assert i18n.format_long_date(WHEN, "en") == "4 December 2026"
    # Late in the evening in Hanoi is already the next day's date in UTC's terms, and back.
    assert i18n.format_long_date(dt.datetime(2026, 12, 4, 18, 0), "vi") == (
        "ngày 05 tháng 12 năm 2026")


@pytest.mark.parametrize("text, day", [
    ("04/12/2026", dt.date(2026, 12, 4)), ("4/12/2026", dt.date(2026, 12, 4)),
    ("04-12-2026", dt.date(2026, 12, 4)), ("2026-12-04", dt.date(2026, 12, 4)),
    ("31/02/2026", None), ("12/31/2026", None), ("04/12/26", None), ("hôm nay", None),
])
def test_dates_are_read_as_dd_mm_yyyy_or_iso(text, day):
    assert parse_date(text) == day


@pytest.mark.parametrize("text, kept", [
    ("1.250.000", "1250000"), ("1 250 000", "1250000"), ("1,250,000", "1250000"),
    ("1250000", "1250000"), ("1.25", "1.25"), ("1.250,000", "1.250,000"), ("12.3456", "12.3456"),
])
def test_amounts_lose_their_thousands_separators_only(text, kept):
    assert canonical("int", text) == kept
    assert ungroup(text) == kept


def test_answers_are_shown_as_vietnamese_write_them():
    from portal.models import FormField

    amount, day = FormField(kind="number"), FormField(kind="date")
    assert dossiers.shown_answer(amount, 1250000) == "1.250.000"
    assert dossiers.shown_answer(amount, "-1250") == "-1.250"
    assert dossiers.shown_answer(amount, "12a") == "12a"  # a draft's answer as typed
    assert dossiers.shown_answer(day, "2026-12-04") == "04/12/2026"


def test_a_number_field_takes_grouped_thousands_and_refuses_decimals():
    spec = [Field("amount", kind="int", maximum=10**12)]
    assert validate({"amount": "1.250.000"}, spec) == {"amount": 1250000}
    with pytest.raises(ValidationError) as exc:
        validate({"amount": "1.25"}, spec)
    assert exc.value.errors["amount"].text == "Enter a whole number."


def test_a_pattern_message_given_by_data_is_shown_in_the_readers_language():
    spec = [Field("no", pattern=r"[0-9]{12}",
                  pattern_message=LocalText("Số tờ khai gồm 12 chữ số.",
                                            "A declaration number has 12 digits."))]
    with pytest.raises(ValidationError) as exc:
        validate({"no": "12345"}, spec)
    message = exc.value.errors["no"]
    token = i18n.current_language.set("en")
    try:
        assert i18n.translate(message) == "A declaration number has 12 digits."
    finally:
        i18n.current_language.reset(token)
    assert i18n.translate(message) == "Số tờ khai gồm 12 chữ số."


# --- the schema step ------------------------------------------------------------------------


def test_the_messages_step_keeps_old_notifications_readable_and_fills_pattern_messages(forms):
    from playhouse.migrate import migrate as run_operations

    from portal.migrations import LATEST, STEPS, _migrator, _v12_messages, migrate
    from portal.models import FormField, Procedure, SchemaVersion

    version = next(v for v, step in STEPS.items() if step is _v12_messages)
    with db.connection_context():
        run_operations(
            _migrator().drop_column("notification", "message"),
            _migrator().drop_column("notification", "params"),
            _migrator().drop_column("form_field", "pattern_message"),
            _migrator().drop_column("form_field", "pattern_message_en"),
        )
        user = User.select().first() or User.create(
            username="old", password_hash="x", full_name="Old", role="officer")
        mark = db.obj.param  # "?" on SQLite, "%s" on PostgreSQL
        db.execute_sql(f"INSERT INTO notification (user_id, text, created_at) "
                       f"VALUES ({mark}, {mark}, {mark})",
                       (user.id, "Đã tiếp nhận / Received", dt.datetime(2026, 1, 2)))
        SchemaVersion.delete().execute()
        SchemaVersion.create(version=version - 1)
    assert migrate() == (version - 1, LATEST)
    with db.connection_context():
        old = Notification.get(Notification.text == "Đã tiếp nhận / Received")
        assert (old.message, old.params) == ("", "")
        assert i18n.notification_text(old, "en") == "Đã tiếp nhận / Received"
        field = FormField.get(FormField.name == "declaration_no", FormField.procedure ==
                              Procedure.get(Procedure.code == "1.005458"))
        assert field.pattern_message == "Số tờ khai gồm 12 chữ số."
        assert field.pattern_message_en == "A declaration number has 12 digits."
