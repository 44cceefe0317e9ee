"""Which organisation of the customs administration is in force on a day: the structures and
their effective dates are data (the `org_structure` table, seeded from
data/seed/unit_structures.csv); an administrator records a new structure's date."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from portal.config import ROOT
from portal.db import reading, transactional
from portal.models import UnitStructure, utcnow
from portal.services import history
from portal.services.access import Ctx
from portal.services.deadlines import to_local
from portal.services.errors import N_, Message, ValidationError
from portal.services.validation import Field, validate

STRUCTURES_FILE = ROOT / "data" / "seed" / "unit_structures.csv"
STRUCTURE_CODE = r"[0-9A-Z]{2,8}"


def read_structure_file(path: Path | None = None) -> list[dict[str, Any]]:
    with (path or STRUCTURES_FILE).open(newline="", encoding="utf-8") as f:
        return [
            {
                "code": r["code"].strip(),
                "name": r["name"].strip(),
                "effective_from": dt.date.fromisoformat(r["effective_from"].strip()),
            }
            for r in csv.DictReader(f)
        ]


@transactional
def load_structures(path: Path | None = None, only: str | None = None) -> int:
    """Add the file's structures the table does not hold yet (a date an administrator
    recorded stays); `only` limits it to one code. Returns how many were added."""
    known = {s.code for s in UnitStructure.select(UnitStructure.code)}
    new = [
        r
        for r in read_structure_file(path)
        if r["code"] not in known and (only is None or r["code"] == only)
    ]
    for row in new:
        UnitStructure.create(**row, recorded_by="seed")
    return len(new)


@reading
def all_structures() -> list[UnitStructure]:
    """The structures, oldest effective date first."""
    return list(UnitStructure.select().order_by(UnitStructure.effective_from, UnitStructure.code))


def today() -> dt.date:
    return to_local(utcnow()).date()


@reading
def structure_in_force(day: dt.date | None = None) -> str:
    """The code of the structure in force on `day` (today in Vietnam by default): the one with
    the latest effective date not after it; before every date, the oldest one. With no
    structure recorded at all, the newest the code knows."""
    day = day or today()
    rows = all_structures()
    if not rows:
        return "2025"
    current = [s for s in rows if s.effective_from <= day]
    return (current[-1] if current else rows[0]).code


def _date_check(value: str) -> Message | None:
    day = dt.date.fromisoformat(value)  # a real date: Field(kind="date") made it ISO
    if not 2000 <= day.year <= 2100:
        return Message(N_("Enter a date between %(first)s and %(last)s."), first=2000, last=2100)
    return None


STRUCTURE_FIELDS = [
    Field(
        "code",
        pattern=STRUCTURE_CODE,
        max_length=8,
        pattern_message=N_("Use 2 to 8 capital letters or digits."),
    ),
    Field("name", required=False, max_length=255),
    Field(
        "effective_from",
        max_length=10,
        kind="date",
        check=_date_check,
    ),
    Field("confirm", kind="bool"),
]


@transactional
def record_structure(data: dict[str, Any], ctx: Ctx) -> UnitStructure:
    """Record the effective date of a structure (a new code adds it); the change is a history
    event naming the administrator, the structure and both dates. Raises ValidationError."""
    errors: dict[str, Message] = {}
    try:
        cleaned = validate(data, STRUCTURE_FIELDS)
    except ValidationError as exc:
        errors, cleaned = dict(exc.errors), {"confirm": False}
    if not cleaned["confirm"] and data.get("confirm") not in ("1", "on", "true", "yes"):
        errors["confirm"] = Message(
            N_("Confirm that new dossiers go to this structure from this date.")
        )
    if errors:
        raise ValidationError(errors)
    day = dt.date.fromisoformat(cleaned["effective_from"])
    clash = (
        UnitStructure.select()
        .where(UnitStructure.effective_from == day, UnitStructure.code != cleaned["code"])
        .first()
    )
    if clash is not None:
        raise ValidationError(
            {
                "effective_from": Message(
                    N_("Structure %(code)s takes effect on this day already."), code=clash.code
                )
            }
        )
    existing = UnitStructure.get_or_none(UnitStructure.code == cleaned["code"])
    if existing is None and not cleaned["name"]:
        raise ValidationError({"name": Message(N_("Name the new structure."))})
    before = existing.effective_from.isoformat() if existing else ""
    values = {
        "effective_from": day,
        "recorded_by": ctx.user.username,
        "recorded_at": utcnow(),
        **({"name": cleaned["name"]} if cleaned["name"] else {}),
    }
    if existing is None:
        structure = UnitStructure.create(code=cleaned["code"], **values)
    else:
        UnitStructure.update(**values).where(UnitStructure.id == existing.id).execute()
        structure = UnitStructure.get_by_id(existing.id)
    note = f"{structure.code}: {before or '-'} -> {day.isoformat()}"
    history.record(
        history.Actor.of(ctx.user, ctx.client_addr), "structure_dated", note=note, public=False
    )
    return structure
