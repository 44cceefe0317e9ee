"""The public statistics page: its figures on a small hand-built set (January to March 2025 in
Vietnam's time, across the change of unit structure on 1 March 2025), the trend by month and
the procedures' reach; the page for anonymous visitors and for staff, whole and as an htmx
fragment, its errors, its charts, and its tables as CSV and XLSX files."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re

import pytest
from openpyxl import load_workbook

from portal.db import db
from portal.models import Dossier, Enterprise, Procedure, Unit, User
from portal.services import stat_facts, stats, stats_trend
from portal.services.deadlines import to_utc
from portal.services.workflow import (
    PROCESSING,
    RECEIVED,
    REFUSED,
    RETURNED,
    SUPPLEMENT,
    WITHDRAWN,
)
from tests.dossier_fixtures import tax_code
from tests.helpers import HX
from tests.test_stats import local, tr

NOW = to_utc(dt.datetime(2025, 4, 10, 10, 0))  # "now" for the service tests
QUARTER = {"from": "2025-01-01", "to": "2025-03-31"}


def query(**raw: str) -> stats.StatsQuery:
    return stats.clean_query({**QUARTER, **raw}, 1, dt.date(2025, 4, 10))


def procedure(level: str) -> Procedure:
    """The first procedure of the catalogue at a level: "4", "3" or "offline"."""
    where = Procedure.online_level < 3 if level == "offline" else Procedure.online_level == level
    return Procedure.select().where(where).order_by(Procedure.code).first()


def add_dossier(
    unit: str, structure: str, level: str, status: int, channel: str = "online", **times
) -> Dossier:
    """A dossier as the database keeps it, straight (its history does not matter here), with
    the statistics' counts of it kept as history.record keeps them."""
    dossier = Dossier.create(
        procedure=procedure(level),
        enterprise=Enterprise.get(Enterprise.tax_code == tax_code("030123456")),
        owner=User.get(User.role == "enterprise"),
        unit=Unit.get(Unit.code == unit, Unit.structure == structure),
        status=status,
        channel=channel,
        **times,
    )
    stat_facts.refresh(dossier.id)
    return dossier


@pytest.fixture
def quarter(make_user, catalogue) -> dict[str, int]:
    """The hand-built dossiers; comments say what each one counts as for January-March 2025
    (the 2016 structure until 28 February, the 2025 one from 1 March)."""
    # fmt: off
    rows = {
        # received on 31 January at 23:59:59 local (16:59:59 UTC): January; completed exactly
        # at its promised time: on time, in February
        "a1": ("02CI", "2016", "4", RETURNED, "online",
               local(2025, 1, 31, 23, 59, 59), local(2025, 2, 10, 17), local(2025, 2, 10, 17)),
        # received at 00:00 on 1 February local (17:00 UTC on 31 January): February; completed
        # one second after its promised time: late
        "a2": ("02CI", "2016", "4", RETURNED, "online",
               local(2025, 2, 1), local(2025, 2, 10, 17), local(2025, 2, 10, 17, 0, 1)),
        # past its date, but the clock is paused for a supplement: not overdue
        "a4": ("01AB", "2016", "4", SUPPLEMENT, "online",
               local(2025, 2, 3, 9), local(2025, 2, 5, 17), None),
        # past its date and processing: overdue now
        "a5": ("01AB", "2016", "4", PROCESSING, "online",
               local(2025, 2, 4, 9), local(2025, 2, 6, 17), None),
        # withdrawn and refused: received, never completed
        "a6": ("02CI", "2016", "3", WITHDRAWN, "online",
               local(2025, 2, 5, 9), None, local(2025, 2, 6, 9)),
        "a7": ("02CI", "2016", "3", REFUSED, "online",
               local(2025, 2, 7, 9), None, local(2025, 2, 7, 15)),
        # in the 2025 structure (02CI under regional branch KV02): on time in March
        "b1": ("02CI", "2025", "4", RETURNED, "online",
               local(2025, 3, 3, 9), local(2025, 3, 10, 17), local(2025, 3, 5, 10)),
        # a procedure that is not online, received at the counter; in progress, due after now
        "b2": ("02AB", "2025", "offline", RECEIVED, "counter",
               local(2025, 3, 4, 9), local(2025, 4, 20, 17), None),
    }
    # fmt: on
    ids = {}
    with db.connection_context():
        make_user("enterprise")
        Enterprise.create(
            tax_code=tax_code("030123456"), name="Công ty Bí Mật", email="b@example.vn"
        )
        for name, (unit, structure, level, status, channel, sent, due, done) in rows.items():
            times = {"submitted_at": sent, "due_at": due, "finished_at": done}
            ids[name] = add_dossier(unit, structure, level, status, channel, **times).id
    return ids


