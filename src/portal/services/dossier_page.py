"""What a submitted dossier's page and receipt show besides the dossier itself, each read in
one trip to a worker thread (one connection; never on the event loop, which every request of
the process waits on)."""

from __future__ import annotations

import functools
from typing import Any

import segno

from portal.db import reading
from portal.models import Attachment, DocumentSignature, Rating, Slip
from portal.services import history, inbox, national_sync, payments, satisfaction
from portal.services.dossiers import DossierView


def _slips(dossier_id: int) -> list[Slip]:
    return list(Slip.select().where(Slip.dossier == dossier_id).order_by(Slip.id))


@reading
def slips(dossier_id: int) -> list[Slip]:
    """The slips issued for the dossier, oldest first."""
    return _slips(dossier_id)


@functools.lru_cache(maxsize=256)
def _qr(url: str) -> str:
    """The receipt's QR code as a data: URI. Encoding it takes some 6 ms of a core, and the
    code it carries never changes: a receipt seen again is drawn from memory."""
    return segno.make(url, error="m").svg_data_uri(scale=3, border=2)


def qr_code(url: str) -> str:
    """A QR code to `url` as a data: URI (drawn once per URL)."""
    return _qr(url)


def _signatures(dossier_id: int) -> dict[int, DocumentSignature]:
    query = (DocumentSignature.select().join(Attachment)
             .where(Attachment.dossier == dossier_id))
    return {s.attachment_id: s for s in query}


@reading
def receipt_extras(dossier_id: int, track_url: str) -> tuple[str, list[Slip]]:
    """The receipt's QR code (to `track_url`) and the dossier's slips."""
    return _qr(track_url), _slips(dossier_id)


@reading
def page_extras(view: DossierView) -> dict[str, Any]:
    """The timeline (the applicant's view of it for the owner), the slips, the payments and,
    for the unit's staff, the officers and units it can be forwarded to and the items a
    payment request would ask (the procedure's fees for the dossier's answers), and for the
    applicant the rating given or whether it may rate the dossier now."""
    did, unit_id = view.dossier.id, view.dossier.unit_id
    # the applicant's rating, shown to the applicant (the history shows that it was given)
    rating = Rating.get_or_none(Rating.dossier == did) if view.is_owner else None
    return {
        "timeline": history.timeline(did, for_applicant=view.is_owner),
        "slips": _slips(did),
        "signatures": _signatures(did),
        "payments": payments.payments_of(did),
        "officers": inbox.unit_officers(unit_id) if view.is_staff else [],
        "units": inbox.forward_units(unit_id) if view.is_staff else [],
        "proposed": payments.proposed(view) if view.is_staff else [],
        # the status sync with the national portal, for the unit's staff
        "sync": national_sync.state_of(did) if view.is_staff else None,
        "sync_labels": national_sync.STATE_LABELS,
        "rating": rating,
        "may_rate": satisfaction.may_rate(view.actor, view.dossier, rating),
        "rating_questions": satisfaction.QUESTIONS,
        "rating_levels": satisfaction.LEVEL_NAMES,
    }
