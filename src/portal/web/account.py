"""Self-service: the user's own account page (password, log out everywhere) and the
forgotten-password links."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal import storage
from portal.i18n import gettext_ as _
from portal.services import enrolment, self_service
from portal.services.account_links import AccountLinks
from portal.services.errors import Message, ValidationError
from portal.services.signed_documents import SIGNED_PDF_ONLY
from portal.web.auth import form_throttled
from portal.web.forms import error_texts, flash, form_dict, kept_values
from portal.web.rendering import render
from portal.web.requests import ctx_of
from portal.web.security import client_addr, current_user, guard, read_form, sign_out
from portal.web.urls import url

PASSWORD_NAMES = ("current_password", "password", "password_confirm")


def _links(request: Request) -> AccountLinks:
    return AccountLinks.of(request.app.state.settings)


@guard("signed_in")
async def account_page(request: Request) -> Response:
    return render(request, "account/account.html", {"values": {}, "errors": {}})


@guard("signed_in")
async def account_certificate(request: Request) -> Response:
    """A pending enterprise account activated by a PDF signed with the enterprise's
    certificate (the file is checked, then dropped)."""
    settings = request.app.state.settings
    form = await read_form(request, max_files=1, max_part_size=settings.max_upload_bytes + 1)
    upload = form.get("signed_file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationError({"signed_file": Message(SIGNED_PDF_ONLY)})
        await run_in_threadpool(enrolment.activate_by_certificate, ctx_of(request),
                                storage.iter_file(upload.file))
    except ValidationError as exc:
        return render(request, "account/account.html", {"values": {}, "errors": error_texts(exc)},
                      status_code=422)
    finally:
        await form.close()
    flash(request, _("Your enterprise account is active: you can now file dossiers."))
    return RedirectResponse(url(request, "account_page"), 303)


@guard("signed_in")
async def account_password(request: Request) -> Response:
    """Change one's password; the other sessions end, this one goes on."""
    user = await current_user(request)
    data = form_dict(await read_form(request), PASSWORD_NAMES)
    key = request.session.get("k", "")
    try:
        await run_in_threadpool(
            self_service.change_password, user.id, data, key, client_addr(request)
        )
    except ValidationError as exc:
        return render(
            request,
            "account/account.html",
            {"values": kept_values(data), "errors": error_texts(exc)},
            status_code=422,
        )
    flash(request, _("Your password is changed. Your other sessions have ended."))
    return RedirectResponse(url(request, "account_page"), 303)


@guard("signed_in")
async def account_sessions_end(request: Request) -> Response:
    """Log out everywhere, here too."""
    user = await current_user(request)
    await read_form(request)
    await run_in_threadpool(self_service.log_out_everywhere, user.id, client_addr(request))
    await sign_out(request)
    flash(request, _("You have logged out everywhere."))
    return RedirectResponse(url(request, "home"), 303)


@guard("public")
async def password_forgot_form(request: Request) -> Response:
    return render(request, "account/forgot.html", {"values": {}, "errors": {}})


@guard("public")
async def password_forgot_submit(request: Request) -> Response:
    """Send a reset link if the address has an account: the answer is the same either way."""
    data = form_dict(await read_form(request), ("email",))
    try:
        throttle = await run_in_threadpool(
            self_service.request_reset, data, client_addr(request), _links(request)
        )
    except ValidationError as exc:
        return render(
            request,
            "account/forgot.html",
            {"values": kept_values(data), "errors": error_texts(exc)},
            status_code=422,
        )
    if throttle is not None:
        return form_throttled(request, "account/forgot.html", data, throttle)
    return RedirectResponse(url(request, "check_email"), 303)


@guard("public")
async def password_reset_form(request: Request) -> Response:
    token = request.query_params.get("t", "")
    user = await run_in_threadpool(self_service.reset_user, token, _links(request))
    return render(
        request,
        "account/reset.html",
        {"token": token, "valid": user is not None, "values": {}, "errors": {}},
        status_code=200 if user is not None else 410,  # the link is used or expired
    )


@guard("public")
async def password_reset_submit(request: Request) -> Response:
    """Set the new password (the link is then used up) and end every session."""
    form = await read_form(request)
    token = str(form.get("t") or "")
    data = form_dict(form, ("password", "password_confirm"))
    try:
        await run_in_threadpool(
            self_service.reset_password, token, data, client_addr(request), _links(request)
        )
    except ValidationError as exc:
        return render(
            request,
            "account/reset.html",
            {"token": token, "valid": True, "values": {}, "errors": error_texts(exc)},
            status_code=422,
        )
    await sign_out(request)
    flash(request, _("Your new password is set. Log in with it."))
    return RedirectResponse(url(request, "login_form"), 303)
