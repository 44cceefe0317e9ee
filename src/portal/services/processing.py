"""Every status change of a submitted dossier goes through `act`: the state machine says whether
it is allowed, and the change, its slip, its history event and its notifications are written
in one transaction."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from portal import storage
from portal.db import db, is_postgres, transactional
from portal.models import (
    Attachment,
    Dossier,
    DossierEvent,
    Notification,
    Procedure,
    ProcessingTime,
    Slip,
    Unit,
    User,
    utcnow,
)
from portal.services import history, notify, scanning
from portal.services.access import Ctx, actor_kind, require_view
from portal.services.calendar import load_calendar
from portal.services.deadlines import to_local, to_utc
from portal.services.download_links import DownloadLinks
from portal.services.errors import N_, AccessDenied, Message, NotFound, ValidationError
from portal.services.history import SYSTEM, Actor
from portal.services.text import clean, has_forbidden_chars
from portal.services.workflow import (
    CLOCK_RUNS,
    LEADER,
    NEW,
    OFFICER,
    PROCESSING,
    SUPPLEMENT,
    Facts,
    TransitionError,
    check,
)

INTERNAL_ACTIONS = frozenset(
    {
        "submit_for_approval",
        "approve",
        "refuse_approval",
        "assign",
        "start_processing",
        "view_confidential",
    }
)
DEFAULT_LIMIT = (5, "working_days")
MAX_NOTE = 2000


def time_limit(procedure_id: int) -> tuple[int, str]:
    """The online time limit of a procedure (else in person, else 5 working days)."""
    times = {
        t.channel: t
        for t in ProcessingTime.select().where(ProcessingTime.procedure == procedure_id)
    }
    for channel in ("online", "in_person", "post"):
        t = times.get(channel)
        if t is not None and t.amount:
            return t.amount, t.unit
    return DEFAULT_LIMIT


def _cutoff(proc: Procedure) -> dt.time | None:
    try:
        return dt.time.fromisoformat(proc.cutoff) if proc.cutoff else None
    except ValueError:
        return None


def _facts(dossier: Dossier) -> Facts:
    has_result = (
        Attachment.select()
        .where(Attachment.dossier == dossier, Attachment.purpose == "result")
        .exists()
    )
    proc = Procedure.get_by_id(dossier.procedure_id)
    return Facts(dossier.status, dossier.approval, has_result, proc.online_level)


def _clean_note(note: str) -> str:
    note = clean(note or "", multiline=True)
    if has_forbidden_chars(note):
        raise ValidationError(
            {"note": Message(N_("This field contains characters that are not allowed."))}
        )
    if len(note) > MAX_NOTE:
        raise ValidationError(
            {"note": Message(N_("Enter at most %(max)s characters."), max=MAX_NOTE)}
        )
    return note


def _supplement_sent(dossier: Dossier) -> bool:
    asked = (
        DossierEvent.select(DossierEvent.created_at)
        .where(DossierEvent.dossier == dossier, DossierEvent.action == "request_supplement")
        .order_by(DossierEvent.id.desc())
        .first()
    )
    query = Attachment.select().where(
        Attachment.dossier == dossier, Attachment.purpose == "supplement"
    )
    if asked is not None:
        query = query.where(Attachment.uploaded_at >= asked.created_at)
    return query.exists()


@transactional
def act(
    ctx: Ctx,
    dossier_id: int,
    action: str,
    note: str = "",
    *,
    to_user: int | None = None,
    to_unit: str = "",
) -> Dossier:
    """Apply `action` to the dossier as `ctx.user`. Raises NotFound (not visible),
    TransitionError (not allowed now: 409, or not by this user: 403) or ValidationError."""
    query = Dossier.select().where(Dossier.id == dossier_id)
    if is_postgres():
        query = query.for_update()  # SQLite's write transactions are already exclusive
    dossier = query.first()
    dossier = require_view(ctx.user, dossier)
    kind = actor_kind(ctx.user, dossier)
    transition = check(action, kind, _facts(dossier))
    note = _clean_note(note)
    if transition.note_required and not note:
        raise ValidationError({"note": Message(N_("Write the reason or guidance."))})
    now = utcnow()
    before = dossier.status
    changes: dict[str, Any] = {"updated_at": now}
    slip: tuple[str, dt.datetime | None] | None = None
    proc = Procedure.get_by_id(dossier.procedure_id)
    calendar = None
    if action in ("receive", "supplement"):
        calendar = load_calendar(ctx.office_hours)
    if action == "receive":
        amount, unit = time_limit(proc.id)
        due = to_utc(calendar.due(to_local(now), amount, unit, _cutoff(proc)))
        changes.update(received_at=now, due_at=due)
        slip = ("receipt", due)
    elif action == "refuse_reception":
        changes["finished_at"] = now
        slip = ("refusal", None)
    elif action == "request_supplement":
        changes["resume_status"] = NEW if before == NEW else PROCESSING
        if dossier.due_at is not None:
            changes["paused_at"] = now
        slip = ("supplement", None)
    elif action == "supplement":
        if not _supplement_sent(dossier):
            raise ValidationError({"files": Message(N_("Attach at least one document first."))})
        if dossier.paused_at is not None and dossier.due_at is not None:
            changes["due_at"] = to_utc(
                calendar.resume(
                    to_local(dossier.due_at), to_local(dossier.paused_at), to_local(now)
                )
            )
        changes.update(paused_at=None, resume_status=None)
    elif action == "start_processing":
        changes["assigned_to"] = dossier.assigned_to_id or ctx.user.id
    elif action == "forward":
        changes.update(_forward_target(dossier, to_user, to_unit))
    elif action in ("withdraw", "stop_processing", "return_result"):
        changes["finished_at"] = now
    elif action == "submit_for_approval":
        changes["approval"] = "pending"
    elif action == "approve":
        changes["approval"] = "approved"
    elif action == "refuse_approval":
        changes["approval"] = ""
    after = dossier.resume_status if transition.target is None else transition.target
    changes["status"] = after
    Dossier.update(**changes).where(Dossier.id == dossier.id).execute()
    dossier = Dossier.get_by_id(dossier.id)
    event = history.record(
        Actor.of(ctx.user, ctx.client_addr),
        action,
        dossier=dossier,
        status_before=before,
        status_after=after,
        note=note,
        public=action not in INTERNAL_ACTIONS,
    )
    issued = None
    if slip is not None:
        issued = Slip.create(
            dossier=dossier, kind=slip[0], due_at=slip[1], reason=note, issued_by=ctx.user.full_name
        )
    if after != before:
        notify.status_changed(dossier, event, ctx.links, issued)
    if action == "supplement":
        notify.tell_unit(dossier, N_("Dossier %(code)s: the applicant sent the supplement."))
    elif action == "submit_for_approval":
        notify.tell_unit(dossier, N_("Dossier %(code)s is waiting for approval."))
    elif action == "forward":
        notify.tell_unit(dossier, N_("Dossier %(code)s was forwarded to you."))
    return dossier


def _unit_officer(dossier: Dossier, user_id: int) -> User | None:
    """The active officer or leader `user_id` of the dossier's unit, or None."""
    return User.get_or_none(
        User.id == user_id,
        User.unit == dossier.unit_id,
        User.active == True,  # noqa: E712
        User.role.in_(("officer", "leader")),
    )


