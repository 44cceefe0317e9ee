"""Sessions, CSRF, the route guard and protective headers.

The session cookie (signed by Starlette's SessionMiddleware, HttpOnly, SameSite=Lax) carries a
CSRF token and the key of a server-side session; the server-side row makes rotation on login,
idle/absolute expiry and revocation possible."""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import unquote_plus, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.models import User
from portal.services import accounts, calendar, denials
from portal.services.policy import RULES, allows
from portal.web.problems import is_api, problem
from portal.web.urls import url

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
log = logging.getLogger("portal")
Endpoint = Callable[[Request], Awaitable[Response]]


def csrf_token(request: Request) -> str:
    """This session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def read_form(
    request: Request, *, max_files: int = 0, max_part_size: int = 1024 * 1024
) -> FormData:
    """Parse the submitted form and check its CSRF token (field or header); 403 if wrong."""
    try:
        form = await request.form(max_files=max_files, max_fields=200, max_part_size=max_part_size)
    except HTTPException:
        raise
    except Exception as exc:  # a malformed body is the client's error, never a 500
        raise HTTPException(400, "The form could not be read.") from exc
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = request.session.get("csrf", "")
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        await form.close()  # uploaded parts are temporary files: release them now
        raise HTTPException(403, "csrf")
    return form


def client_addr(request: Request) -> str:
    return request.client.host if request.client else ""


async def current_user(request: Request) -> User | None:
    """The signed-in user, loaded once per request."""
    if not hasattr(request.state, "user"):
        key = request.session.get("k")
        user = None
        if key:
            settings = request.app.state.settings
            user, year = await run_in_threadpool(
                _session_user,
                key,
                dt.timedelta(minutes=settings.session_idle_minutes),
                dt.timedelta(hours=settings.session_absolute_hours),
            )
            if user is None:
                request.session.pop("k", None)
            request.state.unconfirmed_year = year
        request.state.user = user
    return request.state.user


def _session_user(
    key: str, idle: dt.timedelta, absolute: dt.timedelta
) -> tuple[User | None, int | None]:
    """The session's user and, for staff told about the calendar, next year while its
    holidays are unconfirmed: read together, so that no page asks the database while it is
    rendered (on the event loop)."""
    user = accounts.session_user(key, idle, absolute)
    warned = user is not None and allows("calendar_warning", user)
    return user, calendar.unconfirmed_next_year() if warned else None


async def sign_in(request: Request, user: User) -> None:
    """Start a new server-side session and a new CSRF token (the old ones are dropped)."""
    old = request.session.get("k")
    if old:
        await run_in_threadpool(accounts.end_session, old)
    key = await run_in_threadpool(accounts.start_session, user.id, client_addr(request))
    request.session.clear()
    request.session["k"] = key
    request.session["csrf"] = secrets.token_urlsafe(32)
    request.state.user = user


async def sign_out(request: Request) -> None:
    key = request.session.get("k")
    if key:
        await run_in_threadpool(accounts.end_session, key)
    language = request.session.get("lang")
    request.session.clear()
    if language:
        request.session["lang"] = language
    request.state.user = None


async def record_denial(request: Request, kind: str = "", object_id: int | None = None) -> None:
    """Write the refusal of this request (or of the object `kind` `object_id` it asked for) to
    the history as the signed-in user's `access_denied` event; anonymous visitors are not
    recorded. A failure to record is logged, and the refusal is answered all the same."""
    user = getattr(request.state, "user", None)
    if user is None:
        return
    try:
        await run_in_threadpool(
            denials.record_denial,
            user.id,
            client_addr(request),
            request.method,
            request.url.path,
            kind,
            object_id,
        )
    except Exception:
        log.exception("could not record the access denial on %s", request.url.path)


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go to after login; anything else becomes `default`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else default


def refusal(request: Request, user: User | None) -> Response:
    """What a user is answered where a rule does not admit them: an anonymous visitor is sent
    to the login page (back here after it) for a safe method, 401 for others; raises 403 for
    a signed-in user."""
    if user is None:
        if request.method in SAFE_METHODS:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(url(request, "login_form", {"next": target}), 303)
        raise HTTPException(401)
    raise HTTPException(403)


def guard(rule: str) -> Callable[[Endpoint], Endpoint]:
    """Admit only the users the policy's `rule` allows: anonymous visitors are sent to the
    login page, signed-in users without the right get 403."""
    if rule not in RULES:
        raise ValueError(f"unknown access rule {rule!r}")

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def wrapper(request: Request) -> Response:
            user = await current_user(request)
            if not allows(rule, user):
                return refusal(request, user)
            return await endpoint(request)

        wrapper.access_rule = rule  # type: ignore[attr-defined]
        return wrapper

    return decorate


class SecurityMiddleware:
    """Refuses cross-site state-changing requests (Origin / Sec-Fetch-Site) and adds the
    protective headers to every response."""

    HEADERS = [
        (
            b"content-security-policy",
            b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
            b"object-src 'none'",
        ),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
    ]
    STATIC_HEADERS = [(b"x-content-type-options", b"nosniff")]

    def __init__(
        self, app: ASGIApp, hsts: bool = False, form_targets: list[str] | None = None
    ) -> None:
        self.app = app
        self.headers = list(self.HEADERS)
        if form_targets:  # the payment gateways the "Pay online" form leads to
            policy = self.HEADERS[0][1].replace(
                b"form-action 'self'",
                b" ".join([b"form-action 'self'", *(t.encode("latin-1") for t in form_targets)]),
            )
            self.headers[0] = (b"content-security-policy", policy)
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The API's requests carry no cookie and are signed (web/api_auth.py): a request
        # from another site cannot act for anybody there, so the Origin check is for pages.
        api = is_api(scope["path"])
        if scope["method"] not in SAFE_METHODS and not api and self._cross_site(scope):
            response = Response(
                "Yêu cầu từ trang web khác bị từ chối. / Cross-site request refused.",
                403,
                media_type="text/plain; charset=utf-8",
            )
            await response(scope, receive, self._with_headers(send))
            return
        if self._control_chars(scope):
            response = problem(400, "The address holds characters that are not allowed.") \
                if api else Response(
                "Địa chỉ chứa ký tự không hợp lệ. / The address holds characters "
                "that are not allowed.",
                400,
                media_type="text/plain; charset=utf-8",
            )
            await response(scope, receive, self._with_headers(send))
            return
        # Static files (CSS, JS) are not documents: the page policies mean nothing there, and
        # leaving them out saves some 300 bytes per file on a slow link.
        static = scope["path"].startswith("/static/")
        await self.app(scope, receive, self._with_headers(send, static))

    def _with_headers(self, send: Send, static: bool = False) -> Send:
        added = self.STATIC_HEADERS if static else self.headers

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + added
            await send(message)

        return wrapped

    @staticmethod
    def _control_chars(scope: Scope) -> bool:
        """A NUL or other control character in the path or query is never legitimate (and
        PostgreSQL refuses NUL in text)."""
        query = unquote_plus(scope.get("query_string", b"").decode("latin-1"))
        return any(ch < " " or ch == "\x7f" for ch in scope["path"] + query)

    @staticmethod
    def _cross_site(scope: Scope) -> bool:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if headers.get("sec-fetch-site") == "cross-site":
            return True
        origin = headers.get("origin")
        if origin and origin != "null":
            return urlsplit(origin).netloc != headers.get("host", "")
        return origin == "null"