# --- the figures ----------------------------------------------------------------------------


def test_on_time_late_overdue_withdrawn_and_refused(quarter):
    f = stats.build_report(query(), NOW).figures
    assert (f.received, f.completed, f.on_time, f.late) == (8, 3, 2, 1)  # a1 b1 on time; a2
    assert (f.withdrawn, f.refused) == (1, 1)  # a6 a7: not completed
    assert (f.in_progress, f.overdue) == (3, 1)  # a4 a5 b2; only a5 (a4 waits for a supplement)
    assert (f.online, f.counter) == (7, 1)
    assert str(f.online_share) == "87.5"
    shares = stats_trend.timeliness(f)
    assert [(s.key, s.count, s.whole, str(s.percent)) for s in shares] == [
        ("on_time", 2, 4, "50.0"),
        ("late", 1, 4, "25.0"),
        ("overdue", 1, 4, "25.0"),
    ]


def test_both_unit_structures(quarter):
    """The departments counted are those of the structure in force at the period's end; a
    department or regional branch counts the dossiers of its offices in its own structure."""
    assert stats.build_report(query(), NOW).figures.departments == 1  # KV02 of 20
    assert stats.build_report(query(), NOW).figures.departments_total == 20
    february = stats.build_report(query(to="2025-02-28"), NOW).figures
    assert (february.departments, february.departments_total) == (2, 35)  # 01 and 02
    old = stats.build_report(query(unit="02"), NOW).figures
    assert (old.received, old.completed, old.on_time) == (4, 2, 1)  # a1 a2 a6 a7
    new = stats.build_report(query(unit="KV02"), NOW).figures
    assert (new.received, new.completed, new.on_time, new.counter) == (2, 1, 1, 1)  # b1 b2
    assert [m.received for m in stats_trend.monthly_trend(query(unit="02"))] == [1, 3, 0]
    assert [m.received for m in stats_trend.monthly_trend(query(unit="KV02"))] == [0, 0, 2]


def test_the_trend_by_month_counts_in_local_time(quarter):
    months = stats_trend.monthly_trend(query())
    got = [(m.key, m.label, m.received, m.completed, m.on_time, m.late) for m in months]
    assert got == [
        ("2025-01", "01/2025", 1, 0, 0, 0),  # a1, received one second before February
        ("2025-02", "02/2025", 5, 2, 1, 1),  # a2 a4 a5 a6 a7; a1 on time, a2 late
        ("2025-03", "03/2025", 2, 1, 1, 0),  # b1 b2; b1
    ]
    assert months[1].rate is not None and str(months[1].rate) == "50.0"
    # a period of part of a month: its month only, counted within the period's days
    part = stats_trend.monthly_trend(query(**{"from": "2025-02-02", "to": "2025-02-10"}))
    assert [(m.key, m.received, m.completed, m.on_time) for m in part] == [("2025-02", 4, 2, 1)]
    # no dossier: every month there with zeros
    empty = stats_trend.monthly_trend(query(**{"from": "2024-11-15", "to": "2025-01-15"}))
    assert [(m.key, m.received) for m in empty] == [("2024-11", 0), ("2024-12", 0), ("2025-01", 0)]


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"unit": "02"},
        {"unit": "KV02"},
        {"from": "2025-02-01", "to": "2025-02-28"},
        {"from": "2021-06-01"},
    ],
)
def test_the_trend_adds_up_to_the_period_figures(quarter, raw):
    """However each is counted (the figures from maintained counts, the trend directly), the
    months of a period add up to its figures."""
    q = query(**raw)
    f = stats.build_report(q, NOW).figures
    months = stats_trend.monthly_trend(q)
    totals = tuple(
        sum(getattr(m, name) for m in months) for name in ("received", "completed", "on_time")
    )
    assert totals == (f.received, f.completed, f.on_time)


def test_a_period_over_three_years_is_shown_by_year(quarter):
    q = query(**{"from": "2021-06-01"})
    assert stats_trend.by_years(q) and not stats_trend.by_years(query())
    years = stats_trend.monthly_trend(q)
    assert [(m.key, m.label, m.received, m.completed) for m in years] == [
        ("2021", "2021", 0, 0),
        ("2022", "2022", 0, 0),
        ("2023", "2023", 0, 0),
        ("2024", "2024", 0, 0),
        ("2025", "2025", 8, 3),
    ]
    # 36 months are still months
    assert len(stats_trend.monthly_trend(query(**{"from": "2022-04-01"}))) == 36


