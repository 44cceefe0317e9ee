"""A dossier's whole life over HTTP: the enterprise drafts, attaches, reviews and submits; the
officer of the handling branch receives it, asks for a supplement, has it approved by the
leader and returns the result, which the enterprise downloads. Each person has their own
TestClient (their own cookies and CSRF token) on the same app. Also who may not see it, the
confirmations, refusals and errors the pages give, and the holiday calendar."""

from __future__ import annotations

import datetime as dt
import gc
import re
import warnings
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from portal.db import db
from portal.models import Attachment, Dossier, DossierEvent, Holiday, Notification, User
from portal.services.workflow import NEW, PROCESSED, PROCESSING, RECEIVED, RETURNED, SUPPLEMENT
from tests import dossier_web_fixtures as fx
from tests.dossier_web_fixtures import (
    ANSWERS,
    NOT_ONLINE,
    PROCEDURE,
    UNIT,
    Session,
    code_of,
    document_ids,
    pdf_bytes,
    text_of,
    timeline_labels,
    tr,
)
from tests.helpers import HX
from tests.real_files import docx

# The shared fixtures, found by pytest under these names.
forms, people, sessions = fx.forms, fx.people, fx.sessions
SUBMIT_KEY_RE = re.compile(r'name="submit_key" value="([^"]+)"')
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


# --- steps ---------------------------------------------------------------------------------

def start(s: Session, unit: str = UNIT) -> int:
    r = s.post("/dossiers/new", {"procedure": PROCEDURE, "unit": unit})
    assert r.status_code == 303, r.text
    match = re.fullmatch(r"/dossiers/(\d+)/edit", r.headers["location"])
    assert match, r.headers["location"]
    return int(match.group(1))


def attach(s: Session, did: int, doc: int, name: str, content: bytes,
           url: str = "/dossiers/{did}/files"):
    return s.post(url.format(did=did), {"document": str(doc)},
                  files={"file": (name, content, "application/octet-stream")})


def review_key(s: Session, did: int) -> str:
    r = s.get(f"/dossiers/{did}/review")
    assert r.status_code == 200, r.text
    match = SUBMIT_KEY_RE.search(r.text)
    assert match, "the review page offers no submit form"
    return match.group(1)


def submitted(s: Session) -> int:
    """A complete dossier submitted by `s`; returns its id."""
    did = start(s)
    assert s.post(f"/dossiers/{did}/edit", {**ANSWERS, "next": "review"}).status_code == 303
    first, second = document_ids()
    assert attach(s, did, first, "don-de-nghi.pdf", pdf_bytes("request")).status_code == 303
    assert attach(s, did, second, "chung-tu.pdf", pdf_bytes("proof")).status_code == 303
    r = s.post(f"/dossiers/{did}/submit", {"submit_key": review_key(s, did), "confirm": "1"})
    assert r.status_code == 303, r.text
    return did


def act(s: Session, did: int, action: str, **data: str):
    return s.post(f"/dossiers/{did}/actions/{action}", data)


def acted(s: Session, did: int, action: str, **data: str) -> None:
    r = act(s, did, action, **data)
    assert r.status_code == 303, (action, r.status_code, text_of(r)[-3000:])
    assert r.headers["location"] == f"/dossiers/{did}"


def dossier(did: int) -> Dossier:
    with db.connection_context():
        return Dossier.get_by_id(did)


def events(did: int) -> list[str]:
    with db.connection_context():
        return [e.action for e in DossierEvent.select().where(DossierEvent.dossier == did)
                .order_by(DossierEvent.id)]


def attachments(did: int) -> list[Attachment]:
    with db.connection_context():
        return list(Attachment.select().where(Attachment.dossier == did).order_by(Attachment.id))


def error_of(page: str, field: str) -> str:
    """The error message shown next to a form field (`f-<field>-error`, or
    `f-<action>-<field>-error` in an action's form on the dossier page)."""
    match = re.search(rf'id="f-(?:[a-z_]+-)?{re.escape(field)}-error">(.*?)</p>', page, re.S)
    assert match, f"no error shown next to {field}"
    return match.group(1).strip()


# --- the enterprise's side: draft to receipt ------------------------------------------------

