"""Catalogue sync: the national catalogue's procedure codes are the portal's, and an export of
the national catalogue updates the names, online levels, implementing levels and time limits
of the procedures the portal has, saying first what would change (a dry run).

The export is a CSV (UTF-8, a header row) or JSON file (a list of objects, or an object whose
`data` is that list) with the national catalogue's column names:

| column | meaning |
|---|---|
| `ma_tthc` | the national procedure code, `1.005458` (required) |
| `ten` | the procedure's name |
| `muc_do` | the online level: `1`–`4`, or Decree 42/2022's `toàn trình` (4) / `một phần` (3) |
| `cap_thuc_hien` | the implementing level (`Cấp bộ/ngành`, `Cấp tỉnh`, ...) |
| `kenh_thoi_han` | time limits per channel, `Trực tuyến: 5 ngày làm việc; Trực tiếp: 5 ngày` |

An empty cell changes nothing. Codes the portal does not have are listed and not added (a new
procedure needs its documents and form: the catalogue import adds it); procedures the export
does not name are listed and left as they are."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from portal.db import reading, transactional
from portal.models import Procedure, ProcessingTime, utcnow
from portal.services import history
from portal.services.access import Ctx
from portal.services.catalogue import CODE_PATTERN, actor_of, search_columns
from portal.services.catalogue_files import MAX_RECORDS, CatalogueFileError
from portal.services.demo_catalogue import CHANNEL_NAMES, parse_times
from portal.services.errors import N_, Message

FORMATS = ("csv", "json")
COLUMNS = ("ma_tthc", "ten", "muc_do", "cap_thuc_hien", "kenh_thoi_han")
LEVEL_WORDS = {"toàn trình": 4, "một phần": 3}
MAX_NAME = 1000


@dataclass(frozen=True)
class Change:
    code: str
    what: str  # name | online_level | implementing_level | time_<channel>
    before: str
    after: str


@dataclass
class SyncPlan:
    """What an export changes: the changes, the procedures they touch, the codes the portal
    does not have and the portal's codes the export does not name."""

    records: int = 0
    changes: list[Change] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def procedures(self) -> int:
        return len({c.code for c in self.changes})


def _problem(n: int, column: str, message: str, **params: Any) -> tuple[int, str, Message]:
    return (n, column, Message(message, **params))


def read_export(content: bytes, fmt: str) -> list[dict[str, str]]:
    """The export's records (column -> text); raises CatalogueFileError naming what is wrong."""
    if fmt not in FORMATS:
        raise CatalogueFileError([_problem(0, "format", N_("Choose CSV or JSON."))])
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CatalogueFileError([_problem(0, "file", N_("The file is not UTF-8 text."))]) from None
    rows = _json_rows(text) if fmt == "json" else _csv_rows(text)
    if len(rows) > MAX_RECORDS:
        raise CatalogueFileError(
            [_problem(0, "file", N_("At most %(max)s procedures per file."), max=MAX_RECORDS)]
        )
    return [{c: str(r.get(c) or "").strip() for c in COLUMNS} for r in rows]


