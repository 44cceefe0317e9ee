"""The pages' tus endpoints for resumable attachment uploads. static/js/dossier.js speaks the
protocol in 256 KB chunks, the official clients send the whole file in one PATCH by default.
The protocol itself is web/tus.py's (the API's uploads use it too); this door admits a
signed-in enterprise user whose request carries the session's CSRF header. Without
JavaScript the plain multipart form in the same page does the job."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response

from portal.i18n import gettext_ as _
from portal.i18n import translate
from portal.models import Upload
from portal.services.access import Ctx
from portal.web import tus
from portal.web.errors import CSRF_MESSAGE
from portal.web.forms import flash
from portal.web.requests import ctx_of, dossier_id
from portal.web.security import CSRF_HEADER, guard


async def _refuse(request: Request) -> Response | None:
    """A request without the session's CSRF header is refused."""
    sent = request.headers.get(CSRF_HEADER, "")
    expected = request.session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return tus.plain(403, text=translate(CSRF_MESSAGE))
    return None


async def _ctx(request: Request, key: str | None) -> Ctx:
    return ctx_of(request)


def _attached(request: Request, upload: Upload) -> None:
    flash(request, _("The file %(name)s is attached.") % {"name": upload.filename})


DOOR = tus.Door(
    refuse=_refuse, ctx=_ctx, answer=tus.plain, upload_route="upload_append",
    on_attached=_attached,
)


@tus.marked
@guard("public")
async def upload_options(request: Request) -> Response:
    """tus discovery: the version, extensions, size and checksum algorithms we accept."""
    return tus.discovery(request, DOOR)


@tus.marked
@guard("public")
async def upload_creation_options(request: Request) -> Response:
    """tus discovery on the creation URL, where clients ask it."""
    return tus.discovery(request, DOOR)


@tus.marked
@guard("enterprise")
async def upload_create(request: Request) -> Response:
    """tus creation: open an upload for one document slot of the dossier."""
    return await tus.create(request, DOOR, dossier_id(request))


@tus.marked
@guard("enterprise")
async def upload_offset(request: Request) -> Response:
    """tus HEAD: how much of the file the server holds (verified chunks only)."""
    return await tus.offset(request, DOOR)


@tus.marked
@guard("enterprise")
async def upload_append(request: Request) -> Response:
    """tus PATCH: one chunk at the current offset, streamed to disk."""
    return await tus.append(request, DOOR)


@tus.marked
@guard("enterprise")
async def upload_cancel(request: Request) -> Response:
    """tus termination: drop the upload and what it received."""
    return await tus.cancel(request, DOOR)
