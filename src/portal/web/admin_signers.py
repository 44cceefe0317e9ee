"""The certificates that sign units' results: the administrator registers one (the unit's
code, the signer's title, the certificate file) and removes one after confirming."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.i18n import gettext_ as _
from portal.services import signers
from portal.services.errors import NotFound, ValidationError
from portal.services.text import as_int
from portal.web.forms import error_texts, flash, form_dict
from portal.web.rendering import render
from portal.web.requests import ctx_of
from portal.web.security import guard, read_form
from portal.web.urls import url

FIELDS = ("unit", "title")


def _signer_id(request: Request) -> int:
    value = as_int(request.path_params["signer_id"])
    if value is None:
        raise NotFound("signer")
    return value


async def _page(request: Request, values: dict, errors: dict, status_code: int = 200):
    found = await run_in_threadpool(signers.current)
    return render(request, "admin/signers.html",
                  {"signers": found, "values": values, "errors": errors},
                  status_code=status_code)


@guard("admin")
async def admin_signers(request: Request) -> Response:
    return await _page(request, {}, {})


@guard("admin")
async def admin_signer_register(request: Request) -> Response:
    form = await read_form(request, max_files=1, max_part_size=signers.MAX_CERT_BYTES + 1)
    try:
        data = form_dict(form, FIELDS)
        upload = form.get("certificate")
        content = await upload.read() if isinstance(upload, UploadFile) else b""
    finally:
        await form.close()
    try:
        signer = await run_in_threadpool(
            signers.register, ctx_of(request), data["unit"], content, data["title"])
    except ValidationError as exc:
        return await _page(request, data, error_texts(exc), status_code=422)
    flash(request, _("%(name)s may now sign the results of %(unit)s.")
          % {"name": signer.name, "unit": data["unit"]})
    return RedirectResponse(url(request, "admin_signers"), 303)


@guard("admin")
async def admin_signer_remove_confirm(request: Request) -> Response:
    signer = await run_in_threadpool(signers.get, _signer_id(request))
    return render(request, "admin/signer_remove.html", {"signer": signer})


@guard("admin")
async def admin_signer_remove(request: Request) -> Response:
    await read_form(request)
    removed = await run_in_threadpool(signers.remove, ctx_of(request), _signer_id(request))
    flash(request, _("%(name)s no longer signs results.") % {"name": removed.name})
    return RedirectResponse(url(request, "admin_signers"), 303)
