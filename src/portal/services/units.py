"""The organisational tree (administration → departments → branches), as data."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peewee import JOIN

from portal.db import reading, transactional
from portal.models import STRUCTURES, UNIT_KINDS, Unit, UnitStructure
from portal.services import stat_facts
from portal.services.errors import N_, Message, NotFound, ValidationError
from portal.services.structures import load_structures, structure_in_force
from portal.services.validation import Field, validate

CODE_PATTERN = r"[A-Z0-9]{2,12}"
ROOT_2016 = ("TCHQ", "Tổng cục Hải quan")
# Abbreviations of the department file, spelled out for display.
ABBREVIATIONS = [
    (r"\bCC HQ\b", ""),
    (r"\bCK\b", "cửa khẩu"),
    (r"\bSB QT\b", "sân bay quốc tế"),
    (r"\bQT\b", "quốc tế"),
    (r"\bKV\b", "khu vực"),
    (r"\bĐS\b", "đường sắt"),
    (r"\bKCN\b", "khu công nghiệp"),
    (r"\bKCX\b", "khu chế xuất"),
    (r"\bSB\b", "sân bay"),
    (r"\bHP\b", "Hải Phòng"),
]


@dataclass(frozen=True)
class UnitRow:
    code: str
    name: str
    kind: str
    parent_code: str


def _branch_name(text: str) -> str:
    for pattern, replacement in ABBREVIATIONS:
        text = re.sub(pattern, replacement, text)
    text = " ".join(text.split())
    return f"Chi cục Hải quan {text[:1].upper()}{text[1:]}"


def read_unit_file(path: Path) -> list[UnitRow]:
    """Read either the departments file (prefix, department, branch codes) or the generic
    `code,name,kind,parent_code` format; parents come before children."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        if "prefix" in header:
            rows = [UnitRow(ROOT_2016[0], ROOT_2016[1], "administration", "")]
            for rec in reader:
                prefix = rec["prefix"].strip()
                rows.append(
                    UnitRow(prefix, rec["cuc_hai_quan"].strip(), "department", ROOT_2016[0])
                )
                for item in rec["sample_branch_codes"].split(";"):
                    code, _, name = item.strip().partition(" ")
                    rows.append(UnitRow(code, _branch_name(name), "branch", prefix))
            return rows
        if {"code", "name", "kind", "parent_code"} <= set(header):
            return [
                UnitRow(
                    r["code"].strip(),
                    r["name"].strip(),
                    r["kind"].strip(),
                    r["parent_code"].strip(),
                )
                for r in reader
            ]
    raise ValueError(f"{path}: not a unit file (expected code,name,kind,parent_code)")


def _in(structure: str, code: str) -> Unit | None:
    return Unit.get_or_none(Unit.structure == structure, Unit.code == code)


@reading
def find_unit(ref: str) -> Unit | None:
    """The unit a reference names: "2016:02CI" (structure and code, `Unit.ref`), or a bare
    code, read in the structure in force today first, then in the others, newest first."""
    structure, sep, code = ref.strip().partition(":")
    if sep:
        return _in(structure[:8], code[:16])
    code = structure[:16]
    in_force = structure_in_force()
    found = _in(in_force, code)
    if found is not None:
        return found
    return (
        Unit.select()
        .join(UnitStructure, JOIN.LEFT_OUTER, on=(UnitStructure.code == Unit.structure))
        .where(Unit.code == code)
        .order_by(UnitStructure.effective_from.desc(nulls="LAST"), Unit.structure.desc())
        .first()
    )


@reading
def successor(unit: Unit, structure: str | None = None) -> Unit | None:
    """The unit of `structure` (the one in force today by default) that took over `unit`:
    itself when it belongs to it; the office with the same code (the offices of 2025 kept
    their codes); for a department, the regional branch most of its offices went to."""
    structure = structure or structure_in_force()
    if unit.structure == structure:
        return unit
    same = _in(structure, unit.code)
    if same is not None and same.active and same.kind == unit.kind:
        return same
    if unit.kind != "department":
        return None
    parents: dict[int, int] = {}
    for child in Unit.select(Unit.code).where(Unit.parent == unit.id):
        office = _in(structure, child.code)
        if office is not None and office.parent_id is not None:
            parents[office.parent_id] = parents.get(office.parent_id, 0) + 1
    if not parents:
        return None
    best = max(parents, key=lambda pid: parents[pid])
    found = Unit.get_or_none(Unit.id == best, Unit.active == True)  # noqa: E712
    return found if found is not None and found.kind == "department" else None


@transactional
def load_units(path: Path, structure: str) -> int:
    """Create or update the units of `path` as `structure` (its effective date comes from
    data/seed/unit_structures.csv when the table does not know it yet); returns how many rows
    were read."""
    if not re.fullmatch(r"[0-9A-Z]{2,8}", structure):
        raise ValueError("a structure is 2 to 8 capital letters or digits")
    load_structures(only=structure)
    if UnitStructure.get_or_none(UnitStructure.code == structure) is None:
        raise ValueError(f"structure {structure} has no effective date: record it first")
    rows = read_unit_file(path)
    # The structure's units by code, read once (a query per row made seeding a test's units
    # take a third of a second).
    known = {u.code: u for u in Unit.select().where(Unit.structure == structure)}
    for row in rows:
        if row.kind not in UNIT_KINDS or not re.fullmatch(CODE_PATTERN, row.code):
            raise ValueError(f"{path}: bad unit row {row}")
        parent = known.get(row.parent_code) if row.parent_code else None
        if row.parent_code and parent is None:
            raise ValueError(
                f"{path}: parent {row.parent_code} of {row.code} is not defined before it"
            )
        unit = known.get(row.code)
        values = {"name": row.name, "kind": row.kind, "structure": structure, "parent": parent}
        if unit is None:
            known[row.code] = Unit.create(code=row.code, **values)
        else:
            Unit.update(**values).where(Unit.id == unit.id).execute()
    return len(rows)


