"""Problem details (RFC 9457, `application/problem+json`): how every answer under /api/ says
what was wrong, never as an HTML page. Validation errors list each field with its message."""

from __future__ import annotations

import http
import json
from collections.abc import Mapping

from starlette.responses import Response

from portal.i18n import translate
from portal.services.errors import Message

API_PREFIX = "/api/"
MEDIA_TYPE = "application/problem+json"


def is_api(path: str) -> bool:
    return path.startswith(API_PREFIX) or path == API_PREFIX.rstrip("/")


def problem(
    status: int,
    detail: str = "",
    *,
    errors: Mapping[str, Message | str] | None = None,
    headers: Mapping[str, str] | None = None,
    kind: str = "",
) -> Response:
    """A problem details answer: `type` names the kind of problem (`about:blank` when the
    status says it all), `title` the status's phrase, `detail` this occurrence."""
    title = http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_ \
        else "Error"
    body: dict[str, object] = {
        "type": f"/api/v1/problems/{kind}" if kind else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = [
            {"field": name, "message": translate(m) if isinstance(m, Message) else m}
            for name, m in errors.items()
        ]
    return Response(
        json.dumps(body, ensure_ascii=False),
        status,
        headers={"Cache-Control": "no-store", **(headers or {})},
        media_type=MEDIA_TYPE,
    )
