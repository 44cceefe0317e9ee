"""Adoption statistics: every figure of a hand-built set of dossiers (March 2025 in Vietnam's
time), the unit filter with its descendants, the period's edges, sorting and paging of the
per-unit table; the page (whole, htmx fragment, errors, access) and the CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import html
import io
import re
from decimal import Decimal

import pytest

from portal import i18n
from portal.db import db
from portal.models import Dossier, Enterprise, Procedure, Unit, User, utcnow
from portal.services import history, stat_facts, stats, stats_export
from portal.services.deadlines import to_utc
from portal.services.errors import ValidationError
from portal.services.workflow import (
    DRAFT,
    NEW,
    PAYMENT,
    PROCESSED,
    PROCESSING,
    RECEIVED,
    REFUSED,
    RETURNED,
    STOPPED,
    SUPPLEMENT,
    WITHDRAWN,
)
from tests.conftest import PASSWORD
from tests.dossier_fixtures import tax_code
from tests.helpers import HX, csrf_from

MARCH = {"from": "2025-03-01", "to": "2025-03-31"}
NOW = to_utc(dt.datetime(2025, 4, 10, 10, 0))  # "now" for the service tests
ROW_RE = re.compile(r'<tr><th scope="row">([A-Z0-9]+) ')  # the table by unit's rows

UNIT_TABLE = "#results section[aria-labelledby=units-title]"  # staff only
UNIT_ROWS = f"{UNIT_TABLE} tbody th"

BAD_DATE = "Enter a real date as dd/mm/yyyy, for example 04/12/2026."


def tr(msgid: str, **params: object) -> str:
    """`msgid` as the default language (Vietnamese) shows it, parameters filled in."""
    text = i18n.translations("vi").gettext(msgid)
    return text % params if params else text


def local(*args: int) -> dt.datetime:
    """A local (Vietnam) time as the UTC datetime the database keeps."""
    return to_utc(dt.datetime(*args))


def query(**raw: str) -> stats.StatsQuery:
    page = int(raw.pop("page", "1"))
    return stats.clean_query({**MARCH, **raw}, page, dt.date(2025, 4, 10))


def report(**raw: str) -> stats.Report:
    return stats.build_report(query(**raw), NOW)


def add_dossier(unit: str, enterprise: Enterprise, status: int, **times: dt.datetime) -> Dossier:
    proc = Procedure.get(Procedure.code == "1.005458")
    owner = User.get(User.role == "enterprise")
    dossier = Dossier.create(
        procedure=proc,
        enterprise=enterprise,
        owner=owner,
        # The 2016 units (the branches kept their codes in 2025); KVnn: 2025 regional branches.
        unit=Unit.get(Unit.code == unit, Unit.structure == ("KV" in unit and "2025" or "2016")),
        status=status,
        **times,
    )
    stat_facts.refresh(dossier.id)  # as history.record does with every change
    return dossier


@pytest.fixture
def enterprises(make_user, catalogue) -> dict[str, Enterprise]:
    with db.connection_context():
        make_user("enterprise")  # enterprise A (0100112437) and its user
        found = {"A": Enterprise.get(Enterprise.tax_code == "0100112437")}
        for name, prefix in (("B", "030123456"), ("C", "030123457"), ("D", "030123458")):
            found[name] = Enterprise.create(
                tax_code=tax_code(prefix), name=f"Công ty {name}", email=f"{name}@example.vn"
            )
    return found


@pytest.fixture
def march(enterprises) -> dict[str, int]:
    """The hand-built dossiers; comments say what each one counts as for March 2025."""
    e = enterprises
    rows = {
        # received, completed on time
        "d1": (
            "02CI",
            "A",
            RETURNED,
            local(2025, 3, 3, 9),
            local(2025, 3, 10, 17),
            local(2025, 3, 7, 10),
        ),
        # received, completed late
        "d2": (
            "02CI",
            "B",
            RETURNED,
            local(2025, 3, 5, 9),
            local(2025, 3, 12, 17),
            local(2025, 3, 15, 8),
        ),
        # submitted before; completed on time at the first instant of the period
        "d3": (
            "02AB",
            "A",
            RETURNED,
            local(2025, 2, 20, 9),
            local(2025, 3, 2, 17),
            local(2025, 3, 1),
        ),
        # received at the last second of the period; completed at the first instant after it
        "d4": (
            "02AB",
            "C",
            RETURNED,
            local(2025, 3, 31, 23, 59, 59),
            local(2025, 4, 5, 17),
            local(2025, 4, 1),
        ),
        # submitted just before the period; in progress and overdue now
        "d5": (
            "01AB",
            "D",
            PROCESSING,
            local(2025, 2, 28, 23, 59, 59),
            local(2025, 4, 1, 17),
            None,
        ),
        # received; past its date but the clock is paused for a supplement: not overdue
        "d6": ("01AB", "A", SUPPLEMENT, local(2025, 3, 10, 9), local(2025, 3, 20, 17), None),
        "d7": ("02CI", "C", WITHDRAWN, local(2025, 3, 11, 9), None, local(2025, 3, 12, 9)),
        "d8": ("02CI", "A", REFUSED, local(2025, 3, 13, 9), None, local(2025, 3, 13, 15)),
        "d9": (
            "02CI",
            "B",
            STOPPED,
            local(2025, 3, 14, 9),
            local(2025, 3, 25, 17),
            local(2025, 3, 20, 9),
        ),
        # received, waiting for reception (no promised date yet)
        "d10": ("02CI", "A", NEW, local(2025, 3, 25, 9), None, None),
        "d11": ("02CI", "A", DRAFT, None, None, None),  # a draft counts nowhere
        # received; in progress, due after now
        "d12": ("02CI", "A", PAYMENT, local(2025, 3, 2, 9), local(2025, 4, 15, 17), None),
        # received at a regional branch of the 2025 structure; overdue now
        "d13": ("KV02", "B", RECEIVED, local(2025, 3, 3, 9), local(2025, 3, 5, 17), None),
        # received at department 02 itself; in progress
        "d15": ("02", "B", RECEIVED, local(2025, 3, 15, 9), local(2025, 5, 1, 17), None),
    }
    ids = {}
    with db.connection_context():
        for name, (unit, ent, status, submitted, due, finished) in rows.items():
            times = {"submitted_at": submitted, "due_at": due, "finished_at": finished}
            ids[name] = add_dossier(unit, e[ent], status, **times).id
    return ids


def codes(page) -> list[str]:
    return [r.code for r in page.items]


# --- the service ----------------------------------------------------------------------------


def test_every_figure_of_the_hand_built_set(march):
    r = report()
    f = r.figures
    assert (f.received, f.completed, f.on_time, f.late) == (11, 3, 2, 1)
    assert (f.withdrawn, f.refused, f.stopped) == (1, 1, 1)
    assert (f.in_progress, f.overdue) == (6, 2)  # d5 d6 d10 d12 d13 d15; d5 d13
    assert f.enterprises == 3  # A B C; D's only dossier was submitted before March
    with db.connection_context():
        active = (
            Unit.select()
            .where(Unit.kind == "department", Unit.structure == "2016", Unit.active == True)  # noqa: E712
            .count()
        )
    assert active == 35
    # March 2025 is in the 2025 structure: its 20 regional branches count, KV02 received;
    # the 2016 departments 01 and 02 received too, but no longer exist then.
    assert (f.departments, f.departments_total) == (1, 20)
    assert f.on_time_rate == Decimal("66.7") and f.overdue_rate == Decimal("33.3")
    assert not f.empty
    rows = {row.code: row for row in r.units.items}
    assert set(rows) == {"02CI", "02AB", "01AB", "KV02", "02"}
    got = {
        c: (x.received, x.completed, x.on_time, x.late, x.overdue, x.rate) for c, x in rows.items()
    }
    assert got == {
        "02CI": (7, 2, 1, 1, 0, Decimal("50.0")),
        "02AB": (1, 1, 1, 0, 0, Decimal("100.0")),
        "01AB": (1, 0, 0, 0, 1, None),
        "KV02": (1, 0, 0, 0, 1, None),
        "02": (1, 0, 0, 0, 0, None),
    }
    with db.connection_context():
        assert rows["02CI"].name == Unit.get(Unit.code == "02CI").name


def test_the_catalogue_shares_are_counted_from_the_procedures(march):
    c = report().catalogue
    with db.connection_context():
        levels = [p.online_level for p in Procedure.select(Procedure.online_level)]
    total = len(levels)
    expected = {
        "level4": sum(1 for n in levels if n == 4),
        "level3": sum(1 for n in levels if n == 3),
        "offline": sum(1 for n in levels if n < 3),
    }
    assert c["total"] == total == 189
    for name, count in expected.items():
        share = (Decimal(count * 100) / total).quantize(Decimal("0.1"))
        assert c[name] == {"count": count, "percent": share}, name
    assert expected["level4"] + expected["level3"] + expected["offline"] == total


def test_a_department_counts_its_branches_and_itself(march):
    f = report(unit="02").figures
    # d1 d2 d4 d7 d8 d9 d10 d12 (02CI, 02AB) and d15 (02 itself)
    assert (f.received, f.completed, f.on_time, f.late) == (9, 3, 2, 1)
    assert (f.withdrawn, f.refused, f.stopped) == (1, 1, 1)
    assert (f.in_progress, f.overdue, f.enterprises) == (3, 0, 3)
    assert (f.departments, f.departments_total) == (1, 1)
    assert set(codes(report(unit="02").units)) == {"02CI", "02AB", "02"}
    other = report(unit="01")
    f = other.figures
    assert (f.received, f.completed, f.in_progress, f.overdue, f.enterprises) == (1, 0, 2, 1, 1)
    assert codes(other.units) == ["01AB"]
    regional = report(unit="KV02").figures
    assert (regional.received, regional.overdue, regional.departments) == (1, 1, 1)
    empty = report(unit="03").figures
    assert empty.empty and (empty.received, empty.departments, empty.departments_total) == (0, 0, 1)


def test_period_edges_are_local_days(enterprises):
    """A one-day period is 00:00 to 24:00 in Vietnam, which starts at 17:00 UTC the day before."""
    inside = [local(2025, 3, 15), local(2025, 3, 15, 23, 59, 59, 999999)]
    outside = [local(2025, 3, 14, 23, 59, 59, 999999), local(2025, 3, 16)]
    assert inside[0] == dt.datetime(2025, 3, 14, 17, 0)
    with db.connection_context():
        for when in inside + outside:
            add_dossier("02CI", enterprises["A"], NEW, submitted_at=when)
        # finished at 00:00 and exactly at the promised 17:00: on time; at 23:59:59: late
        for when in [*inside, local(2025, 3, 15, 17), *outside]:
            add_dossier(
                "02CI",
                enterprises["B"],
                RETURNED,
                submitted_at=local(2025, 1, 2),
                due_at=local(2025, 3, 15, 17),
                finished_at=when,
            )
    one_day = stats.clean_query({"from": "2025-03-15", "to": "15/03/2025"}, 1, dt.date(2025, 4, 1))
    f = stats.build_report(one_day, NOW).figures
    assert (f.received, f.completed, f.on_time, f.late) == (2, 3, 2, 1)
    assert f.enterprises == 1


def test_result_ready_counts_as_completed_when_the_result_was_issued(enterprises):
    """Status 9 has no finished_at: it is completed when its issue_result event was written."""
    now = utcnow()
    with db.connection_context(), db.atomic():
        early = add_dossier(
            "02CI", enterprises["A"], PROCESSED, submitted_at=now, due_at=now + dt.timedelta(days=1)
        )
        late = add_dossier(
            "02CI", enterprises["A"], PROCESSED, submitted_at=now, due_at=now - dt.timedelta(days=1)
        )
        for d in (early, late):
            history.record(
                history.SYSTEM,
                "issue_result",
                dossier=d,
                status_before=PROCESSING,
                status_after=PROCESSED,
            )
    today = stats.local_today()
    q = stats.clean_query({}, 1, today)
    assert (q.date_from, q.date_to) == (dt.date(today.year, 1, 1), today)
    f = stats.build_report(q).figures
    assert (f.received, f.completed, f.on_time, f.late) == (2, 2, 1, 1)
    assert (f.in_progress, f.overdue) == (0, 0)
    long_ago = stats.clean_query({"from": "2001-01-01", "to": "2001-01-02"}, 1, today)
    assert stats.build_report(long_ago).figures.completed == 0


def test_a_returned_dossier_is_completed_when_it_was_returned_not_when_issued(enterprises):
    """Status 10 is completed at its finished_at (the return), even though its issue_result
    event came earlier: issued before the promised date but returned after it is late; one
    issued and returned in time is on time."""
    now = utcnow()
    with db.connection_context(), db.atomic():
        returned_late = add_dossier(
            "02CI", enterprises["A"], RETURNED, submitted_at=now - dt.timedelta(days=3),
            due_at=now + dt.timedelta(days=1), finished_at=now + dt.timedelta(days=2))
        returned_in_time = add_dossier(
            "02CI", enterprises["B"], RETURNED, submitted_at=now - dt.timedelta(days=3),
            due_at=now + dt.timedelta(days=2), finished_at=now + dt.timedelta(days=1))
        for d in (returned_late, returned_in_time):
            history.record(history.SYSTEM, "issue_result", dossier=d,
                           status_before=PROCESSING, status_after=PROCESSED)
    today = stats.local_today()
    week = {"from": (today - dt.timedelta(days=7)).isoformat(),
            "to": (today + dt.timedelta(days=7)).isoformat()}
    f = stats.build_report(stats.clean_query(week, 1, today), now).figures
    assert (f.received, f.completed, f.on_time, f.late) == (2, 2, 1, 1)
    rows = stats.unit_rows(stats.clean_query(week, 1, today), now)
    assert [(r.code, r.completed, r.on_time, r.late) for r in rows] == [("02CI", 2, 1, 1)]
    # Returned after the period's end: not completed within it, though issued inside it.
    until_today = {"from": week["from"], "to": today.isoformat()}
    assert stats.build_report(stats.clean_query(until_today, 1, today), now).figures.completed \
        == 0


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("", ["02CI", "01AB", "02", "02AB", "KV02"]),  # received, most first, then by code
        ("received", ["01AB", "02", "02AB", "KV02", "02CI"]),
        ("unit", ["01AB", "02", "02AB", "02CI", "KV02"]),
        ("-unit", ["KV02", "02CI", "02AB", "02", "01AB"]),
        ("-rate", ["02AB", "02CI", "01AB", "02", "KV02"]),  # no completed dossier: last
        ("rate", ["02CI", "02AB", "01AB", "02", "KV02"]),
        ("-overdue", ["01AB", "KV02", "02", "02AB", "02CI"]),
        ("-late", ["02CI", "01AB", "02", "02AB", "KV02"]),
        ("-completed", ["02CI", "02AB", "01AB", "02", "KV02"]),
        ("-on_time", ["02AB", "02CI", "01AB", "02", "KV02"]),
        ("nonsense", ["02CI", "01AB", "02", "02AB", "KV02"]),  # unknown: the default
    ],
)
def test_the_unit_table_sorts_by_each_column(march, sort, expected):
    assert codes(report(sort=sort).units) == expected
    assert [r.code for r in stats.unit_rows(query(sort=sort), NOW)] == expected


@pytest.fixture
def many_units(enterprises) -> list[str]:
    """25 branches under department 61, the n-th with n dossiers received in March 2025."""
    made = []
    with db.connection_context():
        parent = Unit.get(Unit.code == "61")
        for n in range(1, 26):
            unit = Unit.create(
                code=f"61T{n:02d}",
                name=f"Chi cục thử {n}",
                kind="branch",
                structure="2016",
                parent=parent,
            )
            for i in range(n):
                add_dossier(unit.code, enterprises["A"], NEW, submitted_at=local(2025, 3, 1 + i))
            made.append(unit.code)
    return made


def test_the_unit_table_is_paged(many_units):
    first = report().units
    assert (first.number, first.pages, first.total, len(first.items)) == (1, 2, 25, 20)
    assert codes(first) == [f"61T{n:02d}" for n in range(25, 5, -1)]
    second = report(page="2").units
    assert codes(second) == ["61T05", "61T04", "61T03", "61T02", "61T01"]
    assert report(page="999").units.number == 2  # past the end: the last page
    by_unit = report(sort="unit", page="2").units
    assert codes(by_unit) == [f"61T{n:02d}" for n in range(21, 26)]
    assert report(unit="61").figures.received == sum(range(1, 26))


@pytest.mark.parametrize(
    ("raw", "page", "field", "message"),
    [
        ({"from": "2025-02-30"}, 1, "from", BAD_DATE),
        ({"from": "yesterday"}, 1, "from", BAD_DATE),
        ({"to": "31/13/2025"}, 1, "to", BAD_DATE),
        ({"from": "0001-01-01"}, 1, "from", "Enter a date between %(first)s and %(last)s."),
        (
            {"from": "2025-04-01", "to": "2025-03-01"},
            1,
            "to",
            "The end of the period must not be before its start.",
        ),
        ({"unit": "ZZZZ"}, 1, "unit", "Choose a department or regional branch from the list."),
        ({"unit": "02CI"}, 1, "unit", "Choose a department or regional branch from the list."),
        ({}, 0, "page", "There is no such page."),
        ({}, stats.MAX_PAGE + 1, "page", "There is no such page."),
    ],
)
def test_bad_parameters_are_named(units, raw, page, field, message):
    with pytest.raises(ValidationError) as caught:
        stats.clean_query(raw, page, dt.date(2025, 4, 10))
    assert list(caught.value.errors) == [field]
    assert caught.value.errors[field].text == message


def test_good_parameters_are_understood(units):
    q = stats.clean_query(
        {"from": " 1/3/2025 ", "to": "2025-03-31", "unit": "KV02", "sort": "-rate"},
        3,
        dt.date(2025, 4, 10),
    )
    assert (q.date_from, q.date_to, q.unit.code, q.sort, q.page) == (
        dt.date(2025, 3, 1),
        dt.date(2025, 3, 31),
        "KV02",
        "-rate",
        3,
    )
    assert q.params(page=None) == {
        "from": "2025-03-01",
        "to": "2025-03-31",
        "unit": "KV02",
        "sort": "-rate",
    }
    assert (q.sort_state("rate"), q.next_sort("rate"), q.next_sort("unit")) == (
        "descending",
        "rate",
        "unit",
    )
    assert (q.sort_state("unit"), q.next_sort("late")) == ("", "-late")


def test_csv_cells_that_look_like_formulas_stay_text(march):
    with db.connection_context():
        Unit.update(name='=HYPERLINK("http://x.example","x")').where(Unit.code == "02CI").execute()
        Unit.update(name="@SUM(1+1)").where(Unit.code == "02AB").execute()
        Unit.update(name="+1-2").where(Unit.code == "01AB").execute()
    rows = stats.unit_rows(query(sort="unit"), NOW)
    cells = [[getattr(r, key) for key, _label in stats.CSV_COLUMNS] for r in rows]
    headers = ["Mã", "=Tên", "a", "b", "c", "d", "e", "f", "g"]
    text = stats_export.to_csv(stats_export.Table("units", "t", headers, cells))
    table = list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    assert table[0][:2] == ["Mã", "'=Tên"]
    names = {r[0]: r[1] for r in table[1:]}
    assert names["02CI"] == '\'=HYPERLINK("http://x.example","x")'
    assert names["02AB"] == "'@SUM(1+1)" and names["01AB"] == "'+1-2"
    assert table[1:][3] == ["02CI", names["02CI"], "7", "2", "1", "1", "0", "50.0", "2016"]
    assert table[1:][0][-2] == ""  # 01AB completed nothing: no rate


# --- the page -------------------------------------------------------------------------------


def text_of(response) -> str:
    return html.unescape(response.text)


@pytest.fixture
def staff(make_user, login):
    def sign_in(role: str = "leader"):
        return login(make_user(role))

    return sign_in


@pytest.mark.parametrize("path", ["/statistics.csv", "/statistics.xlsx"])
def test_anonymous_visitors_are_sent_to_log_in_for_the_table_by_unit(client, path):
    r = client.get(path + "?from=2025-03-01", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next={path}%3Ffrom%3D2025-03-01"


@pytest.mark.parametrize("path", ["/statistics.csv", "/statistics.xlsx"])
def test_enterprises_may_not_have_the_table_by_unit(client, make_user, login, path):
    with db.connection_context():
        user = make_user("enterprise")
    login(user)
    assert client.get(path).status_code == 403
    assert client.get(path, params={"table": "units"}).status_code == 403
    r = client.get("/statistics")
    assert r.status_code == 200 and "statistics.csv?table=units" not in r.text


@pytest.mark.parametrize("role", ["officer", "leader", "admin", "auditor"])
def test_every_staff_role_sees_the_page_and_the_menu_link(client, staff, role):
    staff(role)
    r = client.get("/statistics")
    assert r.status_code == 200
    assert 'href="/statistics"' in r.text and "<html" in r.text
    assert client.get("/statistics.csv").status_code == 200


def test_the_page_shows_the_figures_in_the_users_language(client, staff, march):
    staff()
    r = client.get("/statistics", params=MARCH)
    assert r.status_code == 200 and "HX-Request" in r.headers["vary"]
    page = text_of(r)
    assert tr("From %(start)s to %(end)s", start="01/03/2025", end="31/03/2025") in page
    assert "<strong>66,7%</strong>" in page  # on-time rate, Vietnamese decimal comma
    assert tr("%(on_time)s on time, %(late)s late", on_time=2, late=1) in page
    assert tr("%(count)s of %(total)s", count=1, total=20) in page
    assert ROW_RE.findall(r.text) == ["02CI", "01AB", "02", "02AB", "KV02"]
    assert 'value="2025-03-01"' in r.text and 'value="2025-03-31"' in r.text
    assert 'href="/statistics.csv?from=2025-03-01&amp;to=2025-03-31&amp;table=units"' in r.text
    token = csrf_from(r.text)  # the header's language button, a POST with the token
    assert client.post("/lang/en", data={"csrf_token": token}).status_code == 200
    english = text_of(client.get("/statistics", params=MARCH))
    assert "From 01/03/2025 to 31/03/2025" in english and "<strong>66.7%</strong>" in english
    assert "2 on time, 1 late" in english and "1 of 20" in english


def test_the_sort_links_toggle_and_keep_the_filters(client, staff, march):
    staff()
    r = client.get("/statistics", params={**MARCH, "unit": "02"})
    assert ROW_RE.findall(r.text) == ["02CI", "02", "02AB"]
    here = "/statistics?from=2025-03-01&amp;to=2025-03-31&amp;unit=02"
    assert f'aria-sort="descending"><a href="{here}&amp;sort=received"' in r.text
    link = re.search(r'<a href="([^"]+sort=unit)"', r.text).group(1)
    by_unit = client.get(html.unescape(link))
    assert ROW_RE.findall(by_unit.text) == ["02", "02AB", "02CI"]
    assert f'aria-sort="ascending"><a href="{here}&amp;sort=-unit"' in by_unit.text
    assert '<input type="hidden" name="sort" value="unit" form="stats-form">' in by_unit.text


def test_htmx_gets_only_the_results(client, staff, march):
    staff()
    r = client.get("/statistics", params=MARCH, headers=HX)
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<section id="results"') and "<html" not in r.text
    assert "<form" not in r.text and "HX-Request" in r.headers["vary"]
    assert ROW_RE.findall(r.text) == ["02CI", "01AB", "02", "02AB", "KV02"]
    sorted_ = client.get("/statistics", params={**MARCH, "sort": "unit"}, headers=HX)
    assert ROW_RE.findall(sorted_.text) == ["01AB", "02", "02AB", "02CI", "KV02"]
    # the form outside #results submits the sort the swapped table shows
    assert '<input type="hidden" name="sort" value="unit" form="stats-form">' in sorted_.text


def test_a_page_of_twenty_rows_stays_small_over_htmx(client, staff, many_units):
    staff()
    with client.stream(
        "GET", "/statistics", params=MARCH, headers={**HX, "Accept-Encoding": "gzip"}
    ) as r:
        raw = b"".join(r.iter_raw())
    assert r.headers["content-encoding"] == "gzip"
    body = gzip.decompress(raw).decode()
    assert len(ROW_RE.findall(body)) == 20 and 'rel="next"' in body
    assert len(raw) < 4096, len(raw)


def test_an_empty_period_says_so(client, staff, march):
    staff()
    r = client.get("/statistics", params={"from": "2024-01-01", "to": "2024-12-31"})
    assert r.status_code == 200
    assert tr("No dossier was submitted or completed in this period.") in text_of(r)
    assert f"<dt>{tr('Dossiers received')}</dt>" not in text_of(r)


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"from": "2025-13-01"}, "from", BAD_DATE),
        (
            {"from": "2025-04-01", "to": "2025-03-01"},
            "to",
            "The end of the period must not be before its start.",
        ),
        ({"unit": "<b>ZZ</b>"}, "unit", "Choose a department or regional branch from the list."),
    ],
)
def test_bad_parameters_get_the_page_back_with_the_error_at_the_field(
    client, staff, params, field, message
):
    staff()
    r = client.get("/statistics", params=params)
    assert r.status_code == 422 and "<html" in r.text
    error = re.search(rf'<p class="app-field-error" id="f-{field}-error">([^<]*)</p>', r.text)
    assert error and html.unescape(error.group(1)) == tr(message)
    assert f'href="#f-{field}"' in r.text  # the error summary links to the field
    kept = html.escape(params[field], quote=True)
    if field == "unit":
        assert "&lt;b&gt;ZZ&lt;/b&gt;" not in r.text  # an unknown unit is not an option to keep
        assert "<b>ZZ</b>" not in r.text
    else:
        assert f'id="f-{field}" name="{field}" type="text" value="{kept}"' in r.text
    fragment = client.get("/statistics", params=params, headers=HX)
    assert fragment.status_code == 422
    assert fragment.text.lstrip().startswith('<div id="stats">') and "<html" not in fragment.text
    assert fragment.headers["hx-retarget"] == "#stats"
    assert f'id="f-{field}-error"' in fragment.text and 'data-hx-target="#stats"' in fragment.text
    assert client.get("/statistics.csv", params=params).status_code == 422


@pytest.mark.parametrize("page", ["0", "abc", "99999999999", "-1"])
def test_a_page_number_that_is_not_one_is_refused(client, staff, page):
    staff()
    r = client.get("/statistics", params={"page": page})
    assert r.status_code == 422
    assert tr("There is no such page.") in text_of(r)


def test_after_an_error_the_form_replaces_the_whole_area(client, staff, march):
    """The form targets #stats after an error, so the corrected request clears the errors."""
    staff()
    r = client.get("/statistics", params=MARCH, headers={**HX, "HX-Target": "div#stats"})
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<div id="stats">') and "app-field-error" not in r.text
    assert 'data-hx-target="#results"' in r.text and '<section id="results"' in r.text


