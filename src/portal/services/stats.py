"""Adoption statistics: dossiers received, completed (on time or late), in progress and overdue,
enterprises and departments taking part, and the catalogue's online levels, for a period and
optionally one department (or regional branch) with its units.

Every dossier figure is a SQL aggregate (SUM of CASE, COUNT DISTINCT) that runs the same on
SQLite and PostgreSQL. Periods are whole days of Vietnam's calendar; the database keeps UTC.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from peewee import JOIN, Case, fn

from portal.db import reading
from portal.models import Dossier, DossierEvent, Unit, utcnow
from portal.services import payments, stat_facts, stat_figures, units
from portal.services.catalogue import level_summary
from portal.services.deadlines import to_local, to_utc
from portal.services.errors import N_, Message, ValidationError
from portal.services.paging import Page, paginate
from portal.services.stat_facts import COMPLETED, TOP_KIND
from portal.services.stat_figures import CLOCK_RUNNING, IN_PROGRESS
from portal.services.validation import parse_date
from portal.services.workflow import DRAFT, PROCESSED, REFUSED, STOPPED, WITHDRAWN

PER_PAGE = 20
MAX_PAGE = 100_000
YEARS = (2000, 2100)
COLUMNS = ("unit", "received", "completed", "on_time", "late", "overdue", "rate")
DEFAULT_SORT = "-received"
SORTS = tuple(s for c in COLUMNS for s in (c, f"-{c}"))
CSV_COLUMNS = [
    ("code", N_("Unit code")),
    ("name", N_("Unit")),
    ("received", N_("Received")),
    ("completed", N_("Completed")),
    ("on_time", N_("On time")),
    ("late", N_("Late")),
    ("overdue", N_("Overdue now")),
    ("rate", N_("On-time rate, per cent")),
    ("structure", N_("Structure")),
]


def local_today() -> dt.date:
    """Today in Vietnam."""
    return to_local(utcnow()).date()


def percent(part: int, whole: int) -> Decimal | None:
    """`part` of `whole` in per cent with one decimal (half up), or None when `whole` is 0."""
    if not whole:
        return None
    return (Decimal(part * 100) / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass(frozen=True)
class StatsQuery:
    """A validated request for a report: a period of local days and at most one top unit."""

    date_from: dt.date
    date_to: dt.date
    unit: Unit | None = None
    sort: str = DEFAULT_SORT
    page: int = 1

    def params(self, **changes: Any) -> dict[str, str]:
        """The query as URL parameters (defaults left out), with `changes` applied."""
        values = {
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "unit": self.unit.code if self.unit else "",  # department codes are unique
            "sort": "" if self.sort == DEFAULT_SORT else self.sort,
            "page": "" if self.page == 1 else str(self.page),
        }
        values.update({k: "" if v is None else str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v}

    def sort_state(self, column: str) -> str:
        """'ascending', 'descending' or '' (not sorted by `column`), as aria-sort says it."""
        if self.sort == column:
            return "ascending"
        return "descending" if self.sort == f"-{column}" else ""

    def next_sort(self, column: str) -> str:
        """The sort a click on `column`'s header asks for: the other direction when sorted by
        it already, else units A to Z and figures largest first."""
        if self.sort == f"-{column}":
            return column
        if self.sort == column or column != "unit":
            return f"-{column}"
        return column

    @property
    def structure(self) -> str:
        """The unit structure in force on the period's last day: its departments (or regional
        branches) are the ones counted as taking part."""
        return units.structure_in_force(self.date_to)

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """The period as UTC datetimes [start, end): local midnight to the midnight after."""
        start = dt.datetime.combine(self.date_from, dt.time())
        end = dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time())
        return to_utc(start), to_utc(end)


def _parse_date(raw: str) -> tuple[dt.date | None, Message | None]:
    value = parse_date(raw)
    if value is None:
        return None, Message(N_("Enter a real date as dd/mm/yyyy, for example 04/12/2026."))
    if not YEARS[0] <= value.year <= YEARS[1]:
        return None, Message(
            N_("Enter a date between %(first)s and %(last)s."), first=YEARS[0], last=YEARS[1]
        )
    return value, None


def parse_period(
    raw: dict[str, str], today: dt.date, errors: dict[str, Message]
) -> dict[str, dt.date]:
    """The period `from`-`to` of a report's parameters (1 January to `today` by default);
    adds what is wrong with each to `errors`."""
    dates = {"from": dt.date(today.year, 1, 1), "to": today}
    for name in dates:
        if raw.get(name, "").strip():
            value, problem = _parse_date(raw[name])
            if problem:
                errors[name] = problem
            else:
                assert value is not None
                dates[name] = value
    if not errors and dates["from"] > dates["to"]:
        errors["to"] = Message(N_("The end of the period must not be before its start."))
    return dates


@reading
def clean_query(raw: dict[str, str], page: int, today: dt.date) -> StatsQuery:
    """Validate the report's parameters (`from`, `to` as YYYY-MM-DD or DD/MM/YYYY, `unit` a
    top unit's code, `sort`); the period defaults to 1 January to `today`. `page` 0 means a
    page number that is not one. Raises ValidationError naming each bad field."""
    errors: dict[str, Message] = {}
    dates = parse_period(raw, today, errors)
    unit = None
    code = raw.get("unit", "").strip()
    if code:
        unit = units.find_unit(code[:30])
        if unit is None or unit.kind != TOP_KIND:
            unit = None
            errors["unit"] = Message(N_("Choose a department or regional branch from the list."))
    if not 1 <= page <= MAX_PAGE:
        errors["page"] = Message(N_("There is no such page."))
    if errors:
        raise ValidationError(errors)
    sort = raw.get("sort", "") if raw.get("sort", "") in SORTS else DEFAULT_SORT
    return StatsQuery(dates["from"], dates["to"], unit, sort, page)


@reading
def top_units(day: dt.date | None = None) -> list[Unit]:
    """The units a report can be limited to: departments and regional branches, those of the
    structure in force on `day` (today by default) first, then by code."""
    in_force = units.structure_in_force(day)
    return list(
        Unit.select()
        .where(Unit.kind == TOP_KIND)
        .order_by(Case(None, [(Unit.structure == in_force, 0)], 1), Unit.code)
    )


def unit_tops() -> tuple[dict[int, int], dict[int, Unit]]:
    """Each unit's top unit (itself or the ancestor of kind TOP_KIND), and the top units (also
    the satisfaction figures' per-unit rows, services/satisfaction.py)."""
    top_units = Unit.select().where(Unit.kind == TOP_KIND)
    return stat_facts.tops(), {u.id: u for u in top_units}


