"""Fixtures and helpers for the dossier tests: the seeded online forms, the people who file and
handle a dossier of procedure 1.005458 at unit 02CI, and complete drafts.

Import the fixtures you use into a test module: `from tests.dossier_fixtures import *`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from portal.config import Settings
from portal.db import db
from portal.models import Enterprise, RequiredDocument, User
from portal.services import dossiers
from portal.services.access import Ctx
from portal.services.accounts import TAX_WEIGHTS
from portal.services.seed import seed_forms

__all__ = ["PROCEDURE", "UNIT", "PDF", "PNG", "EXE", "GOOD_ANSWERS", "People", "forms",
           "people", "ctx_of", "documents", "complete_draft", "tax_code", "make_ctx",
           "uploaded_files"]

PROCEDURE = "1.005458"  # Thủ tục huỷ tờ khai hải quan: 5 working days online, level 4
UNIT = "02CI"
UNIT_REF = "2025:02CI"  # the office of the structure in force (events name units by ref)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64
GOOD_ANSWERS = {
    "declaration_no": "105123456789",
    "declaration_date": "2025-03-03",
    "declaration_type": "Nhập khẩu",
    "reason": "Hàng hóa không xuất khẩu được.",
}


def tax_code(prefix: str) -> str:
    """A valid 10-digit tax code starting with the 9 digits of `prefix` (check digit added)."""
    total = sum(int(d) * w for d, w in zip(prefix, TAX_WEIGHTS, strict=True))
    return prefix + str((10 - total % 11) % 11)


def make_ctx(user: User, settings: Settings, **overrides: Any) -> Ctx:
    values: dict[str, Any] = {"uploads": settings.uploads, "client_addr": "203.0.113.7",
                              "trust_anchors": settings.trust_anchors}
    values.update(overrides)
    return Ctx(user=user, **values)


@pytest.fixture
def forms(catalogue: None) -> int:
    """The catalogue with its online forms (the `catalogue` fixture alone has no forms)."""
    return seed_forms()


@dataclass
class People:
    owner: User  # enterprise user of the enterprise 0100112437
    colleague: User  # another user of the same enterprise
    stranger: User  # a user of another enterprise
    officer: User  # officer of 02CI, no clearance
    officer2: User  # officer of 02CI with clearance
    leader: User  # leader of 02CI with clearance
    far_officer: User  # officer of 01AB with clearance


@pytest.fixture
def people(make_user: Callable[..., Any], forms: int) -> People:
    other_tax = tax_code("030123456")
    # conftest's make_user("enterprise") looks its enterprise up outside a connection.
    with db.connection_context():
        owner = make_user("enterprise", email="owner@example.vn", full_name="Chủ hồ sơ")
        colleague = make_user("enterprise")
        Enterprise.create(tax_code=other_tax, name="Công ty B", email="b@example.vn")
        stranger = make_user("enterprise", tax_code=other_tax)
    return People(
        owner=owner,
        colleague=colleague,
        stranger=stranger,
        officer=make_user("officer", unit_code=UNIT, full_name="Cán bộ Một"),
        officer2=make_user("officer", unit_code=UNIT, clearance="1", full_name="Cán bộ Hai"),
        leader=make_user("leader", unit_code=UNIT, clearance="1", full_name="Lãnh đạo"),
        far_officer=make_user("officer", unit_code="01AB", clearance="1"),
    )


@pytest.fixture
def ctx_of(settings: Settings) -> Callable[..., Ctx]:
    def make(user: User, **overrides: Any) -> Ctx:
        return make_ctx(user, settings, **overrides)

    return make


def documents() -> list[RequiredDocument]:
    """The two required documents of the procedure, in order (pdf,xml; pdf,jpg,png multiple)."""
    from portal.models import Procedure

    with db.connection_context():
        proc = Procedure.get(Procedure.code == PROCEDURE)
        return list(RequiredDocument.select().where(RequiredDocument.procedure == proc)
                    .order_by(RequiredDocument.position))


def complete_draft(ctx: Ctx, unit: str = UNIT) -> int:
    """A draft with valid answers and both documents attached; returns its id."""
    draft = dossiers.start_draft(ctx, PROCEDURE, unit)
    assert dossiers.save_answers(ctx, draft.id, GOOD_ANSWERS) == {}
    first, second = documents()
    dossiers.add_attachment(ctx, draft.id, first.id, "don-de-nghi.pdf", [PDF])
    dossiers.add_attachment(ctx, draft.id, second.id, "chung-tu.png", [PNG])
    return draft.id


def uploaded_files(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()} if directory.exists() else set()
