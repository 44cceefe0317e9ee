"""Verifying a signed PDF (PAdES) with pyHanko and its certificate validator: the signature
is intact and covers the whole document, the certificate chains to a configured trust anchor,
was valid when the document was signed and at the check, and is not revoked (CRL or OCSP,
`services.revocation`, hard-fail: an unknown status is a refusal). The answer says who signed
(the subject's name, title, organisation and UID, where Vietnamese certificates carry
`MST:<tax code>` or `CCCD:`/`CMND:` numbers), when, and the file's SHA-256 fingerprint, or
exactly which check failed as a message for the user.

Trust anchors are configuration (PORTAL_TRUST_ANCHORS: a PEM bundle or a folder of PEM/DER
certificates, see the README); `Trust.load` reads them once per process."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import io
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509

from portal.models import utcnow
from portal.services import revocation
from portal.services.errors import N_, Message

log = logging.getLogger(__name__)

NO_SIGNATURE = N_("The file has no digital signature.")
UNREADABLE = N_("The file could not be read as a signed PDF.")
CHANGED = N_("The document was changed after it was signed.")
PARTIAL = N_("The signature does not cover the whole document.")
BROKEN = N_("The signature does not match the document or its certificate.")
UNTRUSTED = N_("The signer's certificate does not chain to a trusted root certificate.")
EXPIRED = N_(
    "The signer's certificate had expired or was not yet valid when the document was signed."
)
REVOKED = N_("The signer's certificate is revoked.")
UNCHECKED = N_(
    "The revocation status of the signer's certificate could not be checked (CRL or OCSP)."
)
WRONG_TAX_CODE = N_("The certificate names tax code %(found)s, not your enterprise's %(expected)s.")
NO_TAX_CODE = N_("The certificate names no tax code (MST:); your enterprise's is %(expected)s.")

_REVOKED = {"REVOKED", "REVOKED_NO_POE", "REVOKED_CA_NO_POE"}
_OUT_OF_TIME = {"EXPIRED", "NOT_YET_VALID", "OUT_OF_BOUNDS_NO_POE", "OUT_OF_BOUNDS_NOT_REVOKED"}
_UNTRUSTED = {"NO_CERTIFICATE_CHAIN_FOUND", "NO_CERTIFICATE_CHAIN_FOUND_NO_POE",
              "CHAIN_CONSTRAINTS_FAILURE", "CERTIFICATE_CHAIN_GENERAL_FAILURE"}
_UNCHECKED = {"TRY_LATER", "REVOCATION_OUT_OF_BOUNDS_NO_POE"}


@dataclass(frozen=True)
class Trust:
    """The trust anchors signatures must chain to."""

    roots: tuple[asn1_x509.Certificate, ...] = ()

    @classmethod
    def load(cls, path: Path | None) -> Trust:
        """The certificates of a PEM bundle, or of every file of a folder (PEM or DER);
        no path: no anchors (every signature is refused as untrusted)."""
        if path is None:
            return cls()
        return _load(str(path))


@functools.lru_cache(maxsize=8)
def _load(path: str) -> Trust:
    where = Path(path)
    files = sorted(p for p in where.iterdir() if p.is_file()) if where.is_dir() else [where]
    roots: list[asn1_x509.Certificate] = []
    for file in files:
        data = file.read_bytes()
        if pem.detect(data):
            roots += [asn1_x509.Certificate.load(der) for _, _, der in pem.unarmor(data, True)]
        else:
            roots.append(asn1_x509.Certificate.load(data))
    return Trust(tuple(roots))


@dataclass(frozen=True)
class Verdict:
    """What the check found: `problem` is None when the signature is valid."""

    fingerprint: str  # SHA-256 of the file
    problem: Message | None = None
    signer_name: str = ""
    signer_title: str = ""
    signer_org: str = ""
    signer_uids: tuple[str, ...] = ()
    issuer: str = ""
    cert_sha256: str = ""
    signed_at: dt.datetime | None = None  # as the signer reported it, UTC

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def tax_code(self) -> str:
        """The tax code the certificate names (UID `MST:…`), or ""."""
        for uid in self.signer_uids:
            if uid.upper().startswith("MST:"):
                return uid[4:].strip()
        return ""

    @property
    def signer_uid(self) -> str:
        return self.signer_uids[0] if self.signer_uids else ""

    def names_enterprise(self, tax_code: str) -> Message | None:
        """Why the certificate does not name the enterprise of `tax_code`, or None. A branch's
        13-digit code (0101234567-001) is named by its 10-digit parent too."""
        found = self.tax_code.replace("-", "")
        if not found:
            return Message(NO_TAX_CODE, expected=tax_code)
        if found != tax_code.replace("-", "") and found != tax_code.replace("-", "")[:10]:
            return Message(WRONG_TAX_CODE, found=self.tax_code, expected=tax_code)
        return None


def fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _values(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return (str(value),)


def _signer(cert: asn1_x509.Certificate) -> dict[str, object]:
    subject = cert.subject.native
    return {
        "signer_name": ", ".join(_values(subject.get("common_name")))[:255],
        "signer_title": ", ".join(_values(subject.get("title")))[:255],
        "signer_org": ", ".join(_values(subject.get("organization_name")))[:255],
        "signer_uids": _values(subject.get("user_id")),
        "issuer": cert.issuer.human_friendly[:1000],
        "cert_sha256": hashlib.sha256(cert.dump()).hexdigest(),
    }


def verify(data: bytes, trust: Trust, now: dt.datetime | None = None) -> Verdict:
    """Check the last signature of the PDF `data` against `trust`; never raises for what a
    client can send (the problem is in the answer). pyHanko's synchronous API runs an event
    loop of its own: called where one runs already, the check runs in a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _verify(data, trust, now)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_verify, data, trust, now).result()


