"""The tus 1.0 protocol (core, creation, termination, checksum, expiration) for resumable
attachment uploads, shared by the pages' uploads (web/uploads.py: a signed-in session with its
CSRF header) and the API's (web/api_uploads.py: signed requests). A `Door` says how one family
of endpoints admits a request, whom it acts for, where its uploads live and how it words a
refusal; everything else (offsets, chunks streamed to disk, checksums, limits) is here once.
The rules behind it are services/uploads.py's."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from portal import storage
from portal.i18n import translate
from portal.models import Upload
from portal.services import uploads
from portal.services.access import Ctx
from portal.services.errors import DomainError, NotFound, ValidationError
from portal.services.text import as_int
from portal.web.errors import HANDLERS
from portal.web.urls import url

VERSION = "1.0.0"
EXTENSIONS = "creation,termination,checksum,expiration"
WRITE_BATCH = 1024 * 1024  # bytes gathered before a write to disk
Answer = Callable[[int, "dict[str, str] | None", str], Response]
Endpoint = Callable[[Request], Awaitable[Response]]


def plain(status: int, headers: dict[str, str] | None = None, text: str = "") -> Response:
    """A tus answer as the pages' script reads it: the message as plain text."""
    return Response(
        text,
        status,
        headers={"Tus-Resumable": VERSION, "Cache-Control": "no-store", **(headers or {})},
        media_type="text/plain; charset=utf-8",
    )


@dataclass(frozen=True)
class Door:
    """How one family of tus endpoints admits requests.

    `refuse`: an answer for a request its door does not admit (before the protocol's own
    checks), else None. `ctx`: the context the services act in, for the upload `key` (None
    when one is being created for the dossier of the path). `answer`: how an answer is
    written (`plain`, or problem details). `upload_route`: the route name of an upload's URL.
    `check_chunk`: an answer refusing a chunk that arrived whole, else None (the API compares
    its SHA-256 with the signed one). `on_attached`: what to do once a file is attached."""

    refuse: Callable[[Request], Awaitable[Response | None]]
    ctx: Callable[[Request, str | None], Awaitable[Ctx]]
    answer: Answer
    upload_route: str
    check_chunk: Callable[[Request, storage.ChunkWriter], Response | None] = (
        lambda request, chunk: None
    )
    on_attached: Callable[[Request, Upload], None] = lambda request, upload: None


def marked(endpoint: Endpoint) -> Endpoint:
    """Every answer of a tus endpoint carries Tus-Resumable, its refusals (401, 403, 404, a
    rule's refusal) included: they are made by the app's error handlers (problem details
    under /api/), then marked."""

    @functools.wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        try:
            response = await endpoint(request)
        except (HTTPException, NotFound, DomainError) as exc:
            handler = next(HANDLERS[kind] for kind in HANDLERS if isinstance(exc, kind))
            response = await handler(request, exc)
        response.headers["Tus-Resumable"] = VERSION
        return response

    return wrapper