@reading
def unit_tree(structure: str | None = None) -> list[tuple[int, Unit]]:
    """Units in tree order with their depth, optionally of one structure."""
    query = Unit.select().order_by(Unit.code)
    if structure:
        query = query.where(Unit.structure == structure)
    units = list(query)
    children: dict[int | None, list[Unit]] = {}
    ids = {u.id for u in units}
    for u in units:
        parent_id = u.parent_id if u.parent_id in ids else None
        children.setdefault(parent_id, []).append(u)
    out: list[tuple[int, Unit]] = []

    def walk(parent_id: int | None, depth: int) -> None:
        for u in children.get(parent_id, []):
            out.append((depth, u))
            walk(u.id, depth + 1)

    walk(None, 0)
    return out


@reading
def get_unit(ref: str) -> Unit:
    """The unit a reference names (see find_unit), its parent loaded; raises NotFound."""
    found = find_unit(ref)
    if found is None:
        raise NotFound(ref)
    parent = Unit.alias()
    return (
        Unit.select(Unit, parent)
        .join(parent, JOIN.LEFT_OUTER, on=(Unit.parent == parent.id))
        .where(Unit.id == found.id)
        .get()
    )


@reading
def unit_choices(active_only: bool = True) -> list[Unit]:
    """Units a user can belong to (departments and branches), the structure in force first,
    by code."""
    in_force = structure_in_force()
    query = (
        Unit.select()
        .where(Unit.kind != "administration")
        .order_by(Unit.structure != in_force, Unit.structure.desc(), Unit.code)
    )
    if active_only:
        query = query.where(Unit.active == True)  # noqa: E712
    return list(query)


UNIT_FIELDS = [
    Field(
        "code",
        pattern=CODE_PATTERN,
        max_length=12,
        pattern_message=N_("Use 2 to 12 capital letters or digits."),
    ),
    Field("name", max_length=255),
    Field("kind", choices=UNIT_KINDS),
    Field("structure", max_length=8),
    Field("parent_code", required=False, max_length=30),
    Field("active", kind="bool"),
]


@transactional
def save_unit(data: dict[str, Any], *, original_code: str | None = None) -> Unit:
    """Create or update a unit from the admin form; raises ValidationError or NotFound."""
    codes = {s.code for s in UnitStructure.select(UnitStructure.code)} | set(STRUCTURES)
    cleaned = validate(
        data,
        [Field("structure", choices=codes) if f.name == "structure" else f for f in UNIT_FIELDS],
    )
    load_structures(only=cleaned["structure"])  # a structure the seed knows, not loaded yet
    existing = None
    if original_code:
        existing = find_unit(original_code)
        if existing is None:
            raise NotFound(original_code)
    clash = _in(cleaned["structure"], cleaned["code"])
    if clash is not None and clash != existing:
        raise ValidationError({"code": Message(N_("Another unit has this code."))})
    parent = None
    if cleaned["parent_code"]:
        ref = cleaned["parent_code"]
        parent = (":" not in ref and _in(cleaned["structure"], ref)) or find_unit(ref)
        if parent is None:
            raise ValidationError({"parent_code": Message(N_("No unit has this code."))})
        if existing is not None and _is_descendant(parent, existing):
            raise ValidationError(
                {"parent_code": Message(N_("A unit cannot be placed under itself."))}
            )
        if parent.structure != cleaned["structure"]:
            raise ValidationError(
                {"parent_code": Message(N_("The parent unit belongs to the other structure."))}
            )
        if UNIT_KINDS.index(cleaned["kind"]) != UNIT_KINDS.index(parent.kind) + 1:
            raise ValidationError(
                {"kind": Message(N_("This kind of unit cannot be placed under that parent."))}
            )
    elif cleaned["kind"] != "administration":
        raise ValidationError(
            {"parent_code": Message(N_("Only the top of the tree has no parent."))}
        )
    values = {k: cleaned[k] for k in ("code", "name", "kind", "structure", "active")}
    values["parent"] = parent
    if existing is None:
        return Unit.create(**values)
    Unit.update(**values).where(Unit.id == existing.id).execute()
    if (values["kind"], parent.id if parent else None) != (existing.kind, existing.parent_id):
        stat_facts.retop()  # the statistics count dossiers by department or regional branch
    return Unit.get_by_id(existing.id)


def _is_descendant(candidate: Unit, unit: Unit) -> bool:
    node: Unit | None = candidate
    while node is not None:
        if node.id == unit.id:
            return True
        node = Unit.get_or_none(Unit.id == node.parent_id) if node.parent_id else None
    return False
