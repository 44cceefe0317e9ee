"""The applicants' satisfaction (đánh giá mức độ hài lòng): the one rating an applicant gives a
dossier that has ended, and the figures over the ratings of a period and units.

The criteria are our reading of Decree 61/2018/NĐ-CP art. 31 (assessing how the one-stop
mechanism resolves administrative procedures) and of the satisfaction group of the index of
Decision 766/QĐ-TTg: access to information and guidance about the procedure, the time taken
against the promised date, the officers' conduct and guidance, the result and its
explanation, the online service itself, and an overall answer. Each has the national
portal's three answers: very satisfied, satisfied, dissatisfied.

A rating is final: it is never edited. It is recorded in the processing history (an event
that leaves the status as it is) by the applicant who gave it, as every act on a dossier is;
the rating's row keeps no rater, only the dossier and the unit that handled it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from peewee import Case, Value, fn

from portal.db import is_postgres, reading, transactional
from portal.i18n import message_text
from portal.models import RATING_LEVELS, Dossier, Rating, Unit, utcnow
from portal.services import history
from portal.services.access import OWNER, Ctx, actor_kind, require_view
from portal.services.deadlines import to_local, to_utc
from portal.services.errors import N_, DomainError
from portal.services.history import Actor
from portal.services.stats import percent, unit_tops
from portal.services.status import FINAL
from portal.services.validation import Field, validate

VERY_SATISFIED, SATISFIED, DISSATISFIED = RATING_LEVELS
LEVEL_NAMES = {
    VERY_SATISFIED: N_("Very satisfied"),
    SATISFIED: N_("Satisfied"),
    DISSATISFIED: N_("Dissatisfied"),
}
# criterion (the Rating column) -> the question asked
CRITERIA = {
    "information": N_("Access to information and guidance about the procedure"),
    "timeliness": N_("The time taken against the promised date"),
    "conduct": N_("The officers' conduct and guidance"),
    "result": N_("The result and its explanation"),
    "online_service": N_("The online service itself"),
}
OVERALL = "overall"
QUESTIONS = {**CRITERIA, OVERALL: N_("Overall, how satisfied are you?")}
MAX_COMMENT = 2000
RATED = "rate"  # the history's action
RATED_NOTE = N_("Overall: %(answer)s")
FIELDS = [
    *(Field(name, choices=[str(v) for v in RATING_LEVELS], max_length=1) for name in QUESTIONS),
    Field("comment", required=False, max_length=MAX_COMMENT, multiline=True),
]
NOT_ENDED = N_("A dossier can be rated once it has ended.")
RATED_ALREADY = N_("This dossier has been rated already: a rating cannot be changed.")


def may_rate(actor: str | None, dossier: Dossier, rating: Rating | None) -> bool:
    """Whether the user playing `actor` may rate the dossier now: its applicant, once it has
    ended, if nobody of the enterprise has rated it yet."""
    return actor == OWNER and dossier.status in FINAL and rating is None


@reading
def rating_of(dossier_id: int) -> Rating | None:
    """The dossier's rating, or None."""
    return Rating.get_or_none(Rating.dossier == dossier_id)


@transactional
def rate(ctx: Ctx, dossier_id: int, data: dict[str, Any]) -> Rating:
    """Record the applicant's rating of a dossier that has ended, and its history event.
    Raises NotFound (not the user's to see), DomainError "forbidden" (not its applicant),
    "conflict" (not ended, or rated already) or ValidationError."""
    query = Dossier.select().where(Dossier.id == dossier_id)
    dossier = require_view(ctx.user, (query.for_update() if is_postgres() else query).first())
    if actor_kind(ctx.user, dossier) != OWNER:
        raise DomainError(N_("Only the applicant may rate the dossier."), kind="forbidden")
    if dossier.status not in FINAL:
        raise DomainError(NOT_ENDED, kind="conflict")
    if Rating.select().where(Rating.dossier == dossier.id).exists():
        raise DomainError(RATED_ALREADY, kind="conflict")
    cleaned = validate(data, FIELDS)
    rating = Rating.create(
        dossier=dossier,
        unit=dossier.unit_id,
        rated_at=utcnow(),
        comment=cleaned["comment"],
        **{name: int(cleaned[name]) for name in QUESTIONS},
    )
    # The official record is kept in Vietnamese, as the slips are.
    answer = message_text(LEVEL_NAMES[rating.overall], None, "vi")
    note = message_text(RATED_NOTE, {"answer": answer}, "vi")
    history.note(Actor.of(ctx.user, ctx.client_addr), RATED, dossier, note, public=True)
    return rating


def _ended_unrated(enterprise_id: int):
    return Dossier.select(Dossier.id).where(
        Dossier.enterprise == enterprise_id,
        Dossier.status.in_(FINAL),
        ~fn.EXISTS(Rating.select(Rating.id).where(Rating.dossier == Dossier.id)),
    )


@reading
def awaiting(enterprise_id: int, dossier_ids: list[int]) -> tuple[int, set[int]]:
    """How many dossiers of the enterprise have ended and wait for a rating, and which of
    `dossier_ids` (a page of the list) do."""
    query = _ended_unrated(enterprise_id)
    shown = {d.id for d in query.where(Dossier.id.in_(dossier_ids or [0]))}
    return query.count(), shown


