"""Resumable uploads (the tus 1.0 protocol's semantics: core, creation, termination, checksum,
expiration). A file arrives in chunks; each chunk is kept only when it arrived whole (and
matches its checksum when one is sent), so the offset the server reports always ends a
verified chunk and a client resumes from there after a dropped link. When the last chunk is in,
the file is checked like any other attachment (size, type by content, SHA-256) and only then
attached to the dossier."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

from peewee import fn

from portal import storage
from portal.db import db, is_postgres, reading, transactional
from portal.models import Upload, User, utcnow
from portal.services import dossiers
from portal.services.access import Ctx
from portal.services.errors import N_, DomainError, Message, NotFound, ValidationError
from portal.services.text import clean

EXPIRY = dt.timedelta(hours=24)  # an upload not touched for this long is dropped
MIN_CHUNK = 64 * 1024  # every chunk but the last: each one costs a file, an fsync and the lock
PURPOSES = ("application", "supplement")
CHECKSUMS = ("sha1", "sha256")


class OffsetMismatch(DomainError):
    """The chunk does not start where the upload stands (tus answers 409)."""


class ChecksumMismatch(DomainError):
    """The chunk is not what the client hashed (tus answers 460)."""


class ChunkTooSmall(DomainError):
    """A chunk under MIN_CHUNK that does not end the file (tus answers 400)."""


class TooLarge(ValidationError):
    """The announced length is over the maximum size (tus answers 413)."""


@dataclass(frozen=True)
class Checksum:
    algorithm: str  # one of CHECKSUMS
    digest: bytes


def _owned(ctx: Ctx, key: str, *, lock: bool = False) -> Upload:
    query = Upload.select().where(Upload.key == key, Upload.owner == ctx.user.id)
    upload = (query.for_update() if lock and is_postgres() else query).first()
    if upload is None or (upload.state == "open" and upload.expires_at < utcnow()):
        raise NotFound("upload")
    return upload


@transactional
def create(
    ctx: Ctx, dossier_id: int, document_id: int, filename: str, length: int, purpose: str
) -> Upload:
    """Open an upload of `length` bytes for one required document of a dossier; raises
    NotFound, DomainError or ValidationError (on the `doc-<id>` field) before any byte is sent:
    a dossier has no more open uploads than free file slots, and a user's open uploads
    reserve at most `ctx.max_reserved_bytes`."""
    if purpose not in PURPOSES:
        raise NotFound("purpose")
    dossier, doc, free = dossiers.attachable(ctx, dossier_id, document_id, purpose)
    field = f"doc-{doc.id}"
    if length <= 0:
        raise ValidationError({field: Message(dossiers.UPLOAD_PROBLEMS["empty"])})
    if length > ctx.max_upload_bytes:
        raise TooLarge(
            {
                field: Message(
                    dossiers.UPLOAD_PROBLEMS["too_large"], mb=ctx.max_upload_bytes // 2**20
                )
            }
        )
    _require_quota(ctx, dossier.id, field, free, length)
    name = storage.safe_filename(clean(filename)[:255])
    return Upload.create(
        key=uuid.uuid4().hex,
        owner=ctx.user.id,
        dossier=dossier.id,
        document=doc.id,
        purpose=purpose,
        filename=name,
        length=length,
        expires_at=utcnow() + EXPIRY,
    )


def _require_quota(ctx: Ctx, dossier_id: int, field: str, free: int, length: int) -> None:
    """Refuse (ValidationError on `field`) an upload beyond the dossier's free file slots or
    the user's reserved bytes. Runs in `create`'s transaction with the dossier locked; the
    user's row is locked too (PostgreSQL; SQLite's write transactions are exclusive), so
    uploads opened at once for several dossiers are counted one after the other."""
    users = User.select(User.id).where(User.id == ctx.user.id)
    (users.for_update() if is_postgres() else users).first()
    live = (Upload.state == "open") & (Upload.expires_at >= utcnow())
    if Upload.select().where(live, Upload.dossier == dossier_id).count() >= free:
        raise ValidationError(
            {
                field: Message(
                    N_(
                        "Other files are still being sent to this dossier: wait until "
                        "they are in, or cancel them."
                    )
                )
            }
        )
    reserved = (
        Upload.select(fn.COALESCE(fn.SUM(Upload.length), 0))
        .where(live, Upload.owner == ctx.user.id)
        .scalar()
    )
    if int(reserved) + length > ctx.max_reserved_bytes:
        raise ValidationError(
            {
                field: Message(
                    N_(
                        "Your unfinished uploads already take %(mb)s MB: finish or cancel "
                        "them first."
                    ),
                    mb=ctx.max_reserved_bytes // 2**20,
                )
            }
        )


@reading
def status(ctx: Ctx, key: str) -> Upload:
    """The user's upload (its offset and length); NotFound if it is not theirs or expired."""
    return _owned(ctx, key)