def test_the_csv_export_has_every_row(client, staff, march):
    staff()
    r = client.get("/statistics.csv", params={**MARCH, "sort": "unit", "page": "1"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == (
        'attachment; filename="statistics-units-2025-03-01-2025-03-31.csv"'
    )
    assert r.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0] == [tr(label) for _key, label in stats.CSV_COLUMNS]
    assert [row[0] for row in table[1:]] == ["01AB", "02", "02AB", "02CI", "KV02"]
    assert table[4][2:] == ["7", "2", "1", "1", "1", "50.0", "2016"]  # d12 overdue by real now
    one = client.get("/statistics.csv", params={**MARCH, "unit": "01"})
    assert (
        'filename="statistics-units-2025-03-01-2025-03-31-01.csv"'
        in one.headers["content-disposition"]
    )
    assert len(list(csv.reader(io.StringIO(one.text)))) == 2


# --- in a browser ---------------------------------------------------------------------------


@pytest.fixture
def server(settings, units, catalogue):
    from tests.live_server import LiveServer

    live = LiveServer(settings)
    yield live
    live.stop()


def browser_login(page, server, user) -> None:
    page.goto(f"{server.url}/login?next=/statistics")
    page.fill("#f-username", user.username)
    page.fill("#f-password", PASSWORD)
    page.click("form.app-form button[type=submit]")
    page.wait_for_url("**/statistics")


@pytest.mark.browser
def test_in_a_browser_htmx_sorts_and_the_form_clears_its_errors(browser, server, make_user, march):
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    browser_login(page, server, make_user("auditor"))
    page.goto(f"{server.url}/statistics?from=2025-03-01&to=2025-03-31")
    page.evaluate("window.__samePage = true")
    page.click(f"{UNIT_TABLE} th >> text={tr('Unit')}")
    page.wait_for_url("**sort=unit*")
    rows = page.locator(UNIT_ROWS)
    assert rows.all_inner_texts()[0].startswith("01AB")
    page.fill("#f-from", "2025-02-30")
    page.click("#stats-form button[type=submit]")
    page.locator("#f-from-error").wait_for()
    assert page.locator("#f-from-error").inner_text() == tr(BAD_DATE)
    page.fill("#f-from", "01/03/2025")
    page.click("#stats-form button[type=submit]")
    page.locator("#f-from-error").wait_for(state="detached")
    assert "sort=unit" in page.url and "from=01%2F03%2F2025" in page.url
    assert rows.all_inner_texts()[0].startswith("01AB") and rows.count() == 5
    assert page.evaluate("window.__samePage === true"), "the page was reloaded instead of swapped"
    # chromium logs the 422 answer itself; anything else (a CSP violation, a script error) fails
    assert [e for e in errors if "status of 422" not in e] == [], errors
    page.close()


@pytest.mark.browser
def test_in_a_browser_without_javascript_the_form_loads_pages(browser, server, make_user, march):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    browser_login(page, server, make_user("officer"))
    page.fill("#f-from", "2025-03-01")
    page.fill("#f-to", "2025-03-31")
    page.select_option("#f-unit", "02")
    page.click("#stats-form button[type=submit]")
    page.wait_for_url("**unit=02*")
    assert page.locator(UNIT_ROWS).count() == 3
    context.close()
