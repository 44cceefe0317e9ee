"""Vietnam's statutory days off out of the box (data/seed/holidays_vn.csv): the seed and the
migration load them once, swapped working days count as working time, the administrator
confirms each year, and staff are warned from 1 October while next year is not confirmed."""

from __future__ import annotations

import datetime as dt
import html
import threading

import pytest
from lunardate import LunarDate

from portal import i18n
from portal.db import db
from portal.models import Holiday, HolidayYear, utcnow
from portal.services import calendar
from portal.services.access import Ctx
from portal.services.calendar import HOLIDAYS_FILE, read_holiday_file
from portal.services.errors import DomainError, ValidationError
from tests.helpers import csrf_from

ROWS = read_holiday_file(HOLIDAYS_FILE)
BY_DAY = {r["day"]: r for r in ROWS}


def tr(msgid: str, **params: object) -> str:
    text = i18n.translations("vi").gettext(msgid)
    return text % params if params else text


# --- the data file, checked against a maintained lunar calendar (lunardate, PyPI) ---


def first_weekday_from(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


@pytest.mark.parametrize(("year", "tet", "hung_kings"), [
    (2025, dt.date(2025, 1, 29), dt.date(2025, 4, 7)),
    (2026, dt.date(2026, 2, 17), dt.date(2026, 4, 26)),
    (2027, dt.date(2027, 2, 6), dt.date(2027, 4, 16)),
])
def test_lunar_days_are_converted_right(year, tet, hung_kings):
    assert LunarDate(year, 1, 1).to_solar_date() == tet
    assert LunarDate(year, 3, 10).to_solar_date() == hung_kings
    # the day off is the lunar day, or the next working day when it falls on a weekend
    # (Labour Code 2019 art. 112(3)): 27/4/2026 for Sunday 26/4/2026
    assert BY_DAY[first_weekday_from(hung_kings)]["kind"] == "holiday"
    assert "Hùng Vương" in BY_DAY[first_weekday_from(hung_kings)]["name"]
    # Tết: five days a year, the eve of the lunar new year among them when it is a weekday
    tet_rows = [r for r in ROWS if r["day"].year == year and "Nguyên Đán" in r["name"]]
    assert len(tet_rows) == 5
    eve = tet - dt.timedelta(days=1)
    assert eve.weekday() >= 5 or eve in {r["day"] for r in tet_rows}


def test_every_named_lunar_day_is_that_lunar_day():
    """A row that names its lunar day ("mùng 3", "29 tháng Chạp") is that day."""
    checked = 0
    for row in ROWS:
        lunar = LunarDate.from_solar_date(row["day"].year, row["day"].month, row["day"].day)
        if "tháng Chạp" in row["name"]:
            assert lunar.month == 12 and f"({lunar.day} tháng Chạp" in row["name"], row
            checked += 1
        elif "(mùng " in row["name"]:
            assert lunar.month == 1 and f"(mùng {lunar.day}" in row["name"], row
            checked += 1
    assert checked >= 12


def test_the_file_covers_2025_to_2027_with_sources():
    for year in (2025, 2026, 2027):
        days = {r["day"] for r in ROWS if r["day"].year == year and r["kind"] == "holiday"}
        for fixed in ((1, 1), (4, 30), (9, 2)):
            assert dt.date(year, *fixed) in days or dt.date(year, *fixed).weekday() >= 5
    assert all(r["source"] for r in ROWS)
    swapped = [r for r in ROWS if r["kind"] == "working_day"]
    assert [r["day"] for r in swapped] == [dt.date(2025, 4, 26)]
    assert all(r["day"].weekday() >= 5 for r in swapped)
    # 1/5/2027 is a Saturday: the day off moves to Monday 3/5
    assert dt.date(2027, 5, 3) in BY_DAY


# --- loading into the database, and the calendar deadlines use ---


def test_loading_is_idempotent_and_keeps_the_administrators_changes(settings):
    assert calendar.load_holidays() == len(ROWS)
    assert calendar.load_holidays() == 0
    with db.connection_context():
        assert Holiday.select().count() == len(ROWS)
        Holiday.update(name="Đổi tên").where(Holiday.day == dt.date(2026, 1, 1)).execute()
    assert calendar.load_holidays() == 0
    with db.connection_context():
        assert Holiday.get(Holiday.day == dt.date(2026, 1, 1)).name == "Đổi tên"


def test_seeded_calendar_counts_the_swapped_saturday_and_skips_tet(settings):
    calendar.load_holidays()
    cal = calendar.load_calendar()
    assert cal.is_working_day(dt.date(2025, 4, 26))
    assert not cal.is_working_day(dt.date(2025, 5, 2))
    assert cal.due(dt.datetime(2025, 4, 25, 10), 1, "working_days") == dt.datetime(2025, 4, 26, 10)
    assert cal.due(dt.datetime(2026, 2, 13, 10), 3, "working_days") == dt.datetime(2026, 2, 25, 10)


def test_seed_demo_loads_the_holidays(settings):
    from portal.services.seed import seed_demo

    assert seed_demo()["holidays"] == len(ROWS)
    assert seed_demo()["holidays"] == 0


def test_migration_loads_the_holidays_into_an_existing_database(settings):
    """A database of the version before holidays had kinds gets the columns, the confirmation
    table and the file's days."""
    from playhouse.migrate import migrate as run_operations

    from portal.migrations import LATEST, STEPS, _migrator, _v10_holiday_kinds, migrate
    from portal.models import SchemaVersion

    step = next(v for v, fn in STEPS.items() if fn is _v10_holiday_kinds)
    with db.connection_context():
        Holiday.create(day=dt.date(2026, 1, 1), name="Tết Dương lịch (đã có)")
        run_operations(_migrator().drop_column("holiday", "kind"),
                       _migrator().drop_column("holiday", "source"))
        db.drop_tables([HolidayYear])
        SchemaVersion.update(version=step - 1).execute()
    assert migrate() == (step - 1, LATEST)
    with db.connection_context():
        assert Holiday.select().count() == len(ROWS)
        kept = Holiday.get(Holiday.day == dt.date(2026, 1, 1))
        assert (kept.name, kept.kind) == ("Tết Dương lịch (đã có)", "holiday")
        assert Holiday.get(Holiday.day == dt.date(2025, 4, 26)).kind == "working_day"
        assert HolidayYear.select().count() == 0


def test_a_swapped_working_day_must_be_a_weekend_day(settings, make_user):
    admin = Ctx(user=make_user("admin"))
    with pytest.raises(ValidationError) as exc:
        calendar.add_holiday({"day": "2025-04-25", "kind": "working_day", "name": "Làm bù"}, admin)
    assert "day" in exc.value.errors
    saturday = calendar.add_holiday({"day": "2026-01-10", "kind": "working_day",
                                     "name": "Làm bù cho 02/01/2026", "source": "Thông báo"}, admin)
    assert (saturday.kind, saturday.source) == ("working_day", "Thông báo")
    assert calendar.load_calendar().is_working_day(dt.date(2026, 1, 10))
    with pytest.raises(ValidationError):
        calendar.add_holiday({"day": "2026-01-10", "kind": "holiday", "name": "Trùng"}, admin)
    with pytest.raises(ValidationError):
        calendar.add_holiday({"day": "2026-01-11", "kind": "weekend", "name": "Sai loại"}, admin)


# --- confirming a year, and the warning ---


def test_confirming_a_year_records_who_and_when(settings, make_user):
    admin = Ctx(user=make_user("admin"))
    with pytest.raises(DomainError) as empty:
        calendar.confirm_year(2031, admin)
    assert empty.value.kind == "invalid"
    calendar.load_holidays()
    before = utcnow()
    calendar.confirm_year(2027, admin)
    confirmed = calendar.confirmation(2027)
    assert confirmed.confirmed_by.id == admin.user.id and confirmed.confirmed_at >= before
    with pytest.raises(DomainError) as again:
        calendar.confirm_year(2027, admin)
    assert again.value.kind == "conflict"


def test_warning_from_1_october_until_next_year_is_confirmed(settings, make_user):
    calendar.load_holidays()
    assert calendar.unconfirmed_next_year(dt.date(2026, 9, 30)) is None
    assert calendar.unconfirmed_next_year(dt.date(2026, 10, 1)) == 2027
    assert calendar.unconfirmed_next_year(dt.date(2026, 12, 31)) == 2027
    calendar.confirm_year(2027, Ctx(user=make_user("admin")))
    assert calendar.unconfirmed_next_year(dt.date(2026, 10, 1)) is None
    assert calendar.unconfirmed_next_year(dt.date(2027, 10, 1)) == 2028


# --- the administration page ---


def page_text(response) -> str:
    return html.unescape(response.text)


def test_admin_page_lists_the_year_with_sources_and_confirms_it(client, make_user, login):
    calendar.load_holidays()
    login(make_user("admin", full_name="Quản trị Một"))
    page = client.get("/admin/holidays?year=2025")
    text = page_text(page)
    assert "Thông báo 6150/TB-LĐTBXH" in text
    assert tr("Swapped working day") in text and "Làm bù cho ngày nghỉ 02/5/2025" in text
    assert tr("Confirm the holidays of %(year)s", year=2025) in text
    r = client.post("/admin/holidays/years/2025/confirm",
                    data={"csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("year=2025")
    text = page_text(client.get("/admin/holidays?year=2025"))
    assert "Quản trị Một" in text
    assert tr("Confirm the holidays of %(year)s", year=2025) not in text
    r = client.post("/admin/holidays/years/2025/confirm",
                    data={"csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert r.status_code == 409


def test_admin_adds_and_removes_a_swapped_working_day(client, make_user, login):
    login(make_user("admin"))
    token = csrf_from(client.get("/admin/holidays").text)
    r = client.post("/admin/holidays", data={
        "csrf_token": token, "day": "2026-01-05", "kind": "working_day", "name": "Làm bù",
        "source": "Thông báo"}, follow_redirects=False)
    assert r.status_code == 422
    assert tr("A swapped working day must be a Saturday or a Sunday.") in page_text(r)
    assert 'value="Thông báo"' in r.text  # the input is kept
    r = client.post("/admin/holidays", data={
        "csrf_token": token, "day": "2026-01-10", "kind": "working_day", "name": "Làm bù",
        "source": "Thông báo"}, follow_redirects=False)
    assert r.status_code == 303
    with db.connection_context():
        day = Holiday.get(Holiday.day == dt.date(2026, 1, 10))
    assert day.kind == "working_day"
    r = client.post(f"/admin/holidays/{day.id}/delete",
                    data={"csrf_token": token, "year": "2026"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("year=2026")
    with db.connection_context():
        assert not Holiday.select().exists()


BANNER = "The holidays of %(year)s are not confirmed: deadlines in %(year)s may be wrong."


@pytest.mark.parametrize(("role", "path", "warned"), [
    ("admin", "/admin", True),
    ("admin", "/admin/holidays", True),
    ("officer", "/officer/inbox", True),
    ("leader", "/officer/inbox", True),
    ("auditor", "/statistics", False),
    ("enterprise", "/dossiers", False),
])
def test_staff_are_warned_while_next_year_is_unconfirmed(client, make_user, login, role,
                                                           path, warned):
    """From 1 October (the portal's day, Vietnam time) until an administrator confirms it."""
    today = (utcnow() + dt.timedelta(hours=7)).date()
    login(make_user(role))
    text = page_text(client.get(path))
    shown = tr(BANNER, year=today.year + 1) in text
    assert shown == (warned and today.month >= 10)
    with db.connection_context():
        HolidayYear.create(year=today.year + 1, confirmed_at=utcnow())
    assert tr(BANNER, year=today.year + 1) not in page_text(client.get(path))


@pytest.mark.parametrize(("role", "path"), [("admin", "/admin"), ("officer", "/officer/inbox")])
def test_the_warning_asks_the_database_off_the_event_loop(client, make_user, login, monkeypatch,
                                                          role, path):
    """The warning's year is read with the session's user in the threadpool; rendering the
    page (on the event loop) asks the database nothing."""
    login(make_user(role))
    threads: list[str] = []
    real = db.obj.execute_sql

    def recording(sql, *args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(sql, *args, **kwargs)

    monkeypatch.setattr(db.obj, "execute_sql", recording)
    response = client.get(path)
    assert response.status_code == 200
    assert threads, "the page asked the database nothing at all"
    on_loop = [name for name in threads if not name.startswith("AnyIO worker thread")]
    assert on_loop == []
