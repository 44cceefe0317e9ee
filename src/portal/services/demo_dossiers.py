"""A few demo dossiers in different states, made through the same services users go through,
so a new demo has something in the inbox and in "My dossiers"."""

from __future__ import annotations

from portal.config import Settings
from portal.db import reading
from portal.models import Dossier, RequiredDocument, User
from portal.services import dossiers, payments, processing
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
    links = DownloadLinks.of(settings)
    owner, officer, leader = (Ctx(user=u, uploads=settings.uploads, links=links) for u in users)
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
    processing.upload_result(officer, third, "ket-qua-demo.pdf", [DEMO_PDF])
    processing.act(officer, third, "issue_result")
    processing.act(officer, third, "return_result", "Kết quả đã trả trực tuyến (demo).")
    fourth = _filed(owner)
    processing.act(officer, fourth, "receive")
    fees_due = payments.proposed(dossiers.load(fourth, officer.user))
    rows = [(i.label, str(i.amount)) for i in fees_due]
    payments.request_payment(officer, fourth, rows, "Đề nghị nộp lệ phí trực tuyến (demo).")
    return 4