def test_the_procedures_reach(quarter):
    with db.connection_context():
        online = Procedure.select().where(Procedure.online_level >= 3).count()
    reach = stats_trend.procedure_reach(query())
    # the level-4 and the level-3 procedure; the counter's procedure is not online
    assert (reach.used, reach.online) == (2, online) and online > 2
    assert reach.percent == stats.percent(2, online)
    assert stats_trend.procedure_reach(query(unit="KV02")).used == 1
    assert stats_trend.procedure_reach(query(to="2025-01-31")).used == 1  # a1 only
    assert stats_trend.procedure_reach(query(unit="03")).used == 0


# --- the page -------------------------------------------------------------------------------


def text_of(response) -> str:
    return html.unescape(response.text)


def test_anonymous_visitors_see_the_figures_and_charts_but_no_unit_table(client, quarter):
    r = client.get("/statistics", params=QUARTER)
    assert r.status_code == 200 and "<html" in r.text and "HX-Request" in r.headers["vary"]
    page = text_of(r)
    assert tr("From %(start)s to %(end)s", start="01/01/2025", end="31/03/2025") in page
    assert tr("%(on_time)s on time, %(late)s late", on_time=2, late=1) in page
    assert tr("%(count)s of %(total)s", count=1, total=20) in page
    for chart in ("chart-trend", "chart-timeliness", "chart-levels"):
        assert re.search(
            rf'<svg class="app-chart" id="{chart}" role="img" '
            rf'aria-labelledby="{chart}-title {chart}-desc"',
            r.text,
        ), chart
        assert f'<title id="{chart}-title">' in r.text and f'<desc id="{chart}-desc">' in r.text
    for table in ("table-trend", "table-timeliness", "table-procedures"):
        assert f'<table class="app-table" id="{table}">' in r.text
    assert '<th scope="row">02/2025</th><td class="app-num">5</td>' in r.text
    # no table by unit, no link to its files, no name of an enterprise, a person or a unit
    assert 'id="units-title"' not in r.text and "table=units" not in r.text
    assert "Công ty" not in page and "Test enterprise" not in page
    with db.connection_context():
        assert Unit.get(Unit.code == "01AB").name not in page
    assert "table=trend" in r.text and "table=procedures" in r.text
    assert 'href="/statistics"' in client.get("/").text  # the home page leads here


def test_staff_see_the_table_by_unit_too(client, make_user, login, quarter):
    login(make_user("auditor"))
    r = client.get("/statistics", params=QUARTER)
    assert r.status_code == 200 and 'id="units-title"' in r.text
    # 02CI of each structure is a row of its own (the 2025 one tagged with its structure)
    assert re.findall(r'<tr><th scope="row">([A-Z0-9]+) ', r.text) == [
        "02CI",
        "01AB",
        "02AB",
        "02CI",
    ]
    assert 'href="/statistics.csv?from=2025-01-01&amp;to=2025-03-31&amp;table=units"' in r.text


def test_htmx_gets_the_results_only(client, quarter):
    r = client.get("/statistics", params=QUARTER, headers=HX)
    assert r.status_code == 200 and "HX-Request" in r.headers["vary"]
    assert r.text.lstrip().startswith('<section id="results"') and "<html" not in r.text
    assert "<form" not in r.text and 'id="chart-trend"' in r.text
    whole = client.get("/statistics", params=QUARTER)
    form = re.search(r'<form id="stats-form"[^>]*>', whole.text).group(0)
    assert 'method="get"' in form and 'data-hx-get="/statistics"' in form
    assert 'data-hx-target="#results"' in form and 'data-hx-push-url="true"' in form


def test_an_empty_period_has_an_empty_state_not_empty_charts(client, quarter):
    r = client.get("/statistics", params={"from": "2024-01-01", "to": "2024-12-31"})
    assert r.status_code == 200
    assert tr("No dossier was submitted or completed in this period.") in text_of(r)
    assert 'id="chart-trend"' not in r.text and 'id="chart-timeliness"' not in r.text
    assert 'id="chart-levels"' in r.text  # the catalogue is there whatever the period


@pytest.mark.parametrize("path", ["/statistics", "/statistics.csv", "/statistics.xlsx"])
def test_a_bad_date_gets_the_page_with_the_error_and_the_input_kept(client, path):
    params = {"from": "31/02/2025", "to": "2025-03-31", "table": "trend"}
    r = client.get(path, params=params)
    assert r.status_code == 422 and "<html" in r.text
    assert 'id="f-from-error"' in r.text and 'href="#f-from"' in r.text
    assert 'id="f-from" name="from" type="text" value="31/02/2025"' in r.text
    assert 'value="2025-03-31"' in r.text


