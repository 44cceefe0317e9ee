"""The counter over HTTP (`/officer/counter`, `/dossiers/{id}/counter-files`): an officer
records a paper dossier with its scanned documents in Vietnamese and in English; errors are
shown next to their fields with what was typed kept; enterprises, anonymous visitors,
administrators and auditors are refused; a request that fails, also by a crash in the middle
of the write, leaves no dossier and no file; supplements brought to the counter."""

from __future__ import annotations

import json
import re

import pytest
from starlette.testclient import TestClient

from portal.db import db
from portal.models import Attachment, Dossier, Enterprise
from portal.services import counter, processing
from portal.services.access import Ctx
from portal.services.workflow import PROCESSING, RECEIVED, SUPPLEMENT
from tests import dossier_web_fixtures as fx
from tests.conftest import PASSWORD
from tests.dossier_web_fixtures import (
    ANSWERS,
    NOT_ONLINE,
    PROCEDURE,
    Session,
    document_ids,
    pdf_bytes,
    text_of,
    timeline_labels,
    tr,
)
from tests.helpers import HX, csrf_from

forms, people, sessions = fx.forms, fx.people, fx.sessions


@pytest.fixture(autouse=True)
def online_forms(forms) -> None:
    """The procedures' forms are seeded before any page reads them."""
CITIZEN_ID = "001203004567"
PERSON = {
    "procedure": NOT_ONLINE,
    "kind": "person",
    "id_number": CITIZEN_ID,
    "name": "Nguyễn Thị Biên",
    "address": "Thôn Pò Hèn, xã Hải Sơn, Quảng Ninh",
    "contact_name": "Nguyễn Thị Biên",
    "contact_phone": "0912 345 678",
    "note": "Hồ sơ giấy: 1 bộ.",
    "step": "record",
}


def scans(code: str = NOT_ONLINE, content: bytes | None = None) -> list[tuple[str, tuple]]:
    body = content if content is not None else pdf_bytes("scan")
    return [(f"doc-{d}", (f"ban-quet-{d}.pdf", body, "application/pdf"))
            for d in document_ids(code)]


def uploads(app) -> set[str]:
    folder = app.state.settings.uploads
    return {p.name for p in folder.iterdir() if p.is_file()} if folder.exists() else set()


def record(s: Session, data: dict | None = None, files=None):
    return s.post("/officer/counter", data or PERSON,
                  files=files if files is not None else scans())


def test_the_officer_records_a_paper_dossier_and_sees_it_received(sessions, app, people):
    officer = sessions["officer"]
    page = officer.get("/officer/counter")
    assert page.status_code == 200
    assert tr("Record a dossier received at the counter") in text_of(page)
    assert f'<option value="{NOT_ONLINE}"' in page.text  # not online, yet offered
    form = officer.get(f"/officer/counter?procedure={NOT_ONLINE}")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text
    assert all(f'name="doc-{d}"' in form.text for d in document_ids(NOT_ONLINE))
    r = record(officer)
    assert r.status_code == 303, text_of(r)
    did = int(re.fullmatch(r"/dossiers/(\d+)", r.headers["location"]).group(1))
    with db.connection_context():
        d = Dossier.get_by_id(did)
        files = Attachment.select().where(Attachment.dossier == did).count()
    assert (d.status, d.channel, files) == (RECEIVED, "counter", len(document_ids(NOT_ONLINE)))
    detail = text_of(officer.get(r.headers["location"]))
    assert tr("Dossier %(code)s is recorded and received.", code=d.code) in detail
    assert tr("Received on paper at the counter") in detail
    assert "0912 345 678" in detail and CITIZEN_ID in detail and tr("Citizen ID number") in detail
    assert timeline_labels(officer.get(f"/dossiers/{did}").text) == [tr("Received at the counter")]
    assert people.officer.full_name in detail
    receipt = text_of(officer.get(f"/dossiers/{did}/receipt"))
    assert tr("Receipt of a dossier received at the counter") in receipt and d.code in receipt
    inbox = text_of(officer.get("/officer/inbox?view=all"))
    assert d.code in inbox and tr("At the counter") in inbox


