"""The status sync as people see it: each dossier's sync state (its unit's staff, on the
dossier page), the failed deliveries an administrator lists at /admin/sync with the receiver's
error, and sending a failed one again (services/national_outbox.py does the rest)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from peewee import fn

from portal import background, sync_switch
from portal.db import reading, transactional
from portal.models import Dossier, NationalMessage, User, utcnow
from portal.services import history
from portal.services.errors import N_, DomainError, NotFound

FAILED_PAGE = 100
NOT_FAILED = N_("This message has not failed: it is being sent or was sent already.")
# What the dossier page says of each sync state (SyncState.label).
STATE_LABELS = {
    "off": N_("Not synced: the link to the National Public Service Portal is not configured"),
    "none": N_("Nothing to send yet"),
    "pending": N_("Waiting to be sent"),
    "synced": N_("Up to date"),
    "failed": N_("Delivery failed: an administrator must send it again"),
}


@dataclass(frozen=True)
class SyncState:
    """A dossier's sync with the national portal: counts, and the latest error if any."""

    enabled: bool
    sent: int
    pending: int
    failed: int
    last_sent_at: dt.datetime | None
    error_code: str
    error_message: str

    @property
    def label(self) -> str:
        """off | none | failed | pending | synced (the dossier page names each)."""
        if self.failed:
            return "failed"
        if self.pending:
            return "pending"
        if self.sent:
            return "synced"
        return "none" if self.enabled else "off"


@reading
def state_of(dossier_id: int) -> SyncState:
    """The dossier's sync state (shown to the unit's staff on the dossier page)."""
    rows = list(
        NationalMessage.select(
            NationalMessage.state,
            NationalMessage.sent_at,
            NationalMessage.error_code,
            NationalMessage.error_message,
        )
        .where(NationalMessage.dossier == dossier_id)
        .order_by(NationalMessage.id)
    )
    states = [r.state for r in rows]
    sent_times = [r.sent_at for r in rows if r.sent_at]
    errors = [r for r in rows if r.state != "sent" and r.error_code]
    return SyncState(
        enabled=sync_switch.enabled(),
        sent=states.count("sent"),
        pending=states.count("pending"),
        failed=states.count("failed"),
        last_sent_at=max(sent_times) if sent_times else None,
        error_code=errors[0].error_code if errors else "",
        error_message=errors[0].error_message if errors else "",
    )


@dataclass(frozen=True)
class FailedRow:
    id: int
    key: str  # the idempotency key the receiver knows it by
    dossier_id: int  # administrators do not open dossiers: its code is not shown to them
    status: int
    kind: str
    attempts: int
    error_code: str
    error_message: str
    created_at: dt.datetime


@reading
def failed(limit: int | None = FAILED_PAGE, message_id: int | None = None) -> list[FailedRow]:
    """The failed deliveries, oldest first (the administrator's page), or the one of that id."""
    query = (
        NationalMessage.select()
        .where(NationalMessage.state == "failed")
        .order_by(NationalMessage.id)
        .limit(limit)
    )
    if message_id is not None:
        query = query.where(NationalMessage.id == message_id)
    return [
        FailedRow(
            m.id,
            m.key,
            m.dossier_id,
            m.status,
            m.kind,
            m.attempts,
            m.error_code,
            m.error_message,
            m.created_at,
        )
        for m in query
    ]


@reading
def counts() -> dict[str, int]:
    """How many messages are in each state."""
    query = NationalMessage.select(NationalMessage.state, fn.COUNT(NationalMessage.id).alias("n"))
    found = {row.state: row.n for row in query.group_by(NationalMessage.state)}
    return {state: found.get(state, 0) for state in ("pending", "sent", "failed")}


@reading
def failed_row(message_id: int) -> FailedRow:
    """One failed delivery (the retry's confirmation); raises NotFound unless it failed."""
    found = failed(limit=None, message_id=message_id)
    if not found:
        raise NotFound("message")
    return found[0]


@dataclass(frozen=True)
class Overview:
    enabled: bool
    counts: dict[str, int]
    failed: list[FailedRow]


def overview() -> Overview:
    """The administrator's page: whether the sync is on, the messages per state, the failed."""
    return Overview(sync_switch.enabled(), counts(), failed())


@transactional
def retry(actor: User, message_id: int) -> str:
    """Send a failed message again from its first attempt (an administrator's decision, on the
    record); returns its key. Raises NotFound, or DomainError when it has not failed."""
    message = NationalMessage.get_or_none(NationalMessage.id == message_id)
    if message is None:
        raise NotFound("message")
    updated = (
        NationalMessage.update(
            state="pending", attempts=0, next_attempt_at=utcnow(), lease_until=None
        )
        .where(NationalMessage.id == message_id, NationalMessage.state == "failed")
        .execute()
    )
    if not updated:
        raise DomainError(NOT_FAILED, kind="conflict")
    dossier = Dossier.get_by_id(message.dossier_id)
    note = f"{message.key} ({message.error_code}: {message.error_message})"[:2000]
    history.note(history.Actor.of(actor), "national_sync_retry", dossier, note)
    background.after_commit(background.NATIONAL_SYNC, dossier.id)
    return message.key