def test_enterprise_drafts_attaches_reviews_and_submits(sessions, forms):
    e = sessions["enterprise"]
    page = text_of(e.get(f"/dossiers/new?procedure={PROCEDURE}"))
    assert 'name="unit"' in page and '<option value="02CI"' in page
    did = start(e)
    edit = e.get(f"/dossiers/{did}/edit")
    assert edit.status_code == 200
    assert 'id="f-declaration_no"' in edit.text and 'id="f-reason"' in edit.text

    # A declaration number that is not 12 digits: kept in the input, shown next to the field.
    r = e.post(f"/dossiers/{did}/edit", {**ANSWERS, "declaration_no": "10512345ABCD"})
    assert r.status_code == 422
    page = text_of(r)
    assert 'id="f-declaration_no" name="declaration_no" type="text" value="10512345ABCD"' in page
    assert error_of(page, "declaration_no")
    assert 'aria-invalid="true"' in page
    assert "Nhập khẩu\" selected" in page  # the other answers are kept too
    # ...and what was typed is saved as typed, so the user never loses it.
    assert '"10512345ABCD"' in dossier(did).form_data

    # The autosave of htmx gets only the status line back.
    r = e.post(f"/dossiers/{did}/edit", ANSWERS, headers=HX)
    assert r.status_code == 200
    assert r.text.strip().startswith('<div id="save-status"') and r.text.strip().endswith("</div>")
    assert "<html" not in r.text and "<form" not in r.text
    assert tr("Saved.") in text_of(r)
    assert '"105123456789"' in dossier(did).form_data

    # A plain save goes back to the form with a message.
    r = e.post(f"/dossiers/{did}/edit", {**ANSWERS, "next": "save"})
    assert (r.status_code, r.headers["location"]) == (303, f"/dossiers/{did}/edit")
    assert tr("Your answers are saved.") in text_of(e.get(f"/dossiers/{did}/edit"))

    # The review page lists what is still missing and offers no submit form yet.
    r = e.get(f"/dossiers/{did}/review")
    assert r.status_code == 200
    assert tr("Attach this document.") in text_of(r)
    assert 'name="submit_key"' not in r.text

    # A refused upload: the error is at the document's slot, nothing is stored.
    first, second = document_ids()
    r = attach(e, did, first, "not-a-pdf.pdf", b"MZ\x90\x00 this is an executable")
    assert r.status_code == 422
    page = text_of(r)
    slot = page[page.index(f'<section class="app-slot app-field--error" id="doc-{first}"'):]
    slot = slot[:slot.index("</section>")]
    assert error_of(slot, f"doc-{first}") == tr(
        "This type of file is not accepted here: use %(types)s.", types="PDF, XML")
    assert f'href="#f-doc-{first}"' in page  # the error summary links to the slot's input
    assert attachments(did) == []
    # A slot without a file.
    r = e.post(f"/dossiers/{did}/files", {"document": str(second)},
               files={"file": ("", b"", "application/octet-stream")})
    assert r.status_code == 422
    assert error_of(text_of(r), f"doc-{second}") == tr("Choose a file to attach.")

    r = attach(e, did, first, "don-de-nghi.pdf", pdf_bytes("request"))
    assert (r.status_code, r.headers["location"]) == (303, f"/dossiers/{did}/edit#doc-{first}")
    assert attach(e, did, second, "chung-tu.png", PNG).status_code == 303
    assert [(a.original_name, a.content_type) for a in attachments(did)] == [
        ("don-de-nghi.pdf", "application/pdf"), ("chung-tu.png", "image/png")]
    page = text_of(e.get(f"/dossiers/{did}/edit"))
    assert "don-de-nghi.pdf" in page and "chung-tu.png" in page

    # "Save and review" goes to the review page, now complete.
    r = e.post(f"/dossiers/{did}/edit", {**ANSWERS, "next": "review"})
    assert (r.status_code, r.headers["location"]) == (303, f"/dossiers/{did}/review")
    review = text_of(e.get(f"/dossiers/{did}/review"))
    assert ANSWERS["declaration_no"] in review and ANSWERS["reason"] in review
    assert "don-de-nghi.pdf" in review and "chung-tu.png" in review
    key = review_key(e, did)

    # The confirmation box is required.
    r = e.post(f"/dossiers/{did}/submit", {"submit_key": key})
    assert r.status_code == 422
    assert error_of(text_of(r), "confirm") == tr(
        "Confirm that the information is true and complete.")
    assert f'value="{key}"' in r.text  # the same key, so a retry stays one submission
    assert dossier(did).status == 0

    r = e.post(f"/dossiers/{did}/submit", {"submit_key": key, "confirm": "1"})
    assert (r.status_code, r.headers["location"]) == (303, f"/dossiers/{did}/receipt")
    code = code_of(did)
    assert re.fullmatch(r"02CI-\d{6}-0001", code), code
    assert dossier(did).code == code and dossier(did).status == NEW
    receipt = e.get(f"/dossiers/{did}/receipt")
    assert receipt.status_code == 200
    page = text_of(receipt)
    assert f'<dd class="app-code">{code}</dd>' in page
    assert re.search(r'<img class="app-qr" src="data:image/svg\+xml[^"]+"', receipt.text)
    assert tr("Dossier %(code)s is submitted.", code=code) in page

    # The same submit key again (a double click, a resent form): still one dossier.
    r = e.post(f"/dossiers/{did}/submit", {"submit_key": key, "confirm": "1"})
    assert (r.status_code, r.headers["location"]) == (303, f"/dossiers/{did}/receipt")
    with db.connection_context():
        assert Dossier.select().count() == 1
        assert Dossier.select().where(Dossier.code.is_null(False)).count() == 1
    assert events(did) == ["submit"]
    # Submitted: the draft pages now lead to the dossier's page.
    assert e.get(f"/dossiers/{did}/edit").headers["location"] == f"/dossiers/{did}"
    assert e.get(f"/dossiers/{did}/review").headers["location"] == f"/dossiers/{did}"
    # The next dossier of the day gets the next number.
    second_did = submitted(e)
    assert dossier(second_did).code == code_of(second_did, n=2)


