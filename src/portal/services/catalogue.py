"""The procedure catalogue: search, filters, sorting, and edits by administrators."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from peewee import SQL, Case, fn, prefetch

from portal.db import transactional
from portal.models import (
    CHANNELS,
    ONLINE_LEVELS,
    TIME_UNITS,
    Attachment,
    Dossier,
    Fee,
    FormField,
    Procedure,
    ProcessingTime,
    RequiredDocument,
    utcnow,
)
from portal.services import catalogue_cache, fees, history
from portal.services.access import Ctx
from portal.services.errors import N_, Message, NotFound, ValidationError
from portal.services.paging import Page, paginate
from portal.services.text import as_int, fold
from portal.services.validation import Field, validate

PER_PAGE = 20
SORTS = ("relevance", "code", "name", "level")
IMPLEMENTING_LEVELS = ("Cấp bộ/ngành", "Cấp tỉnh", "Cấp xã")
FILE_TYPES = ("pdf", "jpg", "png", "xml", "docx", "xlsx")
MAX_QUERY_WORDS = 10

# Decree 42/2022 labels of the Decree 43/2011 levels.
LEVEL_LABELS = {
    4: N_("Full online service"),
    3: N_("Partial online service"),
    2: N_("Not online (filed at the counter)"),
    1: N_("Not online (information only)"),
}


@dataclass
class Filters:
    """Catalogue filters as parsed from a query string; invalid values are dropped and named."""

    q: str = ""
    field: str = ""
    level: int | None = None
    implementing_level: str = ""
    agency: str = ""
    sort: str = "relevance"
    page: int = 1
    ignored: list[str] = dataclasses.field(default_factory=list)

    @classmethod
    def parse(cls, params: dict[str, str]) -> Filters:
        f = cls()
        f.q = " ".join(params.get("q", "").split())[:200]
        f.field = params.get("field", "").strip()[:128]
        f.agency = params.get("agency", "").strip()[:255]
        raw_level = params.get("level", "").strip()
        if raw_level:
            if as_int(raw_level) in ONLINE_LEVELS:
                f.level = as_int(raw_level)
            else:
                f.ignored.append("level")
        il = params.get("implementing_level", "").strip()
        if il:
            if il in IMPLEMENTING_LEVELS:
                f.implementing_level = il
            else:
                f.ignored.append("implementing_level")
        sort = params.get("sort", "").strip()
        if sort:
            if sort in SORTS:
                f.sort = sort
            else:
                f.ignored.append("sort")
        if not f.q and f.sort == "relevance":
            f.sort = "code"
        raw_page = params.get("page", "").strip()
        if raw_page:
            page = as_int(raw_page, 0) or 0
            if 0 < page < 100000:
                f.page = page
            else:
                f.ignored.append("page")
        return f

    def key(self) -> tuple:
        """What the results depend on (the names of ignored parameters do not count)."""
        return (
            self.q,
            self.field,
            self.level,
            self.implementing_level,
            self.agency,
            self.sort,
            self.page,
        )

    def query_params(self, **changes: Any) -> dict[str, str]:
        """The non-default filters as query parameters, with `changes` applied."""
        values = {
            "q": self.q,
            "field": self.field,
            "level": "" if self.level is None else str(self.level),
            "implementing_level": self.implementing_level,
            "agency": self.agency,
            "sort": "" if self.sort == ("relevance" if self.q else "code") else self.sort,
            "page": "" if self.page == 1 else str(self.page),
        }
        values.update({k: "" if v is None else str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v}


def search_columns(code: str, name: str, agencies: str, issuing: str) -> dict[str, str]:
    """The folded columns search works on; names are padded so ' word ' matches whole words."""
    return {
        "search_name": f" {fold(name)} ",
        "search_text": f" {fold(code)} {fold(name)} {fold(agencies)} {fold(issuing)} ",
    }


def _relevance(words: list[str]) -> Any:
    phrase = " ".join(words)
    score: Any = Case(None, [(Procedure.search_name.contains(f" {phrase} "), 60)], 0)
    score = score + Case(None, [(Procedure.search_text.contains(f" {phrase} "), 100)], 0)
    for word in words:
        score = score + Case(
            None,
            [
                (Procedure.search_name.contains(f" {word} "), 10),
                (Procedure.search_name.contains(f" {word}"), 4),
            ],
            1,
        )
    return score


def search_procedures(filters: Filters, per_page: int = PER_PAGE) -> Page:
    """Filter, rank and page the catalogue; words match without diacritics or case."""
    ranked, number, total = ranked_ids(filters, per_page)
    by_id = _procedures()
    items = [by_id[i] for i, _ in ranked]
    return Page(items=items, number=number, per_page=per_page, total=total)


@catalogue_cache.cached(key=lambda filters, per_page: (filters.key(), per_page))
def ranked_ids(filters: Filters, per_page: int) -> tuple[list[tuple[int, int]], int, int]:
    """The procedures on the page as (id, relevance score: 0 without words), the page's
    number and how many procedures match."""
    words = fold(filters.q).split()[:MAX_QUERY_WORDS]
    query = Procedure.select(Procedure.id)
    if words:
        score = _relevance(words).alias("score")
        query = Procedure.select(Procedure.id, score)
        for word in words:
            query = query.where(Procedure.search_text.contains(f" {word}"))  # word prefix
    if filters.field:
        query = query.where(Procedure.field == filters.field)
    if filters.level is not None:
        query = query.where(Procedure.online_level == filters.level)
    if filters.implementing_level:
        query = query.where(Procedure.implementing_level.contains(filters.implementing_level))
    if filters.agency:
        query = query.where(Procedure.id.in_(_agency_ids(filters.agency)))
    order = {
        "code": [Procedure.code],
        "name": [Procedure.search_name, Procedure.code],
        "level": [Procedure.online_level.desc(), Procedure.code],
        "relevance": [Procedure.code],
    }[filters.sort]
    if words and filters.sort == "relevance":
        order = [SQL("score").desc(), Procedure.code]
    page = paginate(query.order_by(*order), filters.page, per_page)
    return [(p.id, getattr(p, "score", 0)) for p in page.items], page.number, page.total


@catalogue_cache.cached()
def _procedures() -> dict[int, Procedure]:
    """Every procedure by id (the catalogue has a couple of hundred)."""
    return {p.id: p for p in Procedure.select()}


def _agency_ids(agency: str) -> list[int]:
    """Procedures that name exactly `agency` among their implementing agencies."""
    rows = Procedure.select(Procedure.id, Procedure.implementing_agency).where(
        Procedure.implementing_agency.contains(agency)
    )
    return [
        r.id for r in rows if agency in (a.strip() for a in r.implementing_agency.split(";"))
    ] or [0]


@catalogue_cache.cached()
def facets() -> dict[str, list[str]]:
    """The values the catalogue's filters can take, from the data."""
    fields = [
        r.field for r in Procedure.select(Procedure.field).distinct().order_by(Procedure.field)
    ]
    agencies: set[str] = set()
    for row in Procedure.select(Procedure.implementing_agency).distinct():
        agencies.update(a.strip() for a in row.implementing_agency.split(";") if a.strip())
    return {"fields": fields, "agencies": sorted(agencies), "levels": list(IMPLEMENTING_LEVELS)}


