"""The enterprise side of a dossier: drafts saved as you go, attachments, submission with a
gap-free code, and the lists and pages that track it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from peewee import JOIN

from portal import storage
from portal.db import db, is_postgres, reading, transactional
from portal.models import (
    Attachment,
    Dossier,
    DossierSequence,
    Enterprise,
    FormField,
    Procedure,
    RequiredDocument,
    Unit,
    Upload,
    User,
    utcnow,
)
from portal.services import catalogue, history, notify, scanning, signed_documents, units
from portal.services.access import (
    OWNER,
    UNIT_STAFF,
    Ctx,
    actor_kind,
    require_view,
    result_released,
    result_withheld,
)
from portal.services.deadlines import to_local
from portal.services.errors import (
    N_,
    AccessDenied,
    DomainError,
    LocalText,
    Message,
    NotFound,
    ValidationError,
)
from portal.services.history import Actor
from portal.services.paging import Page, paginate
from portal.services.signatures import Verdict
from portal.services.status import CLOCK_RUNS, DRAFT, NEW, PROCESSING, SUPPLEMENT
from portal.services.text import clean
from portal.services.validation import Field, canonical, validate
from portal.services.workflow import SUBMISSION, Facts, Transition, available, check

MAX_KEPT = 10_000  # an answer is kept as typed up to this; its own limit is checked
UPLOAD_PROBLEMS = {
    "too_large": N_("The file is larger than the limit of %(mb)s MB."),
    "empty": N_("The file is empty."),
    "type": N_("This type of file is not accepted here: use %(types)s."),
}


# --- forms ---------------------------------------------------------------------------------


def field_specs(fields: list[FormField], *, draft: bool) -> list[Field]:
    """Validation rules of a procedure form; a draft checks format but not presence."""
    specs = []
    for f in fields:
        kind = {"number": "int", "date": "date"}.get(f.kind, "text")
        pattern = f.pattern or None
        if f.kind == "email":
            pattern = r"[^@\s]+@[^@\s]+\.[^@\s]+"
        message: str | Message = N_("This value has the wrong format.")
        if f.pattern_message:
            message = LocalText(f.pattern_message, f.pattern_message_en)
        elif f.kind == "email":
            message = N_("Enter an e-mail address like name@example.vn.")
        specs.append(
            Field(
                f.name,
                required=f.required and not draft,
                max_length=f.max_length,
                pattern=pattern,
                pattern_message=message,
                kind=kind,
                minimum=f.min_value,
                maximum=f.max_value,
                multiline=f.kind == "textarea",
                choices=[c.strip() for c in f.choices.splitlines() if c.strip()] or None,
            )
        )
    return specs


def form_values(fields: list[FormField], data: dict[str, Any]) -> dict[str, Any]:
    """A draft's answers as its form shows them: a kept date as dd/mm/yyyy."""
    values = dict(data)
    for f in fields:
        if f.kind == "date" and values.get(f.name):
            values[f.name] = shown_answer(f, values[f.name])
    return values


def shown_answer(field: FormField, value: Any) -> str:
    """A stored answer as pages show it: a date as dd/mm/yyyy, an amount with its thousands
    grouped as Vietnamese write them (1.250.000), a choice by its option's label, anything
    else as it was typed."""
    if value is None or value == "":
        return ""
    text = str(value)
    if field.kind == "date":
        try:
            return dt.date.fromisoformat(text).strftime("%d/%m/%Y")
        except ValueError:
            return text
    if field.kind == "number" and text.lstrip("-").isascii() and text.lstrip("-").isdigit():
        return f"{int(text):,}".replace(",", ".")
    if field.kind == "select":
        for line in field.choices.splitlines():
            if line.strip() == text:
                return line.strip()
    return text


# --- reading -------------------------------------------------------------------------------


