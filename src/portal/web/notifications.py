"""A user's notifications in the portal."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.services import notify
from portal.web.rendering import render
from portal.web.security import guard, read_form
from portal.web.urls import url


@guard("signed_in")
async def notifications(request: Request) -> Response:
    items = await run_in_threadpool(notify.unread, request.state.user.id, 50)
    return render(request, "notifications.html", {"items": items})


@guard("signed_in")
async def notifications_read(request: Request) -> Response:
    await read_form(request)
    await run_in_threadpool(notify.mark_read, request.state.user.id)
    return RedirectResponse(url(request, "notifications"), 303)
