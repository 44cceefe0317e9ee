"""The status sync's message to the National Public Service Portal, built from plain facts
(no database, no network): the dossier code, procedure code and name, field, channel, owner
and owner's ID number, received, promised and return dates, status (the national codes 1–10,
services/status.py), handling unit, submitted files with their digitised/reused flags, fees,
result documents and the processing steps as a list. Times are Vietnam's, written
`yyyyMMddHHmmss` as the national portal exchanges them.

The field names are the portal's reading of the public description of the national portal's
dossier sync (DongBoHoSoMC); the receiver's specification may name them otherwise: they are all
here, in one table-like function, to adjust."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

VIETNAM = dt.timedelta(hours=7)
TIME_FORMAT = "%Y%m%d%H%M%S"
# The national portal's channel codes (KenhThucHien) and applicant kinds (LoaiDoiTuong: the
# account types of the national identity, 1 citizen by ID number, 2 enterprise by tax code).
CHANNEL_CODES = {"counter": "1", "online": "2", "post": "3"}
OWNER_KINDS = {"person": "1", "enterprise": "2"}
MESSAGE_KINDS = ("add", "progress")


def national_time(moment: dt.datetime | None) -> str:
    """A UTC time (naive, as stored) written in Vietnam's time as `yyyyMMddHHmmss`; "" for
    none."""
    if moment is None:
        return ""
    return (moment + VIETNAM).strftime(TIME_FORMAT)


@dataclass(frozen=True)
class FileFact:
    name: str
    document: str  # the required document it answers ("" if none)
    sha256: str
    digitised: bool  # a paper document scanned by customs staff at the counter
    reused: bool = False  # taken from a store of documents already on record (none yet)


@dataclass(frozen=True)
class FeeFact:
    label: str
    quantity: int
    unit_amount: int
    amount: int
    paid: bool


@dataclass(frozen=True)
class StepFact:
    at: dt.datetime
    action: str
    status_before: int | None
    status_after: int | None
    actor: str
    role: str
    unit: str
    note: str  # "" for an internal step: only what the applicant may read leaves the portal


@dataclass(frozen=True)
class DossierFacts:
    """What the message says of a dossier at one status change."""

    code: str
    procedure_code: str
    procedure_name: str
    field: str
    channel: str
    owner_name: str
    owner_kind: str  # enterprise | person
    owner_id: str  # the tax code, or the 12-digit citizen ID number
    status: int
    received_at: dt.datetime | None
    due_at: dt.datetime | None
    returned_at: dt.datetime | None
    unit_code: str
    unit_name: str
    files: list[FileFact] = field(default_factory=list)
    fees: list[FeeFact] = field(default_factory=list)
    results: list[FileFact] = field(default_factory=list)
    steps: list[StepFact] = field(default_factory=list)


def _file(f: FileFact) -> dict[str, Any]:
    return {
        "TenTepDinhKem": f.name,
        "TenThanhPhanHoSo": f.document,
        "MaBam": f.sha256,
        "DuocSoHoa": 1 if f.digitised else 0,
        "DuocTaiSuDung": 1 if f.reused else 0,
    }


def _fee(f: FeeFact) -> dict[str, Any]:
    return {
        "TenPhiLePhi": f.label,
        "SoLuong": f.quantity,
        "DonGia": f.unit_amount,
        "SoTien": f.amount,
        "DaThanhToan": 1 if f.paid else 0,
    }


def _step(s: StepFact) -> dict[str, Any]:
    return {
        "ThoiDiemXuLy": national_time(s.at),
        "HanhDong": s.action,
        "TrangThaiTruoc": s.status_before,
        "TrangThaiSau": s.status_after,
        "NguoiXuLy": s.actor,
        "ChucDanh": s.role,
        "DonViXuLy": s.unit,
        "NoiDung": s.note,
    }


def build(facts: DossierFacts, *, kind: str, key: str, sequence: int) -> dict[str, Any]:
    """The message for `facts`: an "add" (the dossier's first) or a "progress" message, with
    its idempotency key and its place in the dossier's sequence (1, 2, ...). Raises
    ValueError on an unknown kind."""
    if kind not in MESSAGE_KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    return {
        "LoaiThongDiep": kind,
        "MaThongDiep": key,
        "SoThuTu": sequence,
        "MaHoSo": facts.code,
        "MaTTHC": facts.procedure_code,
        "TenTTHC": facts.procedure_name,
        "TenLinhVuc": facts.field,
        "KenhThucHien": CHANNEL_CODES.get(facts.channel, "2"),
        "ChuHoSo": facts.owner_name,
        "LoaiDoiTuong": OWNER_KINDS.get(facts.owner_kind, "2"),
        "MaDoiTuong": facts.owner_id,
        "NgayTiepNhan": national_time(facts.received_at),
        "NgayHenTra": national_time(facts.due_at),
        "TrangThaiHoSo": facts.status,
        "NgayTra": national_time(facts.returned_at),
        "MaDonViXuLy": facts.unit_code,
        "DonViXuLy": facts.unit_name,
        "TaiLieuNop": [_file(f) for f in facts.files],
        "DanhSachLePhi": [_fee(f) for f in facts.fees],
        "DanhSachGiayToKetQua": [_file(f) for f in facts.results],
        "QuaTrinhXuLy": [_step(s) for s in facts.steps],
    }
