"""What the API (/api/v1) reads and writes, as plain data for JSON: the catalogue, dossiers a
client files for an enterprise (the same drafts, form rules, documents and submission as on
the web: services/dossiers.py), their status, promised date, payments and steps, and the feed
of status changes read from the official history."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from typing import Any

from peewee import JOIN

from portal.db import reading, transactional
from portal.models import (
    ApiClient,
    ApiDossier,
    Dossier,
    DossierEvent,
    Enterprise,
    FormField,
    Payment,
    Procedure,
    Unit,
    Upload,
    User,
)
from portal.services import catalogue, dossiers, fees
from portal.services.access import Ctx
from portal.services.errors import N_, DomainError, Message, NotFound, ValidationError
from portal.services.status import DRAFT, STATUS_LABELS
from portal.services.workflow import ACTION_NAMES

PAGE_SIZE = 50
FEED_LIMIT = 200


def iso(value: dt.datetime | dt.date | None) -> str | None:
    """A UTC time as RFC 3339 (`2026-12-04T07:30:00Z`), a date as `2026-12-04`."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0).isoformat() + "Z"
    return value.isoformat()


def has_scope(client: ApiClient, scope: str) -> bool:
    scopes = client.scope_list
    return scope in scopes or (scope == "dossiers:read" and "dossiers:read-all" in scopes)


# --- catalogue -----------------------------------------------------------------------------


def _procedure_summary(p: Procedure) -> dict[str, Any]:
    return {
        "code": p.code, "name": p.name, "field": p.field, "online_level": p.online_level,
        "online": p.is_online, "implementing_agency": p.implementing_agency,
        "requires_signature": p.requires_signature, "updated_at": iso(p.updated_at),
    }


@reading
def procedures(changed_since: dt.datetime | None, page: int) -> dict[str, Any]:
    """A page of the catalogue in code order, or of the procedures changed since a time (in
    order of change, for keeping a copy in step)."""
    query = Procedure.select()
    if changed_since is not None:
        query = query.where(Procedure.updated_at > changed_since).order_by(
            Procedure.updated_at, Procedure.code)
    else:
        query = query.order_by(Procedure.code)
    total = query.count()
    rows = list(query.paginate(page, PAGE_SIZE))
    return {"items": [_procedure_summary(p) for p in rows], "page": page,
            "page_size": PAGE_SIZE, "total": total}


@reading
def procedure(code: str) -> dict[str, Any]:
    """One procedure with its form, required documents and fees; raises NotFound."""
    proc = Procedure.get_or_none(Procedure.code == code[:16])
    if proc is None:
        raise NotFound("procedure")
    _, fields, docs = catalogue.procedure_parts(proc.id)
    return {
        **_procedure_summary(proc),
        "national_url": proc.national_url,
        "steps": [s for s in proc.steps.splitlines() if s.strip()],
        "legal_basis": proc.legal_basis,
        "form": [_field(f) for f in fields],
        "documents": [{"id": d.id, "name": d.name, "mandatory": d.mandatory,
                       "multiple": d.multiple, "file_types": d.file_types.split(",")}
                      for d in docs],
        "fees": [{"label": f.label, "kind": f.kind, "amount": f.amount,
                  "field": f.field or None, "rate_bp": f.rate_bp or None}
                 for f in fees.fees_of(proc.id)],
    }


def _field(f: FormField) -> dict[str, Any]:
    return {"name": f.name, "label": f.label, "kind": f.kind, "required": f.required,
            "pattern": f.pattern or None, "max_length": f.max_length,
            "choices": [c for c in f.choices.splitlines() if c.strip()]}


# --- dossiers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewDossier:
    """A dossier a client asks to create (the request's body, checked for shape)."""

    procedure: str
    unit: str
    tax_code: str
    answers: dict[str, str]


