"""Scheduled work: apology slips for overdue dossiers, reminders of tomorrow's deadlines, and
the cleaning of orphaned uploads, through the services and through the huey tasks."""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid

from portal import jobs
from portal.db import db
from portal.models import Dossier, DossierEvent, Holiday, Notification, OutgoingMail, Slip, User
from portal.services import dossiers, history, processing
from portal.services.deadlines import Calendar, to_local, to_utc
from portal.storage import orphans
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import complete_draft, uploaded_files


def received_dossier(people, ctx_of, key: str) -> Dossier:
    owner = ctx_of(people.owner)
    dossier_id = complete_draft(owner)
    dossiers.submit(owner, dossier_id, key)
    return processing.act(ctx_of(people.officer), dossier_id, "receive")


def slips(dossier_id: int, kind: str) -> list[Slip]:
    with db.connection_context():
        return list(Slip.select().where(Slip.dossier == dossier_id, Slip.kind == kind)
                    .order_by(Slip.id))


# --- apologies -----------------------------------------------------------------------------

def test_an_overdue_dossier_gets_one_apology_with_a_new_date(people, ctx_of, job_settings):
    late = received_dossier(people, ctx_of, "late")
    owner = ctx_of(people.owner)
    waiting = complete_draft(owner)
    dossiers.submit(owner, waiting, "waiting")  # not received: no clock, no apology
    now = late.due_at + dt.timedelta(hours=1)

    assert processing.issue_apologies(now=now) == 1
    [slip] = slips(late.id, "apology")
    # Half the time limit again (5 working days → 3), counted from now on the calendar.
    expected = to_utc(Calendar().due(to_local(now), 3, "working_days"))
    assert slip.due_at == expected and slip.due_at > now and slip.issued_by == "system"
    with db.connection_context():
        assert Dossier.get_by_id(late.id).apology_due_at == expected
        assert Dossier.get_by_id(late.id).status == 2
        apology = DossierEvent.get(DossierEvent.action == "apology")
        told = Notification.select().where(Notification.user == people.owner.id,
                                           Notification.message == processing.LATE_NOTICE,
                                           Notification.dossier == late.id).count()
        mail = OutgoingMail.get(OutgoingMail.key == f"apology:{apology.id}")
    assert (apology.dossier_id, apology.actor_id, apology.actor_role) == (late.id, None, "system")
    assert (apology.status_before, apology.status_after, apology.public) == (2, 2, True)
    assert told == 1
    assert mail.to_addr == "owner@example.vn" and late.code in mail.subject
    # No SMTP server configured: the mail waits.
    assert mail.status == "pending" and mail.sent_at is None

    # The next runs before the new date issue nothing more.
    assert processing.issue_apologies(now=now + dt.timedelta(minutes=15)) == 0
    assert processing.issue_apologies(now=expected - dt.timedelta(seconds=1)) == 0
    assert len(slips(late.id, "apology")) == 1
    # Late again after the new date: a second apology with a later date.
    assert processing.issue_apologies(now=expected + dt.timedelta(minutes=1)) == 1
    second = slips(late.id, "apology")[1]
    assert second.due_at > expected
    assert slips(waiting, "apology") == []
    assert history.verify_chain()[1:] == (None, "")


def test_no_apology_while_the_clock_is_stopped_or_finished(people, ctx_of, job_settings):
    paused = received_dossier(people, ctx_of, "p")
    processing.act(ctx_of(people.officer), paused.id, "request_supplement", "Thiếu")
    finished = received_dossier(people, ctx_of, "f")
    processing.act(ctx_of(people.officer), finished.id, "stop_processing", "Dừng")
    later = max(paused.due_at, finished.due_at) + dt.timedelta(days=30)
    assert processing.issue_apologies(now=later) == 0
    assert slips(paused.id, "apology") == slips(finished.id, "apology") == []


def test_the_apology_job_runs_the_service(people, ctx_of, job_settings):
    late = received_dossier(people, ctx_of, "job")
    assert jobs.issue_apologies.call_local() == 0  # due in days: not late
    with db.connection_context():
        Dossier.update(due_at=late.received_at - dt.timedelta(minutes=1)).where(
            Dossier.id == late.id).execute()
    assert jobs.issue_apologies.call_local() == 1
    jobs.issue_apologies()  # through the queue (immediate mode): nothing more to do
    assert len(slips(late.id, "apology")) == 1


# --- reminders -----------------------------------------------------------------------------

def reminders(user: User, code: str) -> int:
    with db.connection_context():
        return Notification.select().where(Notification.user == user.id,
                                           Notification.text.contains(code),
                                           Notification.message.contains("next working day")
                                           ).count()


def local(y: int, m: int, d: int, hh: int, mm: int = 0) -> dt.datetime:
    return to_utc(dt.datetime(y, m, d, hh, mm))


