"""The officer's inbox: the dossiers of the officer's unit, filtered, counted and sorted."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from peewee import JOIN, Case, fn

from portal.db import reading
from portal.models import (
    Dossier,
    Enterprise,
    FormField,
    Procedure,
    Unit,
    User,
    utcnow,
)
from portal.services import stat_figures
from portal.services.paging import Page, paginate
from portal.services.status import CLOCK_RUNS, DRAFT, FINAL, STATUS_LABELS
from portal.services.structures import structure_in_force
from portal.services.text import as_int, clean, fold

VIEWS = ("open", "new", "mine", "due_today", "overdue", "all")
# The statuses of a submitted dossier that has not ended, named (not "not final") so that a
# unit's open dossiers are read from the index by status, however many it has closed.
OPEN = tuple(sorted(set(STATUS_LABELS) - FINAL - {DRAFT}))
SORTS = ("due", "-due", "submitted", "-submitted")


@dataclass
class InboxFilters:
    view: str = "open"
    status: int | None = None
    procedure: str = ""
    sort: str = "due"
    page: int = 1
    q: str = ""  # a dossier code, a tax code, an enterprise's name or a searchable answer

    @classmethod
    def parse(cls, params: dict[str, str]) -> InboxFilters:
        f = cls()
        f.view = params.get("view", "open") if params.get("view") in VIEWS else "open"
        status = as_int(params.get("status", ""))
        if status in STATUS_LABELS and status != DRAFT:
            f.status = status
        f.procedure = params.get("procedure", "").strip()[:16]
        f.sort = params.get("sort", "due") if params.get("sort") in SORTS else "due"
        f.q = clean(params.get("q", ""))[:100]
        page = as_int(params.get("page", ""), 1) or 1
        f.page = page if page < 100000 else 1
        return f


def _of_unit(unit_id: int) -> Any:
    """Every dossier an inbox of the unit can show: its submitted ones (drafts are not)."""
    return (Dossier.unit == unit_id) & (Dossier.status != DRAFT)


def _condition(view: str, user: User, now: dt.datetime) -> Any:
    """Which of the unit's dossiers a view shows (None: all of them)."""
    running = Dossier.status.in_(tuple(CLOCK_RUNS))
    if view == "open":
        return Dossier.status.in_(OPEN)
    if view == "new":
        return Dossier.status == 1
    if view == "mine":
        return (Dossier.assigned_to == user.id) & Dossier.status.in_(OPEN)
    if view == "due_today":
        return running & (Dossier.due_at >= now) & (Dossier.due_at < now + dt.timedelta(days=1))
    if view == "overdue":
        return running & (Dossier.due_at < now)
    return None


def _view(query, view: str, user: User, now: dt.datetime):
    condition = _condition(view, user, now)
    return query if condition is None else query.where(condition)


# What a row of the inbox shows, and no more: a dossier's form answers and a procedure's texts
# are long, and every column named costs time to build the query and to read its rows.
ROW_COLUMNS = (
    Dossier.id,
    Dossier.code,
    Dossier.status,
    Dossier.due_at,
    Dossier.channel,  # a paper dossier is marked
    Dossier.procedure,
    Dossier.enterprise,
    Dossier.assigned_to,
    Procedure.id,
    Procedure.code,
    Procedure.name,
    Enterprise.id,
    Enterprise.name,
    Enterprise.tax_code,
)


@reading
def inbox(user: User, filters: InboxFilters, now: dt.datetime | None = None) -> Page:
    """A page of the unit's dossiers as the inbox lists them: each with the columns of
    ROW_COLUMNS and its assignee's name."""
    now = now or utcnow()
    assignee = User.alias()
    query = (
        Dossier.select(*ROW_COLUMNS, assignee.id, assignee.full_name)
        .join(Procedure)
        .switch(Dossier)
        .join(Enterprise)
        .switch(Dossier)
        .join(assignee, JOIN.LEFT_OUTER, on=(Dossier.assigned_to == assignee.id))
        .where(_of_unit(user.unit_id))
    )
    query = _view(query, filters.view, user, now)
    if filters.status is not None:
        query = query.where(Dossier.status == filters.status)
    if filters.procedure:
        query = query.where(Procedure.code == filters.procedure)
    if filters.q:
        query = query.where(_matching(user.unit_id, filters.q))
    order = {
        "due": [Dossier.due_at.asc(nulls="LAST"), Dossier.submitted_at],
        "-due": [Dossier.due_at.desc(nulls="LAST"), Dossier.submitted_at],
        "submitted": [Dossier.submitted_at, Dossier.id],
        "-submitted": [Dossier.submitted_at.desc(), Dossier.id.desc()],
    }[filters.sort]
    return paginate(query.order_by(*order), filters.page, 25)


