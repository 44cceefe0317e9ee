"""The public check of a result (*xác thực kết quả*): anyone holding a document can learn
whether it is the one the portal issued for a dossier, unchanged, and who signed it, without
logging in and without the page ever showing or serving the document.

Asked by the dossier code and the document's SHA-256 fingerprint (typed, or computed from a
file the visitor chooses, which the server hashes and discards), or by the signed token of a
QR code (the receipt's and the dossier page's: salt "verify", naming the dossier code), which
lists the fingerprints and signers of the dossier's issued results so the holder can compare.
Only results issued (status 9 or 10) with a registered signer's verified signature count. An
unknown code and a wrong fingerprint are answered alike. Attempts are counted per address in
the security log and throttled as the public lookup is."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from itsdangerous import BadData, URLSafeSerializer

from portal.db import transactional
from portal.models import Attachment, DocumentSignature, Dossier, Unit, utcnow
from portal.services import security_log
from portal.services.errors import N_, Message, ValidationError
from portal.services.login_limits import Limit, Throttle, longest_wait
from portal.services.status import PROCESSED, RETURNED

if TYPE_CHECKING:
    from portal.config import Settings

SALT = "verify"
VERIFIED = "verify"
PER_ADDRESS = Limit("address", 20, dt.timedelta(minutes=15))
MAX_CODE = 32
NOT_ISSUED = N_(
    "The portal issued no result with this fingerprint for this dossier: the document is not "
    "the one issued, or it was changed."
)
BAD_FINGERPRINT = N_("Enter the 64 characters of the SHA-256 fingerprint (0-9, a-f).")


@dataclass(frozen=True)
class VerifyLinks:
    """Makes and reads the QR codes' tokens of one deployment (its secret)."""

    secret: str

    @classmethod
    def of(cls, settings: Settings) -> VerifyLinks:
        return cls(settings.secret_key)

    def token(self, code: str) -> str:
        return URLSafeSerializer(self.secret, salt=SALT).dumps(code)

    def read(self, token: str) -> str | None:
        try:
            code = URLSafeSerializer(self.secret, salt=SALT).loads(token[:500])
        except BadData:
            return None
        return code if isinstance(code, str) and 0 < len(code) <= MAX_CODE else None


@dataclass(frozen=True)
class Issued:
    """An issued result as the public may know it."""

    code: str
    fingerprint: str
    signer_name: str
    signer_title: str
    signer_org: str
    signed_at: dt.datetime | None
    unit_name: str


@dataclass(frozen=True)
class Answer:
    """The results found (empty: the dossier has none issued yet), or the wait when the address
    asked too often."""

    results: tuple[Issued, ...] = ()
    throttle: Throttle | None = None


def clean_fingerprint(text: str) -> str:
    return re.sub(r"[\s:]", "", text or "").lower()[:80]


def _issued(code: str, fingerprint: str | None) -> tuple[Issued, ...]:
    query = (
        Attachment.select(Attachment, DocumentSignature, Dossier, Unit)
        .join(DocumentSignature)
        .switch(Attachment)
        .join(Dossier)
        .join(Unit, on=Dossier.unit == Unit.id)
        .where(
            Dossier.code == code,
            Dossier.status.in_((PROCESSED, RETURNED)),
            Attachment.purpose == "result",
            DocumentSignature.registered_signer.is_null(False),
        )
        .order_by(Attachment.id)
    )
    if fingerprint is not None:
        query = query.where(Attachment.sha256 == fingerprint)
    found = []
    for att in query:
        sig = att.documentsignature
        found.append(Issued(code, att.sha256, sig.signer_name, sig.signer_title, sig.signer_org,
                            sig.signed_at, att.dossier.unit.name))
    return tuple(found)


@transactional
def _attempt(code: str | None, fingerprint: str | None, client_addr: str) -> Answer:
    now = utcnow()
    wait = longest_wait([(PER_ADDRESS, client_addr[:64])], now, (VERIFIED,))
    if wait is not None:
        return Answer(throttle=wait)
    security_log.add(VERIFIED, PER_ADDRESS.scope, client_addr[:64], now)
    return Answer(results=_issued(code, fingerprint) if code else ())


def verify(code: str, fingerprint: str, client_addr: str) -> Answer:
    """The issued result of dossier `code` whose file has this SHA-256 fingerprint; raises
    ValidationError (a field missing or malformed; on the fingerprint when nothing matches)."""
    code = (code or "").strip().upper()[:MAX_CODE]
    fingerprint = clean_fingerprint(fingerprint)
    errors: dict[str, Message] = {}
    if not code:
        errors["code"] = Message(N_("Enter the dossier code."))
    if not re.fullmatch(r"[0-9a-f]{64}", fingerprint):
        errors["fingerprint"] = Message(BAD_FINGERPRINT)
    if errors:
        raise ValidationError(errors)
    answer = _attempt(code, fingerprint, client_addr)
    if answer.throttle is None and not answer.results:
        raise ValidationError({"fingerprint": Message(NOT_ISSUED)})
    return answer


def verify_token(token: str, links: VerifyLinks, client_addr: str) -> Answer:
    """The issued results of the dossier a QR token names (none for a forged token or a
    dossier without an issued result)."""
    return _attempt(links.read(token), None, client_addr)
