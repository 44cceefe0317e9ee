"""The counter (*bộ phận một cửa*): an officer records a dossier received on paper, with its
scanned documents, and later the supplements the applicant brings (services/counter.py)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal import storage
from portal.i18n import gettext_ as _
from portal.services import counter
from portal.services.errors import Message, NotFound, ValidationError
from portal.services.text import as_int
from portal.web.dossier_page import page_with_errors
from portal.web.forms import error_texts, flash, form_dict
from portal.web.rendering import is_htmx, render
from portal.web.requests import ctx_of, dossier_id, param
from portal.web.security import guard, read_form
from portal.web.urls import url

MAX_SCANS = 10  # files in one request: the route's body limit is counted from it


async def _chooser(request: Request, values: dict, errors: dict, status_code: int = 200):
    procedures = await run_in_threadpool(counter.procedure_choices)
    return render(
        request,
        "officer/counter.html",
        {"intake": None, "procedures": procedures, "values": values, "errors": errors},
        status_code=status_code,
    )


async def _form(
    request: Request,
    code: str,
    values: dict,
    errors: dict,
    *,
    status_code: int = 200,
    looked_up: bool = False,
    fragment: str | None = None,
) -> Response:
    intake = await run_in_threadpool(counter.intake_form, code, values.get("id_number", ""))
    return render(
        request,
        "officer/counter.html",
        {
            "intake": intake,
            "procedures": [],
            "values": values,
            "errors": errors,
            "looked_up": looked_up,
        },
        status_code=status_code,
        fragment=fragment,
    )


@guard("counter_intake")
async def officer_counter(request: Request) -> Response:
    code = param(request, "procedure", max_length=16)
    if not code:
        return await _chooser(request, {}, {})
    try:
        return await _form(request, code, {"procedure": code, "kind": "enterprise"}, {})
    except NotFound:
        errors = error_texts(ValidationError({"procedure": Message(counter.NO_PROCEDURE)}))
        return await _chooser(request, {"procedure": code}, errors, status_code=422)


def _scans(form: FormData) -> list[counter.Scan]:
    """The files sent, each for the document its field names: `doc-<id>` (the intake form),
    or `file` for the form's `document` (a supplement)."""
    chosen = form.get("document")
    chosen_id = as_int(chosen) if isinstance(chosen, str) else None
    scans = []
    for key, value in form.multi_items():
        if not isinstance(value, UploadFile) or not value.filename:
            continue
        if key == "file":
            doc = chosen_id
        elif key.startswith("doc-"):
            doc = as_int(key.removeprefix("doc-"))
        else:
            continue
        scans.append(counter.Scan(doc or 0, value.filename, storage.iter_file(value.file)))
    return scans


@guard("counter_intake")
async def officer_counter_submit(request: Request) -> Response:
    settings = request.app.state.settings
    form = await read_form(
        request, max_files=MAX_SCANS, max_part_size=settings.max_upload_bytes + 1
    )
    try:
        data = form_dict(form)
        code = data.get("procedure", "")[:16]
        if data.get("step") == "find":  # look the applicant up; nothing is recorded
            fragment = "applicant" if is_htmx(request) else None
            try:
                return await _form(request, code, data, {}, looked_up=True, fragment=fragment)
            except NotFound:
                return await _chooser(request, {}, {}, status_code=422)
        try:
            dossier = await run_in_threadpool(
                counter.record_dossier, ctx_of(request), code, data, _scans(form)
            )
        except ValidationError as exc:
            errors = error_texts(exc)
            if "procedure" in errors:
                return await _chooser(request, data, errors, status_code=422)
            return await _form(request, code, data, errors, status_code=422, looked_up=True)
    finally:
        await form.close()
    flash(request, _("Dossier %(code)s is recorded and received.") % {"code": dossier.code})
    return RedirectResponse(url(request, "dossier_detail", dossier_id=dossier.id), 303)


@guard("counter_intake")
async def dossier_counter_files(request: Request) -> Response:
    did = dossier_id(request)
    settings = request.app.state.settings
    form = await read_form(
        request, max_files=MAX_SCANS, max_part_size=settings.max_upload_bytes + 1
    )
    data = form_dict(form, ("document", "note"))
    try:
        await run_in_threadpool(
            counter.record_supplement, ctx_of(request), did, _scans(form), data["note"]
        )
    except ValidationError as exc:
        # One file field on the page: a document's file problem is shown next to it.
        errors = {("files" if k.startswith("doc-") else k): m for k, m in exc.errors.items()}
        return await page_with_errors(
            request, did, ValidationError(errors), failed="record_supplement", values=data
        )
    finally:
        await form.close()
    flash(request, _("The supplement is recorded: the clock runs again."))
    return RedirectResponse(url(request, "dossier_detail", dossier_id=did), 303)