def test_remind_due_tomorrow_tells_the_unit(people, ctx_of, job_settings):
    dossier = received_dossier(people, ctx_of, "r")
    # Due on Wednesday 16 January 2030 at 10:00, Vietnam time.
    with db.connection_context():
        Dossier.update(due_at=local(2030, 1, 16, 10)).where(Dossier.id == dossier.id).execute()
    staff = (people.officer, people.officer2, people.leader)
    # Monday: Wednesday is not the next working day.
    assert processing.remind_due_tomorrow(now=local(2030, 1, 14, 7, 30)) == 0
    # Tuesday: it is.
    assert processing.remind_due_tomorrow(now=local(2030, 1, 15, 7, 30)) == 1
    assert [reminders(u, dossier.code) for u in staff] == [1, 1, 1]
    assert reminders(people.far_officer, dossier.code) == 0
    assert reminders(people.owner, dossier.code) == 0
    # Not twice on the same day.
    assert processing.remind_due_tomorrow(now=local(2030, 1, 15, 9, 0)) == 0
    assert [reminders(u, dossier.code) for u in staff] == [1, 1, 1]
    with db.connection_context():
        assert Dossier.get_by_id(dossier.id).reminded_at == local(2030, 1, 15, 7, 30)


def test_remind_once_for_a_monday_deadline(people, ctx_of, job_settings):
    dossier = received_dossier(people, ctx_of, "m")
    # Due on Monday 14 January 2030 at 10:00, Vietnam time.
    with db.connection_context():
        Dossier.update(due_at=local(2030, 1, 14, 10)).where(Dossier.id == dossier.id).execute()
    # Thursday: Monday is not the next working day.
    assert processing.remind_due_tomorrow(now=local(2030, 1, 10, 7, 30)) == 0
    # Friday: it is.
    assert processing.remind_due_tomorrow(now=local(2030, 1, 11, 7, 30)) == 1
    assert reminders(people.officer, dossier.code) == 1
    # The job runs daily, weekends included: the officers are not told again.
    runs = [processing.remind_due_tomorrow(now=when) for when in (
        local(2030, 1, 11, 9, 0), local(2030, 1, 12, 7, 30), local(2030, 1, 13, 7, 30))]
    assert runs == [0, 0, 0]
    assert reminders(people.officer, dossier.code) == 1


def test_remind_skips_holidays_and_tells_only_the_assigned_officer(people, ctx_of,
                                                                   job_settings):
    dossier = received_dossier(people, ctx_of, "h")
    processing.assign(ctx_of(people.leader), dossier.id, people.officer2.id)
    with db.connection_context():
        Dossier.update(due_at=local(2030, 1, 15, 16)).where(Dossier.id == dossier.id).execute()
        Holiday.create(day=dt.date(2030, 1, 14), name="Nghỉ bù")
    # Friday 11: the next working day is Tuesday 15 (Monday is a holiday).
    assert processing.remind_due_tomorrow(now=local(2030, 1, 11, 7, 30)) == 1
    assert [reminders(u, dossier.code) for u in (people.officer, people.officer2,
                                                 people.leader)] == [0, 1, 0]


def test_the_reminder_job_runs(people, ctx_of, job_settings):
    dossier = received_dossier(people, ctx_of, "j")
    calendar = Calendar()
    tomorrow = calendar.next_working_day(to_local(dt.datetime.now(dt.UTC).replace(tzinfo=None))
                                         .date())
    with db.connection_context():
        Dossier.update(due_at=to_utc(dt.datetime.combine(tomorrow, dt.time(10)))).where(
            Dossier.id == dossier.id).execute()
    assert jobs.remind_due_tomorrow.call_local() == 1
    assert reminders(people.officer, dossier.code) == 1


# --- orphaned uploads ----------------------------------------------------------------------

def age(path, seconds: int) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_clean_orphan_uploads(people, ctx_of, job_settings):
    uploads = job_settings.uploads
    draft = complete_draft(ctx_of(people.owner))
    attached = uploaded_files(uploads)
    assert len(attached) == 2
    old_orphan = uploads / uuid.uuid4().hex
    young_orphan = uploads / uuid.uuid4().hex
    old_orphan.write_bytes(b"%PDF-1.4 crash between file and row")
    young_orphan.write_bytes(b"%PDF-1.4 being uploaded right now")
    for name in attached:
        age(uploads / name, 7200)
    age(old_orphan, 7200)

    assert orphans(uploads, attached) == [old_orphan]
    # Calling a periodic task runs it at once in immediate mode, but huey keeps no result for
    # periodic tasks: the count is read through call_local() below.
    assert jobs.clean_orphan_uploads().get() is None
    assert uploaded_files(uploads) == attached | {young_orphan.name}

    age(young_orphan, 3601)
    assert jobs.clean_orphan_uploads.call_local() == 1
    assert uploaded_files(uploads) == attached
    assert jobs.clean_orphan_uploads.call_local() == 0
    # The attached files are still there for the dossier.
    view = dossiers.load(draft, people.owner)
    assert {a.stored_name for a in view.attachments} == attached
