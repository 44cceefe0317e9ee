"""The OpenAPI 3.1 document of /api/v1. It is data, tested against the implementation: a
property-based run (tests/test_api_schema.py, schemathesis) signs generated requests and fails
on any 5xx or any answer the document does not describe."""

from __future__ import annotations

import functools
from typing import Any

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
REFUSALS = {
    "400": {"description": "The address holds characters that are not allowed",
            "content": PROBLEM},
    "401": {"description": "Not signed, wrong signature, old timestamp or replayed nonce",
            "content": PROBLEM},
    "403": {"description": "The client lacks the scope", "content": PROBLEM},
    "413": {"description": "The body is too large", "content": PROBLEM},
    "422": {"description": "Invalid parameters or body, per field", "content": PROBLEM},
    "429": {"description": "Rate limit reached: wait Retry-After seconds", "content": PROBLEM,
            "headers": {"Retry-After": {"schema": {"type": "string"}}}},
}
NOT_FOUND = {"404": {"description": "No such object, or not this client's", "content": PROBLEM}}
CONFLICT = {"409": {"description": "Not possible in the object's current state",
                    "content": PROBLEM}}
SIGNED = [{"ApiKey": [], "Timestamp": [], "Nonce": [], "ContentSha256": [], "Signature": []}]
TUS_HEADER = {"name": "Tus-Resumable", "in": "header", "required": True,
              "schema": {"type": "string", "enum": ["1.0.0"]}}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _op(summary: str, scope: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "description": f"Scope: `{scope}`.", "security": SIGNED,
            "responses": {**responses, **REFUSALS}, **extra}