def test_review_refuses_an_incomplete_dossier(sessions, forms):
    e = sessions["enterprise"]
    did = start(e)
    r = e.post(f"/dossiers/{did}/submit", {"submit_key": "k" * 20, "confirm": "1"})
    assert r.status_code == 422
    page = text_of(r)
    assert tr("The dossier is not complete yet") in page
    assert tr("Attach this document.") in page
    assert dossier(did).status == 0 and dossier(did).code is None


# --- the whole life -------------------------------------------------------------------------

def test_whole_life_from_submission_to_downloaded_result(sessions, forms, signed_result):
    e, officer, leader = sessions["enterprise"], sessions["officer"], sessions["leader"]
    did = submitted(e)
    code = code_of(did)

    # The officer of 02CI finds it in the inbox, as a page and as the htmx fragment.
    inbox = officer.get("/officer/inbox")
    assert inbox.status_code == 200
    assert f'<a href="/dossiers/{did}">{code}</a>' in inbox.text
    fragment = officer.get("/officer/inbox?view=new", headers=HX)
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section id="results"')
    assert "<html" not in fragment.text and code in fragment.text
    assert code not in sessions["other_officer"].get("/officer/inbox").text
    with db.connection_context():
        told = Notification.select().where(Notification.user == officer.user.id).count()
    assert told == 1

    page = text_of(officer.get(f"/dossiers/{did}"))
    assert f'action="/dossiers/{did}/actions/receive"' in page
    assert f'action="/dossiers/{did}/actions/return_result"' not in page
    acted(officer, did, "receive")
    assert dossier(did).status == RECEIVED and dossier(did).due_at is not None
    assert tr("Done: %(action)s.", action=tr("Receive")) in text_of(officer.get(f"/dossiers/{did}"))

    # A supplement request needs its guidance.
    r = act(officer, did, "request_supplement", note="  ")
    assert r.status_code == 422
    assert error_of(text_of(r), "note") == tr("Write the reason or guidance.")
    assert dossier(did).status == RECEIVED
    guidance = "Bổ sung hợp đồng đã ký với đối tác."
    acted(officer, did, "request_supplement", note=guidance)
    assert dossier(did).status == SUPPLEMENT and dossier(did).paused_at is not None

    # The enterprise sees the guidance, attaches a file and sends the supplement.
    page = text_of(e.get(f"/dossiers/{did}"))
    assert guidance in page
    assert f'action="/dossiers/{did}/supplement-files"' in page
    r = act(e, did, "supplement")  # nothing attached yet
    assert r.status_code == 422
    assert tr("Attach at least one document first.") in text_of(r)
    first, second = document_ids()
    r = attach(e, did, second, "hop-dong.docx", docx(),  # a real DOCX, not taken for this slot
               url="/dossiers/{did}/supplement-files")
    assert r.status_code == 422
    assert tr("This type of file is not accepted here: use %(types)s.",
              types="PDF, JPG, PNG") in text_of(r)
    r = attach(e, did, second, "hop-dong.pdf", pdf_bytes("contract"),
               url="/dossiers/{did}/supplement-files")
    assert (r.status_code, r.headers["location"]) == (303, f"/dossiers/{did}#doc-{second}")
    assert attachments(did)[-1].purpose == "supplement"
    acted(e, did, "supplement")
    assert dossier(did).status == PROCESSING and dossier(did).paused_at is None

    # Officer asks for approval; the leader approves.
    acted(officer, did, "submit_for_approval")
    assert dossier(did).approval == "pending"
    assert f'action="/dossiers/{did}/actions/approve"' in leader.get(f"/dossiers/{did}").text
    acted(leader, did, "approve")
    assert dossier(did).approval == "approved"

    # The result: a PDF only, then issued and returned. (The page offers no form for it yet:
    # see test_the_officer_page_offers_the_result_upload_once_approved.)
    r = officer.post(f"/dossiers/{did}/result", files={"file": ("kq.pdf", PNG, "application/pdf")})
    assert r.status_code == 422
    assert tr("Attach the result as a PDF file.") in text_of(r)  # in the error summary
    result = signed_result
    r = officer.post(f"/dossiers/{did}/result",
                     files={"file": ("quyet-dinh.pdf", result, "application/pdf")})
    assert (r.status_code, r.headers["location"]) == (303, f"/dossiers/{did}")
    result_att = attachments(did)[-1]
    assert result_att.purpose == "result"
    # Not the applicant's before it is issued.
    assert e.get(f"/dossiers/{did}/files/{result_att.id}").status_code == 404
    acted(officer, did, "issue_result")
    assert dossier(did).status == PROCESSED
    acted(officer, did, "return_result")
    assert dossier(did).status == RETURNED and dossier(did).finished_at is not None

    # The enterprise downloads exactly the file the officer uploaded.
    page = text_of(e.get(f"/dossiers/{did}"))
    assert f'href="/dossiers/{did}/files/{result_att.id}"' in page
    download = e.get(f"/dossiers/{did}/files/{result_att.id}")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/pdf"
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment") and "quyet-dinh.pdf" in disposition
    assert download.content == result
    assert "no-store" in download.headers["cache-control"]
    # ...and the officer the enterprise's files.
    application = attachments(did)[0]
    r = officer.get(f"/dossiers/{did}/files/{application.id}")
    assert r.status_code == 200 and r.content == pdf_bytes("request")

    # The history: every step; the internal ones only for the staff.
    public = [tr("Submitted"), tr("Receive"), tr("Request a supplement"), tr("File added"),
              tr("Send the supplement"), tr("Issue the result"), tr("Return the result")]
    internal = [tr("Submit for approval"), tr("Approve"), tr("Signed result attached")]
    applicant_view = timeline_labels(e.get(f"/dossiers/{did}").text)
    assert applicant_view == public
    staff_view = timeline_labels(officer.get(f"/dossiers/{did}").text)
    assert [x for x in staff_view if x not in internal] == public
    assert staff_view[5:8] == internal
    assert guidance in text_of(e.get(f"/dossiers/{did}"))
    assert events(did)[:10] == ["submit", "receive", "request_supplement", "add_file",
                                "supplement", "submit_for_approval", "approve",
                                "attach_result", "issue_result", "return_result"]
    # Nothing more to do on a returned dossier.
    assert 'class="app-actions"' not in e.get(f"/dossiers/{did}").text
    r = act(officer, did, "return_result")
    assert r.status_code == 409


