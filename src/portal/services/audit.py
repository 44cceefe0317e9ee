"""The auditor's search: submitted dossiers and history events, filtered by unit (with the units
under it, in either structure), procedure, status, enterprise, person, action and period, one
page at a time or as CSV.

Periods are whole days of Vietnam's calendar, both ends included; the database keeps UTC.
Every query is bounded: a page is a LIMIT, the count stops at COUNT_CAP, an export at
EXPORT_CAP rows, read in chunks of CHUNK rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from peewee import JOIN, ModelSelect

from portal.db import reading
from portal.models import Dossier, DossierEvent, Enterprise, Procedure, Unit
from portal.services import units
from portal.services.catalogue_files import csv_safe
from portal.services.deadlines import to_local, to_utc
from portal.services.errors import N_, Message, ValidationError
from portal.services.paging import Page
from portal.services.stats import MAX_PAGE, local_today, parse_period
from portal.services.status import DRAFT, STATUS_LABELS
from portal.services.workflow import ACTION_NAMES

TABS = ("dossiers", "events")
PER_PAGE = 25
COUNT_CAP = 10_000
EXPORT_CAP = 10_000
CHUNK = 500
FIELDS = ("tab", "from", "to", "unit", "procedure", "status", "tax_code", "user", "action", "sort")
DOSSIER_SORTS = {
    "submitted": "submitted_at",
    "code": "code",
    "status": "status",
}
DEFAULT_SORT = "-submitted"
STATUSES = [s for s in STATUS_LABELS if s != DRAFT]


@dataclass(frozen=True)
class AuditQuery:
    """A validated search: which tab, the period of local days and the filters."""

    tab: str
    date_from: dt.date
    date_to: dt.date
    unit: Unit | None = None
    procedure: str = ""
    status: int | None = None
    tax_code: str = ""
    user: str = ""
    action: str = ""
    sort: str = DEFAULT_SORT
    page: int = 1

    def params(self, **changes: Any) -> dict[str, str]:
        """The query as URL parameters (empty ones left out), with `changes` applied."""
        values = {
            "tab": self.tab,
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "unit": self.unit.ref if self.unit else "",
            "page": "" if self.page == 1 else str(self.page),
        }
        if self.tab == "dossiers":
            values["procedure"] = self.procedure
            values["status"] = "" if self.status is None else str(self.status)
            values["tax_code"] = self.tax_code
            values["sort"] = "" if self.sort == DEFAULT_SORT else self.sort
        else:
            values["user"] = self.user
            values["action"] = self.action
        values.update({k: "" if v is None else str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v}

    def sort_state(self, column: str) -> str:
        """'ascending', 'descending' or '' as aria-sort says it."""
        if self.sort == column:
            return "ascending"
        return "descending" if self.sort == f"-{column}" else ""

    def next_sort(self, column: str) -> str:
        """The sort a click on `column`'s header asks for."""
        return column if self.sort == f"-{column}" else f"-{column}"

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """The period as UTC datetimes [start, end): local midnight to the midnight after."""
        start = dt.datetime.combine(self.date_from, dt.time())
        end = dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time())
        return to_utc(start), to_utc(end)

    def file_name(self) -> str:
        """The export's file name: the tab, the period and each filter."""
        parts = [f"audit-{self.tab}", self.date_from.isoformat(), self.date_to.isoformat()]
        for key, value in self.params(page=None, tab=None, sort=None).items():
            if key not in ("from", "to"):
                parts.append(f"{key}-{value}")
        safe = "-".join(parts)
        return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in safe)


def _filters(raw: dict[str, str], errors: dict[str, Message]) -> dict[str, Any]:
    found: dict[str, Any] = {"unit": None, "status": None}
    code = raw.get("unit", "").strip()[:30]
    if code:
        found["unit"] = units.find_unit(code)
        if found["unit"] is None:
            errors["unit"] = Message(N_("Choose a unit from the list."))
    procedure = raw.get("procedure", "").strip()[:16]
    if procedure and not Procedure.select().where(Procedure.code == procedure).exists():
        errors["procedure"] = Message(N_("There is no procedure with this code."))
    found["procedure"] = procedure
    status = raw.get("status", "").strip()
    if status:
        if status.isdigit() and int(status) in STATUSES:
            found["status"] = int(status)
        else:
            errors["status"] = Message(N_("Choose a status from the list."))
    action = raw.get("action", "").strip()
    if action and action not in ACTION_NAMES:
        errors["action"] = Message(N_("Choose an action from the list."))
    found["action"] = action
    found["tax_code"] = raw.get("tax_code", "").strip()[:13]
    found["user"] = " ".join(raw.get("user", "").split())[:100]
    return found


