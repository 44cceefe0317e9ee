"""A few demo dossiers in different states, made through the same services users go through,
so a new demo has something in the inbox and in "My dossiers"."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from portal.config import Settings
from portal.db import reading
from portal.models import Dossier, RegisteredSigner, RequiredDocument, User
from portal.services import demo_pki, dossiers, payments, processing, signers
from portal.services.access import Ctx
from portal.services.download_links import DownloadLinks

DEMO_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
ANSWERS = {
    "declaration_no": "105123456789",
    "declaration_date": "2026-11-20",
    "declaration_type": "Nhập khẩu",
    "reason": "Hàng hóa không nhập khẩu được (demo).",
}


@reading
def _users() -> tuple[User, User, User] | None:
    try:
        return (
            User.get(User.username == "doanhnghiep@example.vn"),
            User.get(User.username == "canbo.02ci"),
            User.get(User.username == "lanhdao.02ci"),
        )
    except User.DoesNotExist:
        return None


def result_pdf(code: str = "") -> bytes:
    """A one-page result document (unsigned) for the demo."""
    from fpdf import FPDF

    from portal.services.pdf_document import FONTS

    pdf = FPDF()
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSerif.ttf"))
    pdf.add_page()
    pdf.set_font("DejaVu", size=13)
    pdf.multi_cell(0, 8, "QUYẾT ĐỊNH (demo)\nChấp thuận hủy tờ khai hải quan " + code)
    return bytes(pdf.output())


@reading
def _leader_registered(unit_id: int, cert: bytes) -> bool:
    from asn1crypto import pem

    digest = hashlib.sha256(pem.unarmor(cert)[2]).hexdigest()
    return (RegisteredSigner.select()
            .where(RegisteredSigner.unit == unit_id, RegisteredSigner.cert_sha256 == digest,
                   RegisteredSigner.removed_at.is_null()).exists())


def register_demo_leader(settings: Settings) -> None:
    """Register the demo leader's certificate (demo PKI) to sign 02CI's results."""
    with_admin = _admin()
    leader = _users()
    if with_admin is None or leader is None:
        return
    cert = demo_pki.certificate(settings.data_dir, demo_pki.LEADER)
    if not _leader_registered(leader[2].unit_id, cert):
        signers.register(Ctx(user=with_admin), "2025:02CI", cert, "Chi cục trưởng")


@reading
def _admin() -> User | None:
    return User.get_or_none(User.username == "admin")


@reading
def _has_dossiers() -> bool:
    return Dossier.select().exists()


@reading
def _documents(dossier_id: int) -> list[int]:
    d = Dossier.get_by_id(dossier_id)
    return [
        r.id
        for r in RequiredDocument.select()
        .where(RequiredDocument.procedure == d.procedure_id)
        .order_by(RequiredDocument.position)
    ]


def _filed(ctx: Ctx) -> int:
    draft = dossiers.start_draft(ctx, "1.005458", "2025:02CI")  # the office of 2025
    dossiers.save_answers(ctx, draft.id, ANSWERS)
    for doc in _documents(draft.id):
        dossiers.add_attachment(ctx, draft.id, doc, "de-nghi-demo.pdf", [DEMO_PDF])
    return dossiers.submit(ctx, draft.id, "").id


def seed_dossiers(settings: Settings) -> int:
    """Four demo dossiers at the 2025 office 02CI (waiting, being processed, returned, and
    one whose fees the enterprise is asked to pay online); none if any exist.
    Their e-mails carry signed links to the receipt, slips and result, as the web's do."""
    users = _users()
    if users is None or _has_dossiers():
        return 0
    # The result is signed with the demo PKI's leader certificate, checked against its root.
    settings = replace(settings, trust_anchors=demo_pki.ensure(settings.data_dir))
    register_demo_leader(settings)
    links = DownloadLinks.of(settings)
    owner, officer, leader = (
        Ctx(user=u, uploads=settings.uploads, links=links, trust_anchors=settings.trust_anchors)
        for u in users
    )
    _filed(owner)
    second = _filed(owner)
    processing.act(officer, second, "receive")
    processing.act(officer, second, "start_processing")
    third = _filed(owner)
    for ctx, action in (
        (officer, "receive"),
        (officer, "start_processing"),
        (officer, "submit_for_approval"),
        (leader, "approve"),
    ):
        processing.act(ctx, third, action)
    signed = demo_pki.sign(settings.data_dir, result_pdf(), demo_pki.LEADER)
    processing.upload_result(officer, third, "ket-qua-demo.pdf", [signed])
    processing.act(officer, third, "issue_result")
    processing.act(officer, third, "return_result", "Kết quả đã trả trực tuyến (demo).")
    fourth = _filed(owner)
    processing.act(officer, fourth, "receive")
    fees_due = payments.proposed(dossiers.load(fourth, officer.user))
    rows = [(i.label, str(i.amount)) for i in fees_due]
    payments.request_payment(officer, fourth, rows, "Đề nghị nộp lệ phí trực tuyến (demo).")
    return 4
