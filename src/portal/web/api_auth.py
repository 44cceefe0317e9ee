"""Signed requests of the API: every endpoint under /api/v1 but the OpenAPI document is
wrapped by `signed(scope)`, which finds the registered client whose key signed the request
(services/api_clients.py), checks that the body is the one signed and that the client holds
the scope, and answers problem details otherwise. No cookie or CSRF token is used."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from portal import i18n
from portal.models import ApiClient
from portal.services import api, api_clients
from portal.services.access import Ctx
from portal.web.problems import problem
from portal.web.requests import ctx_of

Endpoint = Callable[[Request], Awaitable[Response]]
CHALLENGE = {"WWW-Authenticate": 'HMAC-SHA256 realm="api", headers="x-api-key x-api-timestamp '
             'x-api-nonce x-api-content-sha256 x-api-signature"'}


def target(request: Request) -> str:
    """The path with its query exactly as sent (what the client signed)."""
    path = request.scope.get("raw_path") or request.scope["path"].encode()
    query = request.scope.get("query_string", b"")
    return (path + (b"?" + query if query else b"")).decode("latin-1")


def language(request: Request) -> str:
    """Problem details in Vietnamese when the client asks for it, else in English."""
    return "vi" if request.headers.get("accept-language", "").lower().startswith("vi") else "en"


def unauthenticated(detail: str) -> Response:
    return problem(401, detail, headers=CHALLENGE, kind="signature")


async def _client(request: Request, streamed: bool) -> ApiClient | Response:
    """The client that signed the request, or the problem answering it."""
    signed = api_clients.Signed(*(request.headers.get(h, "") for h in api_clients.HEADERS))
    if not streamed:
        body = await request.body()  # the route's max_body_size bounds it
        if signed.body_sha256 and hashlib.sha256(body).hexdigest() != signed.body_sha256:
            return unauthenticated("The body's SHA-256 is not X-Api-Content-SHA256.")
    settings = request.app.state.settings
    limits = api_clients.Limits(settings.secret_key, settings.api_clock_skew_seconds,
                                settings.api_rate_limit)
    try:
        return await run_in_threadpool(
            api_clients.authenticate, signed, request.method, target(request), limits
        )
    except api_clients.Unauthenticated as exc:
        return unauthenticated(exc.detail)
    except api_clients.RateLimited as exc:
        return problem(429, f"Too many requests: wait {exc.retry_after} s.",
                       headers={"Retry-After": str(exc.retry_after)}, kind="rate-limit")


def signed(scope: str, *, streamed: bool = False) -> Callable[[Endpoint], Endpoint]:
    """Admit a request signed by an active client holding `scope`. With `streamed` the body
    is left unread (a tus PATCH, which compares its chunk's SHA-256 itself)."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def wrapper(request: Request) -> Response:
            i18n.current_language.set(language(request))
            client = await _client(request, streamed)
            if isinstance(client, Response):
                return client
            if not api.has_scope(client, scope):
                return problem(403, f"This client may not use the scope {scope}.",
                               kind="scope")
            request.state.api_client = client
            return await endpoint(request)

        return wrapper

    return decorate


def client_of(request: Request) -> ApiClient:
    return request.state.api_client


def api_ctx(request: Request) -> Ctx:
    """The deployment's context for a service call; the service puts in the account the
    client acts for (the enterprise's)."""
    request.state.user = None  # no session: nobody is signed in
    return ctx_of(request)