@reading
def clean_query(raw: dict[str, str], page: int, today: dt.date | None = None) -> AuditQuery:
    """Validate the search's parameters (`from`, `to` as YYYY-MM-DD or DD/MM/YYYY; the period
    defaults to 1 January to today). `page` 0 is a page number that is not one. Raises
    ValidationError naming each bad field."""
    errors: dict[str, Message] = {}
    dates = parse_period(raw, today or local_today(), errors)
    found = _filters(raw, errors)
    if not 1 <= page <= MAX_PAGE:
        errors["page"] = Message(N_("There is no such page."))
    if errors:
        raise ValidationError(errors)
    tab = raw.get("tab", "") if raw.get("tab", "") in TABS else TABS[0]
    sort = raw.get("sort", "")
    sort = sort if sort.lstrip("-") in DOSSIER_SORTS else DEFAULT_SORT
    return AuditQuery(tab, dates["from"], dates["to"], sort=sort, page=page, **found)


def actor_units(found: list[Unit]) -> list[str]:
    """How events name the units `found`: by reference ("2025:02CI"); events written before
    codes repeated across structures name a unit by its bare code, which was then the unit of
    the oldest structure that has it."""
    oldest: dict[str, str] = {}
    for code, structure in (
        Unit.select(Unit.code, Unit.structure).order_by(Unit.structure).tuples()
    ):
        oldest.setdefault(code, structure)
    refs = [u.ref for u in found]
    return refs + [u.code for u in found if oldest.get(u.code) == u.structure]


def subtree(unit: Unit) -> list[Unit]:
    """`unit` and every unit under it (the unit table is small: read once)."""
    children: dict[int | None, list[Unit]] = {}
    for u in Unit.select(Unit.id, Unit.code, Unit.structure, Unit.parent):
        children.setdefault(u.parent_id, []).append(u)
    found, todo, seen = [], [unit], set()
    while todo:
        node = todo.pop()
        if node.id in seen:
            continue
        seen.add(node.id)
        found.append(node)
        todo.extend(children.get(node.id, []))
    return found


def _dossiers(q: AuditQuery) -> ModelSelect:
    start, end = q.bounds()
    query = (
        Dossier.select(Dossier, Procedure, Enterprise, Unit)
        .join(Procedure)
        .switch(Dossier)
        .join(Enterprise)
        .switch(Dossier)
        .join(Unit)
        .where(
            Dossier.status != DRAFT,
            Dossier.submitted_at >= start,
            Dossier.submitted_at < end,
        )
    )
    if q.unit is not None:
        query = query.where(Dossier.unit.in_([u.id for u in subtree(q.unit)]))
    if q.procedure:
        query = query.where(Procedure.code == q.procedure)
    if q.status is not None:
        query = query.where(Dossier.status == q.status)
    if q.tax_code:
        query = query.where(Enterprise.tax_code == q.tax_code)
    field = getattr(Dossier, DOSSIER_SORTS[q.sort.lstrip("-")])
    if q.sort.startswith("-"):
        return query.order_by(field.desc(), Dossier.id.desc())
    return query.order_by(field.asc(), Dossier.id.asc())


def _events(q: AuditQuery) -> ModelSelect:
    start, end = q.bounds()
    query = DossierEvent.select(DossierEvent, Dossier.id, Dossier.code, Dossier.status).join(
        Dossier, JOIN.LEFT_OUTER
    )
    query = query.where(DossierEvent.created_at >= start, DossierEvent.created_at < end)
    if q.unit is not None:
        query = query.where(DossierEvent.actor_unit.in_(actor_units(subtree(q.unit))))
    if q.user:
        query = query.where(DossierEvent.actor_name.contains(q.user))
    if q.action:
        query = query.where(DossierEvent.action == q.action)
    # The history is appended in order: the newest events have the highest ids.
    return query.order_by(DossierEvent.created_at.desc(), DossierEvent.id.desc())


def _query(q: AuditQuery) -> ModelSelect:
    return _dossiers(q) if q.tab == "dossiers" else _events(q)