def _named_like(unit_id: int, q: str) -> list[int]:
    """The ids of the enterprises with dossiers in the unit whose name holds every word of
    `q` as a word or the start of one, ignoring accents and case (as the catalogue does)."""
    words = fold(q).split()[:8]
    if not words:
        return []
    rows = Enterprise.select(Enterprise.id, Enterprise.name).where(
        Enterprise.id.in_(Dossier.select(Dossier.enterprise).where(_of_unit(unit_id)))
    )
    ids = []
    for enterprise_id, name in rows.tuples():
        folded = f" {fold(name)}"
        if all(f" {word}" in folded for word in words):
            ids.append(enterprise_id)
    return ids


def _answer_matches(q: str) -> Any:
    """Dossiers whose answer to a field its procedure marks searchable starts with `q`: a
    LIKE on the stored answers (JSON written as `"name": "value"`), of the procedures that
    have such a field."""
    value = json.dumps(q, ensure_ascii=False)[1:-1]
    procedures: dict[str, list[int]] = {}
    for procedure_id, name in (
        FormField.select(FormField.procedure, FormField.name)
        .where(FormField.searchable == True)  # noqa: E712
        .tuples()
    ):
        procedures.setdefault(name, []).append(procedure_id)
    condition: Any = None
    for name, ids in procedures.items():
        match = Dossier.procedure.in_(ids) & Dossier.form_data.contains(f'"{name}": "{value}')
        condition = match if condition is None else condition | match
    return condition


def _matching(unit_id: int, q: str) -> Any:
    """The unit's dossiers that `q` finds: by dossier code or tax code (exactly, through
    their unique indexes, or by their start, within the unit's dossiers), by the
    enterprise's name (accents and case ignored) and by a searchable answer."""
    code = q.upper().replace(" ", "")
    condition = (
        (Dossier.code == code)
        | Dossier.code.startswith(code)
        | (Enterprise.tax_code == code)
        | Enterprise.tax_code.startswith(code)
    )
    named = _named_like(unit_id, q)
    if named:
        condition = condition | Dossier.enterprise.in_(named)
    answers = _answer_matches(q)
    return condition if answers is None else condition | answers


@reading
def counts(user: User, now: dt.datetime | None = None) -> dict[str, int]:
    """How many dossiers each view shows: the views of open dossiers in one query over them,
    "all" from the statistics' counts of the unit's received dossiers."""
    now = now or utcnow()
    columns = []
    for view in VIEWS[:-1]:  # every view but "all" shows open dossiers only
        condition = _condition(view, user, now)
        columns.append(fn.COALESCE(fn.SUM(Case(None, [(condition, 1)], 0)), 0).alias(view))
    row = (
        Dossier.select(*columns)
        .where(_of_unit(user.unit_id), Dossier.status.in_(OPEN))
        .dicts()
        .get()
    )
    found = {view: int(row[view]) for view in VIEWS[:-1]}
    found["all"] = stat_figures.received_total(user.unit_id)
    return found


@reading
def unit_officers(unit_id: int) -> list[tuple[int, str]]:
    """The unit's active officers and leaders as (id, name) choices, by name."""
    return list(
        User.select(User.id, User.full_name)
        .where(User.unit_staff(unit_id))
        .order_by(User.full_name)
        .tuples()
    )


def unit_officer(unit_id: int, user_id: int) -> User | None:
    """The active officer or leader `user_id` of unit `unit_id`, or None: one of the choices
    `unit_officers` offers."""
    return User.get_or_none(User.unit_staff(unit_id), User.id == user_id)


def _forward_units(exclude_id: int):
    """Units a dossier of unit `exclude_id` can be forwarded to: the active customs units of
    the structure in force today, but its own."""
    return Unit.select(Unit.id, Unit.code, Unit.name).where(
        Unit.kind != "administration",
        Unit.active == True,  # noqa: E712
        Unit.structure == structure_in_force(),
        Unit.id != exclude_id,
    )


@reading
def forward_units(exclude_id: int) -> list[tuple[str, str]]:
    """The units a dossier can be forwarded to as (code, "code — name") choices, by code."""
    rows = _forward_units(exclude_id).order_by(Unit.code).tuples()
    return [(code, f"{code} — {name}") for _id, code, name in rows]


def forward_unit(exclude_id: int, code: str) -> int | None:
    """The id of unit `code` if it is one of the choices `forward_units` offers, else None."""
    row = _forward_units(exclude_id).where(Unit.code == code[:16]).first()
    return row.id if row is not None else None
