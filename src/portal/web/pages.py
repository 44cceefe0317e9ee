"""Home page, language switch and health check."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from portal.config import LANGUAGES
from portal.services import catalogue
from portal.web.rendering import render
from portal.web.security import guard, safe_next


@guard("public")
async def home(request: Request) -> Response:
    summary = await run_in_threadpool(catalogue.level_summary)
    return render(request, "home.html", {"summary": summary})


@guard("public")
async def language_set(request: Request) -> Response:
    code = request.path_params["code"]
    target = safe_next(request.query_params.get("next"))
    response = RedirectResponse(target, 303)
    if code in LANGUAGES:
        response.set_cookie(
            "lang",
            code,
            max_age=365 * 86400,
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.secure_cookies,
        )
    return response


@guard("public")
async def health(request: Request) -> Response:
    await run_in_threadpool(catalogue.level_summary)
    return PlainTextResponse("ok")