@dataclass
class DossierView:
    """A dossier as one user sees it; pages ask it what that user may do."""

    dossier: Dossier
    procedure: Procedure
    fields: list[FormField]
    documents: list[RequiredDocument]
    attachments: list[Attachment]
    data: dict[str, Any]
    actor: str | None
    signed_results: frozenset[int] = frozenset()  # result files a registered signer signed

    @property
    def is_owner(self) -> bool:
        return self.actor == OWNER

    @property
    def is_staff(self) -> bool:
        """The user handles it: an officer or leader of its unit."""
        return self.actor in UNIT_STAFF

    @property
    def is_draft(self) -> bool:
        return self.dossier.status == DRAFT

    @property
    def takes_supplement(self) -> bool:
        """The owner is asked for a supplement and may send files."""
        return self.is_owner and self.dossier.status == SUPPLEMENT

    @property
    def takes_result(self) -> bool:
        """Its staff may attach the result document (results returned online)."""
        return (
            self.is_staff
            and self.dossier.status == PROCESSING
            and self.procedure.returns_result_online
        )

    @property
    def result_issued(self) -> bool:
        """The result is issued (status 9 or 10) and returned online: it can be verified."""
        return result_released(self.dossier, self.procedure)

    @property
    def takes_apology(self) -> bool:
        """Its staff may issue an apology slip with a new date (while the clock runs)."""
        return self.is_staff and self.dossier.status in CLOCK_RUNS

    @property
    def actions(self) -> list[Transition]:
        """The actions the user can take on it now (the buttons its page shows)."""
        has_result = bool(self.signed_results)  # as processing's facts count it
        facts = Facts(
            self.dossier.status, self.dossier.approval, has_result, self.procedure.online_level
        )
        return available(self.actor, facts)

    @property
    def declared(self) -> list[tuple[str, str, bool]]:
        """What the form declared, in the form's order: (label, answer as shown, whether it
        is a multi-line text); an answer left empty is ""."""
        return [
            (f.label, shown_answer(f, self.data.get(f.name)), f.kind == "textarea")
            for f in self.fields
        ]

    @property
    def enterprise(self) -> Enterprise:
        """The enterprise the dossier was filed for."""
        return self.dossier.enterprise

    @property
    def contact(self) -> User:
        """Who declared it: the account that filed it (its holder's name and e-mail are the
        enterprise's contact for this dossier; the registration asks no phone or address)."""
        return self.dossier.owner

    def can_download(self, attachment: Attachment) -> bool:
        """Whether the page links to the file (a result is withheld from the owner until it
        is released)."""
        return not result_withheld(self.actor, self.dossier, self.procedure, attachment)


@reading
def load(dossier_id: int, user: User | None) -> DossierView:
    """A dossier with everything its pages show; raises NotFound unless `user` may see it."""
    dossier = (
        Dossier.select(Dossier, Unit, Enterprise, User)
        .join(Unit, JOIN.LEFT_OUTER, on=(Dossier.unit == Unit.id))
        .switch(Dossier)
        .join(Enterprise, on=(Dossier.enterprise == Enterprise.id))
        .switch(Dossier)
        .join(User, on=(Dossier.owner == User.id))
        .where(Dossier.id == dossier_id)
        .first()
    )
    require_view(user, dossier)
    proc, fields, docs = catalogue.procedure_parts(dossier.procedure_id)
    attachments = list(
        Attachment.select().where(Attachment.dossier == dossier).order_by(Attachment.id)
    )
    return DossierView(
        dossier,
        proc,
        fields,
        docs,
        attachments,
        json.loads(dossier.form_data),
        actor_kind(user, dossier),
        signed_documents.signed_results(dossier.id),
    )



@reading
def find_by_code(code: str, user: User | None) -> int:
    """The id of the dossier with this code if `user` may see it; raises NotFound."""
    dossier = Dossier.get_or_none(Dossier.code == code[:32])
    return require_view(user, dossier).id


@reading
def list_for_enterprise(
    user: User, *, status: int | None = None, q: str = "", page: int = 1
) -> Page:
    query = (
        Dossier.select(Dossier, Procedure, Unit)
        .join(Procedure)
        .switch(Dossier)
        .join(Unit, JOIN.LEFT_OUTER, on=(Dossier.unit == Unit.id))
        .where(Dossier.enterprise == user.enterprise_id)
        .order_by(Dossier.updated_at.desc(), Dossier.id.desc())
    )
    if status is not None:
        query = query.where(Dossier.status == status)
    if q:
        query = query.where(
            Dossier.code.contains(q.strip()[:32].upper()) | Procedure.code.contains(q.strip()[:16])
        )
    return paginate(query, page, 20)