def approved(sessions) -> int:
    """A dossier received, in processing and approved by the leader; returns its id."""
    did = submitted(sessions["enterprise"])
    for action in ("receive", "start_processing", "submit_for_approval"):
        acted(sessions["officer"], did, action)
    acted(sessions["leader"], did, "approve")
    return did


def test_the_officer_page_offers_the_result_upload_once_approved(sessions, forms):
    did = approved(sessions)
    page = sessions["officer"].get(f"/dossiers/{did}").text
    assert f'action="/dossiers/{did}/result"' in page and 'id="f-result"' in page


def test_the_dossier_page_has_unique_ids(sessions, forms):
    did = submitted(sessions["enterprise"])
    page = sessions["officer"].get(f"/dossiers/{did}").text
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert sorted({i for i in ids if ids.count(i) > 1}) == []


# --- who may not see a dossier --------------------------------------------------------------

def test_officer_of_another_branch_sees_nothing(sessions, forms):
    did = submitted(sessions["enterprise"])
    other = sessions["other_officer"]
    att = attachments(did)[0]
    assert other.get(f"/dossiers/{did}").status_code == 404
    assert other.get(f"/dossiers/{did}/files/{att.id}").status_code == 404
    assert other.get(f"/dossiers/{did}/receipt").status_code == 404
    assert other.get(f"/dossiers/code/{code_of(did)}").status_code == 404
    assert act(other, did, "receive").status_code == 404
    assert other.post(f"/dossiers/{did}/assign").status_code == 404
    assert dossier(did).status == NEW and events(did) == ["submit"]


