"""Login, logout and enterprise self-registration."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.i18n import gettext_ as _
from portal.services import accounts
from portal.services.errors import ValidationError
from portal.web.forms import error_texts, flash, form_dict, kept_values
from portal.web.rendering import render
from portal.web.security import (
    client_addr,
    current_user,
    guard,
    read_form,
    safe_next,
    sign_in,
    sign_out,
)

REGISTER_NAMES = (
    "tax_code",
    "enterprise_name",
    "full_name",
    "email",
    "password",
    "password_confirm",
)


@guard("public")
async def login_form(request: Request) -> Response:
    if await current_user(request):
        return RedirectResponse(safe_next(request.query_params.get("next")), 303)
    return render(
        request,
        "auth/login.html",
        {"values": {"next": safe_next(request.query_params.get("next"), "")}, "errors": {}},
    )


@guard("public")
async def login_submit(request: Request) -> Response:
    form = await read_form(request)
    data = form_dict(form, ("username", "password", "next"))
    user = await run_in_threadpool(accounts.authenticate, data["username"], data["password"])
    if user is None:
        errors = {"username": _("The user name or password is wrong.")}
        return render(
            request,
            "auth/login.html",
            {"values": kept_values(data), "errors": errors},
            status_code=422,
        )
    await sign_in(request, user)
    await run_in_threadpool(accounts.record_login, user, client_addr(request))
    flash(request, _("Welcome, %(name)s.") % {"name": user.full_name})
    default = "/admin" if user.role == "admin" else "/"
    return RedirectResponse(safe_next(data["next"], default), 303)


@guard("public")
async def logout(request: Request) -> Response:
    await read_form(request)
    await sign_out(request)
    flash(request, _("You have logged out."))
    return RedirectResponse("/", 303)


@guard("public")
async def register_form(request: Request) -> Response:
    return render(request, "auth/register.html", {"values": {}, "errors": {}})


@guard("public")
async def register_submit(request: Request) -> Response:
    form = await read_form(request)
    data = form_dict(form, REGISTER_NAMES)
    try:
        user = await run_in_threadpool(accounts.register_enterprise, data)
    except ValidationError as exc:
        return render(
            request,
            "auth/register.html",
            {"values": kept_values(data), "errors": error_texts(exc)},
            status_code=422,
        )
    await sign_in(request, user)
    flash(request, _("Your enterprise is registered. You can now file dossiers online."))
    return RedirectResponse("/", 303)