@reading
def competent_units(procedure: Procedure) -> list[Unit]:
    """The units that may handle dossiers of `procedure`: branches (customs offices) for
    branch-level agencies, departments (regional branches) for department-level ones, of the
    structure in force today."""
    agency = procedure.implementing_agency
    kind = (
        "department" if agency.startswith(("Cục", "Bộ")) and "Chi cục" not in agency else "branch"
    )
    return list(
        Unit.select()
        .where(
            Unit.kind == kind,
            Unit.active == True,  # noqa: E712
            Unit.structure == units.structure_in_force(),
        )
        .order_by(Unit.code)
    )


# --- drafts --------------------------------------------------------------------------------


@transactional
def start_draft(ctx: Ctx, procedure_code: str, unit_code: str) -> Dossier:
    """Open a draft for an online procedure; raises NotFound, DomainError or ValidationError."""
    if ctx.user.role != "enterprise" or not ctx.user.enterprise_id:
        raise DomainError(N_("Only enterprise accounts file dossiers."))
    proc = Procedure.get_or_none(Procedure.code == procedure_code[:16])
    if proc is None:
        raise NotFound(procedure_code)
    if not proc.is_online:
        raise DomainError(N_("This procedure is not available online."), kind="conflict")
    unit = units.find_unit(unit_code[:30])
    if unit is None or unit not in competent_units(proc):
        raise ValidationError({"unit": Message(N_("Choose the customs office that handles it."))})
    return Dossier.create(
        procedure=proc, enterprise=ctx.user.enterprise_id, owner=ctx.user, unit=unit
    )


def _locked(dossier_id: int) -> Dossier | None:
    """The dossier row, locked until the transaction ends (PostgreSQL; SQLite's write
    transactions are exclusive already)."""
    query = Dossier.select().where(Dossier.id == dossier_id)
    return (query.for_update() if is_postgres() else query).first()


def _draft_for_update(
    ctx: Ctx,
    dossier_id: int,
    statuses: tuple[int, ...] = (DRAFT,),
    submit_key: str | None = None,
    refusal: str = "invalid",
) -> Dossier:
    """The owner's dossier, locked, if its status is one of `statuses`; else DomainError of
    kind `refusal` (NotFound, AccessDenied when it is not the user's)."""
    dossier = (
        _locked(dossier_id)
        if db.transaction_depth()
        else Dossier.get_or_none(Dossier.id == dossier_id)
    )
    if dossier is None:
        raise NotFound("dossier")
    if actor_kind(ctx.user, dossier) != OWNER:
        raise AccessDenied("dossier", dossier.id)
    if submit_key and dossier.submit_key == submit_key:
        return dossier  # the same submission again, after the first one won
    if dossier.status not in statuses:
        raise DomainError(N_("This dossier can no longer be changed."), kind=refusal)
    return dossier


def typed_answer(field: FormField, value: str) -> str:
    """An answer as kept: cleaned, cut to MAX_KEPT, a valid date or number in its canonical
    form (04/12/2026 → 2026-12-04, 1.250.000 → 1250000); anything else as typed."""
    answer = clean(value, multiline=field.kind == "textarea")[:MAX_KEPT]
    return canonical({"number": "int"}.get(field.kind, field.kind), answer)


@transactional
def save_answers(ctx: Ctx, dossier_id: int, data: dict[str, str]) -> dict[str, Message]:
    """Keep the answers given so far (as typed, cleaned); returns format problems to show
    next to the fields, without refusing to save."""
    dossier = _draft_for_update(ctx, dossier_id)
    fields = list(FormField.select().where(FormField.procedure == dossier.procedure_id))
    answers = json.loads(dossier.form_data)
    for f in fields:
        if f.name in data:
            answers[f.name] = typed_answer(f, data[f.name])
    problems: dict[str, Message] = {}
    try:
        validate(answers, field_specs(fields, draft=True))
    except ValidationError as exc:
        problems = exc.errors
    Dossier.update(form_data=json.dumps(answers, ensure_ascii=False), updated_at=utcnow()).where(
        Dossier.id == dossier.id
    ).execute()
    return problems