@catalogue_cache.cached()
def get_procedure(code: str) -> Procedure:
    """The procedure with its documents, processing times and fees; raises NotFound."""
    query = Procedure.select().where(Procedure.code == code)
    found = prefetch(
        query,
        RequiredDocument.select().order_by(RequiredDocument.position),
        ProcessingTime.select(),
        Fee.select().order_by(Fee.position, Fee.id),
    )
    if not found:
        raise NotFound(code)
    return found[0]


@catalogue_cache.cached()
def procedure_fees(procedure_id: int) -> list[Fee]:
    """The procedure's fees, in order (what a dossier of it will be asked to pay)."""
    return fees.fees_of(procedure_id)


@catalogue_cache.cached()
def procedure_parts(procedure_id: int) -> tuple[Procedure, list[FormField], list[RequiredDocument]]:
    """A procedure with its form's fields and its required documents, each in order: what
    every page of a dossier of it shows."""
    proc = Procedure.get_by_id(procedure_id)
    fields = FormField.select().where(FormField.procedure == proc).order_by(FormField.position)
    docs = (
        RequiredDocument.select()
        .where(RequiredDocument.procedure == proc)
        .order_by(RequiredDocument.position)
    )
    return proc, list(fields), list(docs)


def level_label(level: int) -> str:
    return LEVEL_LABELS.get(level, LEVEL_LABELS[1])


