"""Slips on the web: the page shows the official document (Vietnamese in either language of the
portal, the page around it translated), prints on A4 and downloads as a PDF whose text reads
back with every Vietnamese letter; the apology form drafts the slip, keeps what was typed and
says what is wrong next to the field, and issues the slip in the officer's name."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from pathlib import Path

from pypdf import PdfReader

from portal.db import db
from portal.i18n import format_long_date
from portal.models import Dossier, Notification, Slip
from portal.services.deadlines import to_local
from tests import dossier_web_fixtures as fx
from tests.dossier_web_fixtures import ANSWERS, Session, text_of, tr
from tests.helpers import csrf_from
from tests.test_dossier_declared import submit
from tests.test_web_dossiers import acted

forms, people, sessions = fx.forms, fx.people, fx.sessions
HEADING = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"


def received(sessions) -> tuple[int, Slip]:
    did = submit(sessions["enterprise"], ANSWERS)
    acted(sessions["officer"], did, "receive")
    with db.connection_context():
        return did, Slip.get(Slip.dossier == did)


def day_of(slip: Slip) -> str:
    return format_long_date(to_local(slip.issued_at).date(), "vi")


def pdf_text(body: bytes) -> str:
    reader = PdfReader(io.BytesIO(body))
    return "\n".join(page.extract_text() for page in reader.pages)


def english(s: Session) -> None:
    token = csrf_from(s.get("/notifications").text)
    assert s.client.post("/lang/en", data={"csrf_token": token}).status_code == 200


# --- the slip's page --------------------------------------------------------------------------

def test_the_slip_page_is_the_official_document(sessions, forms):
    did, slip = received(sessions)
    for who in ("enterprise", "officer"):
        r = sessions[who].get(f"/dossiers/{did}/slips/{slip.id}")
        assert r.status_code == 200
        page = text_of(r)
        doc = page[page.index('<article class="app-slip app-doc" lang="vi"'):]
        for text in (HEADING, MOTTO, f"Số: {slip.number}",
                     "Mẫu số 01 (Thông tư số 01/2018/TT-VPCP)",
                     "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ", "Kính gửi: Công ty A",
                     f"……, {day_of(slip)}", "NGƯỜI TIẾP NHẬN HỒ SƠ", slip.issued_by,
                     "Công chức hải quan"):
            assert text in doc, (who, text)
        assert re.fullmatch(r"1/\d{4}/TNHS-02CI", slip.number)
        assert f'href="/dossiers/{did}/slips/{slip.id}/pdf"' in r.text
        assert tr("Download as PDF") in page


def test_in_english_the_page_is_translated_and_the_slip_stays_vietnamese(sessions, forms):
    did, slip = received(sessions)
    e = sessions["enterprise"]
    english(e)
    page = text_of(e.get(f"/dossiers/{did}/slips/{slip.id}"))
    assert "Download as PDF" in page and "Back to the dossier" in page
    assert '<html lang="en">' in page
    assert HEADING in page and "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in page
    assert "Nội dung khai báo" in page and "Tên doanh nghiệp" in page
    assert "What was declared" not in page


def test_the_configured_place_is_written_before_the_date(app, sessions, forms):
    did, slip = received(sessions)
    app.state.settings = type(app.state.settings)(**{**app.state.settings.__dict__,
                                                     "slip_place": "Hà Nội"})
    page = text_of(sessions["officer"].get(f"/dossiers/{did}/slips/{slip.id}"))
    assert f"Hà Nội, {day_of(slip)}" in page


def test_the_print_stylesheet_prints_the_slip_alone_on_a4():
    text = (Path(__file__).resolve().parent.parent / "static/css/portal.css").read_text()
    assert "@page{size:A4" in text
    prints = " ".join(re.findall(r"@media print\{(.*?\})\}", text))
    assert ".app-header" in prints and ".app-noprint" in prints


# --- the PDF ----------------------------------------------------------------------------------

def test_the_pdf_reads_back_in_vietnamese(sessions, forms):
    did, slip = received(sessions)
    for who in ("enterprise", "officer"):
        r = sessions[who].get(f"/dossiers/{did}/slips/{slip.id}/pdf")
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
        assert r.headers["content-disposition"].startswith("attachment")
        assert "no-store" in r.headers["cache-control"]
        text = pdf_text(r.content)
        flat = " ".join(text.split())
        for expected in (HEADING, MOTTO, f"Số: {slip.number}", day_of(slip),
                         "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ", "Mẫu số 01",
                         "Kính gửi: Công ty A", "Nội dung khai báo", "Người khai báo",
                         "Nhập khẩu", "Mã số thuế: 0100112437", "NGƯỜI TIẾP NHẬN HỒ SƠ",
                         slip.issued_by, "đối tác hủy hợp đồng"):
            assert expected in flat, (who, expected, flat[:600])


def test_the_pdf_is_for_the_same_people_as_the_page(sessions, forms, client):
    did, slip = received(sessions)
    url = f"/dossiers/{did}/slips/{slip.id}/pdf"
    assert sessions["stranger"].get(url).status_code == 404
    assert sessions["other_officer"].get(url).status_code == 404
    anonymous = client.get(url, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    assert sessions["enterprise"].get(f"/dossiers/{did}/slips/99999/pdf").status_code == 404
    assert sessions["enterprise"].get(f"/dossiers/{did}/slips/x/pdf").status_code == 404


# --- the apology ------------------------------------------------------------------------------

def overdue(sessions) -> int:
    did, _ = received(sessions)
    with db.connection_context():  # promised an hour ago
        d = Dossier.get_by_id(did)
        Dossier.update(due_at=d.received_at - dt.timedelta(hours=1)).where(
            Dossier.id == did).execute()
    return did


def proposed(page: str) -> str:
    match = re.search(r'name="new_date" type="text" value="([^"]*)"', page)
    assert match, "the form has no new date"
    return match.group(1)


def test_the_apology_form_drafts_the_slip(sessions, forms):
    did = overdue(sessions)
    officer = sessions["officer"]
    detail = text_of(officer.get(f"/dossiers/{did}"))
    assert f'href="/dossiers/{did}/apology"' in detail
    assert tr("The dossier is overdue: the enterprise is owed an apology with the reason and "
              "a new date.") in detail
    r = officer.get(f"/dossiers/{did}/apology")
    assert r.status_code == 200
    page = text_of(r)
    assert "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ" in page
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", proposed(r.text))
    day, month, year = (int(x) for x in proposed(r.text).split("/"))
    assert format_long_date(dt.date(year, month, day), "vi") in page  # the drafted text's new date
    assert tr("Reason for the delay") in page
    # The owner sees no link and may not open the form.
    assert f'href="/dossiers/{did}/apology"' not in text_of(sessions["enterprise"].get(
        f"/dossiers/{did}"))
    assert sessions["enterprise"].get(f"/dossiers/{did}/apology").status_code == 403
    assert sessions["other_officer"].get(f"/dossiers/{did}/apology").status_code == 404


def test_a_wrong_apology_comes_back_with_the_input_and_the_errors(sessions, forms):
    did = overdue(sessions)
    officer = sessions["officer"]
    r = officer.post(f"/dossiers/{did}/apology", {"reason": "", "new_date": "32/13/2026"})
    assert r.status_code == 422
    page = text_of(r)
    assert 'value="32/13/2026"' in r.text
    assert re.search(r'id="f-reason-error">[^<]*' + re.escape(
        tr("Write why the dossier is late: the enterprise reads it.")), page)
    assert re.search(r'id="f-new_date-error">[^<]*' + re.escape(
        tr("Enter the new date as dd/mm/yyyy, e.g. 04/12/2026.")), page)
    assert 'class="app-error-summary"' in r.text
    r = officer.post(f"/dossiers/{did}/apology", {"reason": "Chờ giám định <b>mẫu</b>",
                                                  "new_date": "01/01/2020"})
    assert r.status_code == 422 and "Chờ giám định &lt;b&gt;mẫu&lt;/b&gt;" in r.text
    assert 'id="f-new_date-error"' in r.text and 'id="f-reason-error"' not in r.text
    # Without the CSRF token: refused, nothing issued.
    assert officer.post(f"/dossiers/{did}/apology", {"reason": "x", "new_date": "x"},
                        csrf=False).status_code == 403
    with db.connection_context():
        assert not Slip.select().where(Slip.kind == "apology").exists()


def test_the_officer_issues_the_apology_and_the_enterprise_reads_it(sessions, forms):
    did = overdue(sessions)
    officer, e = sessions["officer"], sessions["enterprise"]
    new_date = proposed(officer.get(f"/dossiers/{did}/apology").text)
    reason = "Chờ kết quả giám định hàng hóa."
    r = officer.post(f"/dossiers/{did}/apology", {"reason": reason, "new_date": new_date})
    assert r.status_code == 303
    with db.connection_context():
        slip = Slip.get(Slip.dossier == did, Slip.kind == "apology")
        told = Notification.select().where(Notification.user == e.user.id,
                                           Notification.text.contains(reason)).count()
    assert r.headers["location"] == f"/dossiers/{did}/slips/{slip.id}"
    assert told == 1 and slip.issued_by == officer.user.full_name
    page = text_of(e.get(r.headers["location"]))
    for text in ("PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ", "Mẫu số 04", reason,
                 f"Số: {slip.number}", "ĐẠI DIỆN CƠ QUAN, ĐƠN VỊ", officer.user.full_name,
                 "Lý do chậm trả kết quả"):
        assert text in page, text
    assert "system" not in page.split('lang="vi"')[1]
    assert re.fullmatch(r"1/\d{4}/XLHS-02CI", slip.number)
    # The dossier's history names the officer.
    history = text_of(e.get(f"/dossiers/{did}"))
    assert tr("Apology slip issued") in history and html.escape(reason) in e.get(
        f"/dossiers/{did}").text
    pdf = " ".join(pdf_text(e.get(f"/dossiers/{did}/slips/{slip.id}/pdf").content).split())
    assert reason in pdf and "PHIẾU XIN LỖI" in pdf


def test_the_apology_form_in_english(sessions, forms):
    did = overdue(sessions)
    officer = sessions["officer"]
    english(officer)
    page = text_of(officer.get(f"/dossiers/{did}/apology"))
    assert "Issue an apology slip" in page and "Reason for the delay" in page
    assert "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ" in page  # the slip is Vietnamese
    r = officer.post(f"/dossiers/{did}/apology", {"reason": "", "new_date": ""})
    assert r.status_code == 422
    assert "Write why the dossier is late: the enterprise reads it." in text_of(r)
