"""What each action of the state machine does to a dossier besides changing its status: one
small function per action, named in its row of `workflow.TRANSITIONS`. An effect reads what
it needs from the `Step` and returns the dossier's columns to change; it raises
ValidationError when the action's own input is wrong. `processing.act` runs it under the
dossier's lock, in the transaction that records the event."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from portal.models import (
    Attachment,
    Dossier,
    DossierEvent,
    Payment,
    Procedure,
    ProcessingTime,
)
from portal.services import inbox
from portal.services.access import Ctx
from portal.services.calendar import load_calendar
from portal.services.deadlines import Calendar, to_local, to_utc
from portal.services.errors import N_, Message, ValidationError
from portal.services.status import NEW, PROCESSING

Changes = dict[str, Any]
DEFAULT_LIMIT = (5, "working_days")


@dataclass(frozen=True)
class Step:
    """One action being applied: the locked dossier, who acts, when, and the form's input."""

    ctx: Ctx
    dossier: Dossier
    now: dt.datetime
    note: str = ""
    to_user: int | None = None
    to_unit: str = ""

    @cached_property
    def calendar(self) -> Calendar:
        return load_calendar(self.ctx.office_hours)


def time_limit(procedure_id: int, dossier_channel: str = "online") -> tuple[int, str]:
    """The time limit of a procedure for a dossier of `dossier_channel`: the online one for a
    dossier filed online (else in person), the in-person one for a dossier received at the
    counter (else online); else by post, else 5 working days."""
    times = {
        t.channel: t
        for t in ProcessingTime.select().where(ProcessingTime.procedure == procedure_id)
    }
    order = ("in_person", "online") if dossier_channel == "counter" else ("online", "in_person")
    for channel in (*order, "post"):
        t = times.get(channel)
        if t is not None and t.amount:
            return t.amount, t.unit
    return DEFAULT_LIMIT


def _cutoff(proc: Procedure) -> dt.time | None:
    try:
        return dt.time.fromisoformat(proc.cutoff) if proc.cutoff else None
    except ValueError:
        return None


def receive(step: Step) -> Changes:
    """The legal clock starts: the promised date in working time from now."""
    proc = Procedure.get_by_id(step.dossier.procedure_id)
    amount, unit = time_limit(proc.id, step.dossier.channel)
    due = step.calendar.due(to_local(step.now), amount, unit, _cutoff(proc))
    return {"received_at": step.now, "due_at": to_utc(due)}


def finish(step: Step) -> Changes:
    """The dossier ends; a payment still asked of the applicant is no longer owed."""
    Payment.update(status="cancelled").where(
        Payment.dossier == step.dossier.id, Payment.status == "requested"
    ).execute()
    return {"finished_at": step.now}


def request_supplement(step: Step) -> Changes:
    """The clock pauses (if it runs) until the applicant sends the supplement."""
    changes: Changes = {"resume_status": NEW if step.dossier.status == NEW else PROCESSING}
    if step.dossier.due_at is not None:
        changes["paused_at"] = step.now
    return changes


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


def supplement(step: Step) -> Changes:
    """The supplement is sent: the clock runs again, the promised date moved by the pause."""
    dossier = step.dossier
    if not _supplement_sent(dossier):
        raise ValidationError({"files": Message(N_("Attach at least one document first."))})
    changes: Changes = {"paused_at": None, "resume_status": None}
    if dossier.paused_at is not None and dossier.due_at is not None:
        due = step.calendar.resume(
            to_local(dossier.due_at), to_local(dossier.paused_at), to_local(step.now)
        )
        changes["due_at"] = to_utc(due)
    return changes


def start_processing(step: Step) -> Changes:
    return {"assigned_to": step.dossier.assigned_to_id or step.ctx.user.id}


def forward(step: Step) -> Changes:
    """To an officer of the unit, or to one of the units the form offers."""
    dossier = step.dossier
    if step.to_user:
        if inbox.unit_officer(dossier.unit_id, step.to_user) is None:
            raise ValidationError({"to_user": Message(N_("Choose an officer of this unit."))})
        return {"assigned_to": step.to_user}
    if step.to_unit:
        unit_id = inbox.forward_unit(dossier.unit_id, step.to_unit)
        if unit_id is None:
            raise ValidationError({"to_unit": Message(N_("Choose another customs unit."))})
        return {"unit": unit_id, "assigned_to": None, "approval": ""}
    raise ValidationError({"to_user": Message(N_("Choose an officer or a unit."))})


def submit_for_approval(step: Step) -> Changes:
    return {"approval": "pending"}


def approve(step: Step) -> Changes:
    return {"approval": "approved"}


def send_back(step: Step) -> Changes:
    return {"approval": ""}


def nothing(step: Step) -> Changes:
    return {}
