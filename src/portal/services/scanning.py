"""Virus scanning of attached files through ClamAV (clamd), when a scanner is configured.

A new file waits in quarantine (`scan = "pending"`: nobody can download it) until the worker
has scanned it. A clean file is released; an infected one is moved out of the served files
into `uploads/quarantine/`, stays listed (so the applicant sees what happened) and blocks
submission until it is removed, and the event goes into the dossier's history."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peewee import fn

from portal import background, clamd, storage
from portal.db import db, reading, transactional
from portal.models import Attachment, Dossier, User
from portal.services import history
from portal.services.access import Ctx
from portal.services.errors import N_, DomainError
from portal.services.history import SYSTEM
from portal.services.notify import tell

QUARANTINE = "quarantine"
HELD = {
    "pending": N_("This file is being checked for viruses. Try again in a minute."),
    "infected": N_("A virus was found in this file. It is held back and cannot be opened."),
}
FOUND = N_(
    "A virus was found in the file %(name)s. It is held back: remove it and attach a clean copy."
)


def new_attachment(
    ctx: Ctx, stored: storage.StoredFile, filename: str, **fields: Any
) -> Attachment:
    """The row of a file just stored: the one way a stored file becomes an attachment. Its name
    takes the extension of the type found in its content. When a scanner is configured the
    file is held back ("pending") and queued for a scan once the transaction commits."""
    attachment = Attachment.create(
        original_name=storage.named_as(storage.safe_filename(filename), stored.file_type),
        stored_name=stored.stored_name,
        size=stored.size,
        sha256=stored.sha256,
        content_type=stored.content_type,
        uploaded_by=ctx.user,
        scan="pending" if ctx.scan_files else "",
        **fields,
    )
    if ctx.scan_files:
        background.after_commit(background.SCAN_ATTACHMENT, attachment.id)
    return attachment


def require_clean(att: Attachment) -> None:
    """Raises DomainError when the file is held back (not yet scanned, or infected)."""
    if att.scan in HELD:
        raise DomainError(HELD[att.scan])


def scan(uploads: Path, attachment_id: int, address: str) -> str:
    """Scan one pending file and record the outcome ("clean", "infected", or the state it was
    already in). Raises clamd.ClamdError when the scanner cannot answer (the job retries)."""
    with db.connection_context():
        att = Attachment.get_or_none(Attachment.id == attachment_id)
    if att is None or att.scan != "pending":
        return att.scan if att else "gone"
    path = uploads / att.stored_name
    if not path.exists():
        return "gone"  # removed while it waited (a draft deleted): nothing to scan
    found = clamd.scan_file(address, path)
    if found is None:
        _mark(attachment_id, "clean")
        return "clean"
    folder = uploads / QUARANTINE
    folder.mkdir(exist_ok=True)
    path.rename(folder / att.stored_name)
    _infected(attachment_id, found)
    return "infected"


@transactional
def _mark(attachment_id: int, state: str) -> None:
    Attachment.update(scan=state).where(
        Attachment.id == attachment_id, Attachment.scan == "pending"
    ).execute()


@transactional
def _infected(attachment_id: int, signature: str) -> None:
    att = Attachment.get_by_id(attachment_id)
    Attachment.update(scan="infected").where(Attachment.id == attachment_id).execute()
    dossier = Dossier.get_by_id(att.dossier_id)
    history.note(SYSTEM, "virus_found", dossier, f"{att.original_name}: {signature}")
    tell(User.get_by_id(att.uploaded_by_id), dossier, FOUND, name=att.original_name)


@reading
def pending_ids() -> list[int]:
    return [a.id for a in Attachment.select(Attachment.id).where(Attachment.scan == "pending")]


@dataclass(frozen=True)
class Status:
    """What the admin page says about scanning."""

    configured: bool
    address: str
    reachable: bool
    counts: dict[str, int]


@reading
def status(address: str) -> Status:
    rows = Attachment.select(Attachment.scan, fn.COUNT(Attachment.id).alias("n")).group_by(
        Attachment.scan
    )
    counts = {row.scan or "unscanned": row.n for row in rows}
    return Status(bool(address), address, bool(address) and clamd.ping(address), counts)
