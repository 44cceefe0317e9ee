"""The enterprise's dossiers: start, fill (saved as you go), attach, review, submit, track."""

from __future__ import annotations

import secrets

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal import storage
from portal.i18n import gettext_ as _
from portal.models import Procedure
from portal.services import catalogue, dossiers, fees, payments, satisfaction
from portal.services.errors import NotFound, ValidationError
from portal.services.processing import deadline_flag
from portal.services.text import as_int
from portal.services.workflow import STATUS_LABELS
from portal.web.dossier_page import detail_page
from portal.web.forms import error_texts, flash, form_dict
from portal.web.rendering import render
from portal.web.requests import ctx_of, dossier_id, int_param, param
from portal.web.security import guard, read_form
from portal.web.urls import url


@guard("enterprise")
async def dossier_list(request: Request) -> Response:
    status = as_int(param(request, "status", max_length=2))
    status = status if status in STATUS_LABELS else None
    q = param(request, "q", max_length=32)
    page = await run_in_threadpool(
        dossiers.list_for_enterprise,
        request.state.user,
        status=status,
        q=q,
        page=int_param(request, "page"),
    )
    to_rate, unrated = await run_in_threadpool(
        satisfaction.awaiting, request.state.user.enterprise_id, [d.id for d in page.items]
    )
    return render(
        request,
        "dossiers/list.html",
        {
            "page": page,
            "to_rate": to_rate,
            "unrated": unrated,
            "status": status,
            "q": q,
            "labels": STATUS_LABELS,
            "flags": {d.id: deadline_flag(d) for d in page.items},
        },
        fragment="results",
    )


@guard("enterprise")
async def dossier_new(request: Request) -> Response:
    code = param(request, "procedure", max_length=16)
    proc = await run_in_threadpool(catalogue.get_procedure, code)
    if not proc.is_online:
        return _counter_only(request, proc)
    units = await run_in_threadpool(dossiers.competent_units, proc)
    return render(
        request, "dossiers/new.html", {"proc": proc, "units": units, "errors": {}, "values": {}}
    )


def _counter_only(request: Request, proc: Procedure) -> Response:
    """409: a procedure that is not online has no online dossier; the page says why and how
    to do it at the counter instead of offering a form."""
    return render(
        request,
        "dossiers/new.html",
        {"proc": proc, "units": [], "errors": {}, "values": {}},
        status_code=409,
    )


@guard("enterprise")
async def dossier_create(request: Request) -> Response:
    data = form_dict(await read_form(request), ("procedure", "unit"))
    proc = await run_in_threadpool(catalogue.get_procedure, data["procedure"][:16])
    if not proc.is_online:
        return _counter_only(request, proc)
    try:
        dossier = await run_in_threadpool(
            dossiers.start_draft, ctx_of(request), data["procedure"], data["unit"]
        )
    except ValidationError as exc:
        units = await run_in_threadpool(dossiers.competent_units, proc)
        return render(
            request,
            "dossiers/new.html",
            {"proc": proc, "units": units, "errors": error_texts(exc), "values": data},
            status_code=422,
        )
    return RedirectResponse(url(request, "dossier_edit", dossier_id=dossier.id), 303)


async def _edit_page(
    request: Request, view, errors: dict, status_code: int = 200, saved: bool = False
) -> Response:
    return render(
        request,
        "dossiers/edit.html",
        {
            "view": view,
            "errors": errors,
            "values": dossiers.form_values(view.fields, view.data),
            "saved": saved,
        },
        status_code=status_code,
        fragment="save_status" if saved else None,
    )


@guard("enterprise")
async def dossier_edit(request: Request) -> Response:
    view = await run_in_threadpool(dossiers.load, dossier_id(request), request.state.user)
    if not view.is_draft:
        return RedirectResponse(url(request, "dossier_detail", dossier_id=view.dossier.id), 303)
    return await _edit_page(request, view, {})


@guard("enterprise")
async def dossier_save(request: Request) -> Response:
    did = dossier_id(request)
    form = await read_form(request)
    data = form_dict(form)
    problems = await run_in_threadpool(dossiers.save_answers, ctx_of(request), did, data)
    view = await run_in_threadpool(dossiers.load, did, request.state.user)
    errors = error_texts(ValidationError(problems)) if problems else {}
    if form.get("next") == "review" and not problems:
        return RedirectResponse(url(request, "dossier_review", dossier_id=did), 303)
    if request.headers.get("hx-request") == "true":
        return await _edit_page(request, view, errors, saved=True)
    if not problems:
        flash(request, _("Your answers are saved."))
        return RedirectResponse(url(request, "dossier_edit", dossier_id=did), 303)
    return await _edit_page(request, view, errors, status_code=422)


