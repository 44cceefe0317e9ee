"""Scheduled work: the unit asked for an apology slip for overdue dossiers, reminders of
tomorrow's deadlines, and the cleaning of orphaned uploads, through the services and through
the huey tasks."""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid

from portal import jobs
from portal.db import db
from portal.models import Dossier, DossierEvent, Holiday, Notification, Slip, User
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


# --- overdue dossiers: the unit is asked for an apology ---------------------------------------

def asked(user: User, code: str) -> int:
    with db.connection_context():
        return Notification.select().where(Notification.user == user.id,
                                           Notification.message == processing.OVERDUE,
                                           Notification.text.contains(code)).count()


def owner_notes(owner: User, dossier_id: int) -> int:
    with db.connection_context():
        return Notification.select().where(Notification.user == owner.id,
                                           Notification.dossier == dossier_id).count()


def test_an_overdue_dossier_makes_the_unit_asked_once_for_an_apology(
        people, ctx_of, job_settings):
    late = received_dossier(people, ctx_of, "late")
    owner = ctx_of(people.owner)
    waiting = complete_draft(owner)
    dossiers.submit(owner, waiting, "waiting")  # not received: no clock, nothing to ask
    now = late.due_at + dt.timedelta(hours=1)
    staff = (people.officer, people.officer2, people.leader)

    told_owner = owner_notes(people.owner, late.id)
    assert processing.notice_overdue(now=now - dt.timedelta(hours=2)) == 0  # not late yet
    assert processing.notice_overdue(now=now) == 1
    assert [asked(u, late.code) for u in staff] == [1, 1, 1]  # nobody assigned: the unit
    assert asked(people.far_officer, late.code) == 0
    # Nothing is issued in anybody's name, nothing recorded, the enterprise not told yet.
    assert slips(late.id, "apology") == []
    with db.connection_context():
        assert not DossierEvent.select().where(DossierEvent.action == "apology").exists()
    assert owner_notes(people.owner, late.id) == told_owner
    # The next runs ask no more while the dossier stays late.
    assert processing.notice_overdue(now=now + dt.timedelta(minutes=15)) == 0
    assert processing.notice_overdue(now=now + dt.timedelta(days=3)) == 0
    assert [asked(u, late.code) for u in staff] == [1, 1, 1]
    # An apology promised a new date; late again after it: the unit is asked again.
    with db.connection_context():
        Dossier.update(apology_due_at=now + dt.timedelta(days=4)).where(
            Dossier.id == late.id).execute()
    assert processing.notice_overdue(now=now + dt.timedelta(days=4, minutes=-1)) == 0
    assert processing.notice_overdue(now=now + dt.timedelta(days=4, minutes=1)) == 1
    assert [asked(u, late.code) for u in staff] == [2, 2, 2]
    assert history.verify_chain()[1:] == (None, "")


def test_no_one_is_asked_while_the_clock_is_stopped_or_finished(people, ctx_of, job_settings):
    paused = received_dossier(people, ctx_of, "p")
    processing.act(ctx_of(people.officer), paused.id, "request_supplement", "Thiếu")
    finished = received_dossier(people, ctx_of, "f")
    processing.act(ctx_of(people.officer), finished.id, "stop_processing", "Dừng")
    later = max(paused.due_at, finished.due_at) + dt.timedelta(days=30)
    assert processing.notice_overdue(now=later) == 0
    assert asked(people.officer, paused.code) == asked(people.officer, finished.code) == 0


def test_the_overdue_job_runs_the_service(people, ctx_of, job_settings):
    late = received_dossier(people, ctx_of, "job")
    assert jobs.notice_overdue.call_local() == 0  # due in days: not late
    with db.connection_context():
        Dossier.update(due_at=late.received_at - dt.timedelta(minutes=1)).where(
            Dossier.id == late.id).execute()
    assert jobs.notice_overdue.call_local() == 1
    jobs.notice_overdue()  # through the queue (immediate mode): nothing more to do
    assert asked(people.officer, late.code) == 1


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