def test_the_counter_speaks_english(sessions):
    officer = sessions["officer"]
    assert officer.post("/lang/en", {}).status_code in (200, 303)
    page = text_of(officer.get(f"/officer/counter?procedure={NOT_ONLINE}"))
    assert "Record a dossier received at the counter" in page
    assert "Tax code or citizen ID number" in page
    r = record(officer, {**PERSON, "contact_phone": "x"})
    assert r.status_code == 422
    assert "Enter a phone number of 9 to 20 digits, like 0912 345 678." in text_of(r)


def test_errors_are_shown_next_to_their_fields_with_the_input_kept(sessions, app):
    officer = sessions["officer"]
    first, second = document_ids(PROCEDURE)
    data = {"procedure": PROCEDURE, "kind": "enterprise", "id_number": "0100112438",
            "contact_name": "Trần Văn Giao", "contact_phone": "", "step": "record",
            **ANSWERS, "declaration_no": "12"}
    files = [(f"doc-{first}", ("virus.pdf", b"MZ\x90\x00" * 20, "application/pdf"))]
    r = record(officer, data, files)
    assert r.status_code == 422
    page = text_of(r)
    assert 'role="alert"' in r.text
    for field, message in [
        ("id_number", tr("This tax code's check digit is wrong: please check it.")),
        ("contact_phone", tr("This field is required.")),
        (f"doc-{second}", tr("Attach the scanned document.")),
    ]:
        assert f'id="f-{field}-error">{message}</p>' in page, field
    assert f'id="f-doc-{first}-error">' in r.text
    assert 'value="Trần Văn Giao"' in page and 'value="0100112438"' in r.text
    assert ANSWERS["reason"] in page  # the form's answers are kept too
    assert tr("Files are not kept when the form has a problem: choose them again.") in page
    with db.connection_context():
        assert Dossier.select().count() == 0
    assert uploads(app) == set()


def test_an_unknown_procedure_sends_back_to_the_list(sessions):
    r = sessions["officer"].get("/officer/counter?procedure=9.999999")
    assert r.status_code == 422 and tr("Choose a procedure from the list.") in text_of(r)
    r = record(sessions["officer"], {**PERSON, "procedure": "<script>"}, [])
    assert r.status_code == 422 and "<script>" not in r.text


def test_the_applicant_is_found_by_its_number_with_or_without_htmx(sessions):
    officer = sessions["officer"]
    data = {"procedure": PROCEDURE, "kind": "enterprise", "id_number": "0100112437",
            "step": "find", "contact_name": "Trần Văn Giao"}
    r = officer.post("/officer/counter", data)
    assert r.status_code == 200 and "<html" in r.text
    assert "Công ty A" in text_of(r) and tr("Known applicant") in text_of(r)
    assert 'value="Trần Văn Giao"' in text_of(r)
    r = officer.post("/officer/counter", data, headers=HX)
    assert r.status_code == 200 and "<html" not in r.text and r.text.lstrip().startswith(
        '<div id="applicant">')
    assert "Công ty A" in text_of(r)
    r = officer.post("/officer/counter", {**data, "id_number": tax_unknown()}, headers=HX)
    assert tr("No applicant with this number is known yet: enter the new applicant below.") in (
        text_of(r))
    with db.connection_context():
        assert Dossier.select().count() == 0


def tax_unknown() -> str:
    from tests.dossier_fixtures import tax_code

    return tax_code("010999888")


@pytest.mark.parametrize("who", ["enterprise", "admin", "stranger"])
def test_enterprises_and_administrators_are_refused(sessions, who, app):
    s = sessions[who]
    assert s.get("/officer/counter").status_code == 403
    assert record(s).status_code == 403
    with db.connection_context():
        assert Dossier.select().count() == 0
    assert uploads(app) == set()