def commit_chunk(
    ctx: Ctx, key: str, offset: int, chunk: storage.ChunkWriter, checksum: Checksum | None
) -> Upload:
    """Keep a chunk that arrived whole: it must hold MIN_CHUNK bytes unless it ends the file
    (ChunkTooSmall, refused before it is made durable or the lock is taken), start at the
    upload's offset (OffsetMismatch) and match its checksum (ChecksumMismatch). When it is the
    last one the file is attached (ValidationError if it is refused, e.g. by type). The chunk
    file is removed if not kept."""
    try:
        if chunk.size < MIN_CHUNK and offset + chunk.size < status(ctx, key).length:
            raise ChunkTooSmall(
                Message(
                    N_("Each part of a file but the last must be at least %(kb)d KB."),
                    kb=MIN_CHUNK // 1024,
                )
            )
        chunk.finish()
        upload = _keep(ctx, key, offset, chunk, checksum)
    except BaseException:
        chunk.abort()
        raise
    if upload.offset == upload.length and upload.state == "open":
        upload = finish(ctx, key)
    return upload


@transactional
def _keep(
    ctx: Ctx, key: str, offset: int, chunk: storage.ChunkWriter, checksum: Checksum | None
) -> Upload:
    upload = _owned(ctx, key, lock=True)
    if upload.state != "open" or offset != upload.offset:
        raise OffsetMismatch(N_("This part of the file was already received."))
    if offset + chunk.size > upload.length:
        raise ValidationError(
            {f"doc-{upload.document_id}": Message(N_("The file is longer than announced."))}
        )
    if checksum is not None:
        actual = (chunk.sha1 if checksum.algorithm == "sha1" else chunk.sha256).digest()
        if actual != checksum.digest:
            raise ChecksumMismatch(
                N_("A part of the file was damaged on the way: it is sent again.")
            )
    storage.keep_chunk(chunk, offset)
    upload.offset = offset + chunk.size
    upload.expires_at = utcnow() + EXPIRY
    Upload.update(offset=upload.offset, expires_at=upload.expires_at).where(
        Upload.id == upload.id
    ).execute()
    return upload


def finish(ctx: Ctx, key: str) -> Upload:
    """Check and attach a complete upload (once: a retried last chunk finds it done).
    Raises ValidationError when the file is refused, DomainError when the dossier no longer
    takes it (submitted meanwhile); the upload is then closed."""
    with db.connection_context():
        upload = _owned(ctx, key)
    if upload.state != "open" or upload.offset != upload.length:
        return upload
    if storage.partial_size(ctx.uploads, key) != upload.length:  # chunks lost (a restore)
        _close(key, "rejected", N_("The file arrived incomplete. Please send it again."))
        storage.remove_partial(ctx.uploads, key)
        raise ValidationError(
            {
                f"doc-{upload.document_id}": Message(
                    N_("The file arrived incomplete. Please send it again.")
                )
            }
        )
    try:
        dossiers.add_attachment(
            ctx,
            upload.dossier_id,
            upload.document_id,
            upload.filename,
            storage.iter_partial(ctx.uploads, key),
            upload.purpose,
            upload_key=key,
        )
    except DomainError as exc:  # refused: by type, or the dossier took no more files meanwhile
        problem = next(iter(exc.errors.values())) if isinstance(exc, ValidationError) else None
        _close(key, "rejected", (problem or exc.message).text)
        storage.remove_partial(ctx.uploads, key)
        raise
    storage.remove_partial(ctx.uploads, key)
    with db.connection_context():
        return Upload.get(Upload.key == key)


@transactional
def _close(key: str, state: str, problem: str = "") -> None:
    Upload.update(state=state, problem=problem[:255]).where(Upload.key == key).execute()


def terminate(ctx: Ctx, key: str) -> None:
    """Drop an upload the user no longer wants (tus termination); its chunks are removed."""
    with db.connection_context(), db.atomic():
        upload = _owned(ctx, key, lock=True)
        Upload.delete().where(Upload.id == upload.id).execute()
    storage.remove_partial(ctx.uploads, key)


def clean_expired(uploads: Path, now: dt.datetime | None = None) -> int:
    """Drop uploads left unfinished past their expiry, finished ones a day later, and chunk
    folders that no upload names; returns how many uploads were dropped."""
    now = now or utcnow()
    with db.connection_context(), db.atomic():
        stale = list(
            Upload.select(Upload.id, Upload.key).where(
                ((Upload.state == "open") & (Upload.expires_at < now))
                | ((Upload.state != "open") & (Upload.expires_at < now - EXPIRY))
            )
        )
        if stale:
            Upload.delete().where(Upload.id.in_([u.id for u in stale])).execute()
        known = {u.key for u in Upload.select(Upload.key).where(Upload.state == "open")}
    for u in stale:
        storage.remove_partial(uploads, u.key)
    for key in storage.stale_partials(uploads, known):
        storage.remove_partial(uploads, key)
    return len(stale)
