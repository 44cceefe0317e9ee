"""The one way the portal talks to a payment gateway: a JSON POST over HTTP(S) with a
timeout (the standard library's client; the calls are few: starting a payment at the national
platform, re-verifying its callback, the reconciliation's queries)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from portal.services.gateways.base import GatewayUnavailable

MAX_ANSWER = 64 * 1024


def post_json(url: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
    """POST `payload` as JSON to `url`; the JSON object answered. Raises GatewayUnavailable
    when the gateway cannot be reached, times out or answers something else."""
    if not url.startswith(("https://", "http://")):
        raise GatewayUnavailable(f"not an HTTP address: {url!r}")
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read(MAX_ANSWER + 1)
    except (OSError, urllib.error.URLError) as exc:
        raise GatewayUnavailable(f"{url}: {exc}") from exc
    if len(body) > MAX_ANSWER:
        raise GatewayUnavailable(f"{url}: the answer is too long")
    try:
        answer = json.loads(body)
    except ValueError as exc:
        raise GatewayUnavailable(f"{url}: the answer is not JSON") from exc
    if not isinstance(answer, dict):
        raise GatewayUnavailable(f"{url}: the answer is not a JSON object")
    return answer