def parse_new_dossier(body: Any) -> NewDossier:
    """The body of POST /dossiers; raises ValidationError naming each field that is wrong."""
    if not isinstance(body, dict):
        raise ValidationError({"body": Message(N_("Send a JSON object."))})
    errors: dict[str, Message] = {}
    text: dict[str, str] = {}
    for name in ("procedure", "unit", "tax_code"):
        value = body.get(name)
        if not isinstance(value, str) or not value.strip() or len(value) > 64:
            errors[name] = Message(N_("This field is required."))
        else:
            text[name] = value.strip()
    answers = body.get("answers", {})
    if not isinstance(answers, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int) and not isinstance(v, bool)
        for k, v in answers.items()
    ):
        errors["answers"] = Message(N_("Give the answers as an object of texts."))
    if errors:
        raise ValidationError(errors)
    return NewDossier(text["procedure"], text["unit"], text["tax_code"],
                      {k[:64]: str(v) for k, v in answers.items()})


def _applicant(tax_code: str) -> User:
    """The enterprise's active account the dossier will belong to; ValidationError on
    `tax_code` when the enterprise has none."""
    user = (User.select().join(Enterprise, on=(User.enterprise == Enterprise.id))
            .where(Enterprise.tax_code == tax_code[:13], User.role == "enterprise",
                   User.active == True, User.enterprise_status == "active")  # noqa: E712
            .order_by(User.id).first())
    if user is None:
        raise ValidationError({"tax_code": Message(N_(
            "No enterprise with this tax code has an active account in the portal."))})
    return user


@transactional
def create_dossier(client: ApiClient, ctx: Ctx, new: NewDossier, idempotency_key: str,
                   body_hash: str) -> tuple[int, bool]:
    """Open a draft for the enterprise with its answers; returns its id and whether it is
    new (False: the same Idempotency-Key was sent before with the same body). Raises
    ValidationError per field (answers as `answers.<name>`), NotFound (procedure),
    DomainError (not online; the key reused for another body)."""
    key = idempotency_key[:255] or None
    if key:
        done = ApiDossier.get_or_none(ApiDossier.client == client.id,
                                      ApiDossier.idempotency_key == key)
        if done is not None:
            if done.request_hash != body_hash:
                raise DomainError(N_("This Idempotency-Key was used for another request."),
                                  kind="conflict")
            return done.dossier_id, False
    ctx = replace(ctx, user=_applicant(new.tax_code))
    draft = dossiers.start_draft(ctx, new.procedure, new.unit)
    known = {f.name for f in FormField.select().where(FormField.procedure == draft.procedure_id)}
    unknown = sorted(set(new.answers) - known)
    if unknown:
        raise ValidationError({f"answers.{n}": Message(N_("The procedure's form has no such "
                                                          "field.")) for n in unknown})
    problems = dossiers.save_answers(ctx, draft.id, new.answers)
    if problems:
        raise ValidationError({f"answers.{n}": m for n, m in problems.items()})
    ApiDossier.create(client=client.id, dossier=draft.id, idempotency_key=key,
                      request_hash=body_hash)
    return draft.id, True


def _visible(client: ApiClient, dossier_id: int) -> Dossier:
    """The dossier if the client may read it (the ones it created; with dossiers:read-all
    every submitted one); NotFound otherwise."""
    dossier = Dossier.get_or_none(Dossier.id == dossier_id)
    if dossier is None:
        raise NotFound("dossier")
    mine = ApiDossier.select().where(ApiDossier.client == client.id,
                                     ApiDossier.dossier == dossier.id).exists()
    if mine or ("dossiers:read-all" in client.scope_list and dossier.status != DRAFT):
        return dossier
    raise NotFound("dossier")


@reading
def owner_of(client: ApiClient, dossier_id: int) -> User:
    """The account a dossier the client created belongs to (the one it acts for)."""
    dossier = Dossier.get_or_none(Dossier.id == dossier_id)
    if dossier is None or not ApiDossier.select().where(
        ApiDossier.client == client.id, ApiDossier.dossier == dossier.id
    ).exists():
        raise NotFound("dossier")
    return User.get_by_id(dossier.owner_id)


@reading
def upload_owner(client: ApiClient, key: str) -> User:
    """The account an upload of a dossier the client created belongs to; NotFound."""
    upload = Upload.get_or_none(Upload.key == key)
    if upload is None:
        raise NotFound("upload")
    return owner_of(client, upload.dossier_id)


