"""Issue 13 item 7 over HTTP, in both languages: a notification stored once is read in each
reader's language; dates as Vietnamese write them; dossier forms take dd/mm/yyyy and
1.250.000 and say what a wrong declaration number is; the file table's words and columns."""

from __future__ import annotations

import re

from portal.db import db
from portal.models import Dossier, FormField, Notification, Procedure
from tests import dossier_web_fixtures as fx
from tests.dossier_web_fixtures import ANSWERS, Session, text_of
from tests.test_web_dossiers import act, start, submitted

forms, people, sessions = fx.forms, fx.people, fx.sessions

VI_NEW = "Hồ sơ mới {code} đang chờ tiếp nhận."
EN_NEW = "New dossier {code} is waiting for reception."


def speak(s: Session, language: str) -> None:
    """The person switches the language with the header's button (kept in their profile)."""
    r = s.post(f"/lang/{language}?next=/notifications")
    assert r.status_code == 303, r.text


def code(did: int) -> str:
    with db.connection_context():
        return Dossier.get_by_id(did).code


def test_one_notification_is_read_in_each_readers_language(sessions, forms):
    officer, leader = sessions["officer"], sessions["leader"]
    speak(leader, "en")
    did = submitted(sessions["enterprise"])
    dossier_code = code(did)
    with db.connection_context():
        rows = list(Notification.select().where(Notification.dossier == did,
                                                Notification.user.in_([officer.user.id,
                                                                       leader.user.id])))
    # Stored once per reader, as a message id with its parameters, not as a text in two
    # languages; the text kept is in the reader's language of the moment.
    assert len(rows) == 2
    assert {n.message for n in rows} == {EN_NEW.replace("{code}", "%(code)s")}
    assert all(dossier_code in n.params for n in rows)
    assert all(" / " not in n.text for n in rows)
    vi_page = text_of(officer.get("/notifications"))
    en_page = text_of(leader.get("/notifications"))
    assert VI_NEW.format(code=dossier_code) in vi_page
    assert EN_NEW.format(code=dossier_code) not in vi_page
    assert EN_NEW.format(code=dossier_code) in en_page
    assert VI_NEW.format(code=dossier_code) not in en_page
    # The same notification follows its reader's switch of language.
    speak(officer, "en")
    assert EN_NEW.format(code=dossier_code) in text_of(officer.get("/notifications"))


def test_a_notification_written_before_messages_were_kept_shows_its_text(sessions, forms):
    officer = sessions["officer"]
    with db.connection_context():
        Notification.create(user=officer.user.id, text="Đã tiếp nhận / Received")
    assert "Đã tiếp nhận / Received" in text_of(officer.get("/notifications"))


def test_pages_show_dates_as_dd_mm_yyyy_hh_mm(sessions, forms):
    owner = sessions["enterprise"]
    did = submitted(owner)
    assert act(sessions["officer"], did, "receive").status_code == 303  # a promised date
    for language in ("vi", "en"):
        speak(owner, language)
        page = text_of(owner.get(f"/dossiers/{did}"))
        submitted_at = re.search(r"<dd>(\d\d/\d\d/\d{4} \d\d:\d\d)</dd>", page)
        assert submitted_at, page
        listing = text_of(owner.get("/dossiers"))
        assert re.search(r"<td>\d\d/\d\d/\d{4} \d\d:\d\d ", listing), listing


def draft_form(s: Session, did: int, **answers: str):
    return s.post(f"/dossiers/{did}/edit", {**ANSWERS, **answers, "next": "save"})


