"""Dossiers received on paper at the counter (*bộ phận một cửa*): an officer records the
dossier with its scanned documents for any procedure (also one that is not online), for a
known applicant found by its tax code or citizen ID, or a new one entered here (an enterprise,
or a person such as a border resident); the dossier gets its code from the same sequence and
is received at once (the `receive_at_counter` row), then lives the same life as an online one.
Supplements the applicant brings to the counter are recorded the same way (`record_supplement`).

Files are stored first and checked like online ones (size, type by content, SHA-256, virus
scan); if anything then fails, they are removed and nothing is recorded.

Who owns a paper dossier: the enterprise's account when it has an active one (it then sees the
dossier in its list and is told of each step like for an online one), else the recording
officer (the applicant's contact in the portal, told of each step to pass it on)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from portal import storage
from portal.db import db, is_postgres, reading, transactional
from portal.models import (
    APPLICANT_KINDS,
    UNIT_STAFF_ROLES,
    Attachment,
    Dossier,
    Enterprise,
    FormField,
    Procedure,
    RequiredDocument,
    Slip,
    Unit,
    User,
    utcnow,
)
from portal.services import catalogue, dossiers, history, notify, processing, scanning
from portal.services.access import Ctx, actor_kind, require_view
from portal.services.accounts import email_field, normalise_tax_code, tax_code_problem
from portal.services.effects import Step
from portal.services.errors import N_, DomainError, Message, NotFound, ValidationError
from portal.services.history import Actor
from portal.services.processing import MAX_NOTE
from portal.services.status import DRAFT, RECEIVED
from portal.services.text import clean
from portal.services.validation import Field, validate
from portal.services.workflow import COUNTER, Facts, check

PHONE_PATTERN = r"\+?[0-9][0-9 .-]{7,18}[0-9]"
CITIZEN_ID_PATTERN = r"[0-9]{12}"
NOT_STAFF = N_("Only officers and leaders of a unit record dossiers at the counter.")
NO_PROCEDURE = N_("Choose a procedure from the list.")
APPLICANT_FIELDS = ("kind", "id_number", "name", "address", "email")
CONTACT_FIELDS = ("contact_name", "contact_phone", "note")


@dataclass(frozen=True)
class Scan:
    """A scanned document as it arrives: for which required document, its name, its bytes."""

    document_id: int
    filename: str
    chunks: Iterable[bytes]


@dataclass
class IntakeForm:
    """What the counter's form shows: the procedure's form and documents, and the applicant
    found by the number typed (None: a new applicant, or none typed yet)."""

    procedure: Procedure
    fields: list[FormField]
    documents: list[RequiredDocument]
    applicant: Enterprise | None = None
    values: dict[str, Any] = field(default_factory=dict)


def require_counter_staff(user: User) -> None:
    """Raises DomainError (forbidden) unless `user` is an active officer or leader of a unit."""
    if not (user.active and user.role in UNIT_STAFF_ROLES and user.unit_id):
        raise DomainError(NOT_STAFF, kind="forbidden")


@reading
def procedure_choices() -> list[tuple[str, str]]:
    """Every procedure of the catalogue as (code, "code — name"), online or not."""
    rows = Procedure.select(Procedure.code, Procedure.name).order_by(Procedure.code)
    return [(p.code, f"{p.code} — {p.name[:110]}") for p in rows]


@reading
def find_applicant(id_number: str) -> Enterprise | None:
    """The known applicant with this tax code or citizen ID (spaces and dashes ignored)."""
    number = normalise_tax_code(id_number or "")[:13]
    return Enterprise.get_or_none(Enterprise.tax_code == number) if number else None


@reading
def intake_form(procedure_code: str, id_number: str = "") -> IntakeForm:
    """The form for `procedure_code`; raises NotFound."""
    proc = Procedure.get_or_none(Procedure.code == (procedure_code or "")[:16])
    if proc is None:
        raise NotFound("procedure")
    _, fields, docs = catalogue.procedure_parts(proc.id)
    return IntakeForm(proc, fields, docs, find_applicant(id_number))


# --- checking what was typed ---------------------------------------------------------------


def _id_problem(kind: str, number: str) -> Message | None:
    if kind == "person":
        if not number:
            return Message(N_("Enter the citizen ID number."))
        if not number.isascii() or not number.isdigit() or len(number) != 12:
            return Message(N_("A citizen ID (CCCD) number has 12 digits."))
        return None
    if not number:
        return Message(N_("Enter the tax code."))
    return tax_code_problem(number)


def check_applicant(data: dict[str, str], errors: dict[str, Message]) -> dict[str, Any]:
    """The applicant and contact as typed, cleaned; adds each problem to `errors`. A known
    applicant (found by its number) needs no name or address; a new one does (a person's
    address too)."""
    kind = data.get("kind", "")
    if kind not in APPLICANT_KINDS:
        errors["kind"] = Message(N_("Choose whether the applicant is an enterprise or a person."))
        kind = "enterprise"
    number = normalise_tax_code(clean(data.get("id_number", "")))
    problem = _id_problem(kind, number)
    if problem is not None:
        errors["id_number"] = problem
    known = None if problem else find_applicant(number)
    new = known is None
    specs = [
        Field("name", required=new),
        Field("address", required=new and kind == "person", max_length=500),
        email_field(required=False),
        Field("contact_name"),
        Field(
            "contact_phone",
            max_length=32,
            pattern=PHONE_PATTERN,
            pattern_message=N_("Enter a phone number of 9 to 20 digits, like 0912 345 678."),
        ),
        Field("note", required=False, max_length=MAX_NOTE, multiline=True),
    ]
    try:
        cleaned = validate(data, specs)
    except ValidationError as exc:
        errors.update(exc.errors)
        cleaned = {s.name: clean(data.get(s.name, "") or "") for s in specs}
    return {**cleaned, "kind": kind, "id_number": number, "known": known}


def _check_answers(fields: list[FormField], data: dict[str, str], errors: dict) -> dict:
    """The form's answers, checked as a submission online checks them."""
    typed = {f.name: dossiers.typed_answer(f, data.get(f.name, "") or "") for f in fields}
    try:
        validate(typed, dossiers.field_specs(fields, draft=False))
    except ValidationError as exc:
        errors.update(exc.errors)
    return typed