@reading
def dossier(client: ApiClient, dossier_id: int) -> dict[str, Any]:
    """A dossier's status, promised date, payments, steps and documents; raises NotFound."""
    d = _visible(client, dossier_id)
    proc, _, docs = catalogue.procedure_parts(d.procedure_id)
    unit = Unit.get_or_none(Unit.id == d.unit_id)
    attached: dict[int, int] = {}
    for a in d.attachments:
        if a.purpose != "result" and a.document_id:
            attached[a.document_id] = attached.get(a.document_id, 0) + 1
    return {
        "id": d.id, "code": d.code, "procedure": proc.code,
        "unit": unit.code if unit else None,
        "tax_code": Enterprise.get_by_id(d.enterprise_id).tax_code,
        "status": {"code": d.status, "name": STATUS_LABELS[d.status]},
        "created_at": iso(d.created_at), "submitted_at": iso(d.submitted_at),
        "received_at": iso(d.received_at), "finished_at": iso(d.finished_at),
        "promised_at": iso(d.apology_due_at or d.due_at),
        "answers": json.loads(d.form_data),
        "documents": [{"id": doc.id, "name": doc.name, "mandatory": doc.mandatory,
                       "files": attached.get(doc.id, 0)} for doc in docs],
        "payments": [_payment(p) for p in
                     Payment.select().where(Payment.dossier == d.id).order_by(Payment.id)],
        "steps": [_step(e) for e in DossierEvent.select().where(
            DossierEvent.dossier == d.id, DossierEvent.public == True  # noqa: E712
        ).order_by(DossierEvent.id)],
    }


def _payment(p: Payment) -> dict[str, Any]:
    return {"id": p.id, "total": p.total, "currency": p.currency, "status": p.status,
            "items": json.loads(p.items), "requested_at": iso(p.requested_at),
            "paid_at": iso(p.paid_at), "channel": p.channel or None,
            "receipt_number": p.number}


def _step(e: DossierEvent) -> dict[str, Any]:
    return {"action": e.action, "name": ACTION_NAMES.get(e.action, e.action),
            "status_before": e.status_before, "status_after": e.status_after,
            "at": iso(e.created_at), "unit": e.actor_unit or None}


def submit(client: ApiClient, ctx: Ctx, dossier_id: int, submit_key: str) -> int:
    """Submit a draft the client created, for its owner; returns its id. Raises NotFound,
    ValidationError (what is missing) or DomainError, as the web's submission does."""
    ctx = replace(ctx, user=owner_of(client, dossier_id))
    return dossiers.submit(ctx, dossier_id, submit_key, via=client.name).id


@reading
def status_changes(client: ApiClient, after: int, limit: int) -> dict[str, Any]:
    """The status changes after the cursor `after` (an event id), oldest first (events that
    leave the status as it was, such as an assignment or an attached result, are not): the
    client's own dossiers, or every dossier with dossiers:read-all. Events are numbered in
    the order they are committed (history.record holds the chain's head until commit), so a
    reader that goes on from the last cursor misses none."""
    query = (DossierEvent.select(DossierEvent, Dossier.id, Dossier.code)
             .join(Dossier, on=(DossierEvent.dossier == Dossier.id))
             .where(DossierEvent.id > after, DossierEvent.status_after.is_null(False),
                    DossierEvent.status_before.is_null(True)
                    | (DossierEvent.status_before != DossierEvent.status_after))
             .order_by(DossierEvent.id).limit(limit))
    if "dossiers:read-all" not in client.scope_list:
        query = query.join(ApiDossier, JOIN.INNER,
                           on=(ApiDossier.dossier == Dossier.id)).where(
            ApiDossier.client == client.id)
    items = [{"cursor": str(e.id), "dossier_id": e.dossier.id, "code": e.dossier.code,
              "action": e.action, "status_before": e.status_before,
              "status_after": e.status_after, "at": iso(e.created_at)} for e in query]
    return {"items": items, "next": items[-1]["cursor"] if items else str(after)}