# --- editing -------------------------------------------------------------------------------

CODE_PATTERN = r"[0-9]\.[0-9]{6}"

PROCEDURE_FIELDS = [
    Field(
        "code",
        pattern=CODE_PATTERN,
        max_length=16,
        pattern_message=N_("A procedure code looks like 1.005458."),
    ),
    Field("name", max_length=1000, multiline=False),
    Field("field", max_length=128),
    Field("online_level", kind="int", minimum=1, maximum=4),
    Field("issuing_agency", required=False),
    Field("implementing_agency", required=False, max_length=512),
    Field("implementing_level", required=False, max_length=128),
    Field("decision_no", required=False, max_length=64),
    Field(
        "national_url",
        required=False,
        max_length=512,
        pattern=r"https://\S+",
        pattern_message=N_("Enter a link that starts with https://."),
    ),
    Field("steps", required=False, max_length=5000, multiline=True),
    Field("fee_text", required=False, max_length=2000, multiline=True),
    Field("fee_amount", required=False, kind="int", minimum=0, maximum=2_000_000_000),
    Field("legal_basis", required=False, max_length=5000, multiline=True),
    Field("not_online_reason", required=False, max_length=2000, multiline=True),
    Field("offline_instructions", required=False, max_length=2000, multiline=True),
]
# Whether the enterprise's documents must be PDFs signed with its certificate (issue 14).
SIGNATURE_FIELD = Field("requires_signature", kind="bool", required=False)
TIME_FIELDS = [
    f
    for channel in CHANNELS
    for f in (
        Field(f"time_{channel}", required=False, kind="int", minimum=0, maximum=3650),
        Field(f"time_{channel}_unit", required=False, choices=TIME_UNITS),
    )
]
DOCUMENT_FIELDS = [Field("documents", required=False, max_length=10000, multiline=True)]
FEE_FIELDS = [Field("fees", required=False, max_length=10000, multiline=True)]


def parse_documents(text: str) -> tuple[list[dict[str, Any]], Message | None]:
    """Parse one document a line: `name | mandatory/optional | pdf,jpg | multiple | confidential`"""
    docs: list[dict[str, Any]] = []
    flag_words = {"mandatory", "optional", "multiple", "confidential"}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        flags = {p.lower() for p in parts[1:] if p.lower() in flag_words}
        others = [p.lower() for p in parts[1:] if p and p.lower() not in flag_words]
        types_list: list[str] = []
        for part in others:
            types_list += [t.strip() for t in part.split(",") if t.strip()]
        types_list = list(dict.fromkeys(types_list)) or ["pdf"]
        if (
            not parts[0]
            or len(others) > 1
            or any(t not in FILE_TYPES for t in types_list)
            or {"mandatory", "optional"} <= flags
        ):
            return docs, Message(
                N_("Line %(line)s of the documents is not understood."), line=number
            )
        docs.append(
            {
                "name": parts[0][:1000],
                "mandatory": "optional" not in flags,
                "file_types": ",".join(types_list),
                "multiple": "multiple" in flags,
                "confidential": "confidential" in flags,
            }
        )
    return docs, None


def document_dicts(documents: list[RequiredDocument]) -> list[dict[str, Any]]:
    """Required documents as plain dicts, in order."""
    return [
        {
            "name": d.name,
            "mandatory": d.mandatory,
            "file_types": d.file_types,
            "multiple": d.multiple,
            "confidential": d.confidential,
        }
        for d in sorted(documents, key=lambda d: d.position)
    ]


