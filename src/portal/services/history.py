"""The official processing history: append-only events, each carrying the hash of the one
before it. This module only ever inserts events; nothing in the code updates or deletes them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from portal.db import db, is_postgres, reading
from portal.models import Dossier, DossierEvent, HistoryHead, User, utcnow

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who acts, as the history records it: a snapshot that later changes to the user keep."""

    user_id: int | None
    name: str
    role: str
    unit: str
    client_addr: str = ""

    @classmethod
    def of(cls, user: User | None, client_addr: str = "") -> Actor:
        if user is None:
            return cls(None, "system", "system", "", client_addr)
        unit = user.unit.code if user.unit_id else ""
        return cls(user.id, user.full_name, user.role, unit, client_addr)


SYSTEM = Actor(None, "system", "system", "")


def _digest(prev_hash: str, e: DossierEvent) -> str:
    fields = [
        prev_hash,
        str(e.dossier_id or ""),
        str(e.actor_id or ""),
        e.actor_name,
        e.actor_role,
        e.actor_unit,
        e.action,
        "" if e.status_before is None else str(e.status_before),
        "" if e.status_after is None else str(e.status_after),
        e.note,
        "1" if e.public else "0",
        e.client_addr,
        e.created_at.isoformat(timespec="microseconds"),
    ]
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


def ensure_head() -> None:
    """Create the chain's head row if the database has none (run by migrations)."""
    if not HistoryHead.select().exists():
        HistoryHead.create(last_hash=GENESIS, count=0)


def record(
    actor: Actor,
    action: str,
    *,
    dossier: Dossier | None = None,
    status_before: int | None = None,
    status_after: int | None = None,
    note: str = "",
    public: bool = True,
) -> DossierEvent:
    """Append an event; call inside the transaction of the change it records."""
    if db.transaction_depth() == 0:
        raise RuntimeError("history events are written inside the change's transaction")
    query = HistoryHead.select().order_by(HistoryHead.id)
    head = (query.for_update() if is_postgres() else query).first()
    if head is None:
        raise RuntimeError("the history chain has no head: run the migrations")
    event = DossierEvent(
        dossier=dossier,
        actor=actor.user_id,
        actor_name=actor.name[:255],
        actor_role=actor.role,
        actor_unit=actor.unit,
        action=action,
        status_before=status_before,
        status_after=status_after,
        note=note,
        public=public,
        client_addr=actor.client_addr[:64],
        created_at=utcnow(),
        prev_hash=head.last_hash,
    )
    event.hash = _digest(head.last_hash, event)
    event.save(force_insert=True)
    HistoryHead.update(last_hash=event.hash, count=HistoryHead.count + 1).where(
        HistoryHead.id == head.id
    ).execute()
    return event


def note(
    actor: Actor, action: str, dossier: Dossier, text: str = "", *, public: bool = False
) -> DossierEvent:
    """Append an event that leaves the dossier's status as it is (an assignment, an opened
    confidential file, an apology slip)."""
    return record(
        actor,
        action,
        dossier=dossier,
        status_before=dossier.status,
        status_after=dossier.status,
        note=text,
        public=public,
    )


@reading
def latest(dossier_id: int, action: str) -> DossierEvent | None:
    """The dossier's latest event of `action` (e.g. the supplement request that opened the
    current round), or None."""
    return (
        DossierEvent.select()
        .where(DossierEvent.dossier == dossier_id, DossierEvent.action == action)
        .order_by(DossierEvent.id.desc())
        .first()
    )


@reading
def verify_chain() -> tuple[int, int | None, str]:
    """Check every event against the one before it: (events checked, first broken event id or
    None, what is wrong)."""
    prev = GENESIS
    checked = 0
    for event in DossierEvent.select().order_by(DossierEvent.id).iterator():
        checked += 1
        if event.prev_hash != prev:
            return checked, event.id, "its previous hash does not match the event before it"
        if _digest(prev, event) != event.hash:
            return checked, event.id, "its content does not match its hash"
        prev = event.hash
    head = HistoryHead.select().first()
    if head is not None and (head.last_hash != prev or head.count != checked):
        return checked, None, "events are missing at the end of the chain"
    return checked, None, ""


@reading
def timeline(dossier_id: int, *, for_applicant: bool) -> list[DossierEvent]:
    """The dossier's events, oldest first; applicants see only the public ones."""
    query = DossierEvent.select().where(DossierEvent.dossier == dossier_id)
    if for_applicant:
        query = query.where(DossierEvent.public == True)  # noqa: E712
    return list(query.order_by(DossierEvent.id))