def test_the_form_takes_a_date_as_dd_mm_yyyy_and_shows_it_so(sessions, forms):
    owner = sessions["enterprise"]
    did = start(owner)
    page = text_of(owner.get(f"/dossiers/{did}/edit"))
    assert "Ngày/tháng/năm (dd/mm/yyyy), ví dụ 04/12/2026" in page  # the date field's hint
    assert draft_form(owner, did, declaration_date="04/12/2026").status_code == 303
    with db.connection_context():
        assert '"declaration_date": "2026-12-04"' in Dossier.get_by_id(did).form_data
    assert 'value="04/12/2026"' in owner.get(f"/dossiers/{did}/edit").text
    assert draft_form(owner, did, declaration_date="2026-12-05").status_code == 303  # ISO too
    r = draft_form(owner, did, declaration_date="31/02/2026")
    assert r.status_code == 422
    assert "Nhập một ngày có thật theo dạng ngày/tháng/năm, ví dụ 04/12/2026." in text_of(r)
    assert 'value="31/02/2026"' in r.text  # kept as typed, next to its error


def test_an_amount_takes_vietnamese_thousands_separators(sessions, forms):
    owner = sessions["enterprise"]
    r = owner.post("/dossiers/new", {"procedure": "2.002184", "unit": fx.UNIT})
    did = int(r.headers["location"].split("/")[2])
    r = owner.post(f"/dossiers/{did}/edit", {"declaration_no": "105123456789",
                                             "declaration_date": "02/03/2026",
                                             "tax_difference": "1.250.000", "next": "save"})
    assert r.status_code == 303, text_of(r)
    with db.connection_context():
        assert '"tax_difference": "1250000"' in Dossier.get_by_id(did).form_data


def test_a_wrong_declaration_number_is_told_what_it_must_be(sessions, forms):
    owner = sessions["enterprise"]
    did = start(owner)
    r = draft_form(owner, did, declaration_no="12345")
    assert r.status_code == 422
    assert "Số tờ khai gồm 12 chữ số." in text_of(r)
    assert "This value has the wrong format" not in text_of(r)
    speak(owner, "en")
    r = draft_form(owner, did, declaration_no="12345")
    assert "A declaration number has 12 digits." in text_of(r)


def test_the_file_table_names_the_file_kind_and_shows_fingerprints_to_staff_only(sessions, forms):
    owner, officer = sessions["enterprise"], sessions["officer"]
    did = submitted(owner)
    mine = text_of(owner.get(f"/dossiers/{did}"))
    assert "Loại tệp" in mine and "Loại đơn vị" not in mine
    assert "SHA-256" not in mine
    assert "SHA-256" in text_of(officer.get(f"/dossiers/{did}"))
    with db.connection_context():
        assert Dossier.get_by_id(did).status == 1
    speak(owner, "en")
    assert "Kind" in text_of(owner.get(f"/dossiers/{did}"))


def test_the_end_date_is_named_by_how_the_dossier_ended(sessions, forms):
    owner, officer = sessions["enterprise"], sessions["officer"]
    refused = submitted(owner)
    r = act(officer, refused, "refuse_reception", note="Thiếu chứng từ", confirm="1")
    assert r.status_code == 303, r.text
    page = text_of(owner.get(f"/dossiers/{refused}"))
    assert "<dt>Ngày từ chối</dt>" in page and "Hoàn thành" not in page
    withdrawn = submitted(owner)
    r = act(owner, withdrawn, "withdraw", note="Không cần nữa", confirm="1")
    assert r.status_code == 303, r.text
    page = text_of(owner.get(f"/dossiers/{withdrawn}"))
    assert "<dt>Ngày rút hồ sơ</dt>" in page and "Hoàn thành" not in page


def test_pattern_messages_come_with_the_seeded_forms(forms):
    with db.connection_context():
        field = FormField.get(FormField.name == "declaration_no",
                              FormField.procedure == Procedure.get(Procedure.code == "1.005458"))
    assert (field.pattern_message, field.pattern_message_en) == (
        "Số tờ khai gồm 12 chữ số.", "A declaration number has 12 digits.")


def test_nothing_promises_online_payment(client):
    home = text_of(client.get("/"))
    assert "nộp phí và nhận kết quả mà không phải" not in home
    assert "Tra cứu thủ tục hành chính hải quan, nộp hồ sơ trực tuyến và theo dõi" in home
