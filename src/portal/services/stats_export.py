"""The statistics page's tables as files: CSV and XLSX (openpyxl, write-only), one table per
file, the period and the unit named in the file name and, in XLSX, in the title rows.

Every table goes through the same two writers; cells that a spreadsheet would run as
formulas are kept as text in both (catalogue_files.csv_safe).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from portal.i18n import translate
from portal.services import satisfaction, stats, stats_trend
from portal.services.catalogue_files import csv_safe
from portal.services.errors import N_, Message

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# Which tables only staff may have: the per-unit table is operational (overdue per office).
STAFF_TABLES = frozenset({"units"})


@dataclass(frozen=True)
class Table:
    """A table ready to write: its title, column headers and rows, in the reader's language."""

    name: str  # units, trend, procedures: in the file name
    title: str
    headers: list[str]
    rows: list[list[Any]]  # str, int or Decimal (None: no value, an empty cell)


def _units(query: stats.StatsQuery) -> Table:
    rows = stats.unit_rows(query)
    return Table(
        "units",
        translate(N_("By unit: dossiers received or completed in the period, or overdue now")),
        [translate(label) for _key, label in stats.CSV_COLUMNS],
        [[getattr(r, key) for key, _label in stats.CSV_COLUMNS] for r in rows],
    )


def _trend(query: stats.StatsQuery) -> Table:
    months = stats_trend.monthly_trend(query)
    by_year = stats_trend.by_years(query)
    return Table(
        "trend",
        translate(N_("Dossiers by year") if by_year else N_("Dossiers by month")),
        [
            translate(N_("Year") if by_year else N_("Month")),
            translate(N_("Received")),
            translate(N_("Completed")),
            translate(N_("On time")),
            translate(N_("Late")),
            translate(N_("On-time rate, per cent")),
        ],
        [[m.key, m.received, m.completed, m.on_time, m.late, m.rate] for m in months],
    )


def _procedures(query: stats.StatsQuery) -> Table:
    levels = stats.catalogue_levels()
    reach = stats_trend.procedure_reach(query)
    total = levels["total"]
    rows: list[list[Any]] = [
        [translate(label), levels[key]["count"], total, levels[key]["percent"]]
        for key, label in (
            ("level4", N_("Full online service (level 4)")),
            ("level3", N_("Partial online service (level 3)")),
            ("offline", N_("Not online")),
        )
    ]
    rows.append(
        [
            translate(N_("Online procedures that received dossiers in the period")),
            reach.used,
            reach.online,
            reach.percent,
        ]
    )
    return Table(
        "procedures",
        translate(N_("Procedures by online level")),
        [
            translate(N_("Procedures")),
            translate(N_("Number")),
            translate(N_("Out of")),
            translate(N_("Per cent")),
        ],
        rows,
    )


def _satisfaction(query: stats.StatsQuery) -> Table:
    found = satisfaction.summary(*query.bounds(), stats.scope_unit_ids(query))
    questions = [*satisfaction.CRITERIA.items(), (satisfaction.OVERALL, N_("Overall"))]
    rows = []
    for key, label in questions:
        c = found.criteria.get(key) or satisfaction.Counts(
            found.very_satisfied, found.satisfied, found.dissatisfied
        )
        rows.append([translate(label), c.very_satisfied, c.satisfied, c.dissatisfied, c.rate])
    return Table(
        "satisfaction",
        translate(N_("Satisfaction of the applicants, by criterion")),
        [
            translate(N_("Criterion")),
            translate(N_("Very satisfied")),
            translate(N_("Satisfied")),
            translate(N_("Dissatisfied")),
            translate(N_("Satisfied or very satisfied, per cent")),
        ],
        rows,
    )


def _ratings(query: stats.StatsQuery) -> Table:
    rows = satisfaction.by_unit_quarter(*query.bounds(), stats.scope_unit_ids(query))
    return Table(
        "ratings",
        translate(N_("Satisfaction by department or regional branch and quarter")),
        [
            translate(N_("Unit code")),
            translate(N_("Unit")),
            translate(N_("Quarter")),
            translate(N_("Ratings")),
            translate(N_("Satisfied or very satisfied, per cent")),
        ],
        [[r.unit_code, r.unit_name, f"{r.year}-Q{r.quarter}", r.count, r.rate] for r in rows],
    )


TABLES: dict[str, Callable[[stats.StatsQuery], Table]] = {
    "units": _units,
    "trend": _trend,
    "procedures": _procedures,
    "satisfaction": _satisfaction,
    "ratings": _ratings,
}


def build_table(name: str, query: stats.StatsQuery) -> Table:
    """The table `name` (one of TABLES) of the report `query` asks for."""
    return TABLES[name](query)


def period_text(query: stats.StatsQuery) -> str:
    """The period and the unit, as the page's heading says them."""
    text = translate(
        Message(
            N_("From %(start)s to %(end)s"),
            start=query.date_from.strftime("%d/%m/%Y"),
            end=query.date_to.strftime("%d/%m/%Y"),
        )
    )
    return f"{text}: {query.unit.name}" if query.unit else text


def file_name(table: Table, query: stats.StatsQuery, fmt: str) -> str:
    """statistics-<table>-<from>-<to>[-<unit code>].<fmt>: ASCII only (unit codes are)."""
    name = f"statistics-{table.name}-{query.date_from.isoformat()}-{query.date_to.isoformat()}"
    if query.unit is not None:
        name += "-" + re.sub(r"[^A-Za-z0-9]", "", query.unit.code)
    return f"{name}.{fmt}"


def _text(value: Any) -> str:
    if value is None:
        return ""
    return csv_safe(str(value))


def to_csv(table: Table) -> bytes:
    """The table as UTF-8 CSV with a byte-order mark (so spreadsheets read Vietnamese)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_text(h) for h in table.headers])
    for row in table.rows:
        writer.writerow([_text(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _cell(value: Any) -> Any:
    """Numbers stay numbers; text is kept as text (never a formula), without the control
    characters an XLSX file cannot hold."""
    if value is None or isinstance(value, int | Decimal):
        return value
    return ILLEGAL_CHARACTERS_RE.sub("", _text(value))


def to_xlsx(table: Table, query: stats.StatsQuery, made: dt.datetime) -> bytes:
    """The table as an XLSX workbook of one sheet: the title, the period and unit, when it was
    made (local time), an empty row, then the headers and the rows."""
    book = Workbook(write_only=True)
    # A sheet's name: at most 31 characters, none of []:*?/\
    sheet = book.create_sheet(re.sub(r"[\[\]:*?/\\]", "", table.title)[:31] or table.name)
    sheet.append([_cell(table.title)])
    sheet.append([_cell(period_text(query))])
    made_text = translate(Message(N_("Made on %(time)s"), time=made.strftime("%d/%m/%Y %H:%M")))
    sheet.append([_cell(made_text)])
    sheet.append([])
    sheet.append([_cell(h) for h in table.headers])
    for row in table.rows:
        sheet.append([_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