def _store_scans(
    ctx: Ctx,
    docs: list[RequiredDocument],
    scans: list[Scan],
    stored: list[tuple[Scan, RequiredDocument, storage.StoredFile]],
    errors: dict[str, Message],
    *,
    room: int,
    mandatory: bool,
) -> None:
    """Store each scan under its document (appended to `stored`, which the caller removes on
    failure); adds to `errors` what is wrong (a file refused, a mandatory document missing
    when `mandatory`, a single-file document given several, more files than `room`)."""
    by_id = {d.id: d for d in docs}
    if len(scans) > room:
        errors["files"] = Message(N_("A dossier holds at most %(n)s files."), n=ctx.max_files)
        return
    given: dict[int, int] = {}
    for scan in scans:
        doc = by_id.get(scan.document_id)
        if doc is None:
            errors["files"] = Message(N_("Choose the document each file is for."))
            continue
        given[doc.id] = given.get(doc.id, 0) + 1
        key = f"doc-{doc.id}"
        allowed = doc.file_types.split(",")
        try:
            kept = storage.store(scan.chunks, ctx.uploads, ctx.max_upload_bytes, allowed)
        except storage.UploadRejected as exc:
            errors[key] = Message(
                dossiers.UPLOAD_PROBLEMS[exc.reason],
                mb=ctx.max_upload_bytes // (1024 * 1024),
                types=", ".join(t.upper() for t in allowed),
            )
            continue
        stored.append((scan, doc, kept))
    for doc in docs:
        key = f"doc-{doc.id}"
        if key in errors:
            continue
        if mandatory and doc.mandatory and not given.get(doc.id):
            errors[key] = Message(N_("Attach the scanned document."))
        elif not doc.multiple and given.get(doc.id, 0) > 1:
            errors[key] = Message(N_("Attach one file for this document."))


def _discard(ctx: Ctx, stored: list[tuple[Scan, RequiredDocument, storage.StoredFile]]) -> None:
    for _, _, kept in stored:
        storage.remove(ctx.uploads, kept.stored_name)


# --- recording a paper dossier -------------------------------------------------------------


def record_dossier(
    ctx: Ctx, procedure_code: str, data: dict[str, str], scans: list[Scan]
) -> Dossier:
    """Record a dossier received on paper at `ctx.user`'s unit, received at once with its
    promised date, receipt slip and history event; returns it. Raises DomainError (forbidden)
    unless the user is unit staff, ValidationError naming every field that is wrong (the
    files are then not kept: nothing is recorded)."""
    require_counter_staff(ctx.user)
    errors: dict[str, Message] = {}
    with db.connection_context():
        proc = Procedure.get_or_none(Procedure.code == (procedure_code or "")[:16])
        if proc is None:
            raise ValidationError({"procedure": Message(NO_PROCEDURE)})
        _, fields, docs = catalogue.procedure_parts(proc.id)
        applicant = check_applicant(data, errors)
        answers = _check_answers(fields, data, errors)
    stored: list[tuple[Scan, RequiredDocument, storage.StoredFile]] = []
    try:
        _store_scans(ctx, docs, scans, stored, errors, room=ctx.max_files, mandatory=True)
        if errors:
            raise ValidationError(errors)
        return _record(ctx, proc.id, applicant, answers, stored)
    except BaseException:
        _discard(ctx, stored)
        raise


def _applicant(applicant: dict[str, Any]) -> Enterprise:
    """The known applicant, or the new one inserted (one already inserted meanwhile by another
    counter is taken as it is)."""
    if applicant["known"] is not None:
        return applicant["known"]
    Enterprise.insert(
        tax_code=applicant["id_number"],
        name=applicant["name"],
        email=applicant["email"] or "",
        kind=applicant["kind"],
        address=applicant["address"] or "",
    ).on_conflict_ignore().execute()
    return Enterprise.get(Enterprise.tax_code == applicant["id_number"])