@dataclass(frozen=True)
class Result:
    query: AuditQuery
    page: Page
    capped: bool  # more rows than COUNT_CAP match: the count says "more than"


@reading
def search(q: AuditQuery) -> Result:
    """One page of the search's rows, with a count that stops at COUNT_CAP."""
    query = _query(q)
    total = query.limit(COUNT_CAP + 1).count()
    capped = total > COUNT_CAP
    total = min(total, COUNT_CAP)
    pages = max(1, -(-total // PER_PAGE))
    number = min(q.page, pages)
    items = list(query.paginate(number, PER_PAGE))
    page = Page(items=items, number=number, per_page=PER_PAGE, total=total)
    return Result(q, page, capped)


@reading
def _chunk(q: AuditQuery, offset: int, limit: int) -> list[Any]:
    return list(_query(q).offset(offset).limit(limit))


def _local(value: dt.datetime | None) -> str:
    return "" if value is None else to_local(value).strftime("%Y-%m-%d %H:%M:%S")


def dossier_row(d: Dossier, _: Callable[[str], str]) -> list[Any]:
    """A dossier as a CSV row (labels translated with `_`)."""
    return [
        d.code,
        d.procedure.code,
        d.procedure.name,
        d.enterprise.tax_code,
        d.enterprise.name,
        d.unit.code,
        _(STATUS_LABELS[d.status]),
        _local(d.submitted_at),
        _local(d.due_at),
        _local(d.finished_at),
    ]


def event_row(e: DossierEvent, _: Callable[[str], str]) -> list[Any]:
    """A history event as a CSV row (labels translated with `_`)."""
    label = ACTION_NAMES.get(e.action)
    return [
        _local(e.created_at),
        e.dossier.code if e.dossier_id else "",
        e.actor_name,
        e.actor_role,
        e.actor_unit,
        _(label) if label else e.action,
        "" if e.status_before is None else _(STATUS_LABELS[e.status_before]),
        "" if e.status_after is None else _(STATUS_LABELS[e.status_after]),
        e.note,
        e.client_addr,
    ]


DOSSIER_COLUMNS = [
    N_("Dossier code"),
    N_("Procedure code"),
    N_("Procedure"),
    N_("Tax code"),
    N_("Enterprise"),
    N_("Unit code"),
    N_("Status"),
    N_("Submitted"),
    N_("Due"),
    N_("Finished"),
]
EVENT_COLUMNS = [
    N_("Time"),
    N_("Dossier code"),
    N_("Person"),
    N_("Role"),
    N_("Unit code"),
    N_("Action"),
    N_("Status before"),
    N_("Status after"),
    N_("Note"),
    N_("Address"),
]


def _line(values: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([csv_safe("" if v is None else str(v)) for v in values])
    return out.getvalue()


def export_csv(q: AuditQuery, _: Callable[[str], str]) -> Iterator[str]:
    """The search's rows as CSV text, chunk by chunk (a byte-order mark first, so spreadsheets
    read the Vietnamese as UTF-8), at most EXPORT_CAP rows; a last line says when the cap cut
    it. Each chunk is one bounded query with its own connection."""
    columns, row = (
        (DOSSIER_COLUMNS, dossier_row) if q.tab == "dossiers" else (EVENT_COLUMNS, event_row)
    )
    yield "\ufeff" + _line([_(c) for c in columns])
    offset = 0
    while offset < EXPORT_CAP:
        wanted = min(CHUNK, EXPORT_CAP - offset)
        items = _chunk(q, offset, wanted)
        if items:
            yield "".join(_line(row(item, _)) for item in items)
        offset += len(items)
        if len(items) < wanted:
            return
    if _more(q):
        yield _line([_("Cut at %(count)s rows: narrow the search.") % {"count": EXPORT_CAP}])


@reading
def _more(q: AuditQuery) -> bool:
    # Not .exists(): peewee's drops the offset.
    return bool(list(_query(q).offset(EXPORT_CAP).limit(1)))


@reading
def unit_options() -> list[Unit]:
    """The units a search can be limited to, both structures, by code."""
    return list(Unit.select().order_by(Unit.structure.desc(), Unit.code))


def action_options() -> list[tuple[str, str]]:
    """The known actions and their (untranslated) labels."""
    return sorted(ACTION_NAMES.items())
