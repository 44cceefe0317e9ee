"""The apology slip (form 04): when a dossier goes overdue the worker asks its unit
(`processing.notice_overdue`); an officer or leader of the unit reads the drafted slip with a
proposed new date, writes the real reason and issues it in their own name. The enterprise is
told, with a link to the slip."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

from portal.db import is_postgres, reading, transactional
from portal.models import Dossier, DossierEvent, Slip, User, utcnow
from portal.services import dossiers, history, notify, slips
from portal.services.access import Ctx, is_unit_staff, require_view
from portal.services.calendar import load_calendar
from portal.services.deadlines import Calendar, to_local, to_utc
from portal.services.effects import time_limit
from portal.services.errors import N_, DomainError, Message, ValidationError
from portal.services.history import Actor
from portal.services.status import CLOCK_RUNS
from portal.services.text import clean, has_forbidden_chars

MAX_REASON = 2000
MAX_DAYS_AHEAD = 366
NOT_STAFF = N_("Only an officer or leader of the handling unit issues an apology slip.")
NOT_RUNNING = N_("An apology slip is issued only while the dossier is being processed.")
TOLD = N_("We apologise: the dossier could not be processed by the promised date.")
TOLD_NOTICE = N_("%(code)s: %(told)s — %(reason)s")
_DAY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})|(\d{4})-(\d{2})-(\d{2})")


@dataclass(frozen=True)
class Draft:
    """What the form shows: the dates promised so far and the proposed new date."""

    dossier: Dossier
    promised: dt.datetime | None  # the date promised so far (the last apology's, if any)
    proposed: dt.date
    overdue: bool
    preview: slips.Sheet  # the slip as it would read with the proposed date


def _promised(dossier: Dossier) -> dt.datetime | None:
    return dossier.apology_due_at or dossier.due_at


def _proposal(dossier: Dossier, calendar: Calendar, now: dt.datetime) -> dt.date:
    """Half the procedure's time limit again (at least one day), counted from now, or from
    the date promised so far when that is still ahead (an apology before the deadline)."""
    amount, unit = time_limit(dossier.procedure_id, dossier.channel)
    promised = _promised(dossier)
    start = max(now, promised) if promised else now
    return calendar.due(to_local(start), max(1, math.ceil(amount / 2)), unit).date()


def _check(ctx: Ctx, dossier: Dossier | None) -> Dossier:
    dossier = require_view(ctx.user, dossier)
    if not is_unit_staff(ctx.user, dossier):
        raise DomainError(NOT_STAFF, kind="forbidden")
    if dossier.status not in CLOCK_RUNS:
        raise DomainError(NOT_RUNNING, kind="conflict")
    return dossier


@reading
def draft(ctx: Ctx, dossier_id: int, now: dt.datetime | None = None) -> Draft:
    """The apology form's facts; raises NotFound or DomainError (not the unit's staff, the
    clock not running)."""
    now = now or utcnow()
    dossier = _check(ctx, Dossier.get_or_none(Dossier.id == dossier_id))
    promised = _promised(dossier)
    calendar = load_calendar(ctx.office_hours)
    proposal = _proposal(dossier, calendar, now)
    unsaved = Slip(
        dossier=dossier,
        kind="apology",
        unit=dossier.unit_id,
        issued_at=now,
        due_at=to_utc(calendar.closing(proposal)),
        issued_by=ctx.user.full_name,
        signer_title=slips.SIGNER_TITLES.get(ctx.user.role, ""),
    )
    preview = slips.sheet(unsaved, dossiers.load(dossier.id, ctx.user))
    return Draft(dossier, promised, proposal, promised is not None and promised < now, preview)


def parse_day(text: str) -> dt.date | None:
    """A day written dd/mm/yyyy (as Vietnamese write it) or yyyy-mm-dd; None otherwise."""
    match = _DAY.fullmatch(text.strip())
    if match is None:
        return None
    day, month, year = match.group(1, 2, 3) if match.group(1) else match.group(6, 5, 4)
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        return None


def _validated(
    data: dict[str, str], calendar: Calendar, promised: dt.datetime | None, now: dt.datetime
) -> tuple[str, dt.date]:
    errors: dict[str, Message] = {}
    reason = clean(data.get("reason", ""), multiline=True)
    if has_forbidden_chars(reason):
        errors["reason"] = Message(N_("This field contains characters that are not allowed."))
    elif len(reason) > MAX_REASON:
        errors["reason"] = Message(N_("Enter at most %(max)s characters."), max=MAX_REASON)
    elif not reason:
        errors["reason"] = Message(N_("Write why the dossier is late: the enterprise reads it."))
    day = parse_day(data.get("new_date", "")[:20])
    today = to_local(now).date()
    earliest = max(today, to_local(promised).date()) if promised else today
    if day is None:
        errors["new_date"] = Message(N_("Enter the new date as dd/mm/yyyy, e.g. 04/12/2026."))
    elif day <= earliest:
        errors["new_date"] = Message(
            N_("The new date must be after %(day)s."), day=earliest.strftime("%d/%m/%Y")
        )
    elif day > today + dt.timedelta(days=MAX_DAYS_AHEAD):
        errors["new_date"] = Message(N_("The new date must be within a year."))
    elif not calendar.is_working_day(day):
        errors["new_date"] = Message(
            N_("%(day)s is not a working day."), day=day.strftime("%d/%m/%Y")
        )
    if errors:
        raise ValidationError(errors)
    assert day is not None
    return reason, day


@transactional
def issue(ctx: Ctx, dossier_id: int, data: dict[str, str], now: dt.datetime | None = None) -> Slip:
    """Issue the apology slip in `ctx.user`'s name with the reason and the new date (by the
    end of office hours that day); the dossier's new promised date, a history event and the
    enterprise told, in one transaction. Raises NotFound, DomainError or ValidationError."""
    now = now or utcnow()
    query = Dossier.select().where(Dossier.id == dossier_id)
    # SQLite's write transactions are already exclusive; PostgreSQL locks the dossier's row.
    dossier = _check(ctx, query.for_update().first() if is_postgres() else query.first())
    calendar = load_calendar(ctx.office_hours)
    reason, day = _validated(data, calendar, _promised(dossier), now)
    new_due = to_utc(calendar.closing(day))
    Dossier.update(apology_due_at=new_due, updated_at=now).where(
        Dossier.id == dossier.id
    ).execute()
    slip = slips.issue(dossier, "apology", ctx.user, reason=reason, due_at=new_due, now=now)
    event = history.note(Actor.of(ctx.user, ctx.client_addr), "apology", dossier, reason,
                         public=True)
    _tell_owner(dossier, event, slip, ctx, reason)
    return slip


def _tell_owner(
    dossier: Dossier, event: DossierEvent, slip: Slip, ctx: Ctx, reason: str
) -> None:
    """The enterprise is told in its own language; the reason is quoted as the officer wrote
    it (the slip's official text)."""
    owner = User.get_by_id(dossier.owner_id)
    notify.tell(owner, dossier, TOLD_NOTICE, code=dossier.code, told=notify.msg(TOLD),
                reason=reason)
    if owner.email:
        language = notify.language_of(owner)
        told = notify.in_language(language, TOLD)
        lines = notify.link_lines(dossier, event, ctx.links, slip, language)
        body = "\n\n".join([told, reason, *(["\n".join(lines)] if lines else [])])
        notify.queue_mail(
            event, owner.email, f"{dossier.code}: {told}", body, key=f"apology:{event.id}"
        )
