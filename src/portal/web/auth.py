"""Login, logout, enterprise self-registration and the e-mail confirmation."""

from __future__ import annotations

import functools

from anyio import CapacityLimiter, to_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.config import LANGUAGES
from portal.i18n import gettext_ as _
from portal.i18n import ngettext_ as ngettext
from portal.models import User, utcnow
from portal.services import accounts, enrolment, logins, national_identity, oidc_client, policy
from portal.services.account_links import AccountLinks
from portal.services.errors import ValidationError
from portal.services.login_limits import Throttle
from portal.web.forms import error_texts, flash, form_dict, kept_values
from portal.web.pages import remember_language
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
from portal.web.urls import url


def _login_limiter(request: Request) -> CapacityLimiter:
    """Logins wait their turn here, before taking one of the threads that serve pages: a
    burst of logins (argon2, slow on purpose) then never holds up the rest of the portal."""
    state = request.app.state
    if getattr(state, "login_limiter", None) is None:
        state.login_limiter = CapacityLimiter(accounts.HASH_CONCURRENCY)
    return state.login_limiter


NATIONAL_SESSION = "nid"  # True in a session begun with the national identity


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
    attempt = await to_thread.run_sync(
        functools.partial(logins.log_in, data["username"], data["password"], client_addr(request)),
        limiter=_login_limiter(request),
    )
    if attempt.throttle is not None:
        minutes = attempt.minutes_left
        text = ngettext(
            "Too many failed login attempts. For your security, try again in %(num)s minute.",
            "Too many failed login attempts. For your security, try again in %(num)s minutes.",
            minutes,
        ) % {"num": minutes}
        return render(
            request,
            "auth/login.html",
            {"values": kept_values(data), "errors": {"username": text}},
            status_code=429,
            headers={"Retry-After": str(attempt.seconds_left)},
        )
    user = attempt.user
    if user is None:
        errors = {"username": _("The user name or password is wrong.")}
        return render(
            request,
            "auth/login.html",
            {"values": kept_values(data), "errors": errors},
            status_code=422,
        )
    return await logged_in(request, user, data["next"])


async def logged_in(request: Request, user: User, next_path: str) -> Response:
    """What follows every login (by password or by the national identity), once the service
    has checked it and recorded it in the history: a new session (rotated), the welcome,
    the user's language, and the page asked for (303)."""
    await sign_in(request, user)
    flash(request, _("Welcome, %(name)s.") % {"name": user.full_name})
    default = url(request, "admin_home" if policy.allows("admin", user) else "home")
    response = RedirectResponse(safe_next(next_path, default), 303)
    if user.language in LANGUAGES:  # the language chosen last time, on any device
        remember_language(request, response, user.language)
    elif request.cookies.get("lang") in LANGUAGES:  # keep the one chosen before logging in
        await run_in_threadpool(accounts.set_language, user.id, request.cookies["lang"])
    return response


@guard("public")
async def logout(request: Request) -> Response:
    """End the session; a session begun with the national identity also ends the provider's
    (RP-initiated logout) when the provider offers it: the browser goes there, then home."""
    await read_form(request)
    user = await current_user(request)
    national = request.session.get(NATIONAL_SESSION) is True
    await sign_out(request)
    flash(request, _("You have logged out."))
    provider = request.app.state.national_id
    if national and user is not None and provider is not None:
        id_token = await run_in_threadpool(national_identity.last_id_token, user.id)
        address = await run_in_threadpool(oidc_client.logout_url, provider, id_token)
        if id_token and address:
            return RedirectResponse(address, 303)
    return RedirectResponse(url(request, "home"), 303)


@guard("public")
async def register_form(request: Request) -> Response:
    return render(request, "auth/register.html", {"values": {}, "errors": {}})


def throttle_text(minutes: int) -> str:
    return ngettext(
        "Too many requests. For your security, try again in %(num)s minute.",
        "Too many requests. For your security, try again in %(num)s minutes.",
        minutes,
    ) % {"num": minutes}


def form_throttled(
    request: Request, template: str, data: dict[str, str], throttle: Throttle
) -> Response:
    """A mail-sending form again (429), its input kept, saying how long to wait."""
    seconds = throttle.seconds_left(utcnow())
    return render(
        request,
        template,
        {"values": kept_values(data), "errors": {"email": throttle_text(-(-seconds // 60))}},
        status_code=429,
        headers={"Retry-After": str(seconds)},
    )


@guard("public")
async def register_submit(request: Request) -> Response:
    """Answer alike for known and unknown tax codes and addresses: "check your e-mail"."""
    form = await read_form(request)
    data = form_dict(form, REGISTER_NAMES)
    links = AccountLinks.of(request.app.state.settings)
    try:
        throttle = await to_thread.run_sync(
            enrolment.register, data, client_addr(request), links, limiter=_login_limiter(request)
        )
    except ValidationError as exc:
        return render(
            request,
            "auth/register.html",
            {"values": kept_values(data), "errors": error_texts(exc)},
            status_code=422,
        )
    if throttle is not None:
        return form_throttled(request, "auth/register.html", data, throttle)
    return RedirectResponse(url(request, "check_email"), 303)


@guard("public")
async def check_email(request: Request) -> Response:
    return render(request, "auth/check_email.html", {})


@guard("public")
async def register_confirm_form(request: Request) -> Response:
    """The page an e-mailed confirmation link opens: a button (a GET changes nothing, so a
    mail scanner that follows links confirms nothing)."""
    token = request.query_params.get("t", "")
    links = AccountLinks.of(request.app.state.settings)
    user = await run_in_threadpool(enrolment.confirmation_user, token, links)
    return render(
        request,
        "auth/confirm.html",
        {"token": token, "valid": user is not None},
        status_code=200 if user is not None else 410,  # the link is used or expired
    )


@guard("public")
async def register_confirm(request: Request) -> Response:
    form = await read_form(request)
    token = str(form.get("t") or "")
    links = AccountLinks.of(request.app.state.settings)
    await run_in_threadpool(enrolment.confirm_email, token, client_addr(request), links)
    flash(
        request,
        _(
            "Your e-mail address is confirmed. Log in to prepare dossiers: you can file them "
            "once customs staff have checked your enterprise."
        ),
    )
    return RedirectResponse(url(request, "login_form"), 303)