def format_documents(documents: list[dict[str, Any]]) -> str:
    """The inverse of parse_documents, for the edit form and CSV files."""
    lines = []
    for d in documents:
        parts = [d["name"], "mandatory" if d["mandatory"] else "optional", d["file_types"]]
        if d["multiple"]:
            parts.append("multiple")
        if d["confidential"]:
            parts.append("confidential")
        lines.append(" | ".join(parts))
    return "\n".join(lines)


def clean_procedure(data: dict[str, Any]) -> dict[str, Any]:
    """Validate a procedure form; raises ValidationError naming every bad field."""
    errors: dict[str, Message] = {}
    cleaned: dict[str, Any] = {}
    for specs in (PROCEDURE_FIELDS, TIME_FIELDS, DOCUMENT_FIELDS):
        try:
            cleaned.update(validate(data, specs))
        except ValidationError as exc:
            errors.update(exc.errors)
    docs, problem = parse_documents(cleaned.get("documents") or "")
    if problem:
        errors["documents"] = problem
    fee_rows: list[dict[str, Any]] | None = None
    if "fees" in data:  # a file without the column leaves the fees as they are
        try:
            text = validate(data, FEE_FIELDS).get("fees") or ""
        except ValidationError as exc:
            errors.update(exc.errors)
        else:
            fee_rows, problem = fees.parse_fees(text)
            if problem:
                errors["fees"] = problem
    level, reason = (
        str(data.get("online_level", "")).strip(),
        str(data.get("not_online_reason", "")),
    )
    if level in ("1", "2") and not reason.strip():
        errors["not_online_reason"] = Message(N_("Say why this procedure is not online."))
    if errors:
        raise ValidationError(errors)
    cleaned["documents"] = docs
    if fee_rows is not None:
        cleaned["fees"] = fee_rows
    return cleaned


def actor_of(ctx: Ctx | None) -> history.Actor:
    """Who the history names for a catalogue change: the administrator, or the system (seeding,
    the command line)."""
    return history.SYSTEM if ctx is None else history.Actor.of(ctx.user, ctx.client_addr)


@transactional
def save_procedure(
    data: dict[str, Any], *, original_code: str | None = None, ctx: Ctx | None = None
) -> Procedure:
    """Create (no `original_code`) or update a procedure from a form, as `ctx.user`; raises
    ValidationError (also when a new procedure takes an existing code) or NotFound."""
    cleaned = clean_procedure(data)
    # Kept out of PROCEDURE_FIELDS (the catalogue files' columns): set on this form only.
    cleaned["requires_signature"] = validate(data, [SIGNATURE_FIELD])["requires_signature"]
    if (
        original_code is None
        and Procedure.select().where(Procedure.code == cleaned["code"]).exists()
    ):
        raise ValidationError({"code": Message(N_("Another procedure has this code."))})
    write_procedure(cleaned, original_code=original_code, actor=actor_of(ctx))
    return Procedure.get(Procedure.code == cleaned["code"])


def write_procedure(
    cleaned: dict[str, Any],
    *,
    original_code: str | None = None,
    demo_fields: str | None = None,
    actor: history.Actor = history.SYSTEM,
) -> None:
    """Store validated values (inside the caller's transaction); replaces documents and times.
    A document marked confidential makes the files already attached to it confidential, each
    dossier's history recording it as done by `actor`."""
    code = cleaned["code"]
    key = original_code or code
    existing = Procedure.get_or_none(Procedure.code == key)
    if original_code and existing is None:
        raise NotFound(original_code)
    clash = Procedure.get_or_none(Procedure.code == code)
    if clash is not None and clash != existing:
        raise ValidationError({"code": Message(N_("Another procedure has this code."))})
    values = {f.name: cleaned[f.name] for f in PROCEDURE_FIELDS}
    values.update(
        search_columns(
            code, values["name"], values["implementing_agency"], values["issuing_agency"]
        )
    )
    values["updated_at"] = utcnow()
    catalogue_cache.note_change()
    if "requires_signature" in cleaned:
        values["requires_signature"] = bool(cleaned["requires_signature"])
    if demo_fields is not None:
        values["demo_fields"] = demo_fields
    if existing is None:
        proc = Procedure.create(**values)
    else:
        Procedure.update(**values).where(Procedure.id == existing.id).execute()
        proc = Procedure.get_by_id(existing.id)
        ProcessingTime.delete().where(ProcessingTime.procedure == proc).execute()
    confidential = _write_documents(proc, cleaned["documents"])
    confidential_files(confidential, actor)
    if "fees" in cleaned:
        fees.write_fees(proc, cleaned["fees"])
    for channel in CHANNELS:
        amount = cleaned.get(f"time_{channel}")
        unit = cleaned.get(f"time_{channel}_unit") or ""
        if amount is not None or unit:
            ProcessingTime.create(
                procedure=proc, channel=channel, amount=amount, unit=unit or "working_days"
            )


