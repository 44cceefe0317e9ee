"""Demo data: both unit structures, the real catalogue with demo fill-ins, demo accounts."""

from __future__ import annotations

from pathlib import Path

from portal.config import ROOT
from portal.db import transactional
from portal.models import Enterprise, Procedure, Unit, User
from portal.services.accounts import hash_password
from portal.services.catalogue import write_procedure
from portal.services.demo_catalogue import read_catalogue
from portal.services.units import load_units

SEED_DIR = ROOT / "data" / "seed"
DEMO_PASSWORD = "demo-portal-2026"
DEMO_ENTERPRISE = ("0100112437", "Công ty TNHH Xuất nhập khẩu Minh Phát (demo)")
# username, full name, role, unit code, clearance
DEMO_ACCOUNTS = [
    ("admin", "Quản trị hệ thống (demo)", "admin", None, False),
    ("canbo.02ci", "Nguyễn Văn An (demo)", "officer", "02CI", True),
    ("canbo.01ab", "Trần Thị Bình (demo)", "officer", "01AB", False),
    ("lanhdao.02ci", "Lê Minh Châu (demo)", "leader", "02CI", True),
    ("kiemtra", "Phạm Thu Dung (demo)", "auditor", None, False),
]


@transactional
def seed_catalogue(path: Path | None = None) -> int:
    """Create or update the catalogue from the seed CSV; returns how many procedures."""
    rows = read_catalogue(path or SEED_DIR / "customs_procedures.csv")
    for values, demo_fields in rows:
        write_procedure(values, demo_fields=demo_fields)
    return len(rows)


@transactional
def seed_accounts() -> list[str]:
    """Create the demo accounts that are missing; returns the user names created."""
    created = []
    password_hash = hash_password(DEMO_PASSWORD)
    enterprise, _ = Enterprise.get_or_create(
        tax_code=DEMO_ENTERPRISE[0],
        defaults={"name": DEMO_ENTERPRISE[1], "email": "doanhnghiep@example.vn"})
    accounts = [*DEMO_ACCOUNTS, ("doanhnghiep@example.vn", "Hoàng Văn Em (demo)", "enterprise",
                                 None, False)]
    for username, full_name, role, unit_code, clearance in accounts:
        if User.get_or_none(User.username == username):
            continue
        User.create(username=username, password_hash=password_hash, full_name=full_name,
                    role=role, clearance=clearance,
                    unit=Unit.get(Unit.code == unit_code) if unit_code else None,
                    enterprise=enterprise if role == "enterprise" else None,
                    email=username if "@" in username else "")
        created.append(username)
    return created


def seed_demo() -> dict[str, int]:
    """Load everything a demo needs (idempotent); returns counts."""
    units = load_units(SEED_DIR / "customs_departments.csv", "2016")
    units += load_units(SEED_DIR / "customs_units_2025.csv", "2025")
    procedures = seed_catalogue()
    accounts = seed_accounts()
    return {"units": units, "procedures": procedures, "accounts": len(accounts)}


@transactional
def is_seeded() -> bool:
    return Procedure.select().exists() and Unit.select().exists()
