"""Demo data: both unit structures, the real catalogue with demo fill-ins, demo accounts."""

from __future__ import annotations

import json
from pathlib import Path

from portal.config import ROOT
from portal.db import transactional
from portal.models import (
    CHANNELS,
    Enterprise,
    Fee,
    FormField,
    Procedure,
    ProcessingTime,
    RequiredDocument,
    Unit,
    User,
    utcnow,
)
from portal.services.accounts import hash_password
from portal.services.calendar import load_holidays
from portal.services.catalogue import PROCEDURE_FIELDS, search_columns, write_procedure
from portal.services.demo_catalogue import read_catalogue
from portal.services.structures import load_structures
from portal.services.units import find_unit, load_units

SEED_DIR = ROOT / "data" / "seed"
DEMO_PASSWORD = "demo-portal-2026"
DEMO_ENTERPRISE = ("0100112437", "Công ty TNHH Xuất nhập khẩu Minh Phát (demo)")
# username, full name, role, unit (Unit.ref: the customs offices of 2025), clearance
DEMO_ACCOUNTS = [
    ("admin", "Quản trị hệ thống (demo)", "admin", None, False),
    ("canbo.02ci", "Nguyễn Văn An (demo)", "officer", "2025:02CI", True),
    ("canbo.01ab", "Trần Thị Bình (demo)", "officer", "2025:01AB", False),
    ("lanhdao.02ci", "Lê Minh Châu (demo)", "leader", "2025:02CI", True),
    ("kiemtra", "Phạm Thu Dung (demo)", "auditor", None, False),
]


@transactional
def seed_catalogue(path: Path | None = None) -> int:
    """Create or update the catalogue from the seed CSV; returns how many procedures.
    An empty catalogue is filled with bulk inserts (fast); otherwise row by row."""
    rows = read_catalogue(path or SEED_DIR / "customs_procedures.csv")
    if Procedure.select().exists():
        for values, demo_fields in rows:
            write_procedure(values, demo_fields=demo_fields)
        return len(rows)
    now = utcnow()
    Procedure.insert_many(
        [
            {
                **{f.name: values[f.name] for f in PROCEDURE_FIELDS},
                "demo_fields": demo_fields,
                "updated_at": now,
                **search_columns(
                    values["code"],
                    values["name"],
                    values["implementing_agency"],
                    values["issuing_agency"],
                ),
            }
            for values, demo_fields in rows
        ]
    ).execute()
    ids = {p.code: p.id for p in Procedure.select(Procedure.id, Procedure.code)}
    RequiredDocument.insert_many(
        [
            {"procedure": ids[values["code"]], "position": position, **doc}
            for values, _ in rows
            for position, doc in enumerate(values["documents"])
        ]
    ).execute()
    fee_rows = [
        {"procedure": ids[values["code"]], "position": position, **fee}
        for values, _ in rows
        for position, fee in enumerate(values["fees"])
    ]
    if fee_rows:
        Fee.insert_many(fee_rows).execute()
    ProcessingTime.insert_many(
        [
            {
                "procedure": ids[values["code"]],
                "channel": channel,
                "amount": values[f"time_{channel}"],
                "unit": values[f"time_{channel}_unit"],
            }
            for values, _ in rows
            for channel in CHANNELS
            if values[f"time_{channel}"] is not None or values[f"time_{channel}_unit"]
        ]
    ).execute()
    return len(rows)


DEFAULT_FORM = [
    {
        "name": "request",
        "label": "Nội dung đề nghị",
        "kind": "textarea",
        "max_length": 4000,
        "help": "Trình bày nội dung đề nghị và các thông tin liên quan.",
    }
]


