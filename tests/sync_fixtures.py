"""Status-sync rows for tests that need them without a receiver: failed deliveries for the
administrator's pages (the access matrix, the route checks)."""

from __future__ import annotations

from portal import sync_switch
from portal.db import db
from portal.models import Dossier, NationalMessage, Procedure, Unit, User, utcnow
from portal.services import history, national_outbox


def bare_dossier(owner: User, code: str = "02CI-261201-0001") -> int:
    """A submitted dossier of 1.005458 at 02CI, written directly (no files, no history)."""
    with db.connection_context():
        now = utcnow()
        return Dossier.create(
            code=code, procedure=Procedure.get(Procedure.code == "1.005458"),
            enterprise=owner.enterprise_id, owner=owner,
            unit=Unit.get(Unit.structure == "2025", Unit.code == "02CI"),
            status=1, submitted_at=now, created_at=now,
        ).id


def failed_messages(dossier_id: int, count: int = 1) -> list[int]:
    """`count` messages of the dossier that failed at the receiver (HTTP 500, 3 attempts)."""
    sync_switch.bind(True)
    try:
        with db.connection_context(), db.atomic():
            dossier = Dossier.get_by_id(dossier_id)
            ids = []
            for _ in range(count):
                event = history.note(history.SYSTEM, "test_sync", dossier, "")
                ids.append(national_outbox.on_status_change(dossier, event).id)
            NationalMessage.update(
                state="failed", attempts=3, error_code="E500", error_message="internal error"
            ).where(NationalMessage.id.in_(ids)).execute()
    finally:
        sync_switch.bind(False)
    return ids