def test_another_enterprise_sees_nothing(sessions, forms):
    e, stranger = sessions["enterprise"], sessions["stranger"]
    did = submitted(e)
    draft = start(e)
    att = attachments(did)[0]
    for url in (f"/dossiers/{did}", f"/dossiers/{did}/receipt", f"/dossiers/{did}/files/{att.id}",
                f"/dossiers/{draft}/edit", f"/dossiers/{draft}/review"):
        assert stranger.get(url).status_code == 404, url
    assert stranger.post(f"/dossiers/{draft}/edit", ANSWERS).status_code == 404
    assert act(stranger, did, "withdraw", note="x", confirm="1").status_code == 404
    assert code_of(did) not in stranger.get("/dossiers").text
    assert dossier(did).status == NEW


def test_anonymous_visitors_are_sent_to_login(app, sessions, forms):
    did = submitted(sessions["enterprise"])
    with TestClient(app, base_url="http://testserver") as anonymous:
        for url in (f"/dossiers/{did}", f"/dossiers/{did}/receipt", "/dossiers",
                    f"/dossiers/new?procedure={PROCEDURE}", "/officer/inbox"):
            r = anonymous.get(url, follow_redirects=False)
            assert r.status_code == 303, url
            assert r.headers["location"] == f"/login?next={quote(url)}", url
        r = anonymous.post(f"/dossiers/{did}/actions/withdraw", follow_redirects=False)
        assert r.status_code == 401
    assert dossier(did).status == NEW


# --- refusals -------------------------------------------------------------------------------

@pytest.mark.parametrize(("who", "action", "before"), [
    ("enterprise", "withdraw", NEW),
    ("officer", "refuse_reception", NEW),
    ("officer", "stop_processing", RECEIVED),
])
def test_destructive_actions_need_the_confirm_box(sessions, forms, who, action, before):
    did = submitted(sessions["enterprise"])
    if before == RECEIVED:
        acted(sessions["officer"], did, "receive")
    history = events(did)
    r = act(sessions[who], did, action, note="Lý do rõ ràng.")
    assert r.status_code == 422
    assert error_of(text_of(r), "confirm") == tr("Tick the box to confirm.")
    assert dossier(did).status == before and dossier(did).finished_at is None
    assert events(did) == history
    # With the box ticked it happens.
    acted(sessions[who], did, action, note="Lý do rõ ràng.", confirm="1")
    assert dossier(did).finished_at is not None


def test_an_impossible_action_is_refused_with_409(sessions, forms):
    did = submitted(sessions["enterprise"])
    r = act(sessions["officer"], did, "return_result")
    assert r.status_code == 409
    page = text_of(r)
    assert tr("This action is not possible in the dossier's current status.") in page
    assert dossier(did).status == NEW and events(did) == ["submit"]
    # An officer's action asked by the applicant: not theirs.
    assert act(sessions["enterprise"], did, "receive").status_code == 403
    # An unknown action name.
    r = act(sessions["officer"], did, "teleport")
    assert r.status_code == 422
    assert tr("This action is not known.") in text_of(r)
    assert dossier(did).status == NEW and events(did) == ["submit"]


