"""The API's clients: the administrator registers one (name, scopes, rate limit), sees its
secret once, rotates its secret and revokes it, each after confirming
(services/api_clients.py)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.i18n import gettext_ as _
from portal.services import api_clients
from portal.services.errors import ValidationError
from portal.services.text import as_int
from portal.web.forms import error_texts, flash, form_dict
from portal.web.rendering import render
from portal.web.security import client_addr, guard, read_form
from portal.web.urls import url

NO_STORE = {"Cache-Control": "no-store"}  # a page that shows a secret is never cached


async def _page(request: Request, values: dict, errors: dict, status_code: int = 200):
    found = await run_in_threadpool(api_clients.clients)
    settings = request.app.state.settings
    return render(request, "admin/api_clients.html",
                  {"clients": found, "values": values, "errors": errors,
                   "scopes": api_clients.SCOPES, "default_rate": settings.api_rate_limit},
                  status_code=status_code)


def _secret_page(request: Request, client, secret: str, fresh: bool) -> Response:
    return render(request, "admin/api_client_secret.html",
                  {"client": client, "secret": secret, "fresh": fresh}, headers=NO_STORE)


@guard("admin")
async def admin_api_clients(request: Request) -> Response:
    return await _page(request, {}, {})


@guard("admin")
async def admin_api_client_register(request: Request) -> Response:
    form = await read_form(request)
    data = form_dict(form, ("name", "rate_limit"))
    chosen = [s for s in form.getlist("scopes") if isinstance(s, str)]
    rate = as_int(data["rate_limit"]) if data["rate_limit"].strip() else None
    if data["rate_limit"].strip() and rate is None:
        rate = -1  # refused by the service with its message
    try:
        client, secret = await run_in_threadpool(
            api_clients.register, request.app.state.settings.secret_key, data["name"],
            chosen, rate, request.state.user, client_addr(request))
    except ValidationError as exc:
        return await _page(request, {**data, "scopes": chosen}, error_texts(exc), 422)
    return _secret_page(request, client, secret, True)


@guard("admin")
async def admin_api_client_rotate_confirm(request: Request) -> Response:
    client = await run_in_threadpool(api_clients.get, request.path_params["key_id"])
    return render(request, "admin/api_client_confirm.html", {"client": client, "act": "rotate"})


@guard("admin")
async def admin_api_client_rotate(request: Request) -> Response:
    await read_form(request)
    client, secret = await run_in_threadpool(
        api_clients.rotate, request.app.state.settings.secret_key,
        request.path_params["key_id"], request.state.user, client_addr(request))
    return _secret_page(request, client, secret, False)


@guard("admin")
async def admin_api_client_revoke_confirm(request: Request) -> Response:
    client = await run_in_threadpool(api_clients.get, request.path_params["key_id"])
    return render(request, "admin/api_client_confirm.html", {"client": client, "act": "revoke"})


@guard("admin")
async def admin_api_client_revoke(request: Request) -> Response:
    await read_form(request)
    client = await run_in_threadpool(api_clients.revoke, request.path_params["key_id"],
                                     request.state.user, client_addr(request))
    flash(request, _("The client %(name)s is revoked: its requests are refused.")
          % {"name": client.name})
    return RedirectResponse(url(request, "admin_api_clients"), 303)