def metadata(header: str) -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64value` pairs; undecodable values are empty."""
    out: dict[str, str] = {}
    for pair in header.split(",")[:10]:
        key, _, value = pair.strip().partition(" ")
        try:
            out[key] = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            out[key] = ""
    return out


def checksum(header: str) -> uploads.Checksum | None | bool:
    """The Upload-Checksum header, None when absent, False when unusable."""
    if not header:
        return None
    algorithm, _, value = header.partition(" ")
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return uploads.Checksum(algorithm, digest) if algorithm in uploads.CHECKSUMS else False


def state(upload: Upload) -> dict[str, str]:
    return {
        "Upload-Offset": str(upload.offset),
        "Upload-Length": str(upload.length),
        "Upload-Expires": email.utils.format_datetime(
            upload.expires_at.replace(tzinfo=dt.UTC), usegmt=True
        ),
    }


def discovery(request: Request, door: Door) -> Response:
    """tus discovery: the version, extensions, size and checksum algorithms we accept."""
    settings = request.app.state.settings
    return door.answer(
        204,
        {
            "Tus-Version": VERSION,
            "Tus-Extension": EXTENSIONS,
            "Tus-Max-Size": str(settings.max_upload_bytes),
            "Tus-Checksum-Algorithm": ",".join(uploads.CHECKSUMS),
        },
        "",
    )


async def _admitted(request: Request, door: Door) -> Response | None:
    if refused := await door.refuse(request):
        return refused
    if request.headers.get("tus-resumable") != VERSION:
        return door.answer(412, {"Tus-Version": VERSION}, "")
    return None


def _invalid(door: Door, exc: ValidationError, status: int = 422) -> Response:
    return door.answer(status, None, translate(next(iter(exc.errors.values()))))


def _bad(door: Door) -> Response:
    return door.answer(400, None, translate("The request could not be understood."))


async def create(request: Request, door: Door, dossier_id: int) -> Response:
    """tus creation: open an upload for one document slot of the dossier."""
    if refused := await _admitted(request, door):
        return refused
    length = as_int(request.headers.get("upload-length", ""))
    meta = metadata(request.headers.get("upload-metadata", ""))
    document = as_int(meta.get("document", ""))
    if length is None or document is None:
        return _bad(door)
    ctx = await door.ctx(request, None)
    try:
        upload = await run_in_threadpool(
            uploads.create, ctx, dossier_id, document, meta.get("filename", ""), length,
            meta.get("purpose", "application"),
        )
    except uploads.TooLarge as exc:
        return _invalid(door, exc, 413)
    except ValidationError as exc:
        return _invalid(door, exc)
    location = url(request, door.upload_route, key=upload.key)
    return door.answer(201, {"Location": location, **state(upload)}, "")


async def offset(request: Request, door: Door) -> Response:
    """tus HEAD: how much of the file the server holds (verified chunks only)."""
    if refused := await _admitted(request, door):
        return refused
    key = upload_key(request)
    upload = await run_in_threadpool(uploads.status, await door.ctx(request, key), key)
    return door.answer(200, state(upload), "")


async def append(request: Request, door: Door) -> Response:
    """tus PATCH: one chunk at the current offset, up to the rest of the file, streamed to
    disk. It is kept only if it arrives whole."""
    if refused := await _admitted(request, door):
        return refused
    if request.headers.get("content-type") != "application/offset+octet-stream":
        return door.answer(415, None, "")
    start = as_int(request.headers.get("upload-offset", ""))
    sum_ = checksum(request.headers.get("upload-checksum", ""))
    if start is None or sum_ is False:
        return _bad(door)
    key = upload_key(request)
    ctx = await door.ctx(request, key)
    upload = await run_in_threadpool(uploads.status, ctx, key)
    if upload.state != "open" or start != upload.offset:
        return door.answer(409, state(upload), "")  # resume from the offset HEAD reports
    chunk, refused = await _chunk(request, door, ctx, key, upload.length - start)
    if refused is not None:
        return refused
    assert chunk is not None
    return await _commit(request, door, ctx, key, start, chunk, sum_ or None)


async def _chunk(
    request: Request, door: Door, ctx: Ctx, key: str, room: int
) -> tuple[storage.ChunkWriter | None, Response | None]:
    """The request's body received whole into a chunk file, or the answer refusing it (the
    chunk file then removed)."""
    chunk = await run_in_threadpool(storage.ChunkWriter, ctx.uploads, key)
    try:
        received = await _receive(request, chunk, room)
    except BaseException:
        await run_in_threadpool(chunk.abort)
        raise
    refused = None
    if received is None:  # the link dropped mid-chunk: nothing of it is kept
        refused = door.answer(400, None, "")
    elif received > room:
        refused = door.answer(413, None, "")
    else:
        refused = door.check_chunk(request, chunk)
    if refused is not None:
        await run_in_threadpool(chunk.abort)
        return None, refused
    return chunk, None


async def _commit(
    request: Request, door: Door, ctx: Ctx, key: str, start: int,
    chunk: storage.ChunkWriter, sum_: uploads.Checksum | None,
) -> Response:
    try:
        upload = await run_in_threadpool(uploads.commit_chunk, ctx, key, start, chunk, sum_)
    except uploads.OffsetMismatch:
        upload = await run_in_threadpool(uploads.status, ctx, key)
        return door.answer(409, state(upload), "")
    except uploads.ChecksumMismatch as exc:
        return door.answer(460, None, translate(exc.message))
    except uploads.ChunkTooSmall as exc:
        return door.answer(400, None, translate(exc.message))
    except ValidationError as exc:
        return _invalid(door, exc)
    headers = state(upload)
    if upload.attachment_id:
        headers["Upload-Complete"] = "1"
        door.on_attached(request, upload)
    return door.answer(204, headers, "")


async def cancel(request: Request, door: Door) -> Response:
    """tus termination: drop the upload and what it received."""
    if refused := await _admitted(request, door):
        return refused
    key = upload_key(request)
    await run_in_threadpool(uploads.terminate, await door.ctx(request, key), key)
    return door.answer(204, None, "")


def upload_key(request: Request) -> str:
    key = request.path_params["key"]
    if len(key) != 32 or not key.isalnum():
        raise NotFound("upload")
    return key


async def _receive(request: Request, chunk: storage.ChunkWriter, room: int) -> int | None:
    """Write the request body into `chunk` (a megabyte at a time, never the whole body in
    memory); its size, or None if the client went away. Reads nothing when the announced
    Content-Length is over `room`, and stops reading once the body is larger than `room`."""
    announced = as_int(request.headers.get("content-length", ""))
    if announced is not None and announced > room:
        return announced
    buffer = bytearray()
    size = 0
    try:
        async for piece in request.stream():
            size += len(piece)
            if size > room:
                return size
            buffer += piece
            if len(buffer) >= WRITE_BATCH:
                await run_in_threadpool(chunk.write, bytes(buffer))
                buffer.clear()
    except ClientDisconnect:
        return None
    if buffer:
        await run_in_threadpool(chunk.write, bytes(buffer))
    return size