def test_posts_without_the_csrf_token_are_refused(sessions, forms):
    e, officer = sessions["enterprise"], sessions["officer"]
    draft = start(e)
    first = document_ids()[0]
    with warnings.catch_warnings():  # see test_refused_uploads_close_their_files
        warnings.simplefilter("ignore", ResourceWarning)
        upload = e.post(f"/dossiers/{draft}/files", {"document": str(first)}, csrf=False,
                        files={"file": ("a.pdf", pdf_bytes(), "application/pdf")})
        gc.collect()
    refused = [
        e.post(f"/dossiers/{draft}/edit", ANSWERS, csrf=False),
        upload,
        e.post(f"/dossiers/{draft}/submit", {"submit_key": "abc", "confirm": "1"}, csrf=False),
        e.post("/dossiers/new", {"procedure": PROCEDURE, "unit": UNIT}, csrf=False),
        e.post(f"/dossiers/{draft}/edit", {**ANSWERS, "csrf_token": "forged"}, csrf=False),
    ]
    assert [r.status_code for r in refused] == [403] * 5
    assert tr("Your form expired. Please go back, reload the page and submit it again.") in \
        text_of(refused[0])
    did = submitted(e)
    assert act(officer, did, "receive", csrf_token="").status_code == 403
    assert officer.post(f"/dossiers/{did}/actions/receive", csrf=False).status_code == 403
    assert dossier(did).status == NEW
    assert dossier(draft).form_data == "{}" and attachments(draft) == []


def test_refused_uploads_close_their_files(sessions, forms):
    e = sessions["enterprise"]
    draft = start(e)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        no_token = e.post(f"/dossiers/{draft}/files", {"document": str(document_ids()[0])},
                          csrf=False, files={"file": ("a.pdf", pdf_bytes(), "application/pdf")})
        no_slot = e.post(f"/dossiers/{draft}/files", {"document": "first"},
                         files={"file": ("a.pdf", pdf_bytes(), "application/pdf")})
        gc.collect()
    assert (no_token.status_code, no_slot.status_code) == (403, 422)
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == [], [str(w.message) for w in leaks]


def test_a_procedure_not_online_says_why_and_offers_no_form(sessions, forms):
    """409 (the procedure's state, not the input, refuses it) with the counter instructions,
    both for the page that starts a dossier and for the form sent anyway."""
    e = sessions["enterprise"]
    r = e.get(f"/dossiers/new?procedure={NOT_ONLINE}")
    assert r.status_code == 409
    page = text_of(r)
    assert tr("This procedure is not available online") in page
    assert tr("Why:") in page and tr("How to do it:") in page
    assert 'action="/dossiers/new"' not in page and 'name="unit"' not in page
    r = e.post("/dossiers/new", {"procedure": NOT_ONLINE, "unit": UNIT})
    assert r.status_code == 409
    assert tr("This procedure is not available online") in text_of(r)
    assert tr("How to do it:") in text_of(r) and 'name="unit"' not in r.text
    with db.connection_context():
        assert Dossier.select().count() == 0


def test_a_unit_that_does_not_handle_the_procedure_is_refused(sessions, forms):
    r = sessions["enterprise"].post("/dossiers/new", {"procedure": PROCEDURE, "unit": "ZZZZ"})
    assert r.status_code == 422
    assert error_of(text_of(r), "unit") == tr("Choose the customs office that handles it.")


# --- the holiday calendar -------------------------------------------------------------------

