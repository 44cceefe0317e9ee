"""Administering the API's clients: the admin pages (register with the secret shown once,
rotate and revoke after confirming, each on the record), the command line (run.py api-client,
api-call against a real server), and the official tus client (tuspy) uploading through a
signing proxy, as a client system's gateway would sign its requests."""

from __future__ import annotations

import html
import http.server
import io
import json
import os
import re
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from tusclient.client import TusClient

from portal.db import db
from portal.models import ApiClient, Attachment, DossierEvent
from portal.services import api_clients
from tests import api_fixtures
from tests import dossier_web_fixtures as fx
from tests.api_fixtures import Caller, new_dossier
from tests.dossier_web_fixtures import document_ids, pdf_bytes
from tests.helpers import csrf_from
from tests.live_server import LiveServer, free_port

ROOT = Path(__file__).resolve().parents[1]
forms, people = fx.forms, fx.people
SECRET = re.compile(r'<span class="app-code">([A-Za-z0-9_-]{40,})</span>')


def test_an_admin_registers_rotates_and_revokes_a_client(client, make_user, login):
    admin = make_user("admin")
    login(admin)
    token = csrf_from(client.get("/admin/api-clients").text)
    refused = client.post("/admin/api-clients", data={"csrf_token": token, "name": "A",
                                                      "rate_limit": "x"})
    assert refused.status_code == 422
    page = html.unescape(refused.text)
    assert 'value="A"' in refused.text and "Hãy chọn ít nhất một phạm vi quyền." in page
    r = client.post("/admin/api-clients", data={
        "csrf_token": token, "name": "Cổng DVC quốc gia", "rate_limit": "60",
        "scopes": ["procedures:read", "dossiers:read-all"]})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    secret = SECRET.search(r.text).group(1)
    with db.connection_context():
        row = ApiClient.get(ApiClient.name == "Cổng DVC quốc gia")
    assert row.scopes == "procedures:read dossiers:read-all" and row.rate_limit == 60
    listing = client.get("/admin/api-clients").text
    assert row.key_id in listing and secret not in listing  # shown once, never again
    confirm = client.get(f"/admin/api-clients/{row.key_id}/rotate")
    assert confirm.status_code == 200 and "Cổng DVC quốc gia" in html.unescape(confirm.text)
    rotated = client.post(f"/admin/api-clients/{row.key_id}/rotate", data={"csrf_token": token})
    new_secret = SECRET.search(rotated.text).group(1)
    assert new_secret != secret
    assert client.get(f"/admin/api-clients/{row.key_id}/revoke").status_code == 200
    r = client.post(f"/admin/api-clients/{row.key_id}/revoke", data={"csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303
    again = client.post(f"/admin/api-clients/{row.key_id}/revoke", data={"csrf_token": token})
    assert again.status_code == 409
    with db.connection_context():
        actions = [e.action for e in DossierEvent.select().where(
            DossierEvent.actor == admin.id, DossierEvent.action.startswith("api_client"))
            .order_by(DossierEvent.id)]
    assert actions == ["api_client_registered", "api_client_rotated", "api_client_revoked"]


def run_py(settings, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PORTAL_DATA_DIR": str(settings.data_dir),
                   "DATABASE_URL": settings.database_url,
                   "PORTAL_SECRET_KEY": settings.secret_key, **(env or {})}
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def live(settings, units, catalogue, forms, people):
    server = LiveServer(settings)
    yield server
    server.stop()


def test_the_command_line_manages_clients_and_signs_a_call(settings, live, tmp_path):
    r = run_py(settings, "api-client", "register", "--name", "Hệ thống kế toán",
               "--scope", "procedures:read", "--scope", "dossiers:write")
    assert r.returncode == 0, r.stderr
    key = re.search(r"key:\s+(\w+)", r.stdout).group(1)
    assert "secret:" in r.stdout and "shown only now" in r.stderr
    listed = run_py(settings, "api-client", "list")
    assert key in listed.stdout and "procedures:read dossiers:write" in listed.stdout
    call = run_py(settings, "api-call", "GET", f"/api/v1/procedures/{fx.PROCEDURE}",
                  "--key", key, "--url", live.url)
    assert call.returncode == 0, call.stderr
    assert json.loads(call.stdout)["code"] == fx.PROCEDURE
    body = tmp_path / "dossier.json"
    body.write_text(json.dumps(new_dossier()), encoding="utf-8")
    made = run_py(settings, "api-call", "POST", "/api/v1/dossiers", "--key", key,
                  "--body", str(body), "--header", "Idempotency-Key: cli-1", "--url", live.url)
    assert made.returncode == 0 and made.stderr.strip() == "201", made.stderr
    forbidden = run_py(settings, "api-call", "GET", "/api/v1/status-changes", "--key", key,
                       "--url", live.url)
    assert forbidden.returncode == 1 and json.loads(forbidden.stdout)["status"] == 403
    assert run_py(settings, "api-client", "rotate", key).returncode == 0
    assert run_py(settings, "api-client", "revoke", key).returncode == 0
    gone = run_py(settings, "api-client", "revoke", key)
    assert gone.returncode != 0 and "thu hồi" in gone.stderr  # in PORTAL_LANGUAGE
    bad = run_py(settings, "api-client", "register", "--name", "", "--scope", "procedures:read")
    assert bad.returncode != 0


class SigningProxy:
    """A reverse proxy on loopback that signs every request it forwards with a client's key,
    as a client system's outgoing gateway does: the tus client talks to it unchanged."""

    def __init__(self, target: str, key_id: str, secret: str) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "content-length")}
                headers.update(api_clients.sign(secret, self.command, self.path, body,
                                                key_id=key_id))
                request = urllib.request.Request(target + self.path, data=body or None,
                                                 method=self.command, headers=headers)
                try:
                    answer = urllib.request.urlopen(request, timeout=30)
                except urllib.error.HTTPError as exc:
                    answer = exc
                data = answer.read()
                outer.statuses.append(answer.status)
                self.send_response(answer.status)
                for k, v in answer.headers.items():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_HEAD = do_DELETE = do_OPTIONS = _forward

            def log_message(self, *args) -> None:
                pass

        self.statuses: list[int] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_tuspy_uploads_through_a_signing_proxy_and_the_dossier_is_submitted(settings, live):
    key_id, secret = api_fixtures.register(settings)
    proxy = SigningProxy(live.url, key_id, secret)
    try:
        import httpx2

        with httpx2.Client(base_url=proxy.url) as http:
            caller = Caller(http, key_id, secret)  # type: ignore[arg-type]
            r = http.post("/api/v1/dossiers", json=new_dossier())
            assert r.status_code == 201, r.text
            did = r.json()["id"]
            files = {}
            for doc in document_ids():
                data = pdf_bytes(f"tuspy {doc}") + os.urandom(300_000)
                tus = TusClient(f"{proxy.url}/api/v1/dossiers/{did}/uploads")
                uploader = tus.uploader(file_stream=io.BytesIO(data), chunk_size=128 * 1024,
                                        metadata={"filename": f"doc-{doc}.pdf",
                                                  "document": str(doc)})
                uploader.upload()
                assert uploader.offset == len(data)
                files[doc] = data
            r = http.post(f"/api/v1/dossiers/{did}/submit")
            assert r.status_code == 200, r.text
            assert r.json()["status"]["code"] == 1
            assert caller.key_id == key_id
    finally:
        proxy.close()
    assert 401 not in proxy.statuses and proxy.statuses.count(204) >= 6  # 3 chunks a file
    with db.connection_context():
        kept = {a.document_id: a for a in Attachment.select().where(Attachment.dossier == did)}
    for doc, data in files.items():
        assert (settings.uploads / kept[doc].stored_name).read_bytes() == data
