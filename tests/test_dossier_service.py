"""A dossier of procedure 1.005458 at unit 02CI, through the services with real users: drafts,
answers, attachments, submission, the officer's and the leader's actions, the history chain,
access across units and enterprises, and confidential documents."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from portal.db import db, is_postgres
from portal.models import (
    Attachment,
    Dossier,
    DossierEvent,
    DossierSequence,
    Notification,
    RequiredDocument,
    Slip,
    utcnow,
)
from portal.services import dossiers, history, payments, processing, signatures
from portal.services.deadlines import Calendar, to_local, to_utc
from portal.services.errors import DomainError, NotFound, ValidationError
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import (
    EXE,
    GOOD_ANSWERS,
    PDF,
    PNG,
    PROCEDURE,
    UNIT,
    UNIT_REF,
    complete_draft,
    documents,
    uploaded_files,
)
from tests.pki import make_pdf
from tests.real_files import docx


def dossier(dossier_id: int) -> Dossier:
    with db.connection_context():
        return Dossier.get_by_id(dossier_id)


def events(dossier_id: int) -> list[DossierEvent]:
    return history.timeline(dossier_id, for_applicant=False)


def tamper(event_id: int, note: str) -> None:
    param = "%s" if is_postgres() else "?"
    with db.connection_context(), db.atomic():
        db.execute_sql(f"UPDATE dossier_event SET note={param} WHERE id={param}",
                       (note, event_id))


# --- drafts and attachments ----------------------------------------------------------------

def test_draft_answers_are_kept_with_their_format_problems(people, ctx_of):
    ctx = ctx_of(people.owner)
    draft = dossiers.start_draft(ctx, PROCEDURE, UNIT)
    assert draft.status == 0 and draft.code is None
    problems = dossiers.save_answers(ctx, draft.id, {
        "declaration_no": "12345", "declaration_date": "2025-02-30",
        "declaration_type": "Tạm nhập", "reason": "  Khai sai  ", "unknown": "x"})
    assert set(problems) == {"declaration_no", "declaration_date", "declaration_type"}
    data = json.loads(dossier(draft.id).form_data)
    assert data == {"declaration_no": "12345", "declaration_date": "2025-02-30",
                    "declaration_type": "Tạm nhập", "reason": "Khai sai"}
    # A later save changes only what it names, and the problems go away when corrected.
    assert dossiers.save_answers(ctx, draft.id, {"declaration_no": "105123456789",
                                                 "declaration_date": "2025-02-28",
                                                 "declaration_type": "Xuất khẩu"}) == {}
    data = json.loads(dossier(draft.id).form_data)
    assert data["reason"] == "Khai sai" and data["declaration_no"] == "105123456789"
    # Nobody else may write into it, not even the handling unit's officers.
    with pytest.raises(NotFound):
        dossiers.save_answers(ctx_of(people.officer), draft.id, {"reason": "x"})
    with pytest.raises(NotFound):
        dossiers.save_answers(ctx_of(people.stranger), draft.id, {"reason": "x"})
    with pytest.raises(NotFound):
        dossiers.load(draft.id, people.officer)  # a draft is not shown to the unit


def test_an_answer_too_long_is_reported_not_cut(people, ctx_of):
    ctx = ctx_of(people.owner)
    draft = dossiers.start_draft(ctx, PROCEDURE, UNIT)
    problems = dossiers.save_answers(ctx, draft.id, {**GOOD_ANSWERS,
                                                     "declaration_no": "1051234567890"})
    # Kept as typed, and reported: not silently cut to 12 digits.
    assert "declaration_no" in problems
    assert json.loads(dossier(draft.id).form_data)["declaration_no"] == "1051234567890"
    with pytest.raises(ValidationError) as caught:
        dossiers.submit(ctx, draft.id, "too-long")
    assert "declaration_no" in caught.value.errors


def test_draft_needs_a_competent_unit(people, ctx_of):
    with pytest.raises(ValidationError) as caught:
        dossiers.start_draft(ctx_of(people.owner), PROCEDURE, "TCHQ")
    assert "unit" in caught.value.errors
    with pytest.raises(NotFound):
        dossiers.start_draft(ctx_of(people.owner), "9.999999", UNIT)


def test_attachments_are_typed_by_content_and_refused_files_leave_nothing(people, ctx_of,
                                                                         settings):
    ctx = ctx_of(people.owner, max_upload_bytes=4096)
    draft = dossiers.start_draft(ctx, PROCEDURE, UNIT)
    first, second = documents()
    pdf = dossiers.add_attachment(ctx, draft.id, first.id, "../../etc/Đơn đề nghị.pdf", [PDF])
    assert pdf.content_type == "application/pdf" and pdf.size == len(PDF)
    assert pdf.original_name == "Đơn đề nghị.pdf"
    png = dossiers.add_attachment(ctx, draft.id, second.id, "anh.png", [PNG[:10], PNG[10:]])
    assert png.content_type == "image/png" and png.size == len(PNG)
    kept = uploaded_files(settings.uploads)
    assert kept == {pdf.stored_name, png.stored_name}
    assert (settings.uploads / pdf.stored_name).read_bytes() == PDF

    # An executable named .pdf, a PNG or a DOCX where only PDF/XML are accepted, an empty
    # file, a file over the limit: refused on the document's field, and nothing stays on disk.
    refused = [(first, "setup.pdf", [EXE], "type"), (first, "anh.png", [PNG], "type"),
               (first, "don.docx", [docx()], "type"),
               (second, "empty.pdf", [b""], "empty"),
               (second, "big.pdf", [PDF, b"0" * 4096], "too_large")]
    for doc, name, chunks, _reason in refused:
        with pytest.raises(ValidationError) as caught:
            dossiers.add_attachment(ctx, draft.id, doc.id, name, chunks)
        assert list(caught.value.errors) == [f"doc-{doc.id}"]
    assert uploaded_files(settings.uploads) == kept
    with db.connection_context():
        assert Attachment.select().where(Attachment.dossier == draft.id).count() == 2

    # A single-file document is replaced, and the old file is removed after the commit.
    again = dossiers.add_attachment(ctx, draft.id, first.id, "moi.pdf", [PDF + b"%v2\n"])
    assert uploaded_files(settings.uploads) == {again.stored_name, png.stored_name}
    # The second document takes several files.
    more = dossiers.add_attachment(ctx, draft.id, second.id, "them.pdf", [PDF])
    with db.connection_context():
        names = {a.original_name for a in Attachment.select().where(
            Attachment.dossier == draft.id)}
    assert names == {"moi.pdf", "anh.png", "them.pdf"}
    assert more.stored_name in uploaded_files(settings.uploads)


def test_max_files_per_dossier(people, ctx_of, settings):
    ctx = ctx_of(people.owner, max_files=2)
    draft = dossiers.start_draft(ctx, PROCEDURE, UNIT)
    _, second = documents()
    for _ in range(2):
        dossiers.add_attachment(ctx, draft.id, second.id, "a.pdf", [PDF])
    with pytest.raises(ValidationError) as caught:
        dossiers.add_attachment(ctx, draft.id, second.id, "a.pdf", [PDF])
    assert f"doc-{second.id}" in caught.value.errors
    assert len(uploaded_files(settings.uploads)) == 2


# --- submission ----------------------------------------------------------------------------

def test_submit_lists_what_is_missing_then_gets_a_code_once(people, ctx_of):
    ctx = ctx_of(people.owner)
    draft = dossiers.start_draft(ctx, PROCEDURE, UNIT)
    first, second = documents()
    dossiers.save_answers(ctx, draft.id, {"declaration_no": "105123456789"})
    dossiers.add_attachment(ctx, draft.id, first.id, "a.pdf", [PDF])
    with pytest.raises(ValidationError) as caught:
        dossiers.submit(ctx, draft.id, "key-1")
    assert set(caught.value.errors) == {"declaration_date", "declaration_type", "reason",
                                        f"doc-{second.id}"}
    assert dossier(draft.id).status == 0 and dossier(draft.id).code is None
    assert events(draft.id) == []

    dossiers.save_answers(ctx, draft.id, GOOD_ANSWERS)
    dossiers.add_attachment(ctx, draft.id, second.id, "b.png", [PNG])
    submitted = dossiers.submit(ctx, draft.id, "key-1")
    assert re.fullmatch(r"02CI-\d{6}-0001", submitted.code)
    assert submitted.code[5:11] == to_local(submitted.submitted_at).strftime("%y%m%d")
    assert submitted.status == 1
    # The same key again (a double click): the same dossier, no second code or event.
    again = dossiers.submit(ctx, draft.id, "key-1")
    assert (again.id, again.code) == (submitted.id, submitted.code)
    with db.connection_context():
        assert DossierSequence.get().last == 1
    assert [e.action for e in events(draft.id)] == ["submit"]
    # Without the key, a second submission is refused: it is no longer a draft.
    with pytest.raises(DomainError, match="no longer be changed"):
        dossiers.submit(ctx, draft.id, "key-2")
    # The unit's officers are told.
    with db.connection_context():
        assert Notification.select().where(Notification.user == people.officer.id,
                                           Notification.dossier == draft.id).count() == 1
    # The next dossier of the unit that day gets 0002.
    other = complete_draft(ctx)
    assert dossiers.submit(ctx, other, "key-3").code == submitted.code[:-4] + "0002"


def test_a_submit_key_of_another_enterprise_is_not_returned(people, ctx_of):
    mine = dossiers.submit(ctx_of(people.owner), complete_draft(ctx_of(people.owner)), "k")
    with pytest.raises(NotFound):
        # Replaying the owner's key does not hand the owner's dossier to another enterprise.
        dossiers.submit(ctx_of(people.stranger), mine.id, "k")


# --- the whole life ------------------------------------------------------------------------

def test_the_whole_life_of_a_dossier(people, ctx_of, settings, signed_result):
    owner, officer, officer2, leader = (ctx_of(people.owner), ctx_of(people.officer),
                                        ctx_of(people.officer2), ctx_of(people.leader))
    dossier_id = complete_draft(owner)
    dossiers.submit(owner, dossier_id, "life")

    # Reception: the due date comes from the procedure's 5 working days on the calendar.
    received = processing.act(officer, dossier_id, "receive")
    assert received.status == 2 and received.received_at is not None
    expected_due = to_utc(Calendar().due(to_local(received.received_at), 5, "working_days"))
    assert received.due_at == expected_due
    assert dt.timedelta(days=4) < received.due_at - received.received_at < dt.timedelta(days=10)
    with db.connection_context():
        slip = Slip.get(Slip.dossier == dossier_id)
    assert (slip.kind, slip.due_at, slip.issued_by) == ("receipt", expected_due, "Cán bộ Một")

    # A supplement needs a reason; the clock stops meanwhile.
    with pytest.raises(ValidationError) as caught:
        processing.act(officer, dossier_id, "request_supplement", "   ")
    assert "note" in caught.value.errors
    paused = processing.act(officer, dossier_id, "request_supplement", "Thiếu hóa đơn.")
    assert paused.status == 5 and paused.paused_at is not None and paused.resume_status == 4
    assert processing.deadline_flag(paused) == ""  # the clock does not run
    # The owner cannot send the supplement without a new file.
    with pytest.raises(ValidationError) as caught:
        processing.act(owner, dossier_id, "supplement")
    assert "files" in caught.value.errors
    assert dossier(dossier_id).status == 5
    # The applicant waited a week (moved back in the database to keep the test fast).
    with db.connection_context():
        Dossier.update(paused_at=paused.paused_at - dt.timedelta(days=7)).where(
            Dossier.id == dossier_id).execute()
    _, second = documents()
    dossiers.add_attachment(owner, dossier_id, second.id, "hoa-don.pdf", [PDF],
                            purpose="supplement")
    resumed = processing.act(owner, dossier_id, "supplement")
    assert resumed.status == 4 and resumed.paused_at is None and resumed.resume_status is None
    # A week of waiting is five working days: the due date moves a week later (the
    # minutes are counted whole, so a few seconds may be lost).
    moved = resumed.due_at - received.due_at
    assert dt.timedelta(days=7) - dt.timedelta(minutes=3) <= moved <= dt.timedelta(days=7)

    # Forward to a colleague, who submits it for approval.
    with pytest.raises(ValidationError):
        processing.act(officer, dossier_id, "forward", "Chuyển xử lý", to_user=people.leader.id
                       + 1000)
    forwarded = processing.act(officer, dossier_id, "forward", "Chuyển xử lý",
                               to_user=people.officer2.id)
    assert forwarded.assigned_to_id == people.officer2.id and forwarded.status == 4
    pending = processing.act(officer2, dossier_id, "submit_for_approval")
    assert pending.approval == "pending"
    with pytest.raises(DomainError) as caught:
        processing.act(officer2, dossier_id, "approve")
    assert caught.value.kind == "forbidden"
    with pytest.raises(DomainError) as caught:
        processing.act(owner, dossier_id, "approve")
    assert caught.value.kind == "forbidden"
    approved = processing.act(leader, dossier_id, "approve")
    assert approved.approval == "approved"

    # The result: refused without the signed file, allowed after it is uploaded.
    with pytest.raises(DomainError) as caught:
        processing.act(officer2, dossier_id, "issue_result")
    assert caught.value.kind == "conflict" and "result document" in caught.value.message.text
    with pytest.raises(DomainError) as caught:
        processing.upload_result(owner, dossier_id, "kq.pdf", [PDF])
    assert caught.value.kind == "forbidden"
    with pytest.raises(ValidationError):
        processing.upload_result(officer2, dossier_id, "kq.png", [PNG])
    with pytest.raises(ValidationError) as caught:  # not signed
        processing.upload_result(officer2, dossier_id, "kq.pdf", [make_pdf("Chưa ký")])
    assert caught.value.errors["result"].text == signatures.NO_SIGNATURE
    result = processing.upload_result(officer2, dossier_id, "ket-qua.pdf", [signed_result])
    assert result.purpose == "result"
    # The owner cannot download the result before it is issued.
    with pytest.raises(NotFound):
        processing.open_attachment(owner, dossier_id, result.id)
    issued = processing.act(officer2, dossier_id, "issue_result")
    assert issued.status == 9
    assert processing.open_attachment(owner, dossier_id, result.id).id == result.id
    returned = processing.act(officer2, dossier_id, "return_result")
    assert returned.status == 10 and returned.finished_at is not None
    with pytest.raises(DomainError) as caught:
        processing.act(officer2, dossier_id, "return_result")
    assert caught.value.kind == "conflict"

    # One event per step, with who did it and the status before and after.
    steps = [(e.action, e.actor_id, e.actor_role, e.actor_unit, e.status_before, e.status_after)
             for e in events(dossier_id)]
    o, a, b, lead = people.owner.id, people.officer.id, people.officer2.id, people.leader.id
    assert steps == [
        ("submit", o, "enterprise", "", 0, 1),
        ("receive", a, "officer", UNIT_REF, 1, 2),
        ("request_supplement", a, "officer", UNIT_REF, 2, 5),
        ("add_file", o, "enterprise", "", 5, 5),  # a supplement's file is on the record
        ("supplement", o, "enterprise", "", 5, 4),
        ("forward", a, "officer", UNIT_REF, 4, 4),
        ("submit_for_approval", b, "officer", UNIT_REF, 4, 4),
        ("approve", lead, "leader", UNIT_REF, 4, 4),
        ("attach_result", b, "officer", UNIT_REF, 4, 4),  # its signer is on the record
        ("issue_result", b, "officer", UNIT_REF, 4, 9),
        ("return_result", b, "officer", UNIT_REF, 9, 10),
    ]
    assert all(e.client_addr == "203.0.113.7" for e in events(dossier_id))
    # The applicant sees the public steps only.
    public = [e.action for e in history.timeline(dossier_id, for_applicant=True)]
    assert public == ["submit", "receive", "request_supplement", "add_file", "supplement",
                      "forward", "issue_result", "return_result"]
    with db.connection_context():
        assert [s.kind for s in Slip.select().where(Slip.dossier == dossier_id)
                .order_by(Slip.id)] == ["receipt", "supplement"]

    # The chain holds; a note changed behind the code's back is found, by its event.
    checked, broken, problem = history.verify_chain()
    # 11 events of the dossier and the registration of the result's signer
    assert (checked, broken, problem) == (12, None, "")
    target = events(dossier_id)[4]
    tamper(target.id, "Đã sửa")
    checked, broken, problem = history.verify_chain()
    assert broken == target.id and checked == 6  # the registration, then 5 of the dossier
    assert "does not match its hash" in problem


def test_the_unit_officers_only(people, ctx_of):
    owner = ctx_of(people.owner)
    dossier_id = complete_draft(owner)
    dossiers.submit(owner, dossier_id, "u")
    with pytest.raises(NotFound):
        processing.act(ctx_of(people.far_officer), dossier_id, "receive")
    with pytest.raises(NotFound):
        dossiers.load(dossier_id, people.far_officer)
    with pytest.raises(NotFound):
        dossiers.load(dossier_id, people.stranger)
    with pytest.raises(NotFound):
        processing.act(ctx_of(people.stranger), dossier_id, "withdraw", "x")
    with pytest.raises(NotFound):
        processing.assign(ctx_of(people.far_officer), dossier_id, None)
    # Users of the same enterprise share its dossiers.
    view = dossiers.load(dossier_id, people.colleague)
    assert view.actor == "owner" and view.data == GOOD_ANSWERS
    assert dossiers.load(dossier_id, people.officer).actor == "officer"
    # Nothing was written by the refused attempts.
    assert [e.action for e in events(dossier_id)] == ["submit"]
    assert dossier(dossier_id).status == 1


def test_forward_to_another_unit_hands_the_dossier_over(people, ctx_of, make_user):
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    dossier_id = complete_draft(owner)
    dossiers.submit(owner, dossier_id, "f")
    processing.act(officer, dossier_id, "receive")
    with pytest.raises(ValidationError):
        processing.act(officer, dossier_id, "forward", "x", to_unit=UNIT)
    moved = processing.act(officer, dossier_id, "forward", "Sang 01AB", to_unit="01AB")
    assert moved.unit_id == people.far_officer.unit_id and moved.assigned_to_id is None
    assert moved.status == 4
    fee = [("Lệ phí làm thủ tục hải quan", "20000")]
    with pytest.raises(NotFound):
        payments.request_payment(officer, dossier_id, fee, "Nộp phí")
    far = ctx_of(people.far_officer)
    assert processing.assign(far, dossier_id, None).assigned_to_id == people.far_officer.id
    assert payments.request_payment(far, dossier_id, fee, "Nộp phí").total == 20000
    assert dossier(dossier_id).status == 6
    forward = [e for e in events(dossier_id) if e.action == "forward"][0]
    assert (forward.actor_unit, forward.note) == (UNIT_REF, "Sang 01AB")


def test_withdraw_ends_the_dossier(people, ctx_of):
    owner = ctx_of(people.owner)
    dossier_id = complete_draft(owner)
    dossiers.submit(owner, dossier_id, "w")
    with pytest.raises(DomainError) as caught:
        processing.act(ctx_of(people.officer), dossier_id, "withdraw", "x")
    assert caught.value.kind == "forbidden"
    with pytest.raises(ValidationError):
        processing.act(owner, dossier_id, "withdraw")
    withdrawn = processing.act(ctx_of(people.colleague), dossier_id, "withdraw", "Không cần nữa")
    assert withdrawn.status == 7 and withdrawn.finished_at is not None
    for ctx, action in [(ctx_of(people.officer), "receive"), (owner, "withdraw"),
                        (ctx_of(people.officer), "request_supplement")]:
        with pytest.raises(DomainError) as caught:
            processing.act(ctx, dossier_id, action, "x")
        assert caught.value.kind == "conflict"
    with pytest.raises(DomainError):
        processing.assign(ctx_of(people.officer), dossier_id, None)
    assert [e.action for e in events(dossier_id)] == ["submit", "withdraw"]


def test_illegal_transitions_are_409_and_write_nothing(people, ctx_of):
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    dossier_id = complete_draft(owner)
    dossiers.submit(owner, dossier_id, "i")
    for action in ("return_result", "issue_result", "start_processing", "approve"):
        ctx = ctx_of(people.leader) if action == "approve" else officer
        with pytest.raises(DomainError) as caught:
            processing.act(ctx, dossier_id, action)
        assert caught.value.kind == "conflict", action
    with pytest.raises(DomainError) as caught:  # a payment recorded at the counter
        payments.record_counter_payment(officer, dossier_id, "")
    assert caught.value.kind == "conflict"
    with pytest.raises(DomainError) as caught:  # the payment rows go through payments only
        processing.act(officer, dossier_id, "request_payment", "Nộp phí")
    assert caught.value.kind == "unknown"
    with pytest.raises(DomainError) as caught:
        processing.act(officer, dossier_id, "launch")
    assert caught.value.kind == "unknown"
    with pytest.raises(DomainError) as caught:
        processing.act(owner, dossier_id, "receive")
    assert caught.value.kind == "forbidden"
    assert dossier(dossier_id).status == 1 and len(events(dossier_id)) == 1


def test_refuse_reception_and_a_supplement_before_reception(people, ctx_of):
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    first = complete_draft(owner)
    dossiers.submit(owner, first, "r1")
    refused = processing.act(officer, first, "refuse_reception", "Sai đơn vị")
    assert refused.status == 3 and refused.finished_at is not None
    with db.connection_context():
        assert Slip.get(Slip.dossier == first).kind == "refusal"

    second = complete_draft(owner)
    dossiers.submit(owner, second, "r2")
    asked = processing.act(officer, second, "request_supplement", "Bổ sung chứng từ")
    assert asked.status == 5 and asked.paused_at is None  # no clock yet
    _, doc = documents()
    dossiers.add_attachment(owner, second, doc.id, "bs.png", [PNG], purpose="supplement")
    back = processing.act(owner, second, "supplement")
    assert back.status == 1 and back.due_at is None  # back to waiting for reception


def test_assign_claims_the_dossier(people, ctx_of):
    owner = ctx_of(people.owner)
    dossier_id = complete_draft(owner)
    dossiers.submit(owner, dossier_id, "a")
    assert processing.assign(ctx_of(people.officer), dossier_id, None).assigned_to_id == \
        people.officer.id
    assert processing.assign(ctx_of(people.leader), dossier_id,
                             people.officer2.id).assigned_to_id == people.officer2.id
    with pytest.raises(ValidationError):
        processing.assign(ctx_of(people.leader), dossier_id, people.far_officer.id)
    with pytest.raises(DomainError) as caught:
        processing.assign(owner, dossier_id, None)
    assert caught.value.kind == "forbidden"
    assign_events = [e for e in events(dossier_id) if e.action == "assign"]
    assert [e.note for e in assign_events] == ["Cán bộ Một", "Cán bộ Hai"]
    assert not any(e.public for e in assign_events)


# --- confidential documents ----------------------------------------------------------------

def test_confidential_documents(people, ctx_of):
    first, second = documents()
    with db.connection_context():
        RequiredDocument.update(confidential=True).where(RequiredDocument.id == first.id).execute()
    owner = ctx_of(people.owner)
    dossier_id = complete_draft(owner)
    dossiers.submit(owner, dossier_id, "c")
    with db.connection_context():
        secret = Attachment.get(Attachment.dossier == dossier_id, Attachment.document == first.id)
        plain = Attachment.get(Attachment.dossier == dossier_id, Attachment.document == second.id)
    assert secret.confidential and not plain.confidential

    # The owner and a colleague of the same enterprise open it, unrecorded.
    assert processing.open_attachment(owner, dossier_id, secret.id).id == secret.id
    assert processing.open_attachment(ctx_of(people.colleague), dossier_id, secret.id)
    # An officer of the unit without clearance does not; neither does a cleared officer of
    # another unit, nor another enterprise.
    for user in (people.officer, people.far_officer, people.stranger):
        with pytest.raises(NotFound):
            processing.open_attachment(ctx_of(user), dossier_id, secret.id)
    # Everybody of the unit opens the ordinary file, unrecorded.
    assert processing.open_attachment(ctx_of(people.officer), dossier_id, plain.id).id == plain.id
    assert [e.action for e in events(dossier_id)] == ["submit"]
    # Cleared officers and leaders of the unit open it; each opening is recorded.
    for user in (people.officer2, people.leader, people.officer2):
        assert processing.open_attachment(ctx_of(user), dossier_id, secret.id).id == secret.id
    views = [e for e in events(dossier_id) if e.action == "view_confidential"]
    assert [(e.actor_id, e.note, e.public, e.status_before, e.status_after) for e in views] == [
        (people.officer2.id, "don-de-nghi.pdf", False, 1, 1),
        (people.leader.id, "don-de-nghi.pdf", False, 1, 1),
        (people.officer2.id, "don-de-nghi.pdf", False, 1, 1),
    ]
    assert [e.action for e in history.timeline(dossier_id, for_applicant=True)] == ["submit"]
    # An attachment of another dossier is not found through this one.
    other = complete_draft(owner)
    dossiers.submit(owner, other, "c2")
    with pytest.raises(NotFound):
        processing.open_attachment(ctx_of(people.officer2), other, secret.id)
    assert history.verify_chain()[1:] == (None, "")


def test_deadline_flag(people, ctx_of):
    owner = ctx_of(people.owner)
    dossier_id = complete_draft(owner)
    dossiers.submit(owner, dossier_id, "d")
    assert processing.deadline_flag(dossier(dossier_id)) == ""  # not received: no clock
    received = processing.act(ctx_of(people.officer), dossier_id, "receive")
    due = received.due_at
    assert processing.deadline_flag(received, due - dt.timedelta(days=2)) == ""
    assert processing.deadline_flag(received, due - dt.timedelta(hours=3)) == "due_soon"
    assert processing.deadline_flag(received, due + dt.timedelta(seconds=1)) == "overdue"
    assert processing.deadline_flag(received, utcnow()) == ""
