"""A real HTTP receiver of the status sync on loopback, standing in for the National Public
Service Portal (reusable by any test: `with NationalReceiver() as receiver: ...`).

It checks what a real receiver would: the client id and the HMAC signature of each request,
the idempotency key (a key it has applied already is answered as a success and not applied
again) and the order of each dossier's messages (`SoThuTu` must be the next one, else it
refuses with `ORDER`). What it does with the next requests is planned by the test:

- "ok": apply and answer `error_code` "0";
- "fail": answer HTTP 500 with `error_code` "E500";
- "refuse": answer HTTP 200 with `error_code` "91" (the receiver's own refusal);
- "garbage": answer HTTP 200 with a body that is not JSON;
- "slow": apply, then answer only after `slow_seconds` (longer than the client waits);
- "late": wait `slow_seconds` first, then apply (a retry sent meanwhile overtakes it).

Without a plan it answers "ok"."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CLIENT_ID = "customs-portal"
SECRET = "national-sync-test-secret-0123456789"
ACTIONS = ("ok", "fail", "refuse", "garbage", "slow", "late")


@dataclass
class Received:
    path: str
    key: str
    action: str
    payload: dict[str, Any] = field(default_factory=dict)


class NationalReceiver:
    def __init__(self, client_id: str = CLIENT_ID, secret: str = SECRET,
                 slow_seconds: float = 1.5) -> None:
        self.client_id = client_id
        self.secret = secret
        self.slow_seconds = slow_seconds
        self.applied: list[dict[str, Any]] = []  # in the order applied
        self.received: list[Received] = []
        self._plan: list[str] = []
        self._keys: set[str] = set()
        self._last: dict[str, int] = {}  # dossier code -> last SoThuTu applied
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api"

    def plan(self, *actions: str) -> None:
        """What to do with the next requests, in order (then "ok")."""
        assert all(a in ACTIONS for a in actions), actions
        with self._lock:
            self._plan.extend(actions)

    def __enter__(self) -> NationalReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- the receiving side ---------------------------------------------------------------

    def _next_action(self) -> str:
        with self._lock:
            return self._plan.pop(0) if self._plan else "ok"

    def _signed(self, headers: Any, body: bytes) -> bool:
        timestamp, key = headers.get("X-Timestamp", ""), headers.get("Idempotency-Key", "")
        text = f"{timestamp}\n{key}\n{hashlib.sha256(body).hexdigest()}".encode()
        wanted = hmac.new(self.secret.encode(), text, hashlib.sha256).hexdigest()
        return (headers.get("X-Client-Id") == self.client_id
                and hmac.compare_digest(wanted, headers.get("X-Signature", "")))

    def _apply(self, key: str, payload: dict[str, Any]) -> tuple[int, str, str]:
        """Apply the message once: (HTTP status, error_code, message)."""
        with self._lock:
            if key in self._keys:
                return 200, "0", "already received"
            code, seq = payload.get("MaHoSo", ""), payload.get("SoThuTu")
            if seq != self._last.get(code, 0) + 1:
                return 409, "ORDER", f"expected message {self._last.get(code, 0) + 1}, got {seq}"
            self._keys.add(key)
            self._last[code] = seq
            self.applied.append(payload)
            return 200, "0", "received"

    def _answer(self, path: str, key: str, body: bytes, headers: Any) -> tuple[int, bytes, str]:
        action = self._next_action()
        if not self._signed(headers, body):
            return 401, _json("SIGNATURE", "bad signature"), "SIGNATURE"
        payload = json.loads(body)
        self.received.append(Received(path, key, action, payload))
        if action == "fail":
            return 500, _json("E500", "internal error"), "E500"
        if action == "refuse":
            return 200, _json("91", "Mã TTHC không tồn tại"), "91"
        if action == "garbage":
            return 200, b"<html>maintenance</html>", "garbage"
        if action == "late":
            time.sleep(self.slow_seconds)
        status, code, message = self._apply(key, payload)
        if action == "slow":
            time.sleep(self.slow_seconds)
        return status, _json(code, message), code

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                key = self.headers.get("Idempotency-Key", "")
                status, answer, _code = receiver._answer(self.path, key, body, self.headers)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:  # the client stopped waiting
                    pass

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def _json(code: str, message: str) -> bytes:
    return json.dumps({"error_code": code, "message": message}).encode()
