"""Home page, language switch and health check."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from portal.config import LANGUAGES
from portal.services import accounts, catalogue
from portal.web.rendering import render
from portal.web.security import current_user, guard, read_form, safe_next


@guard("public")
async def home(request: Request) -> Response:
    summary = await run_in_threadpool(catalogue.level_summary)
    return render(request, "home.html", {"summary": summary})


@guard("public")
async def language_set(request: Request) -> Response:
    """Switch the language: kept in a cookie, and in the profile of a signed-in user. A POST
    that carries the session's CSRF token (a visitor without a session has none to carry: the
    Origin check refuses other sites' POSTs, and only the cookie changes)."""
    if request.session.get("csrf") or await current_user(request):
        await read_form(request)
    code = request.path_params["code"]
    response = RedirectResponse(safe_next(request.query_params.get("next")), 303)
    if code in LANGUAGES:
        remember_language(request, response, code)
        user = await current_user(request)
        if user is not None and user.language != code:
            await run_in_threadpool(accounts.set_language, user.id, code)
    return response


def remember_language(request: Request, response: Response, code: str) -> None:
    """Set the language cookie the LanguageMiddleware reads."""
    response.set_cookie(
        "lang",
        code,
        max_age=365 * 86400,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.secure_cookies,
    )


# Crawlers may index the public pages (catalogue, statistics, the look-up and verification
# forms); what needs a login, and the API, is no business of theirs.
ROBOTS = """User-agent: *
Disallow: /account
Disallow: /admin/
Disallow: /api/
Disallow: /dossiers
Disallow: /notifications
Disallow: /officer/
Disallow: /payments/
Allow: /
"""


@guard("public")
async def robots(request: Request) -> Response:
    return PlainTextResponse(ROBOTS, headers={"Cache-Control": "public, max-age=86400"})


@guard("public")
async def favicon(request: Request) -> Response:
    """The icon, for browsers that ask /favicon.ico instead of following the pages'
    `<link rel="icon">` (the fingerprinted copy, cached for a year)."""
    assets = request.app.state.assets
    icon = assets.assets[assets.url("favicon.svg").removeprefix("/static/")]
    return Response(icon.plain, media_type="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=86400", "ETag": icon.etag})


@guard("public")
async def health(request: Request) -> Response:
    await run_in_threadpool(catalogue.level_summary)
    return PlainTextResponse("ok")
