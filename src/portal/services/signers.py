"""The certificates that sign a unit's results: its leader's, or another signer's an
administrator registered for the unit (by uploading the certificate, PEM or DER). A result is
accepted only when its signature is valid and made with one of these (`processing`).
Registering and removing are on the record (history events without a dossier); a removed
signer is kept, with the time it was removed, so results it signed still name it."""

from __future__ import annotations

import hashlib

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509

from portal.db import reading, transactional
from portal.models import RegisteredSigner, Unit, utcnow
from portal.services import history
from portal.services.access import Ctx
from portal.services.errors import N_, DomainError, Message, NotFound, ValidationError
from portal.services.history import Actor
from portal.services.text import clean
from portal.services.units import find_unit

MAX_CERT_BYTES = 64 * 1024
NOT_A_CERTIFICATE = N_("Attach the signer's certificate (a .pem, .cer or .crt file).")
ALREADY = N_("This certificate is already registered for this unit.")


def _require_admin(ctx: Ctx) -> None:
    if ctx.user is None or ctx.user.role != "admin" or not ctx.user.active:
        raise DomainError(N_("Only an administrator may do this."), kind="forbidden")


def read_certificate(data: bytes) -> asn1_x509.Certificate:
    """The certificate of a PEM or DER file; raises ValidationError on `certificate`."""
    try:
        if pem.detect(data):
            _, _, data = pem.unarmor(data)
        cert = asn1_x509.Certificate.load(data)
        cert.subject.native  # noqa: B018 - parses the whole structure
        cert.not_valid_after  # noqa: B018
    except Exception:  # noqa: BLE001 - any malformed file is answered alike
        raise ValidationError({"certificate": Message(NOT_A_CERTIFICATE)}) from None
    return cert


@reading
def current() -> list[RegisteredSigner]:
    """The signers registered now, by unit and name (their units joined)."""
    return list(RegisteredSigner.select(RegisteredSigner, Unit).join(Unit)
                .where(RegisteredSigner.removed_at.is_null())
                .order_by(Unit.structure.desc(), Unit.code, RegisteredSigner.name))


@reading
def get(signer_id: int) -> RegisteredSigner:
    """A current signer (its unit joined); raises NotFound."""
    found = (RegisteredSigner.select(RegisteredSigner, Unit).join(Unit)
             .where(RegisteredSigner.id == signer_id, RegisteredSigner.removed_at.is_null())
             .first())
    if found is None:
        raise NotFound("signer")
    return found


def registered(unit_id: int, cert_sha256: str) -> RegisteredSigner | None:
    """The unit's current signer with this certificate, or None (inside a transaction)."""
    return RegisteredSigner.get_or_none(
        RegisteredSigner.unit == unit_id, RegisteredSigner.cert_sha256 == cert_sha256,
        RegisteredSigner.removed_at.is_null())


@transactional
def register(ctx: Ctx, unit_ref: str, certificate: bytes, title: str = "") -> RegisteredSigner:
    """Register the certificate (PEM or DER bytes) as one that signs the results of the
    unit `unit_ref` names ("02CI", "2025:02CI"); raises DomainError (not an administrator)
    or ValidationError."""
    _require_admin(ctx)
    unit = find_unit(unit_ref or "") if (unit_ref or "").strip() else None
    if unit is None:
        raise ValidationError({"unit": Message(N_("Choose a unit by its code."))})
    if not certificate or len(certificate) > MAX_CERT_BYTES:
        raise ValidationError({"certificate": Message(NOT_A_CERTIFICATE)})
    cert = read_certificate(certificate)
    digest = hashlib.sha256(cert.dump()).hexdigest()
    if registered(unit.id, digest) is not None:
        raise ValidationError({"certificate": Message(ALREADY)})
    subject = cert.subject.native
    name = subject.get("common_name") or cert.subject.human_friendly
    title = clean(title or "")[:255] or str(subject.get("title") or "")[:255]
    signer = RegisteredSigner.create(
        unit=unit, name=str(name)[:255], title=title, cert_sha256=digest,
        subject=cert.subject.human_friendly, issuer=cert.issuer.human_friendly,
        serial=format(cert.serial_number, "x")[:64],
        not_after=cert.not_valid_after.replace(tzinfo=None), registered_by=ctx.user.id)
    history.record(Actor.of(ctx.user, ctx.client_addr), "signer_registered",
                   note=f"{unit.code}: {signer.name} ({digest[:16]})", public=False)
    return signer


@transactional
def remove(ctx: Ctx, signer_id: int) -> RegisteredSigner:
    """Stop accepting the signer's certificate for new results; raises NotFound or
    DomainError."""
    _require_admin(ctx)
    signer = RegisteredSigner.get_or_none(RegisteredSigner.id == signer_id,
                                          RegisteredSigner.removed_at.is_null())
    if signer is None:
        raise NotFound("signer")
    RegisteredSigner.update(removed_at=utcnow()).where(
        RegisteredSigner.id == signer.id).execute()
    unit = Unit.get_by_id(signer.unit_id)
    history.record(Actor.of(ctx.user, ctx.client_addr), "signer_removed",
                   note=f"{unit.code}: {signer.name} ({signer.cert_sha256[:16]})", public=False)
    return RegisteredSigner.get_by_id(signer.id)