# --- figures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """How many answered each level of one question."""

    very_satisfied: int = 0
    satisfied: int = 0
    dissatisfied: int = 0

    @property
    def count(self) -> int:
        return self.very_satisfied + self.satisfied + self.dissatisfied

    @property
    def rate(self) -> Decimal | None:
        """The satisfied share (very satisfied or satisfied) in per cent, None without any."""
        return percent(self.very_satisfied + self.satisfied, self.count)


@dataclass(frozen=True)
class RatingSummary:
    """The ratings of a period: the overall answers and each criterion's."""

    count: int
    very_satisfied: int
    satisfied: int
    dissatisfied: int
    criteria: dict[str, Counts]

    @property
    def rate(self) -> Decimal | None:
        """The share of ratings whose overall answer is satisfied or very satisfied, in per
        cent with one decimal (None when there is no rating)."""
        return percent(self.very_satisfied + self.satisfied, self.count)


def _level_sum(column: Any, level: int) -> Any:
    return fn.COALESCE(fn.SUM(Case(None, [(column == level, 1)], 0)), 0)


def _scoped(query: Any, start: dt.datetime, end: dt.datetime, unit_ids: list[int] | None) -> Any:
    query = query.where(Rating.rated_at >= start, Rating.rated_at < end)
    if unit_ids is not None:
        query = query.where(Rating.unit.in_(unit_ids or [0]))
    return query


@reading
def summary(start: dt.datetime, end: dt.datetime, unit_ids: list[int] | None) -> RatingSummary:
    """The ratings given in [start, end) (UTC, as StatsQuery.bounds() gives them) of dossiers
    handled by the units `unit_ids` (None: every unit), in one aggregate query."""
    columns = [
        _level_sum(getattr(Rating, name), level).alias(f"{name}_{level}")
        for name in QUESTIONS
        for level in RATING_LEVELS
    ]
    row = _scoped(Rating.select(*columns), start, end, unit_ids).dicts().get()

    def counts(name: str) -> Counts:
        return Counts(*(int(row[f"{name}_{level}"]) for level in RATING_LEVELS))

    overall = counts(OVERALL)
    return RatingSummary(
        overall.count,
        overall.very_satisfied,
        overall.satisfied,
        overall.dissatisfied,
        {name: counts(name) for name in CRITERIA},
    )


@dataclass(frozen=True)
class UnitQuarter:
    """The ratings of the dossiers of one department (or regional branch) in one quarter."""

    unit_code: str
    unit_name: str
    year: int
    quarter: int
    count: int
    satisfied: int  # overall answer satisfied or very satisfied

    @property
    def rate(self) -> Decimal | None:
        return percent(self.satisfied, self.count)


def quarters(start: dt.datetime, end: dt.datetime) -> list[tuple[int, int, dt.datetime]]:
    """The quarters of Vietnam's calendar that [start, end) (UTC) touches: (year, quarter,
    the UTC instant the quarter begins), oldest first."""
    local = to_local(start)
    year, quarter = local.year, (local.month - 1) // 3 + 1
    out = []
    while True:
        begins = to_utc(dt.datetime(year, 3 * quarter - 2, 1))
        if out and begins >= end:
            return out
        out.append((year, quarter, begins))
        year, quarter = (year + 1, 1) if quarter == 4 else (year, quarter + 1)


@reading
def by_unit_quarter(
    start: dt.datetime, end: dt.datetime, unit_ids: list[int] | None
) -> list[UnitQuarter]:
    """The ratings of [start, end) per top unit (the department or regional branch above the
    dossier's unit, as the statistics count units) and quarter of Vietnam's calendar, ordered
    by quarter then unit code. The quarter is worked out in SQL by a CASE over the quarters'
    first instants, so the query is the same on SQLite and PostgreSQL."""
    spans = quarters(start, end)
    # The rows are limited to [start, end): each falls in the last quarter begun before it.
    ends = [(Rating.rated_at < begins, i) for i, (_, _, begins) in enumerate(spans[1:])]
    # (one quarter: a constant, which GROUP BY must not name: PostgreSQL reads an integer
    # there as a column's position)
    which = Case(None, ends, len(spans) - 1) if ends else Value(0)
    satisfied = fn.SUM(Case(None, [(Rating.overall.in_((VERY_SATISFIED, SATISFIED)), 1)], 0))
    query = _scoped(
        Rating.select(
            Rating.unit,
            which.alias("q"),
            fn.COUNT(Rating.id).alias("n"),
            satisfied.alias("ok"),
        ),
        start,
        end,
        unit_ids,
    ).group_by(Rating.unit, *([which] if ends else []))
    tops, top_units = unit_tops()
    merged: dict[tuple[int, int], list[int]] = {}
    for row in query.dicts():
        unit_id = tops.get(row["unit"], row["unit"] or 0)
        counts = merged.setdefault((int(row["q"]), unit_id), [0, 0])
        counts[0] += int(row["n"])
        counts[1] += int(row["ok"] or 0)
    named = dict(top_units)
    loose = {unit_id for _, unit_id in merged if unit_id not in top_units}
    if loose:  # a unit under no department or regional branch: a row of its own
        named.update({u.id: u for u in Unit.select().where(Unit.id.in_(loose))})
    out = []
    for (index, unit_id), (count, ok) in merged.items():
        unit = named.get(unit_id)
        year, quarter, _ = spans[index]
        code, name = (unit.code, unit.name) if unit is not None else ("", "")
        out.append(UnitQuarter(code, name, year, quarter, count, ok))
    return sorted(out, key=lambda r: (r.year, r.quarter, r.unit_code))
