"""Sending one status-sync message to the National Public Service Portal's receiver (the
network part only: no database). A message is a JSON POST to `<base>/dossiers/add` (the
dossier's first message) or `<base>/dossiers/progress`, signed with HMAC-SHA256 over the
timestamp, the idempotency key and the body's SHA-256 with the configured secret. The receiver
answers JSON `{"error_code": "0", "message": "..."}`; any other code, an HTTP error, a
time-out or an answer that is not such JSON is a failure the outbox retries. A receiver that
already has the key answers "0" again: sending twice applies once."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from portal.config import NationalSync

MAX_ANSWER = 64 * 1024
OK = "0"
PATHS = {"add": "/dossiers/add", "progress": "/dossiers/progress"}
# The portal's own codes for what went wrong before the receiver could say anything.
UNREACHABLE = "UNREACHABLE"
TIMEOUT = "TIMEOUT"
BAD_ANSWER = "BAD_ANSWER"


@dataclass(frozen=True)
class Outcome:
    """What the receiver answered: `ok`, or its error code and message (or the portal's)."""

    ok: bool
    error_code: str = ""
    message: str = ""


def signature(secret: str, timestamp: str, key: str, body: bytes) -> str:
    """The request's signature: HMAC-SHA256 (hex) of `timestamp\\nkey\\nsha256(body)`."""
    digest = hashlib.sha256(body).hexdigest()
    text = f"{timestamp}\n{key}\n{digest}".encode()
    return hmac.new(secret.encode(), text, hashlib.sha256).hexdigest()


def headers(link: NationalSync, key: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The headers of a message: its idempotency key, the client, the time and the signature."""
    timestamp = str(int(time.time() if now is None else now))
    return {
        "Content-Type": "application/json; charset=utf-8",
        "Accept": "application/json",
        "Idempotency-Key": key,
        "X-Client-Id": link.client_id,
        "X-Timestamp": timestamp,
        "X-Signature": signature(link.secret, timestamp, key, body),
    }


def _answer(raw: bytes) -> dict[str, Any] | None:
    try:
        answer = json.loads(raw[:MAX_ANSWER])
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def _outcome(answer: dict[str, Any] | None, status: int) -> Outcome:
    if answer is None:
        return Outcome(False, BAD_ANSWER, f"HTTP {status}: the answer is not a JSON object")
    code = str(answer.get("error_code", "")).strip()[:64]
    message = str(answer.get("message", ""))[:2000]
    if code == OK and 200 <= status < 300:
        return Outcome(True, OK, message)
    return Outcome(False, code or f"HTTP_{status}", message or f"HTTP {status}")


def send(link: NationalSync, kind: str, key: str, payload: dict[str, Any]) -> Outcome:
    """POST the message to the receiver and say what it answered (never raises for what the
    network or the receiver does)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    request = urllib.request.Request(
        link.url + PATHS[kind], data=body, headers=headers(link, key, body), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=link.timeout) as response:  # noqa: S310
            return _outcome(_answer(response.read(MAX_ANSWER + 1)), response.status)
    except urllib.error.HTTPError as exc:
        with exc:
            return _outcome(_answer(exc.read(MAX_ANSWER + 1)), exc.code)
    except TimeoutError:
        return Outcome(False, TIMEOUT, f"no answer within {link.timeout:g} s")
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            return Outcome(False, TIMEOUT, f"no answer within {link.timeout:g} s")
        return Outcome(False, UNREACHABLE, str(reason)[:2000])