def test_anonymous_visitors_are_sent_to_log_in(client, people):
    r = client.get("/officer/counter", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    token = csrf_from(client.get("/login").text)
    r = client.post("/officer/counter", data={**PERSON, "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 401


def test_the_auditor_is_refused(client, people):
    token = csrf_from(client.get("/login").text)
    client.post("/login", data={"username": people.auditor.username, "password": PASSWORD,
                                "csrf_token": token})
    assert client.get("/officer/counter", follow_redirects=False).status_code == 403


def test_a_form_without_its_csrf_token_is_refused(sessions, app):
    r = sessions["officer"].post("/officer/counter", PERSON, files=scans(), csrf=False)
    assert r.status_code == 403
    assert uploads(app) == set()


def test_a_crash_in_the_middle_of_the_write_leaves_no_dossier_and_no_file(
    app, people, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("the disk is gone")

    with TestClient(app, raise_server_exceptions=False, base_url="http://testserver") as c:
        s = Session(c, people.officer).login()
        # The history event is written after the dossier, the applicant and the files' rows.
        monkeypatch.setattr(counter.history, "record", broken)
        r = record(s)
    assert r.status_code == 500
    with db.connection_context():
        assert Dossier.select().count() == 0
        assert Attachment.select().count() == 0
        assert Enterprise.get_or_none(Enterprise.tax_code == CITIZEN_ID) is None
    assert uploads(app) == set()


def test_a_supplement_brought_to_the_counter(sessions, app, people):
    officer = sessions["officer"]
    r = record(officer)
    did = int(r.headers["location"].rsplit("/", 1)[1])
    ctx = Ctx(user=people.officer, uploads=app.state.settings.uploads)
    processing.act(ctx, did, "request_supplement", "Bổ sung hợp đồng.")
    page = text_of(officer.get(f"/dossiers/{did}"))
    assert tr("Record a supplement brought to the counter") in page
    assert f'action="/dossiers/{did}/counter-files"' in page
    doc = document_ids(NOT_ONLINE)[0]
    r = officer.post(f"/dossiers/{did}/counter-files", {"document": str(doc), "note": "Đã nhận"})
    assert r.status_code == 422
    page = text_of(r)
    assert f'id="f-record_supplement-files-error">{tr("Attach at least one scanned document.")}' \
        in page
    assert "Đã nhận" in page  # the note is kept
    r = officer.post(f"/dossiers/{did}/counter-files", {"document": str(doc), "note": ""},
                     files=[("file", ("bo-sung.exe", b"MZ" * 40, "application/pdf"))])
    assert r.status_code == 422 and 'id="f-record_supplement-files-error"' in r.text
    r = officer.post(f"/dossiers/{did}/counter-files", {"document": str(doc), "note": "Đã nhận"},
                     files=[("file", ("bo-sung.pdf", pdf_bytes("bo sung"), "application/pdf"))])
    assert r.status_code == 303
    with db.connection_context():
        assert Dossier.get_by_id(did).status == PROCESSING
    labels = timeline_labels(officer.get(f"/dossiers/{did}").text)
    assert labels[-1] == tr("Supplement recorded at the counter")
    # The enterprise may not record one (it is not its dossier either).
    r = sessions["enterprise"].post(f"/dossiers/{did}/counter-files", {"document": str(doc)})
    assert r.status_code == 403
    with db.connection_context():
        assert Dossier.get_by_id(did).status not in (SUPPLEMENT,)


def test_the_statistics_page_shows_online_and_counter_shares(sessions):
    officer = sessions["officer"]
    assert record(officer).status_code == 303
    page = text_of(officer.get("/statistics"))
    assert tr("Received at the counter") in page and tr("Filed online") in page
    assert "1 (100%)" in page and "0 (0%)" in page


def test_the_counter_asks_dates_as_the_online_form_does(sessions):
    """The procedure's form at the counter is the online one: a date is typed dd/mm/yyyy (no
    browser date picker, which would send yyyy-mm-dd) and a wrong one is named."""
    officer = sessions["officer"]
    page = officer.get("/officer/counter", params={"procedure": PROCEDURE})
    field = re.search(r'<input[^>]*name="declaration_date"[^>]*>', page.text).group(0)
    assert 'type="date"' not in field
    assert tr("dd/mm/yyyy, for example 04/12/2026") in text_of(page)
    data = {**PERSON, "procedure": PROCEDURE, **ANSWERS, "declaration_date": "31/02/2026"}
    again = record(officer, data, scans(PROCEDURE))
    assert again.status_code == 422
    assert 'value="31/02/2026"' in again.text and 'id="f-declaration_date-error"' in again.text
    data["declaration_date"] = "02/03/2026"
    assert record(officer, data, scans(PROCEDURE)).status_code == 303
    with db.connection_context():
        dossier = Dossier.select().order_by(Dossier.id.desc()).first()
    assert json.loads(dossier.form_data)["declaration_date"] == "2026-03-02"