@dataclass(frozen=True)
class Figures:
    received: int
    completed: int
    on_time: int
    late: int
    withdrawn: int
    refused: int
    stopped: int
    in_progress: int
    overdue: int
    enterprises: int
    departments: int = 0
    departments_total: int = 0
    counter: int = 0  # of the received, those received on paper at the counter
    payments: int = 0  # fees paid in the period (online or at the counter)
    paid_online: int = 0  # of them, paid online through a gateway

    @property
    def online(self) -> int:
        """Dossiers received that were filed online."""
        return self.received - self.counter

    @property
    def online_share(self) -> Decimal | None:
        return percent(self.online, self.received)

    @property
    def counter_share(self) -> Decimal | None:
        return percent(self.counter, self.received)

    @property
    def online_payment_rate(self) -> Decimal | None:
        return percent(self.paid_online, self.payments)

    @property
    def on_time_rate(self) -> Decimal | None:
        return percent(self.on_time, self.completed)

    @property
    def overdue_rate(self) -> Decimal | None:
        """Overdue dossiers as a share of those in progress now."""
        return percent(self.overdue, self.in_progress)

    @property
    def empty(self) -> bool:
        """No dossier was submitted, completed or closed in the period."""
        return not (
            self.received or self.completed or self.withdrawn or self.refused or self.stopped
        )


@dataclass(frozen=True)
class UnitRow:
    code: str
    name: str
    structure: str
    received: int
    completed: int
    on_time: int
    late: int
    overdue: int

    @property
    def rate(self) -> Decimal | None:
        return percent(self.on_time, self.completed)


@dataclass(frozen=True)
class Report:
    query: StatsQuery
    figures: Figures
    catalogue: dict[str, Any]
    units: Page  # of UnitRow


