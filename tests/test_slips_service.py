"""Slips as official documents: the Vietnamese date, the number each unit gives per kind and
year (also when many are issued at once), the text of each form, the apology an officer or
leader issues with the reason and a new date, and the numbering of the slips issued before."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from peewee import CharField, DateTimeField, ForeignKeyField, TextField

from portal.db import db, is_postgres, transactional
from portal.i18n import format_long_date
from portal.models import (
    BaseModel,
    Dossier,
    DossierEvent,
    Notification,
    OutgoingMail,
    Slip,
    SlipSequence,
    Unit,
    utcnow,
)
from portal.services import apologies, dossiers, history, processing, slips
from portal.services.deadlines import to_local
from portal.services.errors import DomainError, NotFound, ValidationError
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import UNIT, complete_draft


def received(people, ctx_of, key: str, unit: str = UNIT) -> Dossier:
    owner = ctx_of(people.owner)
    did = complete_draft(owner, unit)
    dossiers.submit(owner, did, key)
    officer = people.officer if unit == UNIT else people.far_officer
    return processing.act(ctx_of(officer), did, "receive")


def numbers(dossier_id: int, kind: str) -> list[str]:
    with db.connection_context():
        return [s.number for s in Slip.select().where(Slip.dossier == dossier_id,
                                                      Slip.kind == kind).order_by(Slip.id)]


def this_year() -> int:
    return to_local(utcnow()).year


# --- the date as Vietnamese documents write it ------------------------------------------------

@pytest.mark.parametrize(("day", "text"), [
    (dt.date(2026, 12, 4), "ngày 04 tháng 12 năm 2026"),
    (dt.date(2027, 2, 15), "ngày 15 tháng 02 năm 2027"),
    (dt.date(2027, 1, 1), "ngày 01 tháng 01 năm 2027"),
    (dt.date(2026, 3, 9), "ngày 09 tháng 3 năm 2026"),
    (dt.date(2026, 11, 30), "ngày 30 tháng 11 năm 2026"),
])
def test_the_date_phrase(day, text):
    assert format_long_date(day, "vi") == text


def test_the_time_phrase_is_in_vietnam_time():
    assert slips.time_phrase(dt.datetime(2026, 12, 4, 7, 30)) == (
        "14 giờ 30 phút, ngày 04 tháng 12 năm 2026")
    assert slips.time_phrase(None) == ""


# --- numbers ----------------------------------------------------------------------------------

def test_each_unit_numbers_each_kind_of_slip_by_year(people, ctx_of):
    year = this_year()
    first = received(people, ctx_of, "a")
    second = received(people, ctx_of, "b")
    far = received(people, ctx_of, "c", unit="01AB")
    assert numbers(first.id, "receipt") == [f"1/{year}/TNHS-{UNIT}"]
    assert numbers(second.id, "receipt") == [f"2/{year}/TNHS-{UNIT}"]
    assert numbers(far.id, "receipt") == [f"1/{year}/TNHS-01AB"]  # another unit starts at 1
    processing.act(ctx_of(people.officer), first.id, "request_supplement", "Thiếu chứng từ")
    assert numbers(first.id, "supplement") == [f"1/{year}/BSHS-{UNIT}"]
    owner = ctx_of(people.owner)
    refused = complete_draft(owner)
    dossiers.submit(owner, refused, "r")
    processing.act(ctx_of(people.officer), refused, "refuse_reception", "Không thuộc thẩm quyền")
    assert numbers(refused, "refusal") == [f"1/{year}/TCHS-{UNIT}"]
    # A new year starts again at 1.
    with db.connection_context(), db.atomic():
        slip = slips.issue(Dossier.get_by_id(second.id), "receipt", people.officer,
                           now=dt.datetime(year + 1, 1, 1, 2, 0))
    assert slip.number == f"1/{year + 1}/TNHS-{UNIT}"
    assert (slip.issued_by, slip.signer_title) == ("Cán bộ Một", "Công chức hải quan")


def test_slips_issued_at_once_get_consecutive_numbers(people, ctx_of):
    """Twenty slips issued at the same moment by twenty threads, each in its own transaction
    (SQLite: BEGIN IMMEDIATE; PostgreSQL: the sequence row's lock): distinct, gap-free."""
    dossier = received(people, ctx_of, "many")
    count = 20

    @transactional
    def issue_one(n: int) -> str:
        d = Dossier.get_by_id(dossier.id)
        return slips.issue(d, "supplement", people.officer, reason=f"lần {n}").number

    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(issue_one, range(count)))
    year = this_year()
    assert len(set(got)) == count
    assert sorted(int(n.split("/")[0]) for n in got) == list(range(1, count + 1))
    assert all(n.endswith(f"/{year}/BSHS-{UNIT}") for n in got)
    with db.connection_context():
        assert SlipSequence.get(SlipSequence.kind == "supplement").last == count


# --- what a slip says -------------------------------------------------------------------------