def _forward_target(dossier: Dossier, to_user: int | None, to_unit: str) -> dict[str, Any]:
    if to_user:
        user = _unit_officer(dossier, to_user)
        if user is None:
            raise ValidationError({"to_user": Message(N_("Choose an officer of this unit."))})
        return {"assigned_to": user.id}
    if to_unit:
        unit = Unit.get_or_none(Unit.code == to_unit[:16], Unit.active == True)  # noqa: E712
        if unit is None or unit.kind == "administration" or unit.id == dossier.unit_id:
            raise ValidationError({"to_unit": Message(N_("Choose another customs unit."))})
        return {"unit": unit.id, "assigned_to": None, "approval": ""}
    raise ValidationError({"to_user": Message(N_("Choose an officer or a unit."))})


@transactional
def assign(ctx: Ctx, dossier_id: int, officer_id: int | None) -> Dossier:
    """Give the dossier to an officer of its unit (oneself when claiming); raises NotFound,
    TransitionError or ValidationError."""
    dossier = Dossier.get_or_none(Dossier.id == dossier_id)
    dossier = require_view(ctx.user, dossier)
    if actor_kind(ctx.user, dossier) not in (OFFICER, LEADER):
        raise TransitionError(N_("You may not do this with this dossier."), 403)
    if dossier.status not in (NEW, *CLOCK_RUNS, SUPPLEMENT) or dossier.finished_at:
        raise TransitionError(N_("This action is not possible in the dossier's current status."))
    target = ctx.user if officer_id is None else _unit_officer(dossier, officer_id)
    if target is None:
        raise ValidationError({"to_user": Message(N_("Choose an officer of this unit."))})
    Dossier.update(assigned_to=target.id, updated_at=utcnow()).where(
        Dossier.id == dossier.id
    ).execute()
    history.note(Actor.of(ctx.user, ctx.client_addr), "assign", dossier, target.full_name)
    return Dossier.get_by_id(dossier.id)


