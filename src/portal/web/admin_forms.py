"""The blank forms a procedure offers: the administrator attaches and removes them; everybody
downloads them from the procedure's page by a link that never changes its content."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from portal import storage
from portal.i18n import gettext_ as _
from portal.models import ProcedureForm
from portal.services import catalogue, procedure_forms
from portal.services.errors import NotFound, ValidationError
from portal.services.text import as_int
from portal.web.forms import error_texts, flash, form_dict
from portal.web.rendering import render
from portal.web.requests import ctx_of
from portal.web.security import guard, read_form
from portal.web.static import IMMUTABLE
from portal.web.urls import url

FIELDS = ("title",)


def _code(request: Request) -> str:
    return request.path_params["code"][:16]


def _form_id(request: Request) -> int:
    value = as_int(request.path_params["form_id"])
    if value is None:
        raise NotFound("form")
    return value


async def _page(
    request: Request, values: dict, errors: dict, status_code: int = 200
) -> Response:
    proc = await run_in_threadpool(catalogue.get_procedure, _code(request))
    forms = await run_in_threadpool(procedure_forms.forms_of, proc.id)
    return render(
        request,
        "admin/procedure_forms.html",
        {
            "proc": proc,
            "forms": forms,
            "values": values,
            "errors": errors,
            "max_mb": procedure_forms.limit(ctx_of(request)) // (1024 * 1024),
        },
        status_code=status_code,
    )


@guard("admin")
async def admin_procedure_forms(request: Request) -> Response:
    return await _page(request, {}, {})


@guard("admin")
async def admin_procedure_form_add(request: Request) -> Response:
    code = _code(request)
    await run_in_threadpool(catalogue.get_procedure, code)  # 404 before the file is read
    ctx = ctx_of(request)
    form = await read_form(request, max_files=1, max_part_size=procedure_forms.limit(ctx) + 1)
    try:
        data = form_dict(form, FIELDS)
        upload = form.get("file")
        errors: dict[str, str] = {}
        try:
            title = procedure_forms.clean_title(data)
        except ValidationError as exc:
            errors, title = error_texts(exc), ""
        if not isinstance(upload, UploadFile) or not upload.filename:
            errors["file"] = _("Choose the form's file.")
        if not errors:
            assert isinstance(upload, UploadFile)
            chunks = storage.iter_file(upload.file)
            try:
                added = await run_in_threadpool(procedure_forms.attach, ctx, code, title, chunks)
            except ValidationError as exc:
                errors = error_texts(exc)
    finally:
        await form.close()  # the uploaded part is a temporary file: release it now
    if errors:
        return await _page(request, data, errors, status_code=422)
    flash(request, _("The form %(title)s is offered for download.") % {"title": added.title})
    return RedirectResponse(url(request, "admin_procedure_forms", code=code), 303)


@guard("admin")
async def admin_procedure_form_remove_confirm(request: Request) -> Response:
    found = await run_in_threadpool(procedure_forms.get, _code(request), _form_id(request))
    return render(request, "admin/procedure_form_remove.html", {"form": found})


@guard("admin")
async def admin_procedure_form_remove(request: Request) -> Response:
    await read_form(request)
    removed = await run_in_threadpool(
        procedure_forms.remove, ctx_of(request), _code(request), _form_id(request)
    )
    flash(request, _("The form %(title)s was removed.") % {"title": removed.title})
    return RedirectResponse(url(request, "admin_procedure_forms", code=_code(request)), 303)


def download_url(request: Request, code: str, form: ProcedureForm) -> str:
    sha = form.sha256[: procedure_forms.SHA_PREFIX]
    return url(request, "procedure_form_download", code=code, form_id=form.id, sha=sha)


def content_disposition(filename: str) -> str:
    """`attachment` with the name in ASCII (accents dropped, for old clients) and in UTF-8
    (RFC 5987/6266), which browsers prefer: Vietnamese names arrive as they are."""
    plain = unicodedata.normalize("NFKD", filename.replace("đ", "d").replace("Đ", "D"))
    fallback = plain.encode("ascii", "ignore").decode().replace('"', "").replace("\\", "")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@guard("public")
async def procedure_form_download(request: Request) -> Response:
    form = await run_in_threadpool(
        procedure_forms.for_download,
        _code(request),
        _form_id(request),
        request.path_params["sha"][:64],
    )
    # A matching If-None-Match gets its 304 from web/conditional.py.
    headers = {"Cache-Control": IMMUTABLE, "ETag": f'"{form.sha256}"'}
    path = request.app.state.settings.uploads / form.stored_name
    if not path.is_file():
        raise NotFound("form file")
    headers["Content-Disposition"] = content_disposition(form.filename)
    return FileResponse(path, media_type=form.content_type, headers=headers)