def _statuses(purpose: str) -> tuple[int, ...]:
    """The statuses in which the owner attaches a file of `purpose`: the application's files
    to a draft, a supplement's while one is asked for. Nothing else changes a dossier's files."""
    return (DRAFT,) if purpose == "application" else (SUPPLEMENT,)


def _replaced(dossier: Dossier, doc: RequiredDocument, purpose: str) -> list[Attachment]:
    """The files a new one of `purpose` for `doc` replaces (a draft's single-file document)."""
    if doc.multiple or purpose != "application":
        return []
    return list(
        Attachment.select().where(Attachment.dossier == dossier, Attachment.document == doc)
    )


def _require_room(ctx: Ctx, dossier: Dossier, doc: RequiredDocument, replacing: int) -> int:
    """The dossier's free file slots once the `replacing` files are gone; raises
    ValidationError (on the `doc-<id>` field) when there is none left."""
    count = Attachment.select().where(Attachment.dossier == dossier).count() - replacing
    if count >= ctx.max_files:
        raise ValidationError(
            {f"doc-{doc.id}": Message(N_("A dossier holds at most %(n)s files."), n=ctx.max_files)}
        )
    return ctx.max_files - count


def attachable(
    ctx: Ctx, dossier_id: int, document_id: int, purpose: str
) -> tuple[Dossier, RequiredDocument, int]:
    """The dossier and document a file of `purpose` may be attached to now, and the dossier's
    free file slots; raises NotFound, DomainError (not in a state that takes files) or
    ValidationError (too many files). Only a first check, before the file is received:
    `_attach` checks again under the dossier's lock, in the transaction that writes the row."""
    with db.connection_context():
        dossier = _draft_for_update(ctx, dossier_id, _statuses(purpose))
        doc = RequiredDocument.get_or_none(
            RequiredDocument.id == document_id, RequiredDocument.procedure == dossier.procedure_id
        )
        if doc is None:
            raise NotFound("document")
        free = _require_room(ctx, dossier, doc, len(_replaced(dossier, doc, purpose)))
    return dossier, doc, free


def add_attachment(
    ctx: Ctx,
    dossier_id: int,
    document_id: int,
    filename: str,
    chunks: Any,
    purpose: str = "application",
    upload_key: str = "",
) -> Attachment:
    """Store an uploaded file for one required document; the file is written first, then the
    row; if the row cannot be written the file is removed. Raises ValidationError (on the
    `doc-<id>` field) or NotFound."""
    dossier, doc, _ = attachable(ctx, dossier_id, document_id, purpose)
    key = f"doc-{doc.id}"
    allowed = doc.file_types.split(",")
    try:
        stored = storage.store(chunks, ctx.uploads, ctx.max_upload_bytes, allowed)
    except storage.UploadRejected as exc:
        raise ValidationError(
            {
                key: Message(
                    UPLOAD_PROBLEMS[exc.reason],
                    mb=ctx.max_upload_bytes // (1024 * 1024),
                    types=", ".join(t.upper() for t in allowed),
                )
            }
        ) from None
    try:
        tax_code = signed_documents.expected_tax_code(dossier.id, purpose, ctx)
        verdict = None if tax_code is None else signed_documents.check(ctx, stored, tax_code, key)
        return _attach(ctx, dossier.id, doc, stored, filename, purpose, upload_key, verdict)
    except BaseException:
        storage.remove(ctx.uploads, stored.stored_name)
        raise