async def _upload(request: Request, purpose: str) -> Response:
    did = dossier_id(request)
    settings = request.app.state.settings
    form = await read_form(request, max_files=1, max_part_size=settings.max_upload_bytes + 1)
    upload, doc = form.get("file"), form.get("document", "")
    page = "dossier_edit" if purpose == "application" else "dossier_detail"
    back = url(request, page, dossier_id=did)
    if not isinstance(upload, UploadFile) or not upload.filename or as_int(doc) is None:
        await form.close()
        errors = {f"doc-{doc}": _("Choose a file to attach.")}
    else:
        try:
            attachment = await run_in_threadpool(
                dossiers.add_attachment,
                ctx_of(request),
                did,
                int(doc),
                upload.filename,
                storage.iter_file(upload.file),
                purpose,
            )
            flash(request, _("The file %(name)s is attached.") % {"name": attachment.served_name})
            return RedirectResponse(back + f"#doc-{doc}", 303)
        except ValidationError as exc:
            errors = error_texts(exc)
        finally:
            if isinstance(upload, UploadFile):
                await upload.close()
    view = await run_in_threadpool(dossiers.load, did, request.state.user)
    if purpose == "application":
        return await _edit_page(request, view, errors, status_code=422)
    return await detail_page(request, view, errors, status_code=422, failed="supplement")


@guard("enterprise")
async def dossier_file_add(request: Request) -> Response:
    return await _upload(request, "application")


@guard("enterprise")
async def dossier_supplement_file_add(request: Request) -> Response:
    return await _upload(request, "supplement")


@guard("enterprise")
async def dossier_file_remove(request: Request) -> Response:
    did = dossier_id(request)
    await read_form(request)
    attachment_id = as_int(request.path_params["attachment_id"])
    if attachment_id is None:
        raise NotFound("attachment")
    await run_in_threadpool(dossiers.remove_attachment, ctx_of(request), did, attachment_id)
    flash(request, _("The file was removed."))
    view = await run_in_threadpool(dossiers.load, did, request.state.user)
    page = "dossier_edit" if view.is_draft else "dossier_detail"
    return RedirectResponse(url(request, page, dossier_id=did), 303)


@guard("enterprise")
async def dossier_review(request: Request) -> Response:
    view = await run_in_threadpool(dossiers.load, dossier_id(request), request.state.user)
    if not view.is_draft:
        return RedirectResponse(url(request, "dossier_detail", dossier_id=view.dossier.id), 303)
    problems = dossiers.submission_problems(view)
    shown = error_texts(ValidationError(problems)) if problems else {}
    return await _review_page(request, view, shown, secrets.token_urlsafe(24))


async def _review_page(
    request: Request,
    view: dossiers.DossierView,
    problems: dict[str, str],
    submit_key: str,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The review before submission, with what the procedure's fees come to (paid once the
    handling unit asks for them)."""
    items = await run_in_threadpool(payments.proposed, view)
    return render(
        request,
        "dossiers/review.html",
        {
            "view": view,
            "problems": problems,
            "submit_key": submit_key,
            "errors": errors or {},
            "values": {},
            "fees_due": items,
            "fees_total": fees.total(items),
        },
        status_code=status_code,
    )


@guard("enterprise")
async def dossier_submit(request: Request) -> Response:
    did = dossier_id(request)
    data = form_dict(await read_form(request), ("submit_key", "confirm"))
    if data["confirm"] != "1":
        view = await run_in_threadpool(dossiers.load, did, request.state.user)
        errors = {"confirm": _("Confirm that the information is true and complete.")}
        return await _review_page(request, view, {}, data["submit_key"], errors, 422)
    try:
        dossier = await run_in_threadpool(dossiers.submit, ctx_of(request), did, data["submit_key"])
    except ValidationError as exc:
        view = await run_in_threadpool(dossiers.load, did, request.state.user)
        return await _review_page(request, view, error_texts(exc), data["submit_key"], None, 422)
    flash(request, _("Dossier %(code)s is submitted.") % {"code": dossier.code})
    return RedirectResponse(url(request, "dossier_receipt", dossier_id=dossier.id), 303)


@guard("enterprise")
async def dossier_delete_confirm(request: Request) -> Response:
    view = await run_in_threadpool(dossiers.load, dossier_id(request), request.state.user)
    if not view.is_draft:
        raise HTTPException(409)
    return render(request, "dossiers/delete.html", {"view": view})


@guard("enterprise")
async def dossier_delete(request: Request) -> Response:
    did = dossier_id(request)
    await read_form(request)
    await run_in_threadpool(dossiers.delete_draft, ctx_of(request), did)
    flash(request, _("The draft was deleted."))
    return RedirectResponse(url(request, "dossier_list"), 303)
