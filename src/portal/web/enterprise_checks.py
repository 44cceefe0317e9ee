"""The customs queue of enterprise accounts waiting for their papers to be checked."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.i18n import gettext_ as _
from portal.services import enrolment
from portal.services.errors import NotFound, ValidationError
from portal.services.text import as_int
from portal.web.forms import error_texts, flash, form_dict
from portal.web.rendering import render
from portal.web.requests import int_param
from portal.web.security import client_addr, current_user, guard, read_form
from portal.web.urls import url


def _user_id(request: Request) -> int:
    user_id = as_int(request.path_params["user_id"])
    if user_id is None:
        raise NotFound("user")
    return user_id


async def _queue(
    request: Request, errors: dict, values: dict, failed: int = 0, status_code: int = 200
) -> Response:
    """The queue; `failed` is the account whose refusal form is shown again with `errors`."""
    page = await run_in_threadpool(enrolment.pending_claims, int_param(request, "page", 1))
    return render(
        request,
        "officer/enterprises.html",
        {"page": page, "errors": errors, "values": values, "failed": failed},
        status_code=status_code,
    )


@guard("enterprise_checks")
async def enterprise_queue(request: Request) -> Response:
    return await _queue(request, {}, {})


@guard("enterprise_checks")
async def enterprise_activate(request: Request) -> Response:
    user_id = _user_id(request)
    await read_form(request)
    officer = await current_user(request)
    await run_in_threadpool(enrolment.activate, user_id, officer, client_addr(request))
    flash(request, _("The account is active."))
    return RedirectResponse(url(request, "enterprise_queue"), 303)


@guard("enterprise_checks")
async def enterprise_reject(request: Request) -> Response:
    user_id = _user_id(request)
    data = form_dict(await read_form(request), ("reason",))
    officer = await current_user(request)
    try:
        await run_in_threadpool(enrolment.reject, user_id, data, officer, client_addr(request))
    except ValidationError as exc:
        return await _queue(request, error_texts(exc), data, user_id, status_code=422)
    flash(request, _("The account was refused; its holder is told why."))
    return RedirectResponse(url(request, "enterprise_queue"), 303)
