"""A small tus 1.0 client over http.client, for the resumable-upload tests and bench/upload.py.

It logs in like a browser (session cookie + CSRF token), then sends a file in chunks; when the
link drops it asks the server for the offset (HEAD) and goes on from there. Every PATCH it
sends is logged, so a test can prove no acknowledged chunk was sent twice."""

from __future__ import annotations

import base64
import hashlib
import http.client
import re
import time
import urllib.parse
from dataclasses import dataclass, field

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
DROPPED = (ConnectionError, http.client.HTTPException, OSError)


@dataclass
class Attempt:
    offset: int
    size: int
    outcome: str  # "ok", "dropped" or the HTTP status


@dataclass
class Session:
    host: str
    port: int
    cookie: str = ""
    csrf: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    heads: list[int] = field(default_factory=list)  # offsets the server reported

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        all_headers = {"Cookie": self.cookie, **(headers or {})}
        conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        response.read_body = response.read()  # type: ignore[attr-defined]
        conn.close()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                self.cookie = value.split(";", 1)[0]
        return response

    def login(self, username: str, password: str) -> None:
        page = self.request("GET", "/login")
        self.csrf = CSRF_RE.search(page.read_body.decode()).group(1)  # type: ignore[union-attr,attr-defined]
        form = urllib.parse.urlencode(
            {"username": username, "password": password, "csrf_token": self.csrf})
        r = self.request("POST", "/login", form.encode(),
                         {"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status == 303, r.read_body  # type: ignore[attr-defined]
        page = self.request("GET", "/")
        self.csrf = CSRF_RE.search(page.read_body.decode()).group(1)  # type: ignore[union-attr,attr-defined]

    def tus(self, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        tus = {"Tus-Resumable": "1.0.0", "X-CSRF-Token": self.csrf}
        return self.request(method, path, body, {**tus, **(headers or {})})

    def create(self, dossier_id: int, document_id: int, filename: str, length: int,
               purpose: str = "application") -> str:
        meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in
                        {"filename": filename, "document": str(document_id),
                         "purpose": purpose}.items())
        r = self.tus("POST", f"/dossiers/{dossier_id}/uploads",
                     headers={"Upload-Length": str(length), "Upload-Metadata": meta})
        assert r.status == 201, (r.status, r.read_body)  # type: ignore[attr-defined]
        return r.getheader("Location") or ""

    def offset(self, location: str) -> int:
        r = self.tus("HEAD", location)
        assert r.status == 200, r.status
        value = int(r.getheader("Upload-Offset") or "-1")
        self.heads.append(value)
        return value

    def send(self, location: str, data: bytes, chunk_size: int, *, retries: int = 50,
             pause: float = 0.05) -> int:
        """Send `data` from the offset the server has, resuming after every dropped link;
        returns the status of the last answer (204 when the file is in, or the refusal).
        A last chunk that got in while its answer was lost counts as 204."""
        offset, failures = 0, 0
        while offset < len(data):
            chunk = data[offset:offset + chunk_size]
            digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
            try:
                r = self.tus("PATCH", location, chunk, {
                    "Content-Type": "application/offset+octet-stream",
                    "Upload-Offset": str(offset), "Upload-Checksum": f"sha256 {digest}"})
            except DROPPED:
                self.attempts.append(Attempt(offset, len(chunk), "dropped"))
                failures += 1
                assert failures <= retries, "too many dropped connections"
                time.sleep(pause)
                offset = self._resume(location)
                continue
            self.attempts.append(Attempt(offset, len(chunk), "ok" if r.status == 204
                                         else str(r.status)))
            if r.status != 204:
                return r.status
            offset = int(r.getheader("Upload-Offset") or "0")
        return 204

    def _resume(self, location: str) -> int:
        while True:
            try:
                return self.offset(location)
            except DROPPED:
                time.sleep(0.05)