@transactional
def _attach(
    ctx: Ctx,
    dossier_id: int,
    doc: RequiredDocument,
    stored: storage.StoredFile,
    filename: str,
    purpose: str,
    upload_key: str = "",
    verdict: Verdict | None = None,
) -> Attachment:
    """Write the row of a stored file (and its verified signature). The status and the file
    count are checked again here, under the dossier's lock: the first check (`attachable`) ran
    before the file arrived, and a submission or other files may have come in meanwhile.
    Raises DomainError or ValidationError; a file added after submission is recorded in the
    history."""
    confidential = _confidential_now(doc.id)  # first: the document's lock before any file's
    dossier = _draft_for_update(ctx, dossier_id, _statuses(purpose))
    replaced = _replaced(dossier, doc, purpose)
    _require_room(ctx, dossier, doc, len(replaced))
    for old in replaced:
        old.delete_instance()
    attachment = scanning.new_attachment(
        ctx,
        stored,
        filename,
        dossier=dossier,
        document=doc,
        purpose=purpose,
        confidential=confidential,
    )
    if verdict is not None:
        signed_documents.record(attachment, verdict)
    Dossier.update(updated_at=utcnow()).where(Dossier.id == dossier.id).execute()
    if dossier.status != DRAFT:  # a supplement's file: part of the official record
        actor = Actor.of(ctx.user, ctx.client_addr)
        history.note(actor, "add_file", dossier, attachment.original_name, public=True)
    if upload_key:  # the resumable upload that brought the file is done, in the same commit
        done = {"state": "done", "attachment": attachment, "filename": attachment.original_name}
        Upload.update(**done).where(Upload.key == upload_key).execute()
    for old in replaced:
        db.after_commit(lambda name=old.stored_name: storage.remove(ctx.uploads, name))
    return attachment


def _confidential_now(document_id: int) -> bool:
    """The document's confidential flag as committed now, read inside the attaching
    transaction (the document read before storing the file may be stale). On PostgreSQL the
    row is share-locked: an administrator marking it confidential meanwhile waits for this
    file, then makes it confidential with the others (catalogue.confidential_files); SQLite's
    write transactions already take turns. Take it before touching any attachment row: the
    administrator's transaction locks the document, then the attachments."""
    query = RequiredDocument.select(RequiredDocument.confidential).where(
        RequiredDocument.id == document_id
    )
    if is_postgres():
        query = query.for_update("FOR SHARE")
    row = query.first()
    return bool(row and row.confidential)


def _this_round(dossier: Dossier) -> Any:
    """The condition on attachments that picks the supplement files sent since the latest
    supplement request (earlier rounds are evidence and stay)."""
    asked = history.latest(dossier.id, "request_supplement")
    since = asked.created_at if asked is not None else dossier.created_at
    return (Attachment.purpose == "supplement") & (Attachment.uploaded_at >= since)


@transactional
def remove_attachment(ctx: Ctx, dossier_id: int, attachment_id: int) -> None:
    """Remove a file from a draft, or a supplement file sent since the latest supplement
    request (recorded in the history); raises NotFound or DomainError."""
    dossier = _draft_for_update(ctx, dossier_id, (DRAFT, SUPPLEMENT))
    query = Attachment.select().where(Attachment.id == attachment_id, Attachment.dossier == dossier)
    if dossier.status != DRAFT:
        query = query.where(_this_round(dossier))
    att = query.first()
    if att is None:
        raise NotFound("attachment")
    att.delete_instance()
    if dossier.status != DRAFT:
        actor = Actor.of(ctx.user, ctx.client_addr)
        history.note(actor, "remove_file", dossier, att.original_name, public=True)
    db.after_commit(lambda: storage.remove(ctx.uploads, att.stored_name))


@transactional
def delete_draft(ctx: Ctx, dossier_id: int) -> None:
    """Delete a draft that was never submitted, with its files."""
    dossier = _draft_for_update(ctx, dossier_id)
    names = [a.stored_name for a in Attachment.select().where(Attachment.dossier == dossier)]
    Attachment.delete().where(Attachment.dossier == dossier).execute()
    dossier.delete_instance()
    db.after_commit(lambda: [storage.remove(ctx.uploads, n) for n in names])


# --- submission ----------------------------------------------------------------------------