ID_PARAM = {"name": "dossier_id", "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 999999999}}
KEY_PARAM = {"name": "key", "in": "path", "required": True,
             "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
               "schema": {"type": "string", "maxLength": 255}}
TUS_OK = {"description": "Done", "headers": {"Tus-Resumable": {"schema": {"type": "string"}}}}

PATHS: dict[str, Any] = {
    "/api/v1/procedures": {"get": _op(
        "List the catalogue, or the procedures changed since a time", "procedures:read",
        {"200": {"description": "A page of procedures", "content": _json("ProcedureList")}},
        parameters=[
            {"name": "changed_since", "in": "query", "required": False,
             "schema": {"type": "string", "format": "date-time"}},
            {"name": "page", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 100000}},
        ],
    )},
    "/api/v1/procedures/{code}": {"get": _op(
        "Read a procedure: its form, required documents and fees", "procedures:read",
        {"200": {"description": "The procedure", "content": _json("Procedure")}, **NOT_FOUND},
        parameters=[{"name": "code", "in": "path", "required": True,
                     "schema": {"type": "string", "example": "1.005458"}}],
    )},
    "/api/v1/dossiers": {"post": _op(
        "Create a draft dossier for an enterprise with its form answers", "dossiers:write",
        {"201": {"description": "Created", "content": _json("Dossier")},
         "200": {"description": "Created before with this Idempotency-Key",
                 "content": _json("Dossier")}, **NOT_FOUND, **CONFLICT},
        parameters=[IDEMPOTENCY],
        requestBody={"required": True, "content": _json("NewDossier")},
    )},
    "/api/v1/dossiers/{dossier_id}": {"get": _op(
        "Read a dossier's status, promised date, payments and steps", "dossiers:read",
        {"200": {"description": "The dossier", "content": _json("Dossier")}, **NOT_FOUND},
        parameters=[ID_PARAM],
    )},
    "/api/v1/dossiers/{dossier_id}/submit": {"post": _op(
        "Submit a complete draft", "dossiers:write",
        {"200": {"description": "Submitted", "content": _json("Dossier")}, **NOT_FOUND,
         **CONFLICT},
        parameters=[ID_PARAM, IDEMPOTENCY],
    )},
    "/api/v1/dossiers/{dossier_id}/uploads": {
        "post": _op(
            "tus creation: open a resumable upload for one required document "
            "(Upload-Metadata: document, filename)", "dossiers:write",
            {"201": {**TUS_OK, "description": "Upload opened; Location is its URL"},
             "412": {"description": "Unsupported tus version", "content": PROBLEM},
             **NOT_FOUND, **CONFLICT},
            parameters=[ID_PARAM, TUS_HEADER,
                        {"name": "Upload-Length", "in": "header", "required": True,
                         "schema": {"type": "integer", "minimum": 0}},
                        {"name": "Upload-Metadata", "in": "header", "required": True,
                         "schema": {"type": "string"}}],
        ),
        "options": {"summary": "tus discovery", "parameters": [ID_PARAM],
                    "responses": {"204": TUS_OK}},
    },
    "/api/v1/uploads": {"options": {"summary": "tus discovery", "responses": {"204": TUS_OK}}},
    "/api/v1/uploads/{key}": {
        "head": _op("tus: the upload's offset", "dossiers:write",
                    {"200": TUS_OK, **NOT_FOUND,
                     "412": {"description": "Unsupported tus version"}},
                    parameters=[KEY_PARAM, TUS_HEADER]),
        "patch": _op(
            "tus: append a chunk at the offset", "dossiers:write",
            {"204": TUS_OK, **NOT_FOUND, **CONFLICT,
             "400": {"description": "Bad offset or chunk", "content": PROBLEM},
             "412": {"description": "Unsupported tus version", "content": PROBLEM},
             "415": {"description": "Not application/offset+octet-stream", "content": PROBLEM},
             "460": {"description": "Checksum mismatch", "content": PROBLEM}},
            parameters=[KEY_PARAM, TUS_HEADER,
                        {"name": "Upload-Offset", "in": "header", "required": True,
                         "schema": {"type": "integer", "minimum": 0}}],
            requestBody={"required": True, "content": {"application/offset+octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}},
        ),
        "delete": _op("tus termination: drop the upload", "dossiers:write",
                      {"204": TUS_OK, **NOT_FOUND,
                       "412": {"description": "Unsupported tus version", "content": PROBLEM}},
                      parameters=[KEY_PARAM, TUS_HEADER]),
    },
    "/api/v1/status-changes": {"get": _op(
        "Status changes after a cursor, oldest first (the client's dossiers; every dossier "
        "with dossiers:read-all)", "dossiers:read",
        {"200": {"description": "Changes and the next cursor",
                 "content": _json("StatusChanges")}},
        parameters=[
            {"name": "after", "in": "query", "required": False,
             "schema": {"type": "string", "pattern": "^[0-9]{1,9}$"}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
        ],
    )},
}

SCHEMAS: dict[str, Any] = {
    "Problem": {"type": "object", "required": ["type", "title", "status"], "properties": {
        "type": {"type": "string"}, "title": {"type": "string"},
        "status": {"type": "integer"}, "detail": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}}},
    "ProcedureSummary": {"type": "object", "required": ["code", "name", "online_level",
                                                        "online", "updated_at"],
                         "properties": {
        "code": {"type": "string"}, "name": {"type": "string"}, "field": {"type": "string"},
        "online_level": {"type": "integer", "minimum": 1, "maximum": 4},
        "online": {"type": "boolean"}, "implementing_agency": {"type": "string"},
        "requires_signature": {"type": "boolean"},
        "updated_at": {"type": "string", "format": "date-time"}}},
    "ProcedureList": {"type": "object", "required": ["items", "page", "page_size", "total"],
                      "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/ProcedureSummary"}},
        "page": {"type": "integer"}, "page_size": {"type": "integer"},
        "total": {"type": "integer"}}},
    "Procedure": {"allOf": [{"$ref": "#/components/schemas/ProcedureSummary"}, {
        "type": "object", "required": ["form", "documents", "fees"], "properties": {
            "form": {"type": "array", "items": {"type": "object", "required": ["name", "kind"]}},
            "documents": {"type": "array", "items": {
                "type": "object", "required": ["id", "name", "mandatory", "file_types"]}},
            "fees": {"type": "array", "items": {"type": "object"}}}}]},
    "NewDossier": {"type": "object", "required": ["procedure", "unit", "tax_code"],
                   "properties": {
        "procedure": {"type": "string", "example": "1.005458"},
        "unit": {"type": "string", "example": "02CI"},
        "tax_code": {"type": "string", "example": "0100112437"},
        "answers": {"type": "object", "additionalProperties": {"type": "string"}}}},
    "Dossier": {"type": "object", "required": ["id", "procedure", "status", "steps",
                                               "payments", "documents"], "properties": {
        "id": {"type": "integer"}, "code": {"type": ["string", "null"]},
        "procedure": {"type": "string"}, "unit": {"type": ["string", "null"]},
        "tax_code": {"type": "string"},
        "status": {"type": "object", "required": ["code", "name"], "properties": {
            "code": {"type": "integer", "minimum": 0, "maximum": 10},
            "name": {"type": "string"}}},
        "created_at": {"type": "string", "format": "date-time"},
        "submitted_at": NULLABLE_TIME, "received_at": NULLABLE_TIME,
        "finished_at": NULLABLE_TIME, "promised_at": NULLABLE_TIME,
        "answers": {"type": "object"},
        "documents": {"type": "array", "items": {"type": "object", "required": [
            "id", "name", "mandatory", "files"]}},
        "payments": {"type": "array", "items": {"type": "object", "required": [
            "id", "total", "currency", "status"]}},
        "steps": {"type": "array", "items": {"type": "object", "required": [
            "action", "at"]}}}},
    "StatusChanges": {"type": "object", "required": ["items", "next"], "properties": {
        "next": {"type": "string"},
        "items": {"type": "array", "items": {"type": "object", "required": [
            "cursor", "dossier_id", "status_after", "at"], "properties": {
            "cursor": {"type": "string"}, "dossier_id": {"type": "integer"},
            "code": {"type": ["string", "null"]}, "action": {"type": "string"},
            "status_before": {"type": ["integer", "null"]},
            "status_after": {"type": "integer"},
            "at": {"type": "string", "format": "date-time"}}}}}},
}


def _header(name: str, what: str) -> dict[str, str]:
    return {"type": "apiKey", "in": "header", "name": name, "description": what}


@functools.cache
def openapi() -> dict[str, Any]:
    """The document, built once."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Cổng dịch vụ công Hải quan — API",
            "version": "1.0.0",
            "description": (
                "Every request but this document and tus discovery is signed: "
                "X-Api-Signature is the hex HMAC-SHA256, with the client's secret, of "
                "METHOD, path with query, X-Api-Timestamp, X-Api-Nonce and "
                "X-Api-Content-SHA256 (the body's SHA-256, hex), joined by newlines. "
                "Errors are problem details (RFC 9457)."),
        },
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "ApiKey": _header("X-Api-Key", "The client's key id"),
                "Timestamp": _header("X-Api-Timestamp", "Unix seconds"),
                "Nonce": _header("X-Api-Nonce", "16-64 of [A-Za-z0-9_-], once"),
                "ContentSha256": _header("X-Api-Content-SHA256", "hex SHA-256 of the body"),
                "Signature": _header("X-Api-Signature", "hex HMAC-SHA256 (see above)"),
            },
        },
    }