@transactional
def seed_forms(path: Path | None = None) -> int:
    """Give every online procedure its form: the ones written in the forms file, and a single
    request field for the others. Returns how many procedures got a specific form."""
    forms = json.loads((path or SEED_DIR / "procedure_forms.json").read_text(encoding="utf-8"))
    specific = 0
    for proc in Procedure.select().where(Procedure.online()):
        fields = forms.get(proc.code)
        specific += fields is not None
        FormField.delete().where(FormField.procedure == proc).execute()
        for position, spec in enumerate(fields or DEFAULT_FORM):
            FormField.create(procedure=proc, position=position, **spec)
    # A new revision of the catalogue: forms kept in memory (catalogue.procedure_parts) go.
    Procedure.update(updated_at=utcnow()).where(Procedure.online()).execute()
    return specific


def seed_pattern_messages(path: Path | None = None) -> int:
    """Give the fields of the demo forms already in the database the messages that say what
    their pattern wants (where they have none yet); returns how many fields got one."""
    forms = json.loads((path or SEED_DIR / "procedure_forms.json").read_text(encoding="utf-8"))
    changed = 0
    for code, fields in forms.items():
        if code.startswith("_"):
            continue
        procedure = Procedure.select(Procedure.id).where(Procedure.code == code)
        for spec in fields:
            if not spec.get("pattern_message"):
                continue
            changed += (
                FormField.update(
                    pattern_message=spec["pattern_message"],
                    pattern_message_en=spec.get("pattern_message_en", ""),
                )
                .where(
                    FormField.procedure.in_(procedure),
                    FormField.name == spec["name"],
                    FormField.pattern == spec.get("pattern", ""),
                    FormField.pattern_message == "",
                )
                .execute()
            )
    return changed


@transactional
def seed_accounts() -> list[str]:
    """Create the demo accounts that are missing; returns the user names created."""
    created = []
    password_hash = hash_password(DEMO_PASSWORD)
    enterprise, _ = Enterprise.get_or_create(
        tax_code=DEMO_ENTERPRISE[0],
        defaults={"name": DEMO_ENTERPRISE[1], "email": "doanhnghiep@example.vn"},
    )
    accounts = [
        *DEMO_ACCOUNTS,
        ("doanhnghiep@example.vn", "Hoàng Văn Em (demo)", "enterprise", None, False),
    ]
    for username, full_name, role, unit_ref, clearance in accounts:
        unit = find_unit(unit_ref) if unit_ref else None
        known = User.get_or_none(User.username == username)
        if known is not None:
            # A demo account of an older seed, in a unit abolished since: to today's office.
            if unit is not None and known.unit_id and known.unit.structure != unit.structure:
                User.update(unit=unit).where(User.id == known.id).execute()
            continue
        User.create(
            username=username,
            password_hash=password_hash,
            full_name=full_name,
            role=role,
            clearance=clearance,
            unit=unit,
            enterprise=enterprise if role == "enterprise" else None,
            email=username if "@" in username else "",
            enterprise_status="active",  # the demo enterprise files dossiers from the start
        )
        created.append(username)
    return created


# Demo level-4 procedures whose documents must be signed with the enterprise's certificate
# (issue 14); an administrator's data elsewhere (Procedure.requires_signature).
SIGNED_PROCEDURES = ("2.002322", "1.007665")


@transactional
def require_signatures(codes: tuple[str, ...] = SIGNED_PROCEDURES) -> int:
    """Mark the demo procedures whose documents must be signed; returns how many."""
    return (Procedure.update(requires_signature=True, updated_at=utcnow())
            .where(Procedure.code.in_(codes)).execute())


def seed_demo() -> dict[str, int]:
    """Load everything a demo needs (idempotent); returns counts."""
    load_structures()
    units = load_units(SEED_DIR / "customs_departments.csv", "2016")
    units += load_units(SEED_DIR / "customs_units_2025.csv", "2025")
    procedures = seed_catalogue()
    seed_forms()
    require_signatures()
    accounts = seed_accounts()
    holidays = load_holidays()
    return {
        "units": units,
        "procedures": procedures,
        "accounts": len(accounts),
        "holidays": holidays,
    }


@transactional
def is_seeded() -> bool:
    return Procedure.select().exists() and Unit.select().exists()
