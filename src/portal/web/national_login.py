"""Logging in with the national identity (OpenID Connect): the button's POST sends the browser
to the provider, the provider sends it back to the callback (services/oidc_client.py does the
protocol, services/national_identity.py the account)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.i18n import gettext_ as _
from portal.i18n import ngettext_ as ngettext
from portal.i18n import translate
from portal.models import utcnow
from portal.services import national_identity, oidc_client
from portal.services.errors import DomainError
from portal.services.oidc_client import Provider
from portal.web.auth import NATIONAL_SESSION, logged_in
from portal.web.forms import form_dict
from portal.web.rendering import render
from portal.web.security import client_addr, current_user, guard, read_form, safe_next
from portal.web.urls import url

STATE = "oidc_state"  # the session's key for the state of the login under way
FIELD = "national"  # the login page's national identity button (errors point at it)


def _provider(request: Request) -> Provider:
    provider = request.app.state.national_id
    if provider is None:  # single sign-on is not configured
        raise HTTPException(404)
    return provider


def _refused(request: Request, text: str, status: int, next_path: str = "") -> Response:
    """The login page again, saying next to the national identity button what went wrong."""
    return render(
        request,
        "auth/login.html",
        {"values": {"next": next_path}, "errors": {FIELD: text}},
        status_code=status,
    )


@guard("public")
async def national_login_start(request: Request) -> Response:
    """Send the browser to the national identity provider (303). From /account, the identity
    is to be linked to the signed-in account."""
    data = form_dict(await read_form(request), ("next",))
    provider = _provider(request)
    next_path = safe_next(data["next"], "")
    throttle = await run_in_threadpool(national_identity.throttled, client_addr(request))
    if throttle is not None:
        minutes = throttle.minutes_left(utcnow())
        text = ngettext(
            "Too many failed login attempts. For your security, try again in %(num)s minute.",
            "Too many failed login attempts. For your security, try again in %(num)s minutes.",
            minutes,
        ) % {"num": minutes}
        return _refused(request, text, 429, next_path)
    user = await current_user(request)
    try:
        address, state = await run_in_threadpool(
            oidc_client.begin, provider, user.id if user else None, next_path
        )
    except DomainError as exc:
        return _refused(request, translate(exc.message), 503, next_path)
    request.session[STATE] = state
    return RedirectResponse(address, 303)


@guard("public")
async def national_login_callback(request: Request) -> Response:
    """Where the provider sends the browser back: the state checked, the code exchanged, the
    ID token verified, the account found, linked or made; then the same steps as a password
    login. Every refusal is the login page with the reason, and nothing is recorded."""
    provider = _provider(request)
    params = request.query_params
    session_state = request.session.pop(STATE, "")
    addr = client_addr(request)
    error = params.get("error", "")
    if error in oidc_client.PROVIDER_DOWN:  # the provider could not serve the sign-in
        return _refused(request, translate(oidc_client.UNAVAILABLE), 503)
    if error:
        return _refused(
            request, _("The sign-in at the national identity service was cancelled."), 422
        )
    try:
        completed = await run_in_threadpool(
            oidc_client.finish,
            provider,
            params.get("state", ""),
            params.get("code", ""),
            session_state if isinstance(session_state, str) else "",
        )
        settings = request.app.state.settings
        user = await run_in_threadpool(
            national_identity.sign_in,
            completed,
            dict(settings.national_id_claims),
            settings.national_id_min_level,
            addr,
        )
    except DomainError as exc:
        if exc.kind == "unavailable":
            return _refused(request, translate(exc.message), 503)
        await run_in_threadpool(national_identity.count_failure, addr)
        return _refused(request, translate(exc.message), 422)
    next_path = completed.next_path
    if completed.user_id is not None and not next_path:
        next_path = url(request, "account_page")
    response = await logged_in(request, user, next_path)
    request.session[NATIONAL_SESSION] = True
    return response
