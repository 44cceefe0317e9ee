"""The official processing history: append-only events, each carrying the hash of the one
before it. This module only ever inserts events; nothing in the code updates or deletes them.

Only actions on dossiers and acts of signed-in people are recorded here; security events of
anonymous clients go to the bounded security log (services/security_log.py).

Each hash is an HMAC-SHA256 with the history key (portal/history_keys.py), which is not in the
database: someone who edits a row and recomputes the hashes without the key is found. The
events written before the history was keyed (plain SHA-256, key id "") stay valid: the head
records how many there were (`keyed_from`), sealed with the key, and every later event must
be keyed."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from portal import history_keys
from portal.db import db, is_postgres, reading
from portal.models import Dossier, DossierEvent, HistoryHead, User, utcnow
from portal.services import national_outbox, stat_facts

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
        # The unit's reference ("2025:02CI"): codes repeat across structures. Events written
        # before the structures had a bare code, which audit.actor_units reads.
        unit = user.unit.ref if user.unit_id else ""
        return cls(user.id, user.full_name, user.role, unit, client_addr)


SYSTEM = Actor(None, "system", "system", "")


def _digest(prev_hash: str, e: DossierEvent, key: str | None = None) -> str:
    """The event's hash: plain SHA-256 of its fields (the events before keying), or their
    HMAC-SHA256 with `key`."""
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
    message = "\x1f".join(fields).encode()
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def _seal_of(keyed_from: int, last_hash: str, kid: str, key: str) -> str:
    """The head's seal of the cut-over: how many events came before it and the last one's
    hash, MACed with the key `kid`."""
    message = f"history-cut-over\x1f{keyed_from}\x1f{last_hash}".encode()
    return f"{kid}:{hmac.new(key.encode(), message, hashlib.sha256).hexdigest()}"


def _seal_holds(head: HistoryHead, last_hash: str) -> bool:
    kid, _, _mac = head.seal.partition(":")
    key = history_keys.get(kid)
    expected = _seal_of(head.keyed_from, last_hash, kid, key) if key is not None else ""
    return key is not None and hmac.compare_digest(head.seal, expected)


def ensure_head() -> None:
    """Create the chain's head row if the database has none, and seal the cut-over to keyed
    hashes at the events there are now (run by migrations)."""
    head = HistoryHead.select().order_by(HistoryHead.id).first()
    if head is None:
        head = HistoryHead.create(last_hash=GENESIS, count=0)
    if not head.seal:
        kid, key = history_keys.current()
        seal = _seal_of(head.count, head.last_hash, kid, key)
        HistoryHead.update(keyed_from=head.count, seal=seal).where(
            HistoryHead.id == head.id
        ).execute()


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
    """Append an event; call inside the transaction of the change it records. A change of a
    dossier's status also writes the status sync's message for the national portal (the one
    place every path that changes a status goes through: web, API, jobs)."""
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
    event.key_id, key = history_keys.current()
    event.hash = _digest(head.last_hash, event, key)
    event.save(force_insert=True)
    HistoryHead.update(last_hash=event.hash, count=HistoryHead.count + 1).where(
        HistoryHead.id == head.id
    ).execute()
    if dossier is not None:
        stat_facts.refresh(dossier.id)
    if dossier is not None and status_after is not None and status_after != status_before:
        national_outbox.on_status_change(dossier, event)
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


UNSEALED = "the cut-over to keyed hashes is not sealed by a history key known here"


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
    """Check every event against the one before it, and the sealed cut-over where the keyed
    events begin: (events checked, first broken event id or None, what is wrong)."""
    head = HistoryHead.select().order_by(HistoryHead.id).first()
    keyed_from = head.keyed_from if head is not None else 0
    sealed = head is None
    prev = GENESIS
    checked = 0
    for event in DossierEvent.select().order_by(DossierEvent.id).iterator():
        if not sealed and checked == keyed_from:
            if not _seal_holds(head, prev):
                return checked, None, UNSEALED
            sealed = True
        checked += 1
        if event.prev_hash != prev:
            return checked, event.id, "its previous hash does not match the event before it"
        problem = _check_hash(prev, event, keyed=checked > keyed_from)
        if problem:
            return checked, event.id, problem
        prev = event.hash
    if not sealed and (checked != keyed_from or not _seal_holds(head, prev)):
        return checked, None, UNSEALED
    if head is not None and (head.last_hash != prev or head.count != checked):
        return checked, None, "events are missing at the end of the chain"
    return checked, None, ""


def _check_hash(prev: str, event: DossierEvent, *, keyed: bool) -> str:
    """What is wrong with the event's hash ("" when nothing)."""
    if not keyed:
        if event.key_id or _digest(prev, event) != event.hash:
            return "its content does not match its hash"
        return ""
    if not event.key_id:
        return "it is not hashed with the history key, though it comes after the cut-over"
    key = history_keys.get(event.key_id)
    if key is None:
        return f"it is hashed with a history key this instance does not have ({event.key_id})"
    if not hmac.compare_digest(_digest(prev, event, key), event.hash):
        return "its content does not match its hash"
    return ""


@reading
def timeline(dossier_id: int, *, for_applicant: bool) -> list[DossierEvent]:
    """The dossier's events, oldest first; applicants see only the public ones."""
    query = DossierEvent.select().where(DossierEvent.dossier == dossier_id)
    if for_applicant:
        query = query.where(DossierEvent.public == True)  # noqa: E712
    return list(query.order_by(DossierEvent.id))
