"""The public lookup of a dossier (*tra cứu hồ sơ*): anyone with its code and the applicant's
tax code sees its status, received date, promised date and handling unit, without logging in.
Nothing else: no names, no files, no notes.

The receipt's QR code carries a token signed with the portal's secret (itsdangerous, salt
"lookup") that names the dossier's code, so scanning it opens the lookup with nothing to type.
A wrong code and tax code pair, an unknown code, a draft and a forged or altered token are all
answered alike (`NOT_FOUND` next to the code), so the page tells nobody which codes exist.

Every attempt is counted per address in the bounded security log (never in the official
history: the visitor is anonymous) and an address that tried too often waits, as at login."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from itsdangerous import BadData, URLSafeSerializer

from portal.db import transactional
from portal.models import Dossier, Enterprise, Unit, utcnow
from portal.services import security_log
from portal.services.accounts import normalise_tax_code
from portal.services.errors import N_, Message, ValidationError
from portal.services.login_limits import Limit, Throttle, longest_wait
from portal.services.status import DRAFT, STATUS_LABELS

if TYPE_CHECKING:
    from portal.config import Settings

SALT = "lookup"
LOOKED_UP = "lookup"
# Attempts per address, found or not, in a sliding window (counted by the minute).
PER_ADDRESS = Limit("address", 10, dt.timedelta(minutes=15))
MAX_CODE = 32
MAX_TAX_CODE = 20
NOT_FOUND = N_("No dossier matches this code and tax code. Check both and try again.")


@dataclass(frozen=True)
class LookupLinks:
    """Makes and reads the lookup tokens of one deployment (its secret). A receipt is kept
    on paper, so its token does not expire."""

    secret: str

    @classmethod
    def of(cls, settings: Settings) -> LookupLinks:
        return cls(settings.secret_key)

    def token(self, code: str) -> str:
        return URLSafeSerializer(self.secret, salt=SALT).dumps(code)

    def read(self, token: str) -> str | None:
        """The dossier code a token names, or None when it is forged, altered or malformed."""
        try:
            code = URLSafeSerializer(self.secret, salt=SALT).loads(token)
        except BadData:
            return None
        return code if isinstance(code, str) and 0 < len(code) <= MAX_CODE else None


@dataclass(frozen=True)
class Found:
    """What the public may know of a dossier."""

    code: str
    status_label: str
    received_at: dt.datetime | None
    due_at: dt.datetime | None
    unit_code: str
    unit_name: str


@dataclass(frozen=True)
class Outcome:
    """A lookup's answer: the dossier, or the wait (`throttle`) when the address tried too
    often. A lookup that found nothing raises ValidationError instead."""

    found: Found | None = None
    throttle: Throttle | None = None

    def or_not_found(self) -> Outcome:
        """Itself, unless it found nothing: then ValidationError on the code."""
        if self.found is None and self.throttle is None:
            raise ValidationError({"code": Message(NOT_FOUND)})
        return self


def _clean(code: str, tax_code: str) -> tuple[str, str]:
    code = code.strip().upper()[:MAX_CODE]
    tax_code = normalise_tax_code(tax_code.strip())[:MAX_TAX_CODE]
    errors: dict[str, Message] = {}
    if not code:
        errors["code"] = Message(N_("Enter the dossier code."))
    if not tax_code:
        errors["tax_code"] = Message(N_("Enter the applicant's tax code."))
    if errors:
        raise ValidationError(errors)
    return code, tax_code


def _throttle(client_addr: str, now: dt.datetime) -> Throttle | None:
    return longest_wait([(PER_ADDRESS, client_addr[:64])], now, (LOOKED_UP,))


def _find(code: str | None, tax_code: str | None) -> Found | None:
    if not code:
        return None
    query = (
        Dossier.select(Dossier, Unit)
        .join(Enterprise, on=Dossier.enterprise == Enterprise.id)
        .switch(Dossier)
        .join(Unit, on=Dossier.unit == Unit.id)
        .where(Dossier.code == code, Dossier.status != DRAFT)
    )
    if tax_code is not None:
        query = query.where(Enterprise.tax_code == tax_code)
    dossier = query.first()
    if dossier is None:
        return None
    return Found(
        code=dossier.code,
        status_label=STATUS_LABELS[dossier.status],
        received_at=dossier.received_at,
        due_at=dossier.due_at,
        unit_code=dossier.unit.code,
        unit_name=dossier.unit.name,
    )


@transactional
def _attempt(code: str | None, tax_code: str | None, client_addr: str) -> Outcome:
    """Count the attempt and look; committed whatever is found (so not raising here)."""
    now = utcnow()
    wait = _throttle(client_addr, now)
    if wait is not None:  # refused attempts are not counted: the wait does not grow
        return Outcome(throttle=wait)
    security_log.add(LOOKED_UP, PER_ADDRESS.scope, client_addr[:64], now)
    return Outcome(found=_find(code, tax_code))


def look_up(code: str, tax_code: str, client_addr: str) -> Outcome:
    """The dossier `code` of the enterprise with `tax_code`. Raises ValidationError (on the
    code) alike for an unknown code, a wrong tax code and a draft; a form missing a field
    raises without counting."""
    code, tax_code = _clean(code, tax_code)
    return _attempt(code, tax_code, client_addr).or_not_found()


def look_up_token(token: str, links: LookupLinks, client_addr: str) -> Outcome:
    """The dossier a receipt's QR token names; a forged or altered token is answered like
    an unknown code (and counted like one)."""
    return _attempt(links.read(token[:500]), None, client_addr).or_not_found()
