"""Signed application documents and activation by certificate (issue 14): for a procedure that
requires them, the enterprise's files are PDFs signed with a valid certificate naming its tax
code, refused with the reason otherwise; a pending enterprise account is activated by a PDF
signed with such a certificate."""

from __future__ import annotations

import pytest

from portal.db import db
from portal.models import DocumentSignature, DossierEvent, OutgoingMail, Procedure, User
from portal.services import dossiers, enrolment, signatures, signed_documents
from portal.services.errors import DomainError, ValidationError
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import GOOD_ANSWERS, PNG, PROCEDURE, UNIT, documents
from tests.dossier_web_fixtures import text_of, tr
from tests.helpers import csrf_from
from tests.pki import OTHER_TAX_CODE, make_pdf, sign_pdf

OWNER_TAX = "0100112437"  # the enterprise of conftest's make_user("enterprise")


@pytest.fixture
def requires_signature(forms):
    with db.connection_context():
        Procedure.update(requires_signature=True).where(Procedure.code == PROCEDURE).execute()


@pytest.fixture(scope="module")
def owner_cert(pki):
    return pki.issue("Công ty A", uid=f"MST:{OWNER_TAX}", org="Công ty A")


def draft_of(ctx) -> int:
    draft = dossiers.start_draft(ctx, PROCEDURE, UNIT)
    assert dossiers.save_answers(ctx, draft.id, GOOD_ANSWERS) == {}
    return draft.id


def refusal(ctx, did: int, data: bytes, name: str = "don.pdf", doc: int = 0):
    first = documents()[doc]
    with pytest.raises(ValidationError) as caught:
        dossiers.add_attachment(ctx, did, first.id, name, [data])
    return caught.value.errors[f"doc-{first.id}"]


def test_each_bad_document_is_refused_with_its_reason(people, ctx_of, requires_signature,
                                                      pki, owner_cert, settings):
    owner = ctx_of(people.owner)
    did = draft_of(owner)
    blank = make_pdf("Đơn đề nghị")
    assert refusal(owner, did, blank).text == signatures.NO_SIGNATURE
    assert refusal(owner, did, PNG, "anh.png", doc=1).text == signed_documents.SIGNED_PDF_ONLY
    wrong = refusal(owner, did, sign_pdf(blank, pki.other_enterprise, pki))
    assert wrong.text == signatures.WRONG_TAX_CODE
    assert wrong.params == {"found": OTHER_TAX_CODE, "expected": OWNER_TAX}
    revoked = pki.issue("Công ty A (thu hồi)", uid=f"MST:{OWNER_TAX}")
    pki.revoked.add(revoked.cert.serial_number)
    assert refusal(owner, did, sign_pdf(blank, revoked, pki)).text == signatures.REVOKED
    assert refusal(owner, did, sign_pdf(blank, pki.leader, pki)).text == signatures.NO_TAX_CODE
    # Nothing was kept of the refused files.
    assert not settings.uploads.exists() or not [p for p in settings.uploads.iterdir()
                                                 if p.is_file()]


def test_a_document_signed_by_the_enterprise_is_kept_with_its_signature(
        people, ctx_of, requires_signature, pki, owner_cert):
    owner = ctx_of(people.owner)
    did = draft_of(owner)
    first = documents()[0]
    att = dossiers.add_attachment(owner, did, first.id, "don.pdf",
                                  [sign_pdf(make_pdf("Đơn đề nghị"), owner_cert, pki)])
    with db.connection_context():
        sig = DocumentSignature.get(DocumentSignature.attachment == att.id)
    assert sig.signer_name == "Công ty A" and sig.signer_uid == f"MST:{OWNER_TAX}"
    assert sig.registered_signer_id is None and sig.signed_at is not None


def test_unflagged_procedures_take_unsigned_files(people, ctx_of, forms):
    owner = ctx_of(people.owner)
    did = draft_of(owner)
    att = dossiers.add_attachment(owner, did, documents()[0].id, "don.pdf", [make_pdf("x")])
    assert att.id


# --- activation by certificate --------------------------------------------------------------


def pending(user: User) -> None:
    with db.connection_context():
        User.update(enterprise_status="pending").where(User.id == user.id).execute()


def status_of(user: User) -> str:
    with db.connection_context():
        return User.get_by_id(user.id).enterprise_status


def test_a_certificate_naming_the_tax_code_activates_a_pending_account(
        people, ctx_of, pki, owner_cert):
    pending(people.owner)
    ctx = ctx_of(people.owner)
    with pytest.raises(ValidationError) as caught:
        enrolment.activate_by_certificate(ctx, [sign_pdf(make_pdf(), pki.other_enterprise, pki)])
    assert caught.value.errors["signed_file"].text == signatures.WRONG_TAX_CODE
    assert status_of(people.owner) == "pending"
    enrolment.activate_by_certificate(ctx, [sign_pdf(make_pdf(), owner_cert, pki)])
    assert status_of(people.owner) == "active"
    with db.connection_context():
        event = DossierEvent.select().order_by(DossierEvent.id.desc()).first()
        mail = OutgoingMail.select().order_by(OutgoingMail.id.desc()).first()
    assert event.action == "enterprise_activated" and "(certificate)" in event.note
    assert owner_cert.fingerprint[:16] in event.note and event.actor_id == people.owner.id
    assert mail.to_addr == people.owner.email
    with pytest.raises(DomainError):  # once only
        enrolment.activate_by_certificate(ctx, [sign_pdf(make_pdf(), owner_cert, pki)])


def test_the_account_page_activates_with_a_signed_pdf(client, login, people, pki, owner_cert):
    pending(people.owner)
    login(people.owner)
    page = client.get("/account")
    assert tr("Activate with your digital certificate") in text_of(page)
    token = csrf_from(page.text)

    def send(data: bytes):
        return client.post("/account/certificate", data={"csrf_token": token},
                           files={"signed_file": ("ky.pdf", data, "application/pdf")},
                           follow_redirects=False)

    r = send(sign_pdf(make_pdf(), pki.expired, pki))
    assert r.status_code == 422
    assert 'id="f-signed_file-error"' in r.text and tr(signatures.EXPIRED) in text_of(r)
    r = send(sign_pdf(make_pdf(), owner_cert, pki))
    assert r.status_code == 303 and status_of(people.owner) == "active"
    assert tr("Activate with your digital certificate") not in text_of(client.get("/account"))
