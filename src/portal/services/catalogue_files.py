"""Import and export of the procedure catalogue as CSV or JSON (the same columns)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from peewee import prefetch

from portal.db import reading, transactional
from portal.models import CHANNELS, Fee, Procedure, ProcessingTime, RequiredDocument
from portal.services import fees
from portal.services.access import Ctx
from portal.services.catalogue import (
    PROCEDURE_FIELDS,
    TIME_FIELDS,
    actor_of,
    clean_procedure,
    document_dicts,
    format_documents,
    write_procedure,
)
from portal.services.errors import N_, DomainError, Message, ValidationError

COLUMNS = (
    [f.name for f in PROCEDURE_FIELDS]
    + [f.name for f in TIME_FIELDS]
    + ["documents", "fees", "demo_fields"]
)
FORMATS = ("csv", "json")
MAX_RECORDS = 5000
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class CatalogueFileError(DomainError):
    """A file could not be imported; `problems` lists (record number, field, message)."""

    def __init__(self, problems: list[tuple[int, str, Message]]) -> None:
        self.problems = problems
        super().__init__(N_("The file was not imported: nothing was changed."))


def _record(proc: Procedure) -> dict[str, Any]:
    rec: dict[str, Any] = {f.name: getattr(proc, f.name) for f in PROCEDURE_FIELDS}
    times = {t.channel: t for t in proc.times}
    for channel in CHANNELS:
        t = times.get(channel)
        rec[f"time_{channel}"] = t.amount if t else None
        rec[f"time_{channel}_unit"] = t.unit if t else ""
    rec["documents"] = document_dicts(list(proc.documents))
    rec["fees"] = fees.fee_dicts(list(proc.fees))
    rec["demo_fields"] = proc.demo_fields
    return rec


@reading
def export_records() -> list[dict[str, Any]]:
    """Every procedure as a plain record, by code."""
    procs = prefetch(
        Procedure.select().order_by(Procedure.code),
        RequiredDocument.select(),
        ProcessingTime.select(),
        Fee.select(),
    )
    return [_record(p) for p in procs]


def csv_safe(value: str) -> str:
    """`value` as a CSV cell that spreadsheets show as text, never run as a formula."""
    # Spreadsheets run cells that start like a formula; a leading quote keeps them text. A value
    # that starts with a quote gets one more, so reading it back is exact.
    return "'" + value if value.startswith((*CSV_FORMULA_START, "'")) else value


def export_catalogue(fmt: str) -> str:
    """The catalogue as CSV or JSON text."""
    records = export_records()
    if fmt == "json":
        return json.dumps(records, ensure_ascii=False, indent=1)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        flat = dict(rec)
        flat["documents"] = format_documents(rec["documents"])
        flat["fees"] = fees.format_fees(rec["fees"])
        writer.writerow({k: csv_safe("" if v is None else str(v)) for k, v in flat.items()})
    return out.getvalue()


def _unquote(value: str) -> str:
    return value[1:] if value.startswith("'") else value


def _file_error(message: str, **params: Any) -> CatalogueFileError:
    return CatalogueFileError([(0, "file", Message(message, **params))])


def parse_file(content: bytes, fmt: str) -> list[dict[str, Any]]:
    """Records of an uploaded file as form-like string values; raises CatalogueFileError."""
    if fmt not in FORMATS:
        raise CatalogueFileError([(0, "format", Message(N_("Choose CSV or JSON.")))])
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _file_error(N_("The file is not UTF-8 text.")) from None
    records = _json_records(text) if fmt == "json" else _csv_records(text)
    if len(records) > MAX_RECORDS:
        raise _file_error(N_("At most %(max)s procedures per file."), max=MAX_RECORDS)
    return records


def _json_records(text: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except RecursionError:
        raise _file_error(N_("The JSON is nested too deeply.")) from None
    except json.JSONDecodeError as exc:
        raise _file_error(N_("The JSON is not valid (line %(line)s)."), line=exc.lineno) from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise _file_error(N_("The JSON must be a list of procedures."))
    records = []
    for rec in data:
        docs = rec.get("documents", [])
        flat = {k: "" if v is None else v for k, v in rec.items()}
        if isinstance(docs, list) and all(isinstance(d, dict) for d in docs):
            flat["documents"] = format_documents(
                [
                    {
                        "name": str(d.get("name", "")),
                        "mandatory": bool(d.get("mandatory", True)),
                        "file_types": str(d.get("file_types", "pdf")),
                        "multiple": bool(d.get("multiple")),
                        "confidential": bool(d.get("confidential")),
                    }
                    for d in docs
                ]
            )
        rows = rec.get("fees")
        if isinstance(rows, list) and all(isinstance(f, dict) for f in rows):
            flat["fees"] = fees.format_fees([fees.fee_row(f) for f in rows])
        records.append({k: v if isinstance(v, str) else str(v) for k, v in flat.items()})
    return records


def _csv_records(text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    try:
        if not reader.fieldnames or "code" not in reader.fieldnames:
            raise _file_error(N_("The CSV needs a header row with a code column."))
        return [
            {k: _unquote(v if isinstance(v, str) else "") for k, v in row.items() if k}
            for row in reader
        ]
    except csv.Error as exc:
        raise _file_error(N_("The CSV could not be read: %(why)s"), why=str(exc)[:200]) from None


@transactional
def import_catalogue(content: bytes, fmt: str, ctx: Ctx | None = None) -> int:
    """Create or update every procedure of the file, all or nothing, as `ctx.user` (the system
    without one); returns how many. Raises CatalogueFileError listing each bad record and
    field."""
    records = parse_file(content, fmt)
    problems: list[tuple[int, str, Message]] = []
    cleaned_all = []
    for number, rec in enumerate(records, start=1):
        try:
            cleaned_all.append((clean_procedure(rec), rec.get("demo_fields", "")))
        except ValidationError as exc:
            problems.extend((number, name, msg) for name, msg in exc.errors.items())
    codes = [c["code"] for c, _ in cleaned_all]
    if len(codes) != len(set(codes)):
        problems.append((0, "code", Message(N_("The file lists a procedure code twice."))))
    if problems:
        raise CatalogueFileError(problems[:50])
    for cleaned, demo_fields in cleaned_all:
        known = [f.strip() for f in demo_fields.split(",") if f.strip() in COLUMNS + ["times"]]
        write_procedure(cleaned, demo_fields=",".join(dict.fromkeys(known)), actor=actor_of(ctx))
    return len(cleaned_all)
