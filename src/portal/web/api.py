"""The API (/api/v1): JSON for other systems, described by the OpenAPI document at
/api/v1/openapi.json (web/api_schema.py). Each endpoint parses the request, calls one service
(services/api.py) and answers JSON; refusals are problem details (web/problems.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portal.services import api
from portal.services.errors import N_, Message, ValidationError
from portal.services.text import as_int
from portal.web.api_auth import api_ctx, client_of, signed
from portal.web.api_schema import openapi
from portal.web.problems import problem
from portal.web.requests import dossier_id
from portal.web.security import guard
from portal.web.urls import url


def _json(data: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(data, status, headers={"Cache-Control": "no-store", **(headers or {})})


def _page(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    page = as_int(raw)
    if page is None or not 1 <= page <= 100_000:
        raise ValidationError({"page": Message(N_("Enter a page number from 1."))})
    return page


def _since(request: Request) -> dt.datetime | None:
    raw = request.query_params.get("changed_since")
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ValidationError({"changed_since": Message(
            N_("Give a time with its offset, like 2026-12-04T07:30:00Z."))})
    return value.astimezone(dt.UTC).replace(tzinfo=None)


@guard("public")
async def api_openapi(request: Request) -> Response:
    """The OpenAPI 3.1 document of this API."""
    return JSONResponse(openapi(), headers={"Cache-Control": "no-cache"})


@guard("api_client")
@signed("procedures:read")
async def api_procedure_list(request: Request) -> Response:
    """The catalogue a page at a time, or what changed since a time (catalogue sync)."""
    since, page = _since(request), _page(request)
    return _json(await run_in_threadpool(api.procedures, since, page))


@guard("api_client")
@signed("procedures:read")
async def api_procedure_detail(request: Request) -> Response:
    """One procedure with its form, documents and fees."""
    code = request.path_params["code"]
    return _json(await run_in_threadpool(api.procedure, code))


def _body(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValidationError({"body": Message(N_("Send a JSON object."))}) from None


@guard("api_client")
@signed("dossiers:write")
async def api_dossier_create(request: Request) -> Response:
    """Open a draft for an enterprise with its answers (Idempotency-Key: a retried request
    gets the same dossier)."""
    raw = await request.body()
    new = api.parse_new_dossier(_body(raw))
    key = request.headers.get("idempotency-key", "")
    if len(key) > 255:
        return problem(422, "Idempotency-Key is longer than 255 characters.",
                       errors={"Idempotency-Key": "At most 255 characters."}, kind="validation")
    found, created = await run_in_threadpool(
        api.create_dossier, client_of(request), api_ctx(request), new, key,
        hashlib.sha256(raw).hexdigest(),
    )
    data = await run_in_threadpool(api.dossier, client_of(request), found)
    location = url(request, "api_dossier_detail", dossier_id=found)
    return _json(data, 201 if created else 200, {"Location": location})


@guard("api_client")
@signed("dossiers:read")
async def api_dossier_detail(request: Request) -> Response:
    """A dossier's status, promised date, payments, steps and documents."""
    data = await run_in_threadpool(api.dossier, client_of(request), dossier_id(request))
    return _json(data)


@guard("api_client")
@signed("dossiers:write")
async def api_dossier_submit(request: Request) -> Response:
    """Submit a complete draft the client created (Idempotency-Key: submitted once)."""
    client = client_of(request)
    key = request.headers.get("idempotency-key", "")
    submit_key = f"api:{client.key_id}:{hashlib.sha256(key.encode()).hexdigest()}"[:64]
    found = await run_in_threadpool(
        api.submit, client, api_ctx(request), dossier_id(request), submit_key if key else ""
    )
    return _json(await run_in_threadpool(api.dossier, client, found))


@guard("api_client")
@signed("dossiers:read")
async def api_status_changes(request: Request) -> Response:
    """The status changes after a cursor, oldest first."""
    after = as_int(request.query_params.get("after", "0"))
    limit = as_int(request.query_params.get("limit", str(api.FEED_LIMIT)))
    errors: dict[str, Message | str] = {}
    if after is None or after > 2**62:
        errors["after"] = Message(N_("Give the cursor of the last change you read, or 0."))
    if limit is None or not 1 <= limit <= api.FEED_LIMIT:
        errors["limit"] = Message(N_("Give a number from 1 to %(n)s."), n=api.FEED_LIMIT)
    if errors:
        raise ValidationError(errors)  # type: ignore[arg-type]
    return _json(await run_in_threadpool(api.status_changes, client_of(request), after, limit))
