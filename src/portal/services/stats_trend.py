"""The public statistics' figures beyond the headline ones: the trend by month (dossiers
received, completed and completed on time in each month of the period) and the procedures'
reach (online procedures that received dossiers in the period, out of all online ones: the
pilot's "18 of 41").

Each is a function of a `stats.StatsQuery`, counted with the report's own conditions
(`stats._Sql`), so that "received", "completed" and "on time" mean one thing everywhere, and
so that they can be counted another way (from maintained tables) without the web layer
knowing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from peewee import SQL, fn

from portal.db import is_postgres, reading
from portal.models import Dossier, Procedure, utcnow
from portal.services import stat_figures, stats
from portal.services.deadlines import VIETNAM

# A longer period is shown by year: 36 bars of three are what a page's chart holds.
MAX_MONTHS = 36


@dataclass(frozen=True)
class MonthRow:
    """One month of the trend (or one year, when the period is longer than MAX_MONTHS)."""

    start: dt.date  # the first day of the month (of the year)
    by_year: bool
    received: int
    completed: int
    on_time: int

    @property
    def label(self) -> str:
        return str(self.start.year) if self.by_year else self.start.strftime("%m/%Y")

    @property
    def key(self) -> str:
        """The month as YYYY-MM (the year as YYYY), for exports."""
        return str(self.start.year) if self.by_year else self.start.strftime("%Y-%m")

    @property
    def late(self) -> int:
        return self.completed - self.on_time

    @property
    def rate(self) -> Decimal | None:
        return stats.percent(self.on_time, self.completed)


@dataclass(frozen=True)
class ProcedureReach:
    """Online procedures (level 3 or 4) that received dossiers in the period, of all online."""

    used: int
    online: int

    @property
    def percent(self) -> Decimal | None:
        return stats.percent(self.used, self.online)


@dataclass(frozen=True)
class Share:
    """One part of a whole (its count, the whole, the chart's fill for it)."""

    key: str
    count: int
    whole: int
    kind: str  # solid, hatch or dots: how a chart tells it apart without colour

    @property
    def percent(self) -> Decimal | None:
        return stats.percent(self.count, self.whole)


def timeliness(figures: stats.Figures) -> list[Share]:
    """Dossiers completed on time, completed late (in the period) and overdue now, each a
    share of the three together."""
    parts = (
        ("on_time", figures.on_time, "solid"),
        ("late", figures.late, "hatch"),
        ("overdue", figures.overdue, "dots"),
    )
    whole = sum(count for _key, count, _kind in parts)
    return [Share(key, count, whole, kind) for key, count, kind in parts]


def _month_count(query: stats.StatsQuery) -> int:
    first, last = query.date_from, query.date_to
    return (last.year - first.year) * 12 + last.month - first.month + 1


def by_years(query: stats.StatsQuery) -> bool:
    """Whether the trend of the period is shown by year (it spans over MAX_MONTHS months)."""
    return _month_count(query) > MAX_MONTHS


def months_of(query: stats.StatsQuery) -> list[dt.date]:
    """The first days of the months (or years) the period touches, in order."""
    first, last = query.date_from, query.date_to
    if by_years(query):
        return [dt.date(year, 1, 1) for year in range(first.year, last.year + 1)]
    return [
        dt.date(first.year + (first.month - 1 + i) // 12, (first.month - 1 + i) % 12 + 1, 1)
        for i in range(_month_count(query))
    ]


def _bucket(column: Any, by_year: bool) -> Any:
    """The local (Vietnam) month as 'YYYY-MM' (or year 'YYYY') of a UTC datetime column.
    The formats are SQL literals, not parameters: PostgreSQL groups by an expression only
    when it is the same text, and two parameters are two texts."""
    hours = int(VIETNAM.total_seconds() // 3600)
    if is_postgres():
        shape = "YYYY" if by_year else "YYYY-MM"
        return fn.to_char(column + SQL(f"INTERVAL '{hours} hours'"), SQL(f"'{shape}'"))
    shape = "%Y" if by_year else "%Y-%m"
    return fn.strftime(SQL(f"'{shape}'"), column, SQL(f"'+{hours} hours'"))


@reading
def monthly_trend(query: stats.StatsQuery) -> list[MonthRow]:
    """Dossiers received, completed and completed on time in each month of the period (each
    year when it spans more than MAX_MONTHS months), months without any included: from the
    maintained counts of its days (services/stat_figures.py)."""
    unit_ids = stats.scope_unit_ids(query)
    starts, by_year = months_of(query), by_years(query)
    counts: dict[str, dict[str, int]] = {}
    days = stat_figures.monthly_counts(query.date_from, query.date_to, unit_ids)
    for (year, month), found in days.items():
        key = str(year) if by_year else f"{year:04d}-{month:02d}"
        bucket = counts.setdefault(key, dict.fromkeys(("received", "completed", "on_time"), 0))
        for name in bucket:
            bucket[name] += found[name]
    rows = [MonthRow(start, by_year, 0, 0, 0) for start in starts]
    return [dataclasses.replace(row, **counts.get(row.key, {})) for row in rows]


@reading
def recount_trend(query: stats.StatsQuery, now: dt.datetime | None = None) -> list[MonthRow]:
    """The trend counted directly from the dossiers (the definition monthly_trend equals)."""
    sql = stats._Sql(query, now or utcnow())
    unit_ids = stats.scope_unit_ids(query)
    starts, by_year = months_of(query), by_years(query)
    # Months are counted on local time in SQL, keyed as MonthRow.key says them.
    counts: dict[str, dict[str, int]] = {}
    received = _bucket(Dossier.submitted_at, by_year)
    for row in (
        sql.base(
            received.alias("bucket"), sql.sums["received"].alias("received"), unit_ids=unit_ids
        )
        .where(sql.conditions["received"])
        .group_by(SQL("bucket"))
        .dicts()
    ):
        counts.setdefault(row["bucket"], {})["received"] = int(row["received"])
    done = _bucket(sql.done, by_year)
    for row in (
        sql.base(
            done.alias("bucket"),
            sql.sums["completed"].alias("completed"),
            sql.sums["on_time"].alias("on_time"),
            unit_ids=unit_ids,
        )
        .where(sql.conditions["completed"])
        .group_by(SQL("bucket"))
        .dicts()
    ):
        found = counts.setdefault(row["bucket"], {})
        found.update(completed=int(row["completed"]), on_time=int(row["on_time"]))
    rows = [MonthRow(start, by_year, 0, 0, 0) for start in starts]
    return [dataclasses.replace(row, **counts.get(row.key, {})) for row in rows]


@reading
def procedure_reach(query: stats.StatsQuery) -> ProcedureReach:
    """How many online procedures (level 3 or 4) received dossiers in the period (in the
    query's unit), out of all online procedures of the catalogue: one indexed look at the
    dossiers' facts per online procedure."""
    online = [p for (p,) in Procedure.select(Procedure.id).where(Procedure.online()).tuples()]
    top_id = query.unit.id if query.unit else None
    used = stat_figures.procedures_receiving(query.date_from, query.date_to, online, top_id)
    return ProcedureReach(len(used), len(online))


@reading
def recount_reach(query: stats.StatsQuery, now: dt.datetime | None = None) -> ProcedureReach:
    """The reach counted directly from the dossiers (the definition procedure_reach
    equals)."""
    sql = stats._Sql(query, now or utcnow())
    unit_ids = stats.scope_unit_ids(query)
    used = (
        sql.base(fn.COUNT(fn.DISTINCT(Dossier.procedure)).alias("n"), unit_ids=unit_ids)
        .join(Procedure, on=(Dossier.procedure == Procedure.id))
        .where(sql.conditions["received"], Procedure.online())
        .scalar()
    )
    online = Procedure.select().where(Procedure.online()).count()
    return ProcedureReach(int(used or 0), online)