def test_an_unknown_table_is_not_found(client):
    assert client.get("/statistics.csv", params={"table": "people"}).status_code == 404
    assert client.get("/statistics.xlsx", params={"table": "x" * 100}).status_code == 404


def test_the_trend_as_csv(client, quarter):
    r = client.get("/statistics.csv", params={**QUARTER, "table": "trend"})
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == (
        'attachment; filename="statistics-trend-2025-01-01-2025-03-31.csv"'
    )
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == [tr(h) for h in ("Month", "Received", "Completed", "On time", "Late")] + [
        tr("On-time rate, per cent")
    ]
    assert rows[1:] == [
        ["2025-01", "1", "0", "0", "0", ""],
        ["2025-02", "5", "2", "1", "1", "50.0"],
        ["2025-03", "2", "1", "1", "0", "100.0"],
    ]
    one = client.get("/statistics.csv", params={**QUARTER, "table": "trend", "unit": "KV02"})
    assert (
        'filename="statistics-trend-2025-01-01-2025-03-31-KV02.csv"'
        in one.headers["content-disposition"]
    )


def test_the_procedures_as_xlsx_with_the_period_and_unit_in_the_title(client, quarter):
    r = client.get("/statistics.xlsx", params={**QUARTER, "table": "procedures", "unit": "KV02"})
    assert r.status_code == 200
    assert r.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert r.headers["content-disposition"] == (
        'attachment; filename="statistics-procedures-2025-01-01-2025-03-31-KV02.xlsx"'
    )
    sheet = load_workbook(io.BytesIO(r.content)).active
    rows = [row for row in sheet.iter_rows(values_only=True) if any(v is not None for v in row)]
    with db.connection_context():
        kv02 = Unit.get(Unit.code == "KV02").name
        online = Procedure.select().where(Procedure.online_level >= 3).count()
        total = Procedure.select().count()
    assert rows[0][0] == tr("Procedures by online level")
    period = tr("From %(start)s to %(end)s", start="01/01/2025", end="31/03/2025")
    assert rows[1][0] == f"{period}: {kv02}"
    assert rows[3] == tuple(tr(h) for h in ("Procedures", "Number", "Out of", "Per cent"))
    assert rows[4][0] == tr("Full online service (level 4)") and rows[4][2] == total
    assert rows[7][:3] == (tr("Online procedures that received dossiers in the period"), 1, online)
    assert isinstance(rows[7][3], float | int)  # numbers stay numbers


def test_the_table_by_unit_as_xlsx_keeps_formulas_as_text(client, make_user, login, quarter):
    with db.connection_context():
        Unit.update(name='=HYPERLINK("http://x.example","x")').where(Unit.code == "01AB").execute()
    login(make_user("officer"))
    r = client.get("/statistics.xlsx", params={**QUARTER, "sort": "unit"})
    assert r.status_code == 200
    assert (
        'filename="statistics-units-2025-01-01-2025-03-31.xlsx"' in r.headers["content-disposition"]
    )
    sheet = load_workbook(io.BytesIO(r.content)).active
    rows = [row for row in sheet.iter_rows(values_only=True) if any(v is not None for v in row)]
    assert rows[3] == tuple(tr(label) for _key, label in stats.CSV_COLUMNS)
    assert [(row[0], row[-1]) for row in rows[4:]] == [
        ("01AB", "2016"),
        ("02AB", "2025"),
        ("02CI", "2016"),
        ("02CI", "2025"),
    ]
    assert rows[4][1] == '\'=HYPERLINK("http://x.example","x")'
    cell = next(c for c in sheet["B"] if c.value and str(c.value).startswith("'="))
    assert cell.data_type == "s"  # text, not a formula
    assert rows[6][2:5] == (4, 2, 1)  # 02CI in 2016: a1 a2 a6 a7 received; a1 a2; a1
    assert rows[4][2:7] == (2, 0, 0, 0, 1)  # 01AB: a4 a5 received; a5 overdue


# --- the chart macros, alone ----------------------------------------------------------------


def render_macro(client, call: str, **values) -> str:
    """The output of one macro of templates/_macros/charts.html, called as `call`."""
    env = client.app.state.templates.env
    source = '{% from "_macros/charts.html" import grouped_bars, bars %}' + call
    return env.from_string(source).render(**values)


