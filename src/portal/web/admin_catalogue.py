"""Administration of the procedure catalogue: edit in the browser, import and export files."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.i18n import gettext_ as _
from portal.i18n import ngettext_ as ngettext
from portal.i18n import translate
from portal.models import CHANNELS, TIME_UNITS
from portal.services import catalogue, catalogue_files
from portal.services.catalogue import DOCUMENT_FIELDS, FEE_FIELDS, PROCEDURE_FIELDS, TIME_FIELDS
from portal.services.catalogue_files import CatalogueFileError
from portal.services.errors import ValidationError
from portal.web.forms import error_texts, flash, form_dict, kept_values
from portal.web.rendering import render
from portal.web.requests import ctx_of
from portal.web.security import guard, read_form
from portal.web.urls import url

FIELD_NAMES = [
    f.name for f in (*PROCEDURE_FIELDS, *TIME_FIELDS, *DOCUMENT_FIELDS, *FEE_FIELDS)
] + ["requires_signature"]
MAX_IMPORT_BYTES = 5 * 1024 * 1024


def _form(
    request: Request,
    values: dict,
    errors: dict,
    original: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "admin/procedure_form.html",
        {
            "values": values,
            "errors": errors,
            "original": original,
            "channels": CHANNELS,
            "time_units": TIME_UNITS,
            "level_labels": catalogue.LEVEL_LABELS,
        },
        status_code=status_code,
    )


@guard("admin")
async def admin_procedure_new(request: Request) -> Response:
    return _form(request, {"field": "Hải quan", "online_level": "4"}, {})


@guard("admin")
async def admin_procedure_create(request: Request) -> Response:
    data = form_dict(await read_form(request), FIELD_NAMES)
    try:
        proc = await run_in_threadpool(catalogue.save_procedure, data, ctx=ctx_of(request))
    except ValidationError as exc:
        return _form(request, kept_values(data), error_texts(exc), status_code=422)
    flash(request, _("Procedure %(code)s saved.") % {"code": proc.code})
    return RedirectResponse(url(request, "procedure_detail", code=proc.code), 303)


@guard("admin")
async def admin_procedure_edit(request: Request) -> Response:
    proc = await run_in_threadpool(catalogue.get_procedure, request.path_params["code"][:16])
    return _form(request, catalogue.form_values(proc), {}, original=proc.code)


@guard("admin")
async def admin_procedure_update(request: Request) -> Response:
    original = request.path_params["code"][:16]
    await run_in_threadpool(catalogue.get_procedure, original)  # 404 before anything else
    data = form_dict(await read_form(request), FIELD_NAMES)
    try:
        proc = await run_in_threadpool(
            catalogue.save_procedure, data, original_code=original, ctx=ctx_of(request)
        )
    except ValidationError as exc:
        return _form(
            request, kept_values(data), error_texts(exc), original=original, status_code=422
        )
    flash(request, _("Procedure %(code)s saved.") % {"code": proc.code})
    return RedirectResponse(url(request, "procedure_detail", code=proc.code), 303)


def _transfer(
    request: Request, errors: dict, problems: list | None = None, status_code: int = 200
) -> Response:
    return render(
        request,
        "admin/catalogue_transfer.html",
        {"errors": errors, "problems": problems or [], "values": {}},
        status_code=status_code,
    )


@guard("admin")
async def admin_catalogue_transfer(request: Request) -> Response:
    return _transfer(request, {})


@guard("admin")
async def admin_catalogue_import(request: Request) -> Response:
    form = await read_form(request, max_files=1, max_part_size=MAX_IMPORT_BYTES)
    upload = form.get("file")
    errors = {}
    if form.get("confirm") != "1":
        errors["confirm"] = _("Tick the box to confirm that procedures may be replaced.")
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["file"] = _("Choose a CSV or JSON file.")
    if errors:
        if isinstance(upload, UploadFile):
            await upload.close()
        return _transfer(request, errors, status_code=422)
    assert isinstance(upload, UploadFile)
    try:
        content = await upload.read(MAX_IMPORT_BYTES + 1)
    finally:
        await upload.close()
    if len(content) > MAX_IMPORT_BYTES:
        return _transfer(request, {"file": _("The file is larger than 5 MB.")}, status_code=422)
    fmt = "json" if (upload.filename or "").lower().endswith(".json") else "csv"
    try:
        count = await run_in_threadpool(
            catalogue_files.import_catalogue, content, fmt, ctx_of(request)
        )
    except CatalogueFileError as exc:
        problems = [(n, name, translate(m)) for n, name, m in exc.problems]
        return _transfer(request, {"file": translate(exc.message)}, problems, status_code=422)
    flash(
        request,
        ngettext("%(count)s procedure imported.", "%(count)s procedures imported.", count)
        % {"count": count},
    )
    return RedirectResponse(url(request, "procedure_list"), 303)


@guard("admin")
async def admin_catalogue_export(request: Request) -> Response:
    fmt = request.query_params.get("format", "csv")
    fmt = fmt if fmt in catalogue_files.FORMATS else "csv"
    text = await run_in_threadpool(catalogue_files.export_catalogue, fmt)
    media = "application/json" if fmt == "json" else "text/csv"
    return Response(
        text,
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="procedures.{fmt}"'},
    )