def test_the_receipt_reads_as_form_01(people, ctx_of):
    dossier = received(people, ctx_of, "s")
    with db.connection_context():
        slip = Slip.get(Slip.dossier == dossier.id)
    page = slips.open_slip(dossier.id, slip.id, people.owner, "Thành phố Hồ Chí Minh")
    s = page.sheet
    with db.connection_context():
        unit = Unit.get_by_id(Dossier.get_by_id(dossier.id).unit_id)
        parent = Unit.get_by_id(unit.parent_id)
    assert (s.agency, s.parent) == (unit.name, parent.name)
    assert s.title == "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ"
    assert s.form == "Mẫu số 01 (Thông tư số 01/2018/TT-VPCP)"
    assert s.number == slip.number
    day = format_long_date(to_local(slip.issued_at).date(), "vi")
    assert s.place_date == f"Thành phố Hồ Chí Minh, {day}"
    assert s.addressee.startswith("Kính gửi: ") and s.signer_name == "Cán bộ Một"
    assert ("Mã hồ sơ", dossier.code) in s.facts
    assert ("Thời gian trả kết quả giải quyết hồ sơ", slips.time_phrase(dossier.due_at)) in s.facts
    assert ("Số tờ khai hải quan", "105123456789") in s.declared or any(
        a == "105123456789" for _, a in s.declared)
    assert ("Mã số thuế", "0100112437") in s.declarant
    # Without a place configured the place is left to be written.
    assert slips.open_slip(dossier.id, slip.id, people.owner).sheet.place_date.startswith("……, ")
    # Another enterprise's user, an officer of another unit: not theirs to see.
    for user in (people.stranger, people.far_officer):
        with pytest.raises(NotFound):
            slips.open_slip(dossier.id, slip.id, user)
    with pytest.raises(NotFound):  # a slip of another dossier through this one
        slips.open_slip(received(people, ctx_of, "t").id, slip.id, people.owner)


# --- the apology ------------------------------------------------------------------------------

def overdue(people, ctx_of, key: str) -> tuple[Dossier, dt.datetime]:
    """A received dossier whose promised date passed an hour ago (`now`)."""
    dossier = received(people, ctx_of, key)
    now = dossier.due_at + dt.timedelta(hours=1)
    return dossier, now


def test_only_the_units_staff_draft_an_apology_while_the_clock_runs(people, ctx_of):
    dossier, now = overdue(people, ctx_of, "d")
    draft = apologies.draft(ctx_of(people.officer), dossier.id, now=now)
    assert draft.overdue and draft.promised == dossier.due_at
    assert draft.proposed > to_local(now).date()
    assert draft.preview.title == "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ"
    assert format_long_date(draft.proposed, "vi") in draft.preview.closing
    assert apologies.draft(ctx_of(people.leader), dossier.id, now=now).overdue
    with pytest.raises(DomainError) as refused:
        apologies.draft(ctx_of(people.owner), dossier.id, now=now)
    assert refused.value.kind == "forbidden"
    with pytest.raises(NotFound):
        apologies.draft(ctx_of(people.far_officer), dossier.id, now=now)
    processing.act(ctx_of(people.officer), dossier.id, "stop_processing", "Dừng")
    with pytest.raises(DomainError) as stopped:
        apologies.draft(ctx_of(people.officer), dossier.id, now=now)
    assert stopped.value.kind == "conflict"


def _errors(ctx, dossier_id: int, data: dict[str, str], now: dt.datetime) -> dict[str, str]:
    with pytest.raises(ValidationError) as exc:
        apologies.issue(ctx, dossier_id, data, now=now)
    return {k: str(v.text) for k, v in exc.value.errors.items()}


def test_the_apology_needs_a_reason_and_a_later_working_day(people, ctx_of):
    dossier, now = overdue(people, ctx_of, "e")
    ctx = ctx_of(people.officer)
    proposed = apologies.draft(ctx, dossier.id, now=now).proposed
    good = proposed.strftime("%d/%m/%Y")
    assert set(_errors(ctx, dossier.id, {"reason": "", "new_date": good}, now)) == {"reason"}
    assert set(_errors(ctx, dossier.id, {"reason": "  \n ", "new_date": "31/02/2027"}, now)) == {
        "reason", "new_date"}
    due_day = to_local(dossier.due_at).date()
    for bad in ("tomorrow", "", due_day.strftime("%d/%m/%Y"), "01/01/2000",
                (due_day + dt.timedelta(days=800)).strftime("%d/%m/%Y")):
        assert set(_errors(ctx, dossier.id, {"reason": "Chờ kết quả giám định",
                                             "new_date": bad}, now)) == {"new_date"}, bad
    saturday = proposed + dt.timedelta(days=(5 - proposed.weekday()) % 7 or 7)
    message = _errors(ctx, dossier.id, {"reason": "x", "new_date": saturday.isoformat()}, now)
    assert set(message) == {"new_date"} and "working day" in message["new_date"]
    with db.connection_context():  # nothing was issued
        assert not Slip.select().where(Slip.kind == "apology").exists()


