"""The API's resumable uploads: the tus protocol of web/tus.py behind signed requests. A
client uploads the documents of a dossier it created, for the enterprise it filed it for;
each PATCH's body must be the one whose SHA-256 the request signed. Refusals are problem
details."""

from __future__ import annotations

import dataclasses

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from portal import storage
from portal.services import api
from portal.services.access import Ctx
from portal.web import tus
from portal.web.api_auth import api_ctx, client_of, signed, unauthenticated
from portal.web.problems import problem
from portal.web.requests import dossier_id
from portal.web.security import guard


async def _admit(request: Request) -> Response | None:
    return None  # `signed` admitted it already


async def _ctx(request: Request, key: str | None) -> Ctx:
    client = client_of(request)
    if key is None:
        owner = await run_in_threadpool(api.owner_of, client, dossier_id(request))
    else:
        owner = await run_in_threadpool(api.upload_owner, client, key)
    return dataclasses.replace(api_ctx(request), user=owner)


def _answer(status: int, headers: dict[str, str] | None, text: str) -> Response:
    if status < 400:
        return tus.plain(status, headers)
    return problem(status, text, headers={"Tus-Resumable": tus.VERSION, **(headers or {})},
                   kind="upload")


def _check_chunk(request: Request, chunk: storage.ChunkWriter) -> Response | None:
    if chunk.sha256.hexdigest() != request.headers.get("x-api-content-sha256", ""):
        return unauthenticated("The body's SHA-256 is not X-Api-Content-SHA256.")
    return None


DOOR = tus.Door(refuse=_admit, ctx=_ctx, answer=_answer, upload_route="api_upload_append",
                check_chunk=_check_chunk)


@tus.marked
@guard("public")
async def api_upload_options(request: Request) -> Response:
    """tus discovery: the version, extensions, size and checksum algorithms we accept."""
    return tus.discovery(request, DOOR)


@tus.marked
@guard("public")
async def api_upload_creation_options(request: Request) -> Response:
    """tus discovery on the creation URL, where clients ask it."""
    return tus.discovery(request, DOOR)


@tus.marked
@guard("api_client")
@signed("dossiers:write")
async def api_upload_create(request: Request) -> Response:
    """tus creation: open an upload for one document of a dossier the client created."""
    return await tus.create(request, DOOR, dossier_id(request))


@tus.marked
@guard("api_client")
@signed("dossiers:write")
async def api_upload_offset(request: Request) -> Response:
    """tus HEAD: how much of the file the server holds."""
    return await tus.offset(request, DOOR)


@tus.marked
@guard("api_client")
@signed("dossiers:write", streamed=True)
async def api_upload_append(request: Request) -> Response:
    """tus PATCH: one chunk, its SHA-256 the one signed."""
    return await tus.append(request, DOOR)


@tus.marked
@guard("api_client")
@signed("dossiers:write")
async def api_upload_cancel(request: Request) -> Response:
    """tus termination: drop the upload."""
    return await tus.cancel(request, DOOR)