def upload_result(ctx: Ctx, dossier_id: int, filename: str, chunks: Any) -> Attachment:
    """Attach the signed result document (PDF) before issuing the result."""
    with db.connection_context():
        dossier = Dossier.get_or_none(Dossier.id == dossier_id)
        dossier = require_view(ctx.user, dossier)
        if actor_kind(ctx.user, dossier) not in (OFFICER, LEADER):
            raise TransitionError(N_("You may not do this with this dossier."), 403)
        if dossier.status != PROCESSING:
            raise TransitionError(
                N_("This action is not possible in the dossier's current status.")
            )
    try:
        stored = storage.store(chunks, ctx.uploads, ctx.max_upload_bytes, ["pdf"])
    except storage.UploadRejected:
        raise ValidationError({"result": Message(N_("Attach the result as a PDF file."))}) from None
    try:
        return _attach_result(ctx, dossier_id, stored, filename)
    except BaseException:
        storage.remove(ctx.uploads, stored.stored_name)
        raise


@transactional
def _attach_result(
    ctx: Ctx, dossier_id: int, stored: storage.StoredFile, filename: str
) -> Attachment:
    return scanning.new_attachment(
        ctx, stored, filename, dossier=dossier_id, document=None, purpose="result"
    )


@transactional
def open_attachment(ctx: Ctx, dossier_id: int, attachment_id: int) -> Attachment:
    """The attachment if the user may download it; a confidential one is opened only by its
    enterprise or cleared officers of the handling unit, and every opening by an officer is
    recorded in the history. Raises NotFound."""
    from portal.services.access import can_open_confidential, result_released

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
    if (
        att.purpose == "result"
        and actor_kind(ctx.user, dossier) == "owner"
        and not result_released(dossier, Procedure.get_by_id(dossier.procedure_id).online_level)
    ):
        raise NotFound("attachment")
    return att


# --- scheduled work ------------------------------------------------------------------------


@transactional
def issue_apologies(
    office_hours: str = "", now: dt.datetime | None = None, links: DownloadLinks | None = None
) -> int:
    """Issue an apology slip with a new date for every dossier that has gone overdue (again),
    e-mailed with a link to it signed by `links`; returns how many. Run by the worker every
    quarter of an hour."""
    now = now or utcnow()
    calendar = load_calendar(office_hours)
    late = Dossier.select().where(
        Dossier.status.in_(tuple(CLOCK_RUNS)),
        Dossier.due_at < now,
        (Dossier.apology_due_at.is_null() | (Dossier.apology_due_at < now)),
    )
    count = 0
    for dossier in late:
        amount, unit = time_limit(dossier.procedure_id)
        extra = max(1, math.ceil(amount / 2))
        new_due = to_utc(calendar.due(to_local(now), extra, unit))
        reason = notify.bilingual(N_("The dossier could not be processed by the promised date."))
        Dossier.update(apology_due_at=new_due).where(Dossier.id == dossier.id).execute()
        apology = Slip.create(
            dossier=dossier, kind="apology", due_at=new_due, reason=reason, issued_by="system"
        )
        event = history.note(SYSTEM, "apology", dossier, reason, public=True)
        owner = User.get_by_id(dossier.owner_id)
        Notification.create(user=owner, dossier=dossier, text=f"{dossier.code}: {reason}")
        if owner.email:
            lines = notify.link_lines(dossier, event, links, apology)
            body = "\n\n".join([reason, "\n".join(lines)]) if lines else reason
            notify.queue_mail(
                event, owner.email, f"{dossier.code}: {reason}", body, key=f"apology:{event.id}"
            )
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