def test_an_officer_issues_the_apology_in_their_own_name(people, ctx_of):
    dossier, now = overdue(people, ctx_of, "f")
    ctx = ctx_of(people.leader)
    proposed = apologies.draft(ctx, dossier.id, now=now).proposed
    reason = "Chờ kết quả giám định hàng hóa của Chi cục Kiểm định."
    slip = apologies.issue(ctx, dossier.id, {"reason": reason,
                                             "new_date": proposed.strftime("%d/%m/%Y")}, now=now)
    year = to_local(now).year
    assert slip.number == f"1/{year}/XLHS-{UNIT}"
    assert (slip.issued_by, slip.signer_title, slip.reason) == ("Lãnh đạo", "Lãnh đạo đơn vị",
                                                                reason)
    assert to_local(slip.due_at) == dt.datetime.combine(proposed, dt.time(17, 0))
    with db.connection_context():
        assert Dossier.get_by_id(dossier.id).apology_due_at == slip.due_at
        event = DossierEvent.get(DossierEvent.action == "apology")
        told = Notification.select().where(Notification.user == people.owner.id,
                                           Notification.text.contains(reason)).count()
        mail = OutgoingMail.get(OutgoingMail.key == f"apology:{event.id}")
    assert (event.actor_id, event.actor_role, event.note, event.public) == (
        people.leader.id, "leader", reason, True)
    assert told == 1 and reason in mail.body and mail.to_addr == "owner@example.vn"
    assert history.verify_chain()[1:] == (None, "")
    page = slips.open_slip(dossier.id, slip.id, people.owner)
    assert page.sheet.signer_name == "Lãnh đạo" and page.sheet.reason == reason
    assert page.sheet.signer_caption == "ĐẠI DIỆN CƠ QUAN, ĐƠN VỊ"
    # The unit is not asked while the new date is ahead; once it has passed, it is.
    assert processing.notice_overdue(now=now) == 0
    assert processing.notice_overdue(now=slip.due_at - dt.timedelta(minutes=1)) == 0
    assert processing.notice_overdue(now=slip.due_at + dt.timedelta(minutes=1)) == 1
    # A second apology must promise a date after the first one's.
    again = _errors(ctx, dossier.id, {"reason": "Vẫn chờ",
                                      "new_date": proposed.strftime("%d/%m/%Y")}, now)
    assert set(again) == {"new_date"}


# --- the slips issued before numbers existed --------------------------------------------------

class OldSlip(BaseModel):
    """The slip table before slips were numbered."""

    dossier = ForeignKeyField(Dossier, on_delete="RESTRICT")
    kind = CharField(max_length=16)
    issued_at = DateTimeField()
    due_at = DateTimeField(null=True)
    reason = TextField(default="")
    issued_by = CharField(max_length=255, default="")

    class Meta:
        table_name = "slip"


OLD_COLUMNS = (Slip.id, Slip.dossier, Slip.kind, Slip.issued_at, Slip.due_at, Slip.reason,
               Slip.issued_by)


def test_the_migration_numbers_the_slips_issued_before(people, ctx_of):
    from playhouse.migrate import migrate as run_operations

    from portal.migrations import LATEST, STEPS, _migrator, _v11_slip_numbers, migrate
    from portal.models import SchemaVersion

    version = next(v for v, step in STEPS.items() if step is _v11_slip_numbers)
    first = received(people, ctx_of, "old1")
    second = received(people, ctx_of, "old2")
    processing.act(ctx_of(people.officer), first.id, "request_supplement", "Thiếu")
    with db.connection_context():
        ids = [s.id for s in Slip.select().order_by(Slip.id)]
        kept = list(Slip.select(*OLD_COLUMNS).order_by(Slip.id).dicts())
        # The slip table as it was (SQLite cannot drop a column that is a foreign key).
        db.drop_tables([Slip, SlipSequence])
        db.create_tables([OldSlip])
        OldSlip.insert_many(kept).execute()
        if is_postgres():  # the new table's id sequence goes on after the rows put back
            db.execute_sql("SELECT setval(pg_get_serial_sequence('slip', 'id'), max(id)) "
                           "FROM slip")
        run_operations(_migrator().drop_column("dossier", "overdue_told_at"))
        SchemaVersion.update(version=version - 1).execute()
    assert migrate() == (version - 1, LATEST)
    year = this_year()
    with db.connection_context():
        got = [(s.number, s.unit.code) for s in Slip.select().where(Slip.id.in_(ids))
               .order_by(Slip.id)]
    assert got == [(f"1/{year}/TNHS-{UNIT}", UNIT), (f"2/{year}/TNHS-{UNIT}", UNIT),
                   (f"1/{year}/BSHS-{UNIT}", UNIT)]
    # The sequences go on from there.
    third = received(people, ctx_of, "new")
    assert numbers(third.id, "receipt") == [f"3/{year}/TNHS-{UNIT}"]
    assert numbers(second.id, "receipt") == [f"2/{year}/TNHS-{UNIT}"]