def _write_documents(proc: Procedure, documents: list[dict[str, Any]]) -> list[int]:
    """Replace the procedure's documents; returns the ids of the confidential ones.

    Documents are updated in place, position by position, so the files dossiers attached to
    them stay attached; only documents removed from the end are deleted."""
    current = list(
        RequiredDocument.select()
        .where(RequiredDocument.procedure == proc)
        .order_by(RequiredDocument.position, RequiredDocument.id)
    )
    confidential = []
    for position, doc in enumerate(documents):
        if position < len(current):
            doc_id = current[position].id
            RequiredDocument.update(position=position, **doc).where(
                RequiredDocument.id == doc_id
            ).execute()
        else:
            doc_id = RequiredDocument.create(procedure=proc, position=position, **doc).id
        if doc["confidential"]:
            confidential.append(doc_id)
    extra = [d.id for d in current[len(documents) :]]
    if extra:
        RequiredDocument.delete().where(RequiredDocument.id.in_(extra)).execute()
    return confidential


def confidential_files(document_ids: list[int], actor: history.Actor) -> int:
    """Make every file attached to these documents confidential (inside the caller's
    transaction, after the documents' rows are written: a file being attached meanwhile waits
    for them, see dossiers._attach), with one history event per dossier naming its files.
    Returns how many files changed. A document no longer confidential leaves its files as they
    are: opening them up is not done in bulk."""
    if not document_ids:
        return 0
    files = list(
        Attachment.select(Attachment.id, Attachment.dossier, Attachment.original_name)
        .where(Attachment.document.in_(document_ids), Attachment.confidential == False)  # noqa: E712
        .order_by(Attachment.dossier, Attachment.id)
    )
    if not files:
        return 0
    Attachment.update(confidential=True).where(Attachment.id.in_([f.id for f in files])).execute()
    names: dict[int, list[str]] = {}
    for f in files:
        names.setdefault(f.dossier_id, []).append(f.original_name)
    for dossier in Dossier.select().where(Dossier.id.in_(list(names))).order_by(Dossier.id):
        history.note(actor, "make_confidential", dossier, ", ".join(names[dossier.id]))
    return len(files)


def form_values(proc: Procedure) -> dict[str, Any]:
    """A procedure as the edit form's values."""
    values: dict[str, Any] = {f.name: getattr(proc, f.name) for f in PROCEDURE_FIELDS}
    values = {k: "" if v is None else str(v) for k, v in values.items()}
    for t in proc.times:
        values[f"time_{t.channel}"] = "" if t.amount is None else str(t.amount)
        values[f"time_{t.channel}_unit"] = t.unit
    values["documents"] = format_documents(document_dicts(list(proc.documents)))
    values["requires_signature"] = "1" if proc.requires_signature else ""
    values["fees"] = fees.format_fees(fees.fee_dicts(list(proc.fees)))
    return values


@catalogue_cache.cached()
def level_summary() -> dict[str, int]:
    """How many procedures there are at each online level, and in all."""
    counts = {level: 0 for level in ONLINE_LEVELS}
    for row in Procedure.select(Procedure.online_level, fn.COUNT(Procedure.id).alias("n")).group_by(
        Procedure.online_level
    ):
        counts[row.online_level] = row.n
    return {
        "total": sum(counts.values()),
        "level4": counts[4],
        "level3": counts[3],
        "offline": counts[1] + counts[2],
    }
