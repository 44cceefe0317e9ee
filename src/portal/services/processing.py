"""Every status change of a submitted dossier goes through `act`: the state machine says whether
it is allowed, and the change, its slip, its history event and its notifications are written
in one transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from portal import storage
from portal.db import db, is_postgres, transactional
from portal.models import (
    Attachment,
    Dossier,
    DossierEvent,
    Procedure,
    utcnow,
)
from portal.services import (
    history,
    inbox,
    notify,
    scanning,
    signatures,
    signed_documents,
    signers,
    slips,
)
from portal.services.access import (
    SYSTEM,
    Ctx,
    actor_kind,
    can_open_confidential,
    is_unit_staff,
    require_view,
    result_withheld,
)
from portal.services.calendar import load_calendar
from portal.services.deadlines import to_local, to_utc
from portal.services.effects import Step
from portal.services.errors import N_, AccessDenied, DomainError, Message, NotFound, ValidationError
from portal.services.history import Actor
from portal.services.signatures import Trust, Verdict
from portal.services.status import CLOCK_RUNS, NEW, PROCESSING, SUPPLEMENT
from portal.services.text import clean, has_forbidden_chars
from portal.services.workflow import ACT, Facts, Transition, check

MAX_NOTE = 2000
NOT_YOURS = N_("You may not do this with this dossier.")
NOT_NOW = N_("This action is not possible in the dossier's current status.")
NOT_REGISTERED = N_(
    "The result is signed by %(name)s, whose certificate is not registered to sign this "
    "unit's results. Ask an administrator to register it."
)
OVERDUE = N_(
    "Dossier %(code)s is overdue: issue an apology slip with the reason and a new date."
)


def _facts(dossier: Dossier) -> Facts:
    # A result counts once it carries the verified signature of a registered signer (a file
    # attached before signatures were checked does not).
    has_result = bool(signed_documents.signed_results(dossier.id))
    proc = Procedure.get_by_id(dossier.procedure_id)
    return Facts(dossier.status, dossier.approval, has_result, proc.online_level)


def _clean_note(note: str, required: bool) -> str:
    note = clean(note or "", multiline=True)
    if has_forbidden_chars(note):
        raise ValidationError(
            {"note": Message(N_("This field contains characters that are not allowed."))}
        )
    if len(note) > MAX_NOTE:
        raise ValidationError(
            {"note": Message(N_("Enter at most %(max)s characters."), max=MAX_NOTE)}
        )
    if required and not note:
        raise ValidationError({"note": Message(N_("Write the reason or guidance."))})
    return note


def _locked(dossier_id: int) -> Dossier | None:
    query = Dossier.select().where(Dossier.id == dossier_id)
    if is_postgres():
        query = query.for_update()  # SQLite's write transactions are already exclusive
    return query.first()


@transactional
def act(
    ctx: Ctx,
    dossier_id: int,
    action: str,
    note: str = "",
    *,
    to_user: int | None = None,
    to_unit: str = "",
    path: str = ACT,
) -> Dossier:
    """Apply `action` to the dossier as `ctx.user`: lock, check, effect, record, notify.
    `path` is the service applying it (a row of another path than the generic one is
    refused as unknown here). Raises NotFound (not visible), DomainError (unknown, forbidden
    or not possible now) or ValidationError."""
    dossier = require_view(ctx.user, _locked(dossier_id))
    transition = check(action, actor_kind(ctx.user, dossier), _facts(dossier), path)
    note = _clean_note(note, transition.note_required)
    step = Step(ctx, dossier, utcnow(), note, to_user, to_unit)
    changes = transition.effect(step)
    before = dossier.status
    after = dossier.resume_status if transition.target is None else transition.target
    Dossier.update(**changes, status=after, updated_at=step.now).where(
        Dossier.id == dossier.id
    ).execute()
    dossier = Dossier.get_by_id(dossier.id)
    event = history.record(
        Actor.of(ctx.user, ctx.client_addr),
        action,
        dossier=dossier,
        status_before=before,
        status_after=after,
        note=note,
        public=not transition.internal,
    )
    _announce(ctx, dossier, transition, event, before)
    return dossier


@transactional
def act_as_system(dossier_id: int, action: str, note: str, path: str) -> Dossier | None:
    """Apply `action` as the portal itself, on what a payment gateway confirmed: lock, check
    (a row the system may take, on `path`), change the status, record the event as the
    system's and tell the applicant and the unit. The system's rows have no effect of their
    own. Returns the dossier, or None when the state machine refuses it now (the dossier has
    moved on meanwhile)."""
    dossier = _locked(dossier_id)
    if dossier is None:
        return None
    try:
        transition = check(action, SYSTEM, _facts(dossier), path)
    except DomainError:
        return None
    before, after = dossier.status, transition.target
    Dossier.update(status=after, updated_at=utcnow()).where(Dossier.id == dossier.id).execute()
    dossier = Dossier.get_by_id(dossier.id)
    event = history.record(
        history.SYSTEM,
        action,
        dossier=dossier,
        status_before=before,
        status_after=after,
        note=note[:MAX_NOTE],
        public=not transition.internal,
    )
    notify.status_changed(dossier, event)
    if transition.tell_unit:
        notify.tell_unit(dossier, transition.tell_unit)
    return dossier


def _announce(
    ctx: Ctx, dossier: Dossier, transition: Transition, event: DossierEvent, before: int
) -> None:
    """The slip the action issues, the applicant told of a new status, the unit told what the
    row says."""
    slip = None
    if transition.slip is not None:
        slip = slips.issue(
            dossier,
            transition.slip,
            ctx.user,
            reason=event.note,
            due_at=dossier.due_at if transition.slip == "receipt" else None,
            now=event.created_at,
        )
    if dossier.status != before:
        notify.status_changed(dossier, event, ctx.links, slip)
    if transition.tell_unit:
        notify.tell_unit(dossier, transition.tell_unit)


@transactional
def assign(ctx: Ctx, dossier_id: int, officer_id: int | None) -> Dossier:
    """Give the dossier to an officer of its unit (oneself when claiming); raises NotFound,
    DomainError or ValidationError."""
    dossier = require_view(ctx.user, Dossier.get_or_none(Dossier.id == dossier_id))
    if not is_unit_staff(ctx.user, dossier):
        raise DomainError(NOT_YOURS, kind="forbidden")
    if dossier.status not in (NEW, *CLOCK_RUNS, SUPPLEMENT) or dossier.finished_at:
        raise DomainError(NOT_NOW, kind="conflict")
    target = ctx.user if officer_id is None else inbox.unit_officer(dossier.unit_id, officer_id)
    if target is None:
        raise ValidationError({"to_user": Message(N_("Choose an officer of this unit."))})
    Dossier.update(assigned_to=target.id, updated_at=utcnow()).where(
        Dossier.id == dossier.id
    ).execute()
    history.note(Actor.of(ctx.user, ctx.client_addr), "assign", dossier, target.full_name)
    return Dossier.get_by_id(dossier.id)


def _result_dossier(ctx: Ctx, dossier: Dossier | None) -> Dossier:
    dossier = require_view(ctx.user, dossier)
    if not is_unit_staff(ctx.user, dossier):
        raise DomainError(NOT_YOURS, kind="forbidden")
    if dossier.status != PROCESSING:
        raise DomainError(NOT_NOW, kind="conflict")
    return dossier


def upload_result(ctx: Ctx, dossier_id: int, filename: str, chunks: Any) -> Attachment:
    """Attach the result document: a PDF with a valid signature made with a certificate
    registered for the dossier's unit (`services.signers`), checked before it is kept; raises
    NotFound, DomainError or ValidationError (on `result`, saying why the signature is
    refused)."""
    with db.connection_context():
        _result_dossier(ctx, Dossier.get_or_none(Dossier.id == dossier_id))
    try:
        stored = storage.store(chunks, ctx.uploads, ctx.max_upload_bytes, ["pdf"])
    except storage.UploadRejected:
        raise ValidationError({"result": Message(N_("Attach the result as a PDF file."))}) from None
    try:
        # Checked outside the transaction: it may fetch CRL and OCSP answers over the network.
        data = (ctx.uploads / stored.stored_name).read_bytes()
        verdict = signatures.verify(data, Trust.load(ctx.trust_anchors))
        return _attach_result(ctx, dossier_id, stored, filename, verdict)
    except BaseException:
        storage.remove(ctx.uploads, stored.stored_name)
        raise


@transactional
def _attach_result(
    ctx: Ctx, dossier_id: int, stored: storage.StoredFile, filename: str, verdict: Verdict
) -> Attachment:
    dossier = _result_dossier(ctx, _locked(dossier_id))  # it may have moved on meanwhile
    if verdict.problem is not None:
        raise ValidationError({"result": verdict.problem})
    signer = signers.registered(dossier.unit_id, verdict.cert_sha256)
    if signer is None:
        raise ValidationError({"result": Message(NOT_REGISTERED, name=verdict.signer_name)})
    attachment = scanning.new_attachment(
        ctx, stored, filename, dossier=dossier.id, document=None, purpose="result"
    )
    signed_documents.record(attachment, verdict, signer)
    history.note(Actor.of(ctx.user, ctx.client_addr), "attach_result", dossier,
                 f"{attachment.original_name}: {verdict.signer_name}")
    return attachment


@transactional
def open_attachment(ctx: Ctx, dossier_id: int, attachment_id: int) -> Attachment:
    """The attachment if the user may download it; a confidential one is opened only by its
    enterprise or cleared officers of the handling unit, and every opening by an officer is
    recorded in the history. Raises NotFound."""
    dossier = Dossier.get_or_none(Dossier.id == dossier_id)
    att = Attachment.get_or_none(Attachment.id == attachment_id, Attachment.dossier == dossier_id)
    if dossier is None or att is None:
        raise NotFound("attachment")
    require_view(ctx.user, dossier)
    scanning.require_clean(att)
    if att.confidential:
        if not can_open_confidential(ctx.user, dossier):
            raise AccessDenied("attachment", att.id)
        if ctx.user.role != "enterprise":
            history.note(
                Actor.of(ctx.user, ctx.client_addr), "view_confidential", dossier, att.original_name
            )
    procedure = Procedure.get_by_id(dossier.procedure_id)
    if result_withheld(actor_kind(ctx.user, dossier), dossier, procedure, att):
        raise NotFound("attachment")
    return att


# --- scheduled work ------------------------------------------------------------------------


@transactional
def notice_overdue(now: dt.datetime | None = None) -> int:
    """Ask the handling unit to issue an apology slip (`services.apologies`) for every dossier
    that has gone overdue (again) since the unit was last asked; returns how many. Run by the
    worker every quarter of an hour: a person issues the slip, with the real reason."""
    now = now or utcnow()
    told = Dossier.overdue_told_at
    late = Dossier.select().where(
        Dossier.status.in_(tuple(CLOCK_RUNS)),
        Dossier.due_at < now,
        (Dossier.apology_due_at.is_null() | (Dossier.apology_due_at < now)),
        # not asked since the last promised date passed (the first, or an apology's)
        told.is_null() | (told < Dossier.due_at) | (told < Dossier.apology_due_at),
    )
    count = 0
    for dossier in late:
        notify.tell_unit(dossier, OVERDUE)
        Dossier.update(overdue_told_at=now).where(Dossier.id == dossier.id).execute()
        count += 1
    return count


@transactional
def remind_due_tomorrow(office_hours: str = "", now: dt.datetime | None = None) -> int:
    """Tell officers about dossiers due on the next working day; returns how many dossiers."""
    now = now or utcnow()
    calendar = load_calendar(office_hours)
    today = to_local(now).date()
    tomorrow = calendar.next_working_day(today)
    start = to_utc(dt.datetime.combine(tomorrow, dt.time.min))
    end = to_utc(dt.datetime.combine(tomorrow, dt.time.max))
    due = Dossier.select().where(
        Dossier.status.in_(tuple(CLOCK_RUNS)), Dossier.due_at.between(start, end)
    )
    count = 0
    for dossier in due:
        # One reminder per promised date: a reminder sent in the days before this due date
        # (a Friday for a Monday) counts; a due date moved later by a supplement gets its own.
        if dossier.reminded_at and dossier.reminded_at > dossier.due_at - dt.timedelta(days=7):
            continue
        notify.tell_unit(dossier, N_("Dossier %(code)s is due on the next working day."))
        Dossier.update(reminded_at=now).where(Dossier.id == dossier.id).execute()
        count += 1
    return count


def deadline_flag(dossier: Dossier, now: dt.datetime | None = None) -> str:
    """'overdue', 'due_soon' (within a day) or '' for a dossier whose clock runs."""
    now = now or utcnow()
    if dossier.status not in CLOCK_RUNS or dossier.due_at is None:
        return ""
    if now > dossier.due_at:
        return "overdue"
    if dossier.due_at - now < dt.timedelta(days=1):
        return "due_soon"
    return ""
