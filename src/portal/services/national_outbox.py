"""The status sync's outbox: every status change of a dossier becomes a message row written in
the change's own transaction (`services/history.record` calls `on_status_change`, the one
hook), and the worker delivers the rows to the National Public Service Portal.

Delivery keeps each dossier's messages in order: only the oldest message not yet sent may go,
so a later one waits while an earlier one is pending or failed. A worker takes a message with
a lease (a conditional UPDATE that one worker alone wins, on SQLite and PostgreSQL), sends it,
and records the answer: sent; or retried after `retry_seconds × 2^(attempts-1)` (at most an
hour); or failed after `max_attempts`, when an administrator sends it again (/admin/sync).
While PORTAL_NATIONAL_SYNC_URL is empty (portal.sync_switch) no rows are written at all."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass

from peewee import fn

from portal import background, sync_switch
from portal.config import NationalSync
from portal.db import reading, transactional
from portal.models import (
    Attachment,
    Dossier,
    DossierEvent,
    Enterprise,
    NationalMessage,
    Payment,
    Procedure,
    Unit,
    User,
    utcnow,
)
from portal.services import fees, national_delivery
from portal.services.national_message import DossierFacts, FeeFact, FileFact, StepFact, build
from portal.services.status import RETURNED

MAX_DELAY = 3600
LEASE_MARGIN = 30  # seconds a lease outlives the request's time-out


# --- writing messages (inside the status change's transaction) ----------------------------


def _files(dossier: Dossier) -> tuple[list[FileFact], list[FileFact]]:
    """The dossier's submitted files and its result documents, without the confidential ones
    (their names do not leave the portal). A file customs staff attached, other than a result,
    is a paper document scanned at the counter: digitised."""
    submitted, results = [], []
    query = (
        Attachment.select(Attachment, User.role)
        .join(User, on=(Attachment.uploaded_by == User.id))
        .where(Attachment.dossier == dossier.id, Attachment.confidential == False)  # noqa: E712
        .order_by(Attachment.id)
    )
    for a in query:
        document = a.document.name if a.document_id else ""
        scanned = a.uploaded_by.role != "enterprise"
        if a.purpose == "result":
            results.append(FileFact(a.served_name, document, a.sha256, digitised=False))
        else:
            submitted.append(FileFact(a.served_name, document, a.sha256, digitised=scanned))
    return submitted, results


def _fees(dossier: Dossier) -> list[FeeFact]:
    out = []
    payments = Payment.select().where(Payment.dossier == dossier.id, Payment.status != "cancelled")
    for payment in payments.order_by(Payment.id):
        for item in fees.items_of(payment.items):
            out.append(
                FeeFact(item.label, item.quantity, item.unit_amount, item.amount, payment.is_paid)
            )
    return out


def _steps(dossier: Dossier) -> list[StepFact]:
    events = DossierEvent.select().where(DossierEvent.dossier == dossier.id)
    return [
        StepFact(
            e.created_at,
            e.action,
            e.status_before,
            e.status_after,
            e.actor_name,
            e.actor_role,
            e.actor_unit,
            e.note if e.public else "",
        )
        for e in events.order_by(DossierEvent.id)
        if e.status_after != e.status_before
    ]


def facts_of(dossier: Dossier) -> DossierFacts:
    """What the message says of `dossier` now (read in the caller's transaction)."""
    proc = Procedure.get_by_id(dossier.procedure_id)
    applicant = Enterprise.get_by_id(dossier.enterprise_id)
    unit = Unit.get_by_id(dossier.unit_id) if dossier.unit_id else None
    submitted, results = _files(dossier)
    return DossierFacts(
        code=dossier.code or "",
        procedure_code=proc.code,
        procedure_name=proc.name,
        field=proc.field,
        channel=dossier.channel,
        owner_name=applicant.name,
        owner_kind=applicant.kind,
        owner_id=applicant.tax_code,
        status=dossier.status,
        received_at=dossier.received_at or dossier.submitted_at,
        due_at=dossier.due_at,
        returned_at=dossier.finished_at if dossier.status == RETURNED else None,
        unit_code=unit.code if unit else "",
        unit_name=unit.name if unit else "",
        files=submitted,
        fees=_fees(dossier),
        results=results,
        steps=_steps(dossier),
    )


def on_status_change(dossier: Dossier, event: DossierEvent) -> NationalMessage | None:
    """Write the message of `event` (a change of the dossier's status) in the caller's
    transaction and ask the worker to deliver it once that commits; nothing while the sync
    is off."""
    if not sync_switch.enabled():
        return None
    dossier = Dossier.get_by_id(dossier.id)  # as the change left it
    earlier = NationalMessage.select().where(NationalMessage.dossier == dossier.id).count()
    key = uuid.uuid4().hex
    kind = "add" if earlier == 0 else "progress"
    payload = build(facts_of(dossier), kind=kind, key=key, sequence=earlier + 1)
    message = NationalMessage.create(
        dossier=dossier.id,
        event=event.id,
        key=key,
        kind=kind,
        status=dossier.status,
        payload=json.dumps(payload, ensure_ascii=False),
        created_at=event.created_at,
        next_attempt_at=event.created_at,
    )
    background.after_commit(background.NATIONAL_SYNC, dossier.id)
    return message


# --- delivering them (the worker) -----------------------------------------------------------


def backoff(attempts: int, base: int) -> int:
    """Seconds to wait before the next attempt after `attempts` failed ones."""
    return min(MAX_DELAY, base * 2 ** max(0, attempts - 1))


@transactional
def claim_next(dossier_id: int, lease_seconds: float, now: dt.datetime | None = None):
    """The dossier's oldest message not yet sent, leased to the caller, if it is due and no
    other worker holds it; else None (also while an earlier message has failed)."""
    now = now or utcnow()
    head = (
        NationalMessage.select()
        .where(NationalMessage.dossier == dossier_id, NationalMessage.state != "sent")
        .order_by(NationalMessage.id)
        .first()
    )
    if head is None or head.state != "pending" or head.next_attempt_at > now:
        return None
    if head.lease_until is not None and head.lease_until > now:
        return None
    won = (
        NationalMessage.update(
            lease_until=now + dt.timedelta(seconds=lease_seconds),
            attempts=NationalMessage.attempts + 1,
        )
        .where(
            NationalMessage.id == head.id,
            NationalMessage.state == "pending",
            NationalMessage.lease_until.is_null() | (NationalMessage.lease_until <= now),
        )
        .execute()
    )
    return NationalMessage.get_by_id(head.id) if won else None


@transactional
def settle(
    message_id: int,
    outcome: national_delivery.Outcome,
    link: NationalSync,
    now: dt.datetime | None = None,
) -> str:
    """Record what the receiver answered: sent, retried later or failed; the new state."""
    now = now or utcnow()
    message = NationalMessage.get_by_id(message_id)
    changes: dict = {
        "lease_until": None,
        "error_code": outcome.error_code,
        "error_message": outcome.message,
    }
    if outcome.ok:
        changes.update(state="sent", sent_at=now, error_code="", error_message="")
    elif message.attempts >= link.max_attempts:
        changes.update(state="failed")
    else:
        delay = backoff(message.attempts, link.retry_seconds)
        changes.update(next_attempt_at=now + dt.timedelta(seconds=delay))
    NationalMessage.update(**changes).where(NationalMessage.id == message_id).execute()
    return changes.get("state", "pending")


@dataclass(frozen=True)
class Delivery:
    sent: int
    retry_in: float | None  # seconds until the dossier's next message is due, if one waits


def deliver_dossier(dossier_id: int, link: NationalSync, now: dt.datetime | None = None):
    """Send the dossier's due messages in order until one fails or none is left; returns how
    many were sent and when to try again. Sends nothing while the sync is off."""
    sent = 0
    while link.enabled:
        message = claim_next(dossier_id, link.timeout + LEASE_MARGIN, now)
        if message is None:
            break
        outcome = national_delivery.send(
            link, message.kind, message.key, json.loads(message.payload)
        )
        if settle(message.id, outcome, link, now) != "sent":
            break
        sent += 1
    return Delivery(sent, _next_due_in(dossier_id, now))


@reading
def _next_due_in(dossier_id: int, now: dt.datetime | None) -> float | None:
    """Seconds until the dossier's next message is due; None when nothing waits for a time
    (all sent, the head failed and waits for an administrator, or a worker holds it)."""
    now = now or utcnow()
    head = (
        NationalMessage.select()
        .where(NationalMessage.dossier == dossier_id, NationalMessage.state != "sent")
        .order_by(NationalMessage.id)
        .first()
    )
    if head is None or head.state != "pending":
        return None
    if head.lease_until is not None and head.lease_until > now:
        return None
    return max(0.0, (head.next_attempt_at - now).total_seconds())


@reading
def due_dossier_ids(now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Dossiers with a pending message due now that no worker holds (the periodic flush)."""
    now = now or utcnow()
    query = (
        NationalMessage.select(NationalMessage.dossier)
        .where(
            NationalMessage.state == "pending",
            NationalMessage.next_attempt_at <= now,
            NationalMessage.lease_until.is_null() | (NationalMessage.lease_until <= now),
        )
        .group_by(NationalMessage.dossier)
        .order_by(fn.MIN(NationalMessage.id))
        .limit(limit)
    )
    return [row.dossier_id for row in query]