def _verify(data: bytes, trust: Trust, now: dt.datetime | None) -> Verdict:
    print_ = fingerprint(data)
    try:
        from pyhanko.pdf_utils.reader import PdfFileReader

        signatures = PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures
    except Exception:  # noqa: BLE001 - any malformed file is answered alike
        return Verdict(print_, Message(UNREADABLE))
    if not signatures:
        return Verdict(print_, Message(NO_SIGNATURE))
    try:
        return _check(signatures[-1], trust, print_, now or utcnow())
    except Exception:  # noqa: BLE001 - pyHanko raises many kinds on broken structures
        log.warning("signature check failed", exc_info=True)
        return Verdict(print_, Message(UNREADABLE))


def _validate(signature, trust: Trust, chain: list, revinfo: tuple, now: dt.datetime,
              mode: str):
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    crls, answers = revinfo
    context = ValidationContext(
        trust_roots=list(trust.roots), other_certs=chain[1:], crls=crls, ocsps=answers,
        allow_fetching=False, revocation_mode=mode, moment=now.replace(tzinfo=dt.UTC),
    )
    return validate_pdf_signature(signature, context)


def _check(signature, trust: Trust, print_: str, now: dt.datetime) -> Verdict:
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    cert = signature.signer_cert
    chain = [cert] + [c.chosen for c in signature.signed_data["certificates"]
                      if c.name == "certificate" and c.chosen.dump() != cert.dump()]
    revinfo = revocation.gather(chain, now)
    status = _validate(signature, trust, chain, revinfo, now, "hard-fail")
    reported = status.signer_reported_dt
    signed_at = reported.astimezone(dt.UTC).replace(tzinfo=None) if reported else None
    verdict = functools.partial(Verdict, print_, signed_at=signed_at, **_signer(cert))
    diff = status.diff_result
    level = getattr(diff, "modification_level", None)
    if not status.intact or (diff is not None and level is None):
        return verdict(problem=Message(CHANGED))  # a digest mismatch or a suspicious update
    if level is not None and level > ModificationLevel.LTA_UPDATES:
        return verdict(problem=Message(CHANGED))
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        return verdict(problem=Message(PARTIAL))
    if not status.valid:
        return verdict(problem=Message(BROKEN))
    problem = _trust_problem(status.trust_problem_indic)
    if problem == UNTRUSTED:
        # Missing revocation answers fail the path like a missing root does: a path that
        # holds once revocation is not required lacked only those answers.
        soft = _validate(signature, trust, chain, revinfo, now, "soft-fail")
        if soft.trust_problem_indic is None:
            problem = UNCHECKED
    if problem is None and signed_at is not None and not _valid_at(cert, signed_at):
        problem = EXPIRED
    return verdict(problem=Message(problem) if problem else None)


def _trust_problem(indic) -> str | None:
    if indic is None:
        return None
    name = indic.name
    for names, message in ((_REVOKED, REVOKED), (_OUT_OF_TIME, EXPIRED),
                           (_UNTRUSTED, UNTRUSTED), (_UNCHECKED, UNCHECKED)):
        if name in names:
            return message
    return UNTRUSTED


def _valid_at(cert: asn1_x509.Certificate, moment: dt.datetime) -> bool:
    validity = cert["tbs_certificate"]["validity"]
    start = validity["not_before"].native.astimezone(dt.UTC).replace(tzinfo=None)
    end = validity["not_after"].native.astimezone(dt.UTC).replace(tzinfo=None)
    return start <= moment <= end
