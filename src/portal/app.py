"""The ASGI application. Importing `portal.jobs` here registers the background tasks, so the
web process enqueues what its services ask for (`portal.background`)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette_compress import CompressMiddleware

from portal import i18n, jobs, queue  # noqa: F401  (jobs: registers the tasks)
from portal.config import ROOT, Settings
from portal.db import configure
from portal.migrations import check_schema
from portal.services import payments
from portal.services.oidc_client import Provider
from portal.web.conditional import PageTags, Revalidation
from portal.web.errors import HANDLERS
from portal.web.rendering import make_templates
from portal.web.routes import routes
from portal.web.security import SecurityMiddleware
from portal.web.shared_pages import SharedPages
from portal.web.static import StaticAssets
from portal.web.urls import Urls

LANGUAGE_COOKIE = "lang"


class LanguageMiddleware:
    """Sets the request's language from the `lang` cookie, else the deployment default."""

    def __init__(self, app: ASGIApp, default: str) -> None:
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            cookie = ""
            for key, value in scope["headers"]:
                if key == b"cookie":
                    for part in value.decode("latin-1").split(";"):
                        name, _, val = part.strip().partition("=")
                        if name == LANGUAGE_COOKIE:
                            cookie = val
            i18n.current_language.set(i18n.pick_language(cookie, self.default))
        await self.app(scope, receive, send)


def _lifespan(threads: int):
    """Runs blocking work on `threads` threads (anyio's default is 40). Python runs one
    thread at a time: forty rendering and querying at once each waited longer for the
    interpreter, and writers queued for the write lock held threads reads could use. With 16,
    a 120 s run of bench/load.py (200 users, 2 workers) answered more requests with a lower
    p95 (bench/README.md)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield

    return lifespan


def gateway_origins(settings: Settings) -> list[str]:
    """The origins of the payment gateways configured: the pages' forms may lead there (the
    payer is sent to the gateway by the answer to the "Pay online" form)."""
    origins = []
    for _name, address, _code, _secret in settings.payment_gateways:
        parts = urlsplit(address)
        origins.append(f"{parts.scheme}://{parts.netloc}")
    return list(dict.fromkeys(origins))


def form_origins(settings: Settings) -> list[str]:
    """Where the pages' forms may lead: the payment gateways, and the national identity
    provider (the login button's answer sends the browser there, and so does the logout's
    when the provider ends its session too)."""
    provider = Provider.of(settings)
    return list(dict.fromkeys(gateway_origins(settings) + ([provider.origin] if provider else [])))


def create_app(settings: Settings) -> Starlette:
    """Build the portal for `settings`; raises SchemaError if the database is not migrated."""
    logging.basicConfig(level=logging.DEBUG if settings.debug else logging.INFO)
    configure(settings)
    check_schema()
    queue.bind(settings)  # the tasks the services ask for go to this deployment's queue
    assets = StaticAssets(ROOT / "static")
    app = Starlette(
        debug=False,
        lifespan=_lifespan(settings.web_threads),
        routes=routes(assets, settings.max_upload_bytes),
        exception_handlers=HANDLERS,  # type: ignore[arg-type]
        middleware=[
            # Outermost: the ETag of what is really sent, and 304s (web/conditional.py).
            Middleware(Revalidation),
            # The public catalogue as sent to anonymous visitors, kept per catalogue revision.
            Middleware(SharedPages, paths=frozenset({"/procedures"})),
            # zstd, brotli or gzip, as the client's Accept-Encoding allows (q=0 refuses).
            Middleware(CompressMiddleware, minimum_size=512, zstd_level=6, brotli_quality=5,
                       gzip_level=6),
            Middleware(
                SecurityMiddleware,
                hsts=settings.secure_cookies,
                form_targets=form_origins(settings),
            ),
            Middleware(
                SessionMiddleware,
                secret_key=settings.secret_key,
                session_cookie="portal_session",
                max_age=None,
                same_site="lax",
                https_only=settings.secure_cookies,
            ),
            Middleware(LanguageMiddleware, default=settings.default_language),
            Middleware(PageTags),
        ],
    )
    app.state.settings = settings
    app.state.assets = assets
    app.state.urls = Urls(app.routes)
    app.state.payments = payments.Setup.of(settings)
    app.state.national_id = Provider.of(settings)  # None: no single sign-on
    app.state.templates = make_templates(settings, assets.url, urls=app.state.urls)
    return app