def test_grouped_bars_scale_label_and_name_the_chart(client):
    series = [
        {"name": "Nhận", "kind": "solid", "values": [0, 4]},
        {"name": "Xong", "kind": "hatch", "values": [2, 1]},
    ]
    svg = render_macro(
        client,
        '{{ grouped_bars("c", "Tiêu đề <1>", "Mô tả", labels, series) }}',
        labels=[("01", "2025"), ("02", "")],
        series=series,
    )
    assert '<svg class="app-chart" id="c" role="img" aria-labelledby="c-title c-desc"' in svg
    assert '<title id="c-title">Tiêu đề &lt;1&gt;</title>' in svg  # escaped
    assert '<desc id="c-desc">Mô tả</desc>' in svg
    heights = re.findall(
        r'<rect class="app-chart__\w+"(?: fill="[^"]+")? x="[^"]+" '
        r'y="[^"]+" width="[^"]+" height="([^"]+)"/>',
        svg,
    )
    # the scale's top is 4 (the peak): 160 units high; the legend's two swatches are 12 high
    assert heights == ["0.0", "80.0", "160.0", "40.0", "12", "12"]
    assert 'fill="url(#c-hatch)"' in svg and '<pattern id="c-hatch"' in svg
    assert ">2025</text>" in svg and ">Nhận</text>" in svg and "style=" not in svg


def test_bars_are_scaled_to_the_whole_and_labelled(client):
    items = [
        {"name": "A", "value": 1, "kind": "solid", "text": "1 (25%)"},
        {"name": "B", "value": 0, "kind": "dots", "text": "0 (0%)"},
    ]
    svg = render_macro(client, '{{ bars("b", "T", "D", items, 4) }}', items=items)
    widths = re.findall(r'<rect class="app-chart__(?:solid|dots)"[^>]* width="([^"]+)"', svg)
    assert widths == ["85.0", "0.0"]  # 1 of 4 of 340 units; nothing
    assert ">1 (25%)</text>" in svg and ">B</text>" in svg
    # nothing at all: no division by zero, empty bars
    empty = [{"name": "A", "value": 0, "kind": "solid", "text": "0"}]
    assert 'width="0.0"' in render_macro(client, '{{ bars("e", "T", "D", items, 0) }}', items=empty)


# --- satisfaction -----------------------------------------------------------------------------


@pytest.fixture
def ratings(quarter) -> None:
    """Three ratings of the dossiers that ended (kept as services/satisfaction.rate keeps them,
    with the dossier's unit): a1 very satisfied on 20 February, a2 dissatisfied on 25
    February (both 02CI of 2016, department 02), b1 satisfied on 6 March (02CI of 2025,
    regional branch KV02)."""
    from portal.models import Rating

    answers = {"a1": (3, local(2025, 2, 20, 9)), "a2": (1, local(2025, 2, 25, 9)),
               "b1": (2, local(2025, 3, 6, 9))}
    with db.connection_context():
        for name, (level, when) in answers.items():
            dossier = Dossier.get_by_id(quarter[name])
            criteria = dict.fromkeys(
                ("information", "timeliness", "conduct", "result", "online_service"), level)
            Rating.create(dossier=dossier, unit=dossier.unit_id, rated_at=when, overall=level,
                          **{**criteria, "timeliness": 1})


def test_the_page_gives_the_satisfaction_by_criterion_and_by_unit_and_quarter(client, ratings):
    page = text_of(client.get("/statistics", params=QUARTER))
    assert tr("(%(satisfied)s of %(count)s ratings satisfied or very satisfied)",
              satisfied=2, count=3) in page
    assert 'id="table-satisfaction"' in page and 'id="table-ratings"' in page
    answer = client.get("/statistics.csv", params={**QUARTER, "table": "satisfaction"})
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[-1] == [tr("Overall"), "1", "1", "1", "66.7"]
    assert [tr("The time taken against the promised date"), "0", "0", "3", "0.0"] in rows
    by_quarter = list(csv.reader(io.StringIO(client.get(
        "/statistics.csv", params={**QUARTER, "table": "ratings"}).content.decode("utf-8-sig"))))
    assert [(r[0], r[2], r[3], r[4]) for r in by_quarter[1:]] == [
        ("02", "2025-Q1", "2", "50.0"), ("KV02", "2025-Q1", "1", "100.0")]
    one = text_of(client.get("/statistics", params={**QUARTER, "unit": "KV02"}))
    assert tr("(%(satisfied)s of %(count)s ratings satisfied or very satisfied)",
              satisfied=1, count=1) in one
    empty = text_of(client.get("/statistics", params={"from": "2024-01-01", "to": "2024-12-31"}))
    assert tr("No applicant rated a dossier in this period.") in empty
