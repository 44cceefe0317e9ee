"""Blank forms a procedure offers for download: level 2 of the online-service levels promises
them. Administrators attach a form file to a procedure and remove it; each change is an event
of the history and a new revision of the catalogue (the procedure's `updated_at`), so the
procedure page, kept in memory per revision, offers the forms as they are now."""

from __future__ import annotations

from collections.abc import Iterable

from portal import storage
from portal.db import db, reading, transactional
from portal.models import Procedure, ProcedureForm, User, utcnow
from portal.services import catalogue_cache, history
from portal.services.access import Ctx
from portal.services.errors import N_, DomainError, Message, NotFound, ValidationError
from portal.services.validation import Field, validate

# What a blank form may be, by content: PDF, Word and Excel (current and legacy), OpenDocument.
FORM_TYPES = ("pdf", "docx", "xlsx", "doc", "xls", "odt")
MAX_FORM_BYTES = 10 * 1024 * 1024
TITLE = Field("title", max_length=200)
PROBLEMS = {
    "too_large": N_("The file is larger than the limit of %(mb)s MB."),
    "empty": N_("The file is empty."),
    "type": N_("A form must be a PDF, Word (DOC, DOCX), Excel (XLS, XLSX) or ODT file."),
}
SHA_PREFIX = 16  # hex digits of the SHA-256 a download link carries


def limit(ctx: Ctx) -> int:
    """The largest form file accepted: 10 MB, or the deployment's upload limit if smaller."""
    return min(MAX_FORM_BYTES, ctx.max_upload_bytes)


def clean_title(data: dict[str, str]) -> str:
    """The form's title from the submitted fields; raises ValidationError."""
    return validate(data, [TITLE])["title"]


def _require_admin(ctx: Ctx) -> None:
    if ctx.user.role != "admin" or not ctx.user.active:
        raise DomainError(N_("Only administrators change the catalogue."), kind="forbidden")


def attach(ctx: Ctx, code: str, title: str, chunks: Iterable[bytes]) -> ProcedureForm:
    """Store a form file for the procedure `code` under `title` (already cleaned): the file
    is written and checked first (size, type by content), then the row and its history event
    in one transaction; if that fails the file is removed. Raises ValidationError (on `file`),
    NotFound or DomainError."""
    _require_admin(ctx)
    with db.connection_context():
        if not Procedure.select().where(Procedure.code == code[:16]).exists():
            raise NotFound(code)
    try:
        stored = storage.store(chunks, ctx.uploads, limit(ctx), FORM_TYPES)
    except storage.UploadRejected as exc:
        message = Message(PROBLEMS[exc.reason], mb=limit(ctx) // (1024 * 1024))
        raise ValidationError({"file": message}) from None
    try:
        return _write(ctx, code, title, stored)
    except BaseException:
        storage.remove(ctx.uploads, stored.stored_name)
        raise


@transactional
def _write(ctx: Ctx, code: str, title: str, stored: storage.StoredFile) -> ProcedureForm:
    proc = Procedure.get_or_none(Procedure.code == code[:16])
    if proc is None:
        raise NotFound(code)
    return record_form(proc, title, stored, history.Actor.of(ctx.user, ctx.client_addr), ctx.user)


def record_form(
    proc: Procedure,
    title: str,
    stored: storage.StoredFile,
    actor: history.Actor,
    user: User | None = None,
) -> ProcedureForm:
    """The row of a stored form file and its history event (call it in the transaction)."""
    form = ProcedureForm.create(
        procedure=proc,
        title=title,
        stored_name=stored.stored_name,
        size=stored.size,
        sha256=stored.sha256,
        content_type=stored.content_type,
        uploaded_by=user,
    )
    history.record(actor, "attach_form", note=f"{proc.code}: {title}", public=False)
    new_revision(proc.id)
    return form


@transactional
def remove(ctx: Ctx, code: str, form_id: int) -> ProcedureForm:
    """Remove a form file from the procedure `code`, with its history event; the file goes
    from the disk once the removal is committed. Raises NotFound or DomainError."""
    _require_admin(ctx)
    form = _form(code, form_id)
    ProcedureForm.delete().where(ProcedureForm.id == form.id).execute()
    actor = history.Actor.of(ctx.user, ctx.client_addr)
    history.record(actor, "remove_form", note=f"{form.procedure.code}: {form.title}", public=False)
    new_revision(form.procedure_id)
    db.after_commit(lambda: storage.remove(ctx.uploads, form.stored_name))
    return form


def new_revision(procedure_id: int) -> None:
    """Stamp the procedure: pages and answers kept for the catalogue's revision are redone."""
    Procedure.update(updated_at=utcnow()).where(Procedure.id == procedure_id).execute()
    catalogue_cache.note_change()


def _form(code: str, form_id: int) -> ProcedureForm:
    form = (
        ProcedureForm.select(ProcedureForm, Procedure)
        .join(Procedure)
        .where(ProcedureForm.id == form_id, Procedure.code == code[:16])
        .first()
    )
    if form is None:
        raise NotFound(f"form {form_id}")
    return form


@reading
def get(code: str, form_id: int) -> ProcedureForm:
    """The form `form_id` of the procedure `code`; raises NotFound."""
    return _form(code, form_id)


def for_download(code: str, form_id: int, sha_prefix: str) -> ProcedureForm:
    """The form a download link names: its procedure, its id and the start of its SHA-256
    (so that the link's content never changes, and may be kept for ever); raises NotFound."""
    form = get(code, form_id)
    if len(sha_prefix) != SHA_PREFIX or form.sha256[:SHA_PREFIX] != sha_prefix.lower():
        raise NotFound(f"form {form_id}")
    return form


@catalogue_cache.cached()
def forms_of(procedure_id: int) -> list[ProcedureForm]:
    """The procedure's form files, in the order they were attached."""
    return list(
        ProcedureForm.select()
        .where(ProcedureForm.procedure == procedure_id)
        .order_by(ProcedureForm.id)
    )


def stored_names() -> set[str]:
    """The files the forms keep on disk (inside the caller's connection)."""
    return {f.stored_name for f in ProcedureForm.select(ProcedureForm.stored_name)}
