"""Administration of accounts: officers, leaders, auditors and admins are created only here."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.i18n import gettext_ as _
from portal.i18n import ngettext_ as ngettext
from portal.models import ROLES
from portal.services import accounts, scanning, units
from portal.services.errors import NotFound, ValidationError
from portal.services.text import as_int
from portal.web.forms import error_texts, flash, form_dict, kept_values
from portal.web.rendering import render
from portal.web.requests import int_param, param
from portal.web.security import guard, read_form
from portal.web.urls import url

USER_NAMES = (
    "username",
    "full_name",
    "email",
    "role",
    "unit_code",
    "tax_code",
    "clearance",
    "active",
    "password",
)


def _user_id(request: Request) -> int:
    user_id = as_int(request.path_params["user_id"])
    if user_id is None:
        raise NotFound("user")
    return user_id


async def _form_page(
    request: Request, values: dict, errors: dict, *, user=None, status_code: int = 200
) -> Response:
    choices = await run_in_threadpool(units.unit_choices)
    return render(
        request,
        "admin/user_form.html",
        {"values": values, "errors": errors, "roles": ROLES, "units": choices, "edited": user},
        status_code=status_code,
    )


@guard("admin")
async def admin_home(request: Request) -> Response:
    address = request.app.state.settings.clamd_address
    scan = await run_in_threadpool(scanning.status, address)
    return render(request, "admin/home.html", {"scan": scan})


@guard("admin")
async def admin_users(request: Request) -> Response:
    role = param(request, "role", max_length=16)
    q = param(request, "q", max_length=64)
    page = await run_in_threadpool(accounts.list_users, role, q, int_param(request, "page"))
    return render(
        request,
        "admin/users.html",
        {"page": page, "role": role if role in ROLES else "", "q": q, "roles": ROLES},
        fragment="results",
    )


@guard("admin")
async def admin_user_new(request: Request) -> Response:
    return await _form_page(request, {"active": True, "role": "officer"}, {})


@guard("admin")
async def admin_user_create(request: Request) -> Response:
    data = form_dict(await read_form(request), USER_NAMES)
    try:
        user = await run_in_threadpool(accounts.create_user, data)
    except ValidationError as exc:
        return await _form_page(request, kept_values(data), error_texts(exc), status_code=422)
    flash(request, _("Account %(name)s created.") % {"name": user.username})
    return RedirectResponse(url(request, "admin_users"), 303)


@guard("admin")
async def admin_user_edit(request: Request) -> Response:
    user = await run_in_threadpool(accounts.get_user, _user_id(request))
    return await _form_page(request, accounts.user_form_values(user), {}, user=user)


@guard("admin")
async def admin_user_update(request: Request) -> Response:
    user = await run_in_threadpool(accounts.get_user, _user_id(request))
    data = form_dict(await read_form(request), USER_NAMES)
    try:
        await run_in_threadpool(accounts.update_user, user.id, data)
    except ValidationError as exc:
        values = {**kept_values(data), "username": user.username}
        return await _form_page(request, values, error_texts(exc), user=user, status_code=422)
    flash(request, _("Account %(name)s saved.") % {"name": user.username})
    return RedirectResponse(url(request, "admin_users"), 303)


@guard("admin")
async def admin_user_sessions_end(request: Request) -> Response:
    user = await run_in_threadpool(accounts.get_user, _user_id(request))
    await read_form(request)
    count = await run_in_threadpool(accounts.end_sessions, user.id)
    flash(
        request,
        ngettext(
            "%(count)s session of %(name)s was ended.",
            "%(count)s sessions of %(name)s were ended.",
            count,
        )
        % {"count": count, "name": user.username},
    )
    return RedirectResponse(url(request, "admin_user_edit", user_id=user.id), 303)
