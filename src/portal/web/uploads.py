"""The tus 1.0 endpoints for resumable attachment uploads (core, creation, termination,
checksum, expiration). static/js/dossier.js speaks it in 256 KB chunks, the official clients
send the whole file in one PATCH by default: a PATCH may carry up to the rest of the file,
streamed to disk as it arrives. Without JavaScript the plain multipart form in the same page
does the job."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import functools
import hmac
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from portal import storage
from portal.i18n import gettext_ as _
from portal.i18n import translate
from portal.services import uploads
from portal.services.errors import DomainError, NotFound, ValidationError
from portal.services.text import as_int
from portal.web.errors import CSRF_MESSAGE, HANDLERS
from portal.web.forms import flash
from portal.web.requests import ctx_of, dossier_id
from portal.web.security import CSRF_HEADER, guard
from portal.web.urls import url

VERSION = "1.0.0"
EXTENSIONS = "creation,termination,checksum,expiration"
WRITE_BATCH = 1024 * 1024  # bytes gathered before a write to disk


def _tus(status: int, headers: dict[str, str] | None = None, text: str = "") -> Response:
    return Response(
        text,
        status,
        headers={"Tus-Resumable": VERSION, "Cache-Control": "no-store", **(headers or {})},
        media_type="text/plain; charset=utf-8",
    )


def _tus_answers(
    endpoint: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Every answer of a tus endpoint carries Tus-Resumable, its refusals (401, 403, 404, a
    rule's refusal) included: they are made by the app's error handlers, then marked."""

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


def _refused(request: Request) -> Response | None:
    """An answer for a request that breaks the protocol or lacks the CSRF header, else None."""
    sent = request.headers.get(CSRF_HEADER, "")
    expected = request.session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _tus(403, text=translate(CSRF_MESSAGE))
    if request.headers.get("tus-resumable") != VERSION:
        return _tus(412, {"Tus-Version": VERSION})
    return None


def _metadata(header: str) -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64value` pairs; undecodable values are empty."""
    out: dict[str, str] = {}
    for pair in header.split(",")[:10]:
        key, _, value = pair.strip().partition(" ")
        try:
            out[key] = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            out[key] = ""
    return out


def _checksum(header: str) -> uploads.Checksum | None | bool:
    """The Upload-Checksum header, None when absent, False when unusable."""
    if not header:
        return None
    algorithm, _, value = header.partition(" ")
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return uploads.Checksum(algorithm, digest) if algorithm in uploads.CHECKSUMS else False


def _state(upload) -> dict[str, str]:
    return {
        "Upload-Offset": str(upload.offset),
        "Upload-Length": str(upload.length),
        "Upload-Expires": email.utils.format_datetime(
            upload.expires_at.replace(tzinfo=dt.UTC), usegmt=True
        ),
    }


def _problem(exc: ValidationError) -> Response:
    return _tus(422, text=translate(next(iter(exc.errors.values()))))


@_tus_answers
@guard("public")
async def upload_options(request: Request) -> Response:
    """tus discovery: the version, extensions, size and checksum algorithms we accept."""
    return _discovery(request)


@_tus_answers
@guard("public")
async def upload_creation_options(request: Request) -> Response:
    """tus discovery on the creation URL, where clients ask it."""
    return _discovery(request)


def _discovery(request: Request) -> Response:
    settings = request.app.state.settings
    return _tus(
        204,
        {
            "Tus-Version": VERSION,
            "Tus-Extension": EXTENSIONS,
            "Tus-Max-Size": str(settings.max_upload_bytes),
            "Tus-Checksum-Algorithm": ",".join(uploads.CHECKSUMS),
        },
    )


@_tus_answers
@guard("enterprise")
async def upload_create(request: Request) -> Response:
    """tus creation: open an upload for one document slot of the dossier."""
    if refused := _refused(request):
        return refused
    length = as_int(request.headers.get("upload-length", ""))
    meta = _metadata(request.headers.get("upload-metadata", ""))
    document = as_int(meta.get("document", ""))
    if length is None or document is None:
        return _tus(400, text=translate("The request could not be understood."))
    try:
        upload = await run_in_threadpool(
            uploads.create,
            ctx_of(request),
            dossier_id(request),
            document,
            meta.get("filename", ""),
            length,
            meta.get("purpose", "application"),
        )
    except uploads.TooLarge as exc:
        return _tus(413, text=translate(next(iter(exc.errors.values()))))
    except ValidationError as exc:
        return _problem(exc)
    return _tus(201, {"Location": url(request, "upload_append", key=upload.key), **_state(upload)})


@_tus_answers
@guard("enterprise")
async def upload_offset(request: Request) -> Response:
    """tus HEAD: how much of the file the server holds (verified chunks only)."""
    if refused := _refused(request):
        return refused
    upload = await run_in_threadpool(uploads.status, ctx_of(request), _key(request))
    return _tus(200, _state(upload))


@_tus_answers
@guard("enterprise")
async def upload_append(request: Request) -> Response:
    """tus PATCH: one chunk at the current offset, up to the rest of the file, streamed to
    disk. It is kept only if it arrives whole."""
    if refused := _refused(request):
        return refused
    if request.headers.get("content-type") != "application/offset+octet-stream":
        return _tus(415)
    offset = as_int(request.headers.get("upload-offset", ""))
    checksum = _checksum(request.headers.get("upload-checksum", ""))
    if offset is None:
        return _tus(400, text=translate("The request could not be understood."))
    if checksum is False:
        return _tus(400, text=translate("The request could not be understood."))
    ctx, key = ctx_of(request), _key(request)
    upload = await run_in_threadpool(uploads.status, ctx, key)
    if upload.state != "open" or offset != upload.offset:
        return _tus(409, _state(upload))  # resume from the offset HEAD reports
    room = upload.length - offset
    chunk = await run_in_threadpool(storage.ChunkWriter, ctx.uploads, key)
    try:
        received = await _receive(request, chunk, room)
    except BaseException:
        await run_in_threadpool(chunk.abort)
        raise
    if received is None:  # the link dropped mid-chunk: nothing of it is kept
        await run_in_threadpool(chunk.abort)
        return _tus(400)
    if received > room:
        await run_in_threadpool(chunk.abort)
        return _tus(413)
    try:
        upload = await run_in_threadpool(uploads.commit_chunk, ctx, key, offset, chunk, checksum)
    except uploads.OffsetMismatch:
        upload = await run_in_threadpool(uploads.status, ctx, key)
        return _tus(409, _state(upload))
    except uploads.ChecksumMismatch as exc:
        return _tus(460, text=translate(exc.message))
    except uploads.ChunkTooSmall as exc:
        return _tus(400, text=translate(exc.message))
    except ValidationError as exc:
        return _problem(exc)
    headers = _state(upload)
    if upload.attachment_id:
        headers["Upload-Complete"] = "1"
        flash(request, _("The file %(name)s is attached.") % {"name": upload.filename})
    return _tus(204, headers)


@_tus_answers
@guard("enterprise")
async def upload_cancel(request: Request) -> Response:
    """tus termination: drop the upload and what it received."""
    if refused := _refused(request):
        return refused
    await run_in_threadpool(uploads.terminate, ctx_of(request), _key(request))
    return _tus(204)


def _key(request: Request) -> str:
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