def submission_problems(view: DossierView) -> dict[str, Message]:
    """Everything that keeps a draft from being submitted, by field (documents as doc-<id>)."""
    problems: dict[str, Message] = {}
    try:
        validate(view.data, field_specs(view.fields, draft=False))
    except ValidationError as exc:
        problems.update(exc.errors)
    attached = {a.document_id for a in view.attachments}
    for doc in view.documents:
        if doc.mandatory and doc.id not in attached:
            problems[f"doc-{doc.id}"] = Message(N_("Attach this document."))
    for a in view.attachments:
        if a.scan == "infected":
            problems[f"doc-{a.document_id}"] = Message(scanning.FOUND, name=a.original_name)
    return problems


def next_code(unit: Unit, when: dt.datetime) -> str:
    """The next code of the office's sequence for the day. One sequence per office code, in
    every structure (2016:02CI and 2025:02CI share it, so their codes cannot clash); the
    upsert takes the row's lock until the transaction ends (PostgreSQL), and SQLite's write
    transactions are exclusive, so two submissions never read the same number."""
    day = to_local(when).strftime("%y%m%d")
    (
        DossierSequence.insert(code=unit.code, day=day, last=1)
        .on_conflict(
            conflict_target=[DossierSequence.code, DossierSequence.day],
            update={DossierSequence.last: DossierSequence.last + 1},
        )
        .execute()
    )
    seq = DossierSequence.get(DossierSequence.code == unit.code, DossierSequence.day == day).last
    return f"{unit.code}-{day}-{seq:04d}"


def _unit_today(dossier: Dossier) -> Unit:
    """The unit a draft is filed to: its own, or, when its structure is no longer in force
    (a draft begun before the restructuring), the unit that took it over."""
    unit = Unit.get_by_id(dossier.unit_id)
    if unit.structure == units.structure_in_force():
        return unit
    heir = units.successor(unit)
    if heir is None:
        raise ValidationError(
            {"unit": Message(N_("This office no longer exists: start the dossier again."))}
        )
    Dossier.update(unit=heir).where(Dossier.id == dossier.id).execute()
    return heir


# Why an account that has not shown it holds its enterprise cannot file (enrolment.py).
NOT_YET_ACTIVE = N_(
    "Your account can prepare drafts, but it files dossiers only once customs staff have "
    "checked that the enterprise is yours: you will get an e-mail when it is active."
)


@transactional
def submit(ctx: Ctx, dossier_id: int, submit_key: str, via: str = "") -> Dossier:
    """Submit a complete draft: it gets its code and status 1. The same `submit_key` again
    (a double click, a resent request) returns the dossier without a second submission.
    `via` names the API client that submitted it for the owner (the history's event is then
    `submitted_via_api`, naming it). Raises ValidationError listing what is missing, NotFound,
    or DomainError (forbidden) while the owner's account is not active for its enterprise."""
    key = submit_key[:64] or None
    if key:
        done = Dossier.get_or_none(Dossier.submit_key == key)
        if done is not None and actor_kind(ctx.user, done) == OWNER:
            return done
    dossier = _draft_for_update(ctx, dossier_id, submit_key=key, refusal="conflict")
    if dossier.status != DRAFT:
        return dossier
    if not ctx.user.may_act_for_enterprise:
        raise DomainError(NOT_YET_ACTIVE, kind="forbidden")
    view = load(dossier.id, ctx.user)
    problems = submission_problems(view)
    if problems:
        raise ValidationError(problems)
    transition = check("submit", OWNER, Facts(DRAFT), SUBMISSION)
    now = utcnow()
    unit = _unit_today(dossier)
    code = next_code(unit, now)
    Dossier.update(code=code, status=NEW, submitted_at=now, updated_at=now, submit_key=key).where(
        Dossier.id == dossier.id
    ).execute()
    dossier = Dossier.get_by_id(dossier.id)
    event = history.record(
        Actor.of(ctx.user, ctx.client_addr),
        "submitted_via_api" if via else "submit",
        dossier=dossier,
        status_before=DRAFT,
        status_after=NEW,
        note=f"API: {via}" if via else "",
    )
    notify.status_changed(dossier, event, ctx.links)
    notify.tell_unit(dossier, transition.tell_unit)
    return dossier