class _Sql:
    """The report's conditions and aggregates over Dossier, for one period and moment."""

    def __init__(self, query: StatsQuery, now: dt.datetime) -> None:
        start, end = query.bounds()
        # When a dossier reached "result ready": status 9 has no finished_at of its own.
        self.issued = (
            DossierEvent.select(
                DossierEvent.dossier.alias("dossier_id"),
                fn.MAX(DossierEvent.created_at).alias("at"),
            )
            .where(DossierEvent.action == "issue_result", DossierEvent.status_after == PROCESSED)
            .group_by(DossierEvent.dossier)
            .alias("issued")
        )
        # When a completed dossier was completed (services/stats_trend.py groups by it).
        self.done = done = fn.COALESCE(Dossier.finished_at, self.issued.c.at)
        completed = Dossier.status.in_(COMPLETED) & (done >= start) & (done < end)
        closed = (Dossier.finished_at >= start) & (Dossier.finished_at < end)
        received = (Dossier.submitted_at >= start) & (Dossier.submitted_at < end)
        self.conditions = {
            "received": received,
            # of them, received on paper at the counter (the rest were filed online)
            "counter": received & (Dossier.channel == "counter"),
            "completed": completed,
            "on_time": completed & (done <= Dossier.due_at),
            "withdrawn": (Dossier.status == WITHDRAWN) & closed,
            "refused": (Dossier.status == REFUSED) & closed,
            "stopped": (Dossier.status == STOPPED) & closed,
            "in_progress": Dossier.status.in_(IN_PROGRESS),
            "overdue": Dossier.status.in_(CLOCK_RUNNING) & (Dossier.due_at < now),
        }
        self.sums = {name: self.count_if(cond) for name, cond in self.conditions.items()}
        # Completed and not on time (also when no promised date was ever set).
        self.sums["late"] = self.sums["completed"] - self.sums["on_time"]

    @staticmethod
    def count_if(condition: Any) -> Any:
        return fn.COALESCE(fn.SUM(Case(None, [(condition, 1)], 0)), 0)

    def base(self, *columns: Any, unit_ids: list[int] | None) -> Any:
        query = (
            Dossier.select(*columns)
            .join(self.issued, JOIN.LEFT_OUTER, on=(self.issued.c.dossier_id == Dossier.id))
            .where(Dossier.status != DRAFT)
        )
        return query if unit_ids is None else query.where(Dossier.unit.in_(unit_ids))


def _scope(query: StatsQuery) -> tuple[list[int] | None, dict[int, int], dict[int, Unit]]:
    tops, top_units_by_id = unit_tops()
    if query.unit is None:
        return None, tops, top_units_by_id
    ids = [unit_id for unit_id, top in tops.items() if top == query.unit.id] or [0]
    return ids, tops, top_units_by_id


def _departments(
    query: StatsQuery, received_units: set[int], tops: dict[int, int], top_by_id: dict[int, Unit]
) -> tuple[int, int]:
    """Departments (or regional branches) that received dossiers, out of those counted: the
    structure's active ones in force at the period's end, or the one asked for."""
    if query.unit is None:
        structure = query.structure
        counted = {t.id for t in top_by_id.values() if t.structure == structure and t.active}
    else:
        counted = {query.unit.id}
    return len({tops.get(u) for u in received_units} & counted), len(counted)


@reading
def scope_unit_ids(query: StatsQuery) -> list[int] | None:
    """The units a query counts: the department's (or regional branch's) and those under it,
    or None for every unit."""
    return None if query.unit is None else _scope(query)[0]


