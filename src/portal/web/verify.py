"""The public check of a result (/verify): a plain GET form (dossier code and the document's
SHA-256 fingerprint), or the signed token of a QR code (`?t=`); htmx swaps the answer. The
page never shows or serves the document."""

from __future__ import annotations

import hashlib

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from portal.i18n import gettext_ as _
from portal.models import utcnow
from portal.services import result_check
from portal.services.errors import ValidationError
from portal.services.result_check import VerifyLinks
from portal.web.auth import throttle_text
from portal.web.forms import error_texts
from portal.web.rendering import is_htmx, render
from portal.web.requests import param
from portal.web.security import client_addr, guard, read_form

TEMPLATE = "verify.html"
NO_STORE = {"Cache-Control": "private, no-store"}


def _again(request: Request, values: dict, errors: dict, status: int, headers: dict) -> Response:
    ctx = {"values": values, "errors": errors, "answer": None, "by_token": False}
    headers = {**NO_STORE, **headers}
    if is_htmx(request):
        headers |= {"HX-Retarget": "#verify", "HX-Reswap": "outerHTML"}
        return render(request, TEMPLATE, ctx, fragment="verify", status_code=status,
                      headers=headers)
    return render(request, TEMPLATE, ctx, status_code=status, headers=headers)


@guard("public")
async def result_verify_file(request: Request) -> Response:
    """The same check from a file the visitor chooses: the server hashes it and drops it (the
    upload is a temporary file, closed at once); nothing of it is kept."""
    settings = request.app.state.settings
    form = await read_form(request, max_files=1, max_part_size=settings.max_upload_bytes + 1)
    try:
        code = str(form.get("code") or "")[:64]
        upload = form.get("file")
        fingerprint = ""
        if isinstance(upload, UploadFile) and upload.filename:
            digest = hashlib.sha256()
            while chunk := await upload.read(1024 * 1024):
                digest.update(chunk)
            fingerprint = digest.hexdigest()
    finally:
        await form.close()
    values = {"code": code, "fingerprint": fingerprint}
    try:
        answer = await run_in_threadpool(
            result_check.verify, code, fingerprint, client_addr(request))
    except ValidationError as exc:
        errors = error_texts(exc)
        if not fingerprint:
            errors.pop("fingerprint", None)
            errors["file"] = _("Choose the document's file.")
        return _again(request, values, errors, 422, {})
    if answer.throttle is not None:
        seconds = answer.throttle.seconds_left(utcnow())
        errors = {"code": throttle_text(-(-seconds // 60))}
        return _again(request, values, errors, 429, {"Retry-After": str(seconds)})
    return render(request, TEMPLATE,
                  {"values": values, "errors": {}, "answer": answer, "by_token": False},
                  headers=NO_STORE)


@guard("public")
async def result_verify(request: Request) -> Response:
    token = request.query_params.get("t")
    values = {
        "code": param(request, "code", "", 64),
        "fingerprint": param(request, "fingerprint", "", 100),
    }
    if token is None and "code" not in request.query_params:
        return render(request, TEMPLATE, {"values": values, "errors": {}, "answer": None,
                                          "by_token": False})
    addr = client_addr(request)
    try:
        if token is not None:
            links = VerifyLinks.of(request.app.state.settings)
            answer = await run_in_threadpool(result_check.verify_token, token, links, addr)
        else:
            answer = await run_in_threadpool(
                result_check.verify, values["code"], values["fingerprint"], addr)
    except ValidationError as exc:
        return _again(request, values, error_texts(exc), 422, {})
    if answer.throttle is not None:
        seconds = answer.throttle.seconds_left(utcnow())
        errors = {"code": throttle_text(-(-seconds // 60))}
        return _again(request, values, errors, 429, {"Retry-After": str(seconds)})
    target = request.headers.get("hx-target", "")
    return render(
        request, TEMPLATE,
        {"values": values, "errors": {}, "answer": answer, "by_token": token is not None},
        fragment="verify" if target in ("verify", "div#verify") else "result",
        headers=NO_STORE,
    )
