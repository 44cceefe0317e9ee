"""The national portal link for administrators: the status sync's failed deliveries with the
receiver's error and a retry after confirming (/admin/sync), and the catalogue sync from the
national catalogue's export (upload, see what changes, confirm: /admin/catalogue/sync)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.i18n import gettext_ as _
from portal.i18n import translate
from portal.services import catalogue_sync, national_sync
from portal.services.catalogue_files import CatalogueFileError
from portal.services.errors import NotFound
from portal.services.status import STATUS_LABELS
from portal.services.text import as_int
from portal.web.forms import flash
from portal.web.rendering import render
from portal.web.requests import ctx_of
from portal.web.security import guard, read_form
from portal.web.urls import url

MAX_EXPORT_BYTES = 5 * 1024 * 1024


def _message_id(request: Request) -> int:
    value = as_int(request.path_params["message_id"])
    if value is None:
        raise NotFound("message")
    return value


@guard("admin")
async def admin_sync(request: Request) -> Response:
    overview = await run_in_threadpool(national_sync.overview)
    return render(
        request, "admin/sync.html", {"overview": overview, "status_labels": STATUS_LABELS}
    )


@guard("admin")
async def admin_sync_retry_confirm(request: Request) -> Response:
    row = await run_in_threadpool(national_sync.failed_row, _message_id(request))
    return render(request, "admin/sync_retry.html", {"row": row})


@guard("admin")
async def admin_sync_retry(request: Request) -> Response:
    await read_form(request)
    key = await run_in_threadpool(national_sync.retry, ctx_of(request).user, _message_id(request))
    flash(request, _("The message %(key)s will be sent again.") % {"key": key})
    return RedirectResponse(url(request, "admin_sync"), 303)


def _sync_page(
    request: Request,
    errors: dict,
    problems=(),
    plan=None,
    content: str = "",
    fmt: str = "csv",
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "admin/catalogue_sync.html",
        {
            "errors": errors,
            "problems": problems,
            "plan": plan,
            "content": content,
            "fmt": fmt,
            "values": {},
        },
        status_code=status_code,
    )


@guard("admin")
async def admin_catalogue_sync(request: Request) -> Response:
    return _sync_page(request, {})


def _refused(request: Request, exc: CatalogueFileError) -> Response:
    problems = [(n, name, translate(m)) for n, name, m in exc.problems]
    return _sync_page(request, {"file": translate(exc.message)}, problems, status_code=422)


@guard("admin")
async def admin_catalogue_sync_check(request: Request) -> Response:
    """The dry run of an uploaded export: what it would change, and the form that applies it."""
    form = await read_form(request, max_files=1, max_part_size=MAX_EXPORT_BYTES + 1)
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            return _sync_page(request, {"file": _("Choose a CSV or JSON file.")}, status_code=422)
        content = await upload.read(MAX_EXPORT_BYTES + 1)
        fmt = "json" if upload.filename.lower().endswith(".json") else "csv"
    finally:
        await form.close()
    if len(content) > MAX_EXPORT_BYTES:
        return _sync_page(request, {"file": _("The file is larger than 5 MB.")}, status_code=422)
    try:
        plan = await run_in_threadpool(catalogue_sync.dry_run, content, fmt)
    except CatalogueFileError as exc:
        return _refused(request, exc)
    return _sync_page(request, {}, plan=plan, content=content.decode("utf-8-sig"), fmt=fmt)


@guard("admin")
async def admin_catalogue_sync_apply(request: Request) -> Response:
    form = await read_form(request, max_part_size=MAX_EXPORT_BYTES * 2)
    content, fmt = str(form.get("content") or ""), str(form.get("format") or "")
    try:
        plan = await run_in_threadpool(catalogue_sync.apply, content.encode(), fmt, ctx_of(request))
    except CatalogueFileError as exc:
        return _refused(request, exc)
    flash(
        request,
        _("%(count)s procedures updated from the national catalogue.") % {"count": plan.procedures},
    )
    return RedirectResponse(url(request, "admin_catalogue_sync"), 303)