def owner_for(enterprise: Enterprise, officer: User) -> User:
    """Who owns a paper dossier of `enterprise`: its first active account, else `officer`."""
    account = (
        User.select()
        .where(
            User.enterprise == enterprise.id,
            User.role == "enterprise",
            User.active == True,  # noqa: E712
            User.enterprise_status == "active",
        )
        .order_by(User.id)
        .first()
    )
    return account or officer


@transactional
def _record(
    ctx: Ctx,
    procedure_id: int,
    applicant: dict[str, Any],
    answers: dict[str, str],
    stored: list[tuple[Scan, RequiredDocument, storage.StoredFile]],
) -> Dossier:
    user = ctx.user
    transition = check("receive_at_counter", user.role, Facts(DRAFT), COUNTER)
    now = utcnow()
    unit = Unit.get_by_id(user.unit_id)
    enterprise = _applicant(applicant)
    owner = owner_for(enterprise, user)
    dossier = Dossier.create(
        procedure=procedure_id,
        enterprise=enterprise,
        owner=owner,
        unit=unit,
        channel="counter",
        form_data=json.dumps(answers, ensure_ascii=False),
        contact_name=applicant["contact_name"],
        contact_phone=applicant["contact_phone"],
        created_at=now,
    )
    changes = transition.effect(Step(ctx, dossier, now))
    Dossier.update(
        **changes,
        code=dossiers.next_code(unit, now),
        status=RECEIVED,
        submitted_at=now,
        updated_at=now,
    ).where(Dossier.id == dossier.id).execute()
    dossier = Dossier.get_by_id(dossier.id)
    _attach(ctx, dossier, stored, "application")
    event = history.record(
        Actor.of(user, ctx.client_addr),
        "receive_at_counter",
        dossier=dossier,
        status_before=DRAFT,
        status_after=RECEIVED,
        note=applicant["note"] or "",
    )
    slip = Slip.create(
        dossier=dossier, kind="receipt", due_at=dossier.due_at, issued_by=user.full_name
    )
    if owner.id != user.id:  # the enterprise's account is told, as for an online dossier
        notify.status_changed(dossier, event, ctx.links, slip)
    return dossier


def _attach(
    ctx: Ctx,
    dossier: Dossier,
    stored: list[tuple[Scan, RequiredDocument, storage.StoredFile]],
    purpose: str,
) -> None:
    """The rows of the stored scans; each takes its document's confidential flag as committed
    now (read in this transaction)."""
    ids = {doc.id for _, doc, _ in stored}
    secret = {
        d.id: d.confidential
        for d in RequiredDocument.select().where(RequiredDocument.id.in_(ids or {0}))
    }
    for scan, doc, kept in stored:
        scanning.new_attachment(
            ctx,
            kept,
            scan.filename,
            dossier=dossier,
            document=doc.id,
            purpose=purpose,
            confidential=secret.get(doc.id, doc.confidential),
        )


# --- recording a supplement brought to the counter ------------------------------------------


def _supplement_check(ctx: Ctx, dossier: Dossier | None) -> Dossier:
    dossier = require_view(ctx.user, dossier)
    check("record_supplement", actor_kind(ctx.user, dossier), Facts(dossier.status), COUNTER)
    return dossier


def record_supplement(ctx: Ctx, dossier_id: int, scans: list[Scan], note: str = "") -> Dossier:
    """Record the supplement an applicant brought to the counter, with its scanned files:
    the clock runs again as when an applicant sends one online. Raises NotFound,
    DomainError (not unit staff, or no supplement is asked for) or ValidationError."""
    with db.connection_context():
        dossier = _supplement_check(ctx, Dossier.get_or_none(Dossier.id == dossier_id))
        _, _, docs = catalogue.procedure_parts(dossier.procedure_id)
        count = Attachment.select().where(Attachment.dossier == dossier).count()
    errors: dict[str, Message] = {}
    if not scans:
        errors["files"] = Message(N_("Attach at least one scanned document."))
    stored: list[tuple[Scan, RequiredDocument, storage.StoredFile]] = []
    try:
        room = max(0, ctx.max_files - count)
        _store_scans(ctx, docs, scans, stored, errors, room=room, mandatory=False)
        if errors:
            raise ValidationError(errors)
        return _record_supplement(ctx, dossier_id, stored, note)
    except BaseException:
        _discard(ctx, stored)
        raise


@transactional
def _record_supplement(
    ctx: Ctx,
    dossier_id: int,
    stored: list[tuple[Scan, RequiredDocument, storage.StoredFile]],
    note: str,
) -> Dossier:
    query = Dossier.select().where(Dossier.id == dossier_id)
    dossier = _supplement_check(ctx, (query.for_update() if is_postgres() else query).first())
    _attach(ctx, dossier, stored, "supplement")
    return processing.act(ctx, dossier.id, "record_supplement", note, path=COUNTER)
