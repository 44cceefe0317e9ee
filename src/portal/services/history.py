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

from dataclasses import dataclass

from portal import history_keys
from portal.db import db, is_postgres, reading
from portal.models import Dossier, DossierEvent, HistoryHead, User, utcnow
from portal.services import national_outbox, stat_facts
from portal.services.history_hash import GENESIS, digest, seal_of, values_of
from portal.services.history_verify import verify


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


def ensure_head() -> None:
    """Create the chain's head row if the database has none, and seal the cut-over to keyed
    hashes at the events there are now (run by migrations)."""
    head = HistoryHead.select().order_by(HistoryHead.id).first()
    if head is None:
        head = HistoryHead.create(last_hash=GENESIS, count=0)
    if not head.seal:
        kid, key = history_keys.current()
        seal = seal_of(head.count, head.last_hash, kid, key)
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
    event.hash = digest(head.last_hash, values_of(event), key)
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


def verify_chain(**options: object) -> tuple[int, int | None, str]:
    """Check every event against the one before it, and the sealed cut-over where the keyed
    events begin: (events checked, first broken event id or None, what is wrong). Streamed,
    in parallel and resumable: services/history_verify.py (its options)."""
    return verify(**options)


@reading
def timeline(dossier_id: int, *, for_applicant: bool) -> list[DossierEvent]:
    """The dossier's events, oldest first; applicants see only the public ones."""
    query = DossierEvent.select().where(DossierEvent.dossier == dossier_id)
    if for_applicant:
        query = query.where(DossierEvent.public == True)  # noqa: E712
    return list(query.order_by(DossierEvent.id))