@reading
def build_report(query: StatsQuery, now: dt.datetime | None = None) -> Report:
    """The headline figures, the catalogue's levels and one page of the per-unit table, from
    the maintained counts (services/stat_figures.py)."""
    now = now or utcnow()
    unit_ids, tops, top_by_id = _scope(query)
    first, last = query.date_from, query.date_to
    by_unit = stat_figures.unit_counts(first, last, unit_ids)
    counts = {name: sum(c[name] for c in by_unit.values()) for name in stat_facts.COUNTS}
    in_progress, overdue = stat_figures.open_counts(now, unit_ids)
    received_units = stat_figures.units_receiving(first, last, unit_ids)
    departments, departments_total = _departments(query, received_units, tops, top_by_id)
    paid, paid_online = payments.paid_counts(*query.bounds(), unit_ids)
    figures = Figures(
        **{name: counts[name] for name in FIGURE_COUNTS},
        late=counts["completed"] - counts["on_time"],
        in_progress=in_progress,
        overdue=overdue,
        enterprises=stat_figures.enterprises(first, last, query.unit.id if query.unit else None),
        departments=departments,
        departments_total=departments_total,
        counter=counts["counter"],
        payments=paid,
        paid_online=paid_online,
    )
    rows = _counted_rows(query, now, unit_ids, by_unit)
    number = min(max(1, query.page), max(1, -(-len(rows) // PER_PAGE)))
    page = Page(rows[(number - 1) * PER_PAGE : number * PER_PAGE], number, PER_PAGE, len(rows))
    return Report(query, figures, catalogue_levels(), page)


FIGURE_COUNTS = ("received", "completed", "on_time", "withdrawn", "refused", "stopped")


def _counted_rows(
    query: StatsQuery, now: dt.datetime, unit_ids: list[int] | None, counts: dict | None = None
) -> list:
    """Every row of the per-unit table from the maintained counts (`counts`, the period's per
    unit, when read already), in the query's order."""
    if counts is None:
        counts = stat_figures.unit_counts(query.date_from, query.date_to, unit_ids)
    overdue = stat_figures.overdue_by_unit(now, unit_ids)
    ids = (set(counts) | set(overdue)) - {0}
    rows = []
    for unit in Unit.select(Unit.id, Unit.code, Unit.name, Unit.structure).where(
        Unit.id.in_(list(ids) or [0])
    ):
        c = counts.get(unit.id, dict.fromkeys(stat_facts.COUNTS, 0))
        row = UnitRow(
            code=unit.code,
            name=unit.name,
            structure=unit.structure,
            received=c["received"],
            completed=c["completed"],
            on_time=c["on_time"],
            late=c["completed"] - c["on_time"],
            overdue=overdue.get(unit.id, 0),
        )
        if row.received + row.completed + row.overdue > 0:
            rows.append(row)
    return _sorted(rows, query.sort)


def _sorted(rows: list[UnitRow], sort: str) -> list[UnitRow]:
    """The rows by `sort` (a column, descending when it starts with "-"; no rate last), then
    by code and structure, as the recount's ORDER BY gives them."""
    column = sort.lstrip("-")
    rows = sorted(rows, key=lambda r: (r.code, r.structure))
    key = (lambda r: r.code) if column == "unit" else (lambda r: getattr(r, column))
    known = [r for r in rows if key(r) is not None]
    known.sort(key=key, reverse=sort.startswith("-"))
    return known + [r for r in rows if key(r) is None]


@reading
def recount(query: StatsQuery, now: dt.datetime | None = None) -> Report:
    """The same report counted directly from the dossiers (the definition the maintained
    counts must equal: tests compare them)."""
    now = now or utcnow()
    sql = _Sql(query, now)
    unit_ids, tops, top_by_id = _scope(query)
    names = [*sql.conditions, "late"]
    row = (
        sql.base(
            *[sql.sums[name].alias(name) for name in names],
            fn.COUNT(
                fn.DISTINCT(Case(None, [(sql.conditions["received"], Dossier.enterprise)]))
            ).alias("enterprises"),
            unit_ids=unit_ids,
        )
        .dicts()
        .get()
    )
    received_units = sql.base(Dossier.unit, unit_ids=unit_ids).where(
        sql.conditions["received"], Dossier.unit.is_null(False)
    )
    units_received = {r.unit_id for r in received_units.distinct()}
    departments, departments_total = _departments(query, units_received, tops, top_by_id)
    paid, paid_online = payments.paid_counts(*query.bounds(), unit_ids)
    figures = Figures(
        **{name: int(row[name] or 0) for name in [*names, "enterprises"]},
        departments=departments,
        departments_total=departments_total,
        payments=paid,
        paid_online=paid_online,
    )
    return Report(query, figures, catalogue_levels(), unit_table(query, sql, unit_ids))


def _unit_query(sql: _Sql, unit_ids: list[int] | None, sort: str) -> Any:
    sums = {name: sql.sums[name] for name in ("received", "completed", "on_time", "overdue")}
    sums["late"] = sql.sums["late"]
    rate = Case(None, [(sums["completed"] > 0, sums["on_time"] * 100.0 / sums["completed"])])
    keys = {"unit": Unit.code, "rate": rate, **sums}
    key = keys[sort.lstrip("-")]
    order = key.desc(nulls="LAST") if sort.startswith("-") else key.asc(nulls="LAST")
    return (
        sql.base(
            Unit.code,
            Unit.name,
            Unit.structure,
            *[s.alias(n) for n, s in sums.items()],
            unit_ids=unit_ids,
        )
        .join(Unit, on=(Dossier.unit == Unit.id))
        .group_by(Unit.id, Unit.code, Unit.name, Unit.structure)
        .having((sums["received"] + sums["completed"] + sums["overdue"]) > 0)
        .order_by(order, Unit.code, Unit.structure)
        .dicts()
    )


def _row(values: dict[str, Any]) -> UnitRow:
    return UnitRow(**{f.name: values[f.name] for f in dataclasses.fields(UnitRow)})


def unit_table(query: StatsQuery, sql: _Sql, unit_ids: list[int] | None) -> Page:
    """The page of units with dossiers received or completed in the period or overdue now."""
    page = paginate(_unit_query(sql, unit_ids, query.sort), query.page, PER_PAGE)
    return dataclasses.replace(page, items=[_row(r) for r in page.items])


@reading
def unit_rows(query: StatsQuery, now: dt.datetime | None = None) -> list[UnitRow]:
    """Every row of the per-unit table, in the query's order (for the CSV export)."""
    return _counted_rows(query, now or utcnow(), scope_unit_ids(query))


@reading
def catalogue_levels() -> dict[str, Any]:
    """Procedures at level 4 (full online service), level 3 (partial) and not online, with
    their share of the catalogue in per cent."""
    counts = level_summary()
    total = counts["total"]
    return {
        "total": total,
        **{
            name: {"count": counts[name], "percent": percent(counts[name], total)}
            for name in ("level4", "level3", "offline")
        },
    }