def test_admin_adds_and_removes_a_holiday(sessions, forms):
    admin = sessions["admin"]
    assert admin.get("/admin/holidays?year=2031").status_code == 200
    r = admin.post("/admin/holidays", {"day": "2031-02-30", "name": "Tết Nguyên Đán"})
    assert r.status_code == 422
    page = text_of(r)
    field = re.search(r'<input[^>]*id="f-day"[^>]*>', page).group(0)
    assert 'value="2031-02-30"' in field and 'type="date"' not in field  # typed dd/mm/yyyy
    assert 'value="Tết Nguyên Đán"' in page
    assert error_of(page, "day") == tr("Enter a real date as dd/mm/yyyy, for example 04/12/2026.")
    r = admin.post("/admin/holidays", {"day": "30/01/2031", "name": "Tết"})  # as Vietnamese write
    assert r.status_code == 303
    with db.connection_context():
        assert Holiday.get(Holiday.day == dt.date(2031, 1, 30)).name == "Tết"

    r = admin.post("/admin/holidays", {"day": "2031-01-23", "name": "Tết Nguyên Đán"})
    assert (r.status_code, r.headers["location"]) == (303, "/admin/holidays?year=2031")
    page = text_of(admin.get("/admin/holidays?year=2031"))
    assert "Tết Nguyên Đán" in page and tr("Day added to the calendar.") in page
    r = admin.post("/admin/holidays", {"day": "2031-01-23", "name": "Again"})
    assert r.status_code == 422
    assert error_of(text_of(r), "day") == tr("This day is already in the calendar.")

    with db.connection_context():
        holiday = Holiday.get(Holiday.name == "Tết Nguyên Đán")
    assert admin.post(f"/admin/holidays/{holiday.id}/delete", csrf=False).status_code == 403
    r = admin.post(f"/admin/holidays/{holiday.id}/delete")
    assert r.status_code == 303
    with db.connection_context():
        assert [h.day for h in Holiday.select()] == [dt.date(2031, 1, 30)]
    assert admin.post(f"/admin/holidays/{holiday.id}/delete").status_code == 404
    # Only administrators.
    assert sessions["officer"].get("/admin/holidays").status_code == 403
    assert sessions["officer"].post("/admin/holidays", {"day": "2031-01-24", "name": "x"}
                                    ).status_code == 403


def test_changes_to_the_calendar_are_on_the_record(sessions, forms):
    """Adding, removing and confirming days off change every deadline: each is a history event
    naming the administrator, the day and its source."""
    admin = sessions["admin"]
    admin.post("/admin/holidays", {"day": "2031-01-23", "name": "Tết", "source": "Thông báo 1"})
    with db.connection_context():
        holiday = Holiday.get(Holiday.day == dt.date(2031, 1, 23))
    assert admin.post("/admin/holidays", {"day": "2031-01-24", "name": "Tết"}).status_code == 303
    assert admin.post("/admin/holidays/years/2031/confirm").status_code == 303
    assert admin.post(f"/admin/holidays/{holiday.id}/delete").status_code == 303
    refused = admin.post("/admin/holidays/years/2031/confirm")  # confirmed already: nothing new
    assert refused.status_code == 409
    with db.connection_context():
        events = list(
            DossierEvent.select()
            .where(DossierEvent.action.startswith("holiday"))
            .order_by(DossierEvent.id)
        )
        admin_user = User.get(User.role == "admin")
    assert [(e.action, e.note) for e in events] == [
        ("holiday_added", "2031-01-23 holiday: Tết (Thông báo 1)"),
        ("holiday_added", "2031-01-24 holiday: Tết"),
        ("holidays_confirmed", "2031"),
        ("holiday_removed", "2031-01-23 holiday: Tết (Thông báo 1)"),
    ]
    assert {(e.actor_id, e.actor_role, e.public) for e in events} == {
        (admin_user.id, "admin", False)
    }


# --- list filters -----------------------------------------------------------------------------

def test_the_lists_filters_show_what_was_chosen_and_filter_by_it(sessions):
    did = submitted(sessions["enterprise"])
    code = code_of(did)
    mine = sessions["enterprise"].get("/dossiers", params={"status": str(NEW), "q": code[:4]})
    assert f'<option value="{NEW}" selected>' in mine.text
    assert 'name="q" type="search" value="02CI"' in mine.text and code in mine.text
    other = sessions["enterprise"].get("/dossiers", params={"status": str(RECEIVED)})
    assert f'<option value="{RECEIVED}" selected>' in other.text and code not in other.text
    assert " selected>" not in sessions["enterprise"].get("/dossiers").text

    officer = sessions["officer"]
    params = {"view": "all", "status": str(NEW), "sort": "-due", "procedure": PROCEDURE}
    inbox = officer.get("/officer/inbox", params=params)
    assert f'<option value="{NEW}" selected>' in inbox.text
    assert '<option value="-due" selected>' in inbox.text
    assert f'name="procedure" type="search" value="{PROCEDURE}"' in inbox.text
    assert '<input type="hidden" name="view" value="all">' in inbox.text and code in inbox.text
    fragment = officer.get("/officer/inbox", params={**params, "procedure": "1.000000"}, headers=HX)
    assert fragment.status_code == 200 and code not in fragment.text
