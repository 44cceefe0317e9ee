"""Signed application documents (issue 14): for a procedure that requires them, every file the
enterprise attaches (application or supplement) is a PDF signed with a certificate that names
the enterprise's tax code (`UID=MST:<tax code>`), checked by `services.signatures` before the
file's row is written; the verified signature is kept with the attachment
(`DocumentSignature`), as a result's is."""

from __future__ import annotations

from pathlib import Path

from portal import storage
from portal.db import reading
from portal.models import (
    Attachment,
    DocumentSignature,
    Dossier,
    Enterprise,
    Procedure,
    RegisteredSigner,
)
from portal.services import signatures
from portal.services.access import Ctx
from portal.services.errors import N_, Message, ValidationError
from portal.services.signatures import Trust, Verdict

SIGNED_PDF_ONLY = N_(
    "This procedure requires PDF documents signed with your enterprise's digital certificate."
)
SIGNED_PURPOSES = ("application", "supplement")


@reading
def expected_tax_code(dossier_id: int, purpose: str, ctx: Ctx) -> str | None:
    """The tax code the signatures of this dossier's files must name, or None when the file
    need not be signed (the procedure does not require it, or staff attach it)."""
    if purpose not in SIGNED_PURPOSES or ctx.user is None or ctx.user.role != "enterprise":
        return None
    found = (Dossier.select(Procedure.requires_signature, Enterprise.tax_code)
             .join(Procedure, on=Dossier.procedure == Procedure.id)
             .switch(Dossier).join(Enterprise, on=Dossier.enterprise == Enterprise.id)
             .where(Dossier.id == dossier_id).tuples().first())
    if found is None or not found[0]:
        return None
    return found[1]


def check(ctx: Ctx, stored: storage.StoredFile, tax_code: str, field: str) -> Verdict:
    """The verified signature of a stored file, which must name `tax_code`; raises
    ValidationError on `field` saying what failed. Call outside a transaction (it may fetch
    CRL and OCSP answers)."""
    if stored.file_type != "pdf":
        raise ValidationError({field: Message(SIGNED_PDF_ONLY)})
    data = (Path(ctx.uploads) / stored.stored_name).read_bytes()
    verdict = signatures.verify(data, Trust.load(ctx.trust_anchors))
    problem = verdict.problem or verdict.names_enterprise(tax_code)
    if problem is not None:
        raise ValidationError({field: problem})
    return verdict


def signed_results(dossier_id: int) -> frozenset[int]:
    """The dossier's result files that carry a registered signer's verified signature (the
    only results that count: `processing` and the dossier's page ask here)."""
    query = (
        DocumentSignature.select(DocumentSignature.attachment)
        .join(Attachment)
        .where(
            Attachment.dossier == dossier_id,
            Attachment.purpose == "result",
            DocumentSignature.registered_signer.is_null(False),
        )
    )
    return frozenset(s.attachment_id for s in query)


def record(
    attachment: Attachment, verdict: Verdict, signer: RegisteredSigner | None = None
) -> DocumentSignature:
    """Keep who signed the attachment and when, as verified (inside the transaction)."""
    return DocumentSignature.create(
        attachment=attachment, signer_name=verdict.signer_name or "?",
        signer_title=verdict.signer_title, signer_org=verdict.signer_org,
        signer_uid=verdict.signer_uid[:64], cert_sha256=verdict.cert_sha256,
        issuer=verdict.issuer, signed_at=verdict.signed_at, registered_signer=signer)