def _json_rows(text: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise CatalogueFileError([_problem(0, "file", N_("The JSON is not valid."))]) from None
    if isinstance(data, dict):
        data = data.get("data")
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise CatalogueFileError(
            [_problem(0, "file", N_("The JSON must be a list of procedures."))]
        )
    return data


def _csv_rows(text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    try:
        if not reader.fieldnames or "ma_tthc" not in reader.fieldnames:
            raise CatalogueFileError(
                [_problem(0, "file", N_("The CSV needs a header row with a ma_tthc column."))]
            )
        return list(reader)
    except csv.Error as exc:
        message = N_("The CSV could not be read: %(why)s")
        raise CatalogueFileError([_problem(0, "file", message, why=str(exc)[:200])]) from None


def _level(text: str) -> int | None:
    value = text.strip().lower()
    if value in LEVEL_WORDS:
        return LEVEL_WORDS[value]
    return int(value) if value in ("1", "2", "3", "4") else None


def _check(rows: list[dict[str, str]]) -> None:
    """Raise CatalogueFileError listing every bad cell (at most 50)."""
    problems = []
    seen: set[str] = set()
    for n, row in enumerate(rows, start=1):
        code = row["ma_tthc"]
        if not re.fullmatch(CODE_PATTERN, code):
            problems.append(_problem(n, "ma_tthc", N_("A procedure code looks like 1.005458.")))
        elif code in seen:
            problems.append(_problem(n, "ma_tthc", N_("This code is in the file twice.")))
        seen.add(code)
        if row["muc_do"] and _level(row["muc_do"]) is None:
            message = N_("The level is 1 to 4, toàn trình or một phần.")
            problems.append(_problem(n, "muc_do", message))
        if len(row["ten"]) > MAX_NAME or len(row["cap_thuc_hien"]) > 128:
            problems.append(_problem(n, "ten", N_("This text is too long.")))
        labels = [p.partition(":")[0].strip() for p in row["kenh_thoi_han"].split(";")]
        if row["kenh_thoi_han"] and any(label not in CHANNEL_NAMES for label in labels):
            message = N_("Name each channel as Trực tuyến, Trực tiếp or Dịch vụ bưu chính.")
            problems.append(_problem(n, "kenh_thoi_han", message))
    if problems:
        raise CatalogueFileError(problems[:50])


def _time_text(amount: int | None, unit: str) -> str:
    if amount is None:
        return "N/A"
    return f"{amount} {'ngày làm việc' if unit == 'working_days' else 'ngày'}"


def _changes(proc: Procedure, times: dict[str, ProcessingTime], row: dict[str, str]):
    """The changes `row` makes to `proc`."""
    out = []
    if row["ten"] and row["ten"] != proc.name:
        out.append(Change(proc.code, "name", proc.name, row["ten"]))
    level = _level(row["muc_do"]) if row["muc_do"] else None
    if level is not None and level != proc.online_level:
        out.append(Change(proc.code, "online_level", str(proc.online_level), str(level)))
    if row["cap_thuc_hien"] and row["cap_thuc_hien"] != proc.implementing_level:
        out.append(
            Change(proc.code, "implementing_level", proc.implementing_level, row["cap_thuc_hien"])
        )
    for channel, (amount, unit) in parse_times(row["kenh_thoi_han"]).items():
        now = times.get(channel)
        before = _time_text(now.amount, now.unit) if now else ""
        if before != _time_text(amount, unit):
            out.append(Change(proc.code, f"time_{channel}", before, _time_text(amount, unit)))
    return out


def _plan(rows: list[dict[str, str]]) -> SyncPlan:
    procs = {p.code: p for p in Procedure.select()}
    times: dict[int, dict[str, ProcessingTime]] = {}
    for t in ProcessingTime.select():
        times.setdefault(t.procedure_id, {})[t.channel] = t
    plan = SyncPlan(records=len(rows))
    for row in rows:
        proc = procs.get(row["ma_tthc"])
        if proc is None:
            plan.unknown.append(row["ma_tthc"])
        else:
            plan.changes += _changes(proc, times.get(proc.id, {}), row)
    named = {row["ma_tthc"] for row in rows}
    plan.missing = sorted(code for code in procs if code not in named)
    return plan


@reading
def dry_run(content: bytes, fmt: str) -> SyncPlan:
    """What importing the export would change, changing nothing; raises CatalogueFileError."""
    rows = read_export(content, fmt)
    _check(rows)
    return _plan(rows)


@transactional
def apply(content: bytes, fmt: str, ctx: Ctx | None = None) -> SyncPlan:
    """Make the export's changes, all or nothing, on the record as `ctx.user` (the system
    without one); returns what changed. Raises CatalogueFileError."""
    rows = read_export(content, fmt)
    _check(rows)
    plan = _plan(rows)
    by_code = {row["ma_tthc"]: row for row in rows}
    for code in sorted({c.code for c in plan.changes}):
        _write(Procedure.get(Procedure.code == code), by_code[code])
    if plan.changes:
        note = f"{plan.procedures} / {plan.records}: " + ", ".join(
            sorted({c.code for c in plan.changes})
        )
        history.record(actor_of(ctx), "catalogue_synced", note=note[:2000], public=False)
    return plan


def _write(proc: Procedure, row: dict[str, str]) -> None:
    values: dict[str, Any] = {"updated_at": utcnow()}  # the catalogue's revision moves on
    if row["ten"]:
        values["name"] = row["ten"]
        values.update(
            search_columns(proc.code, row["ten"], proc.implementing_agency, proc.issuing_agency)
        )
    if row["muc_do"]:
        values["online_level"] = _level(row["muc_do"])
    if row["cap_thuc_hien"]:
        values["implementing_level"] = row["cap_thuc_hien"]
    Procedure.update(**values).where(Procedure.id == proc.id).execute()
    for channel, (amount, unit) in parse_times(row["kenh_thoi_han"]).items():
        ProcessingTime.delete().where(
            ProcessingTime.procedure == proc.id, ProcessingTime.channel == channel
        ).execute()
        ProcessingTime.create(procedure=proc.id, channel=channel, amount=amount, unit=unit)
