"""The API (/api/v1): signed requests (signature, body, replay, clock skew, rate limit,
scopes, revoked keys), problem details, and a dossier created, filled, submitted and read by a
client system, with the status feed; on both databases."""

from __future__ import annotations

import base64
import json
import time

import pytest

from portal.app import create_app
from portal.db import db
from portal.models import ApiClient, DossierEvent
from portal.services import api_clients
from tests import api_fixtures
from tests import dossier_web_fixtures as fx
from tests.api_fixtures import Caller, new_dossier, register
from tests.dossier_web_fixtures import document_ids, pdf_bytes

forms, people, caller = fx.forms, fx.people, api_fixtures.caller
PROBLEM = "application/problem+json"


def test_a_signed_request_reads_the_catalogue(caller):
    r = caller.call("GET", "/api/v1/procedures?page=1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] >= 20 and body["items"][0]["code"] < body["items"][1]["code"]
    one = caller.call("GET", f"/api/v1/procedures/{fx.PROCEDURE}").json()
    assert one["code"] == fx.PROCEDURE and one["online"] is True
    assert len(one["documents"]) == 2


def test_changed_since_gives_only_the_procedures_changed_after_the_time(caller):
    everything = caller.call("GET", "/api/v1/procedures").json()["total"]
    r = caller.call("GET", "/api/v1/procedures?changed_since=2999-01-01T00:00:00Z")
    assert r.status_code == 200 and r.json()["total"] == 0
    r = caller.call("GET", "/api/v1/procedures?changed_since=2000-01-01T00:00:00%2B07:00")
    assert r.json()["total"] == everything
    r = caller.call("GET", "/api/v1/procedures?changed_since=yesterday")
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert r.json()["errors"][0]["field"] == "changed_since"


def test_an_unsigned_request_is_refused_with_problem_details(client, caller):
    r = client.get("/api/v1/procedures")
    assert r.status_code == 401 and r.headers["content-type"] == PROBLEM
    problem = r.json()
    assert problem["status"] == 401 and "X-Api-Signature" in problem["detail"]
    assert "www-authenticate" in r.headers


def test_a_wrong_signature_a_changed_body_and_a_changed_path_are_refused(caller):
    good = caller.headers("GET", "/api/v1/procedures", b"")
    r = caller.http.get("/api/v1/procedures", headers={**good, "X-Api-Signature": "0" * 64})
    assert r.status_code == 401 and "signature" in r.json()["detail"]
    moved = caller.headers("GET", "/api/v1/procedures", b"")
    r = caller.http.get("/api/v1/procedures?page=2", headers=moved)
    assert r.status_code == 401
    signed = caller.headers("POST", "/api/v1/dossiers", b"{}")
    r = caller.http.post("/api/v1/dossiers", content=b'{"a": 1}', headers=signed)
    assert r.status_code == 401 and "SHA-256" in r.json()["detail"]


def test_a_replayed_request_is_refused(caller):
    headers = caller.headers("GET", "/api/v1/procedures", b"")
    assert caller.http.get("/api/v1/procedures", headers=headers).status_code == 200
    again = caller.http.get("/api/v1/procedures", headers=headers)
    assert again.status_code == 401 and "replay" in again.json()["detail"]


def test_the_clock_skew_is_configurable(settings, units, catalogue):
    from dataclasses import replace

    from starlette.testclient import TestClient

    app = create_app(replace(settings, api_clock_skew_seconds=30))
    key_id, secret = register(settings)
    with TestClient(app) as http:
        c = Caller(http, key_id, secret)
        now = int(time.time())
        assert c.call("GET", "/api/v1/procedures", timestamp=now - 20).status_code == 200
        old = c.call("GET", "/api/v1/procedures", timestamp=now - 45)
        assert old.status_code == 401 and "30 seconds" in old.json()["detail"]
        ahead = c.call("GET", "/api/v1/procedures", timestamp=now + 45)
        assert ahead.status_code == 401


def test_the_rate_limit_answers_429_with_retry_after(settings, client):
    key_id, secret = register(settings, rate_limit=3)
    c = Caller(client, key_id, secret)
    assert [c.call("GET", "/api/v1/procedures").status_code for _ in range(3)] == [200] * 3
    r = c.call("GET", "/api/v1/procedures")
    assert r.status_code == 429 and r.headers["content-type"] == PROBLEM
    assert 1 <= int(r.headers["retry-after"]) <= 61
    # another client is not slowed by this one
    other = Caller(client, *register(settings, name="B"))
    assert other.call("GET", "/api/v1/procedures").status_code == 200


def test_scopes_limit_what_a_client_may_do(settings, client):
    c = Caller(client, *register(settings, scopes=["procedures:read"]))
    assert c.call("GET", "/api/v1/procedures").status_code == 200
    r = c.call("POST", "/api/v1/dossiers", json=new_dossier())
    assert r.status_code == 403 and "dossiers:write" in r.json()["detail"]
    assert c.call("GET", "/api/v1/status-changes").status_code == 403


def test_a_revoked_or_rotated_key_stops_working(settings, client):
    key_id, secret = register(settings)
    c = Caller(client, key_id, secret)
    with db.connection_context():
        _, new_secret = api_clients.rotate(settings.secret_key, key_id)
    assert c.call("GET", "/api/v1/procedures").status_code == 401
    c.secret = new_secret
    assert c.call("GET", "/api/v1/procedures").status_code == 200
    with db.connection_context():
        api_clients.revoke(key_id)
    r = c.call("GET", "/api/v1/procedures")
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_secrets_are_stored_sealed(settings, units):
    key_id, secret = register(settings)
    with db.connection_context():
        row = ApiClient.get(ApiClient.key_id == key_id)
        raw = db.execute_sql("SELECT * FROM api_client").fetchall()
    assert secret not in repr(raw) and row.secret_sealed.startswith("v1:")
    assert api_clients.unseal(settings.secret_key, row.secret_sealed, key_id) == secret
    with pytest.raises(Exception):  # noqa: B017  (another portal's key cannot open it)
        api_clients.unseal("another-secret-key", row.secret_sealed, key_id)


def test_errors_under_api_are_never_html(client, caller):
    for r in (client.get("/api/v1/nothing-here"), client.post("/api/v1/procedures"),
              caller.call("GET", "/api/v1/dossiers/999999"),
              caller.call("GET", "/api/v1/procedures/9.999999")):
        assert r.headers["content-type"] == PROBLEM, (r.status_code, r.text[:80])
        assert r.json()["status"] == r.status_code
    # a POST from another site with no cookie and no CSRF token reaches the signature check
    r = client.post("/api/v1/dossiers", content=b"{}", headers={"Origin": "https://evil.example"})
    assert r.status_code == 401 and r.headers["content-type"] == PROBLEM


def test_creation_checks_each_field(caller, forms, people):
    r = caller.call("POST", "/api/v1/dossiers", json={"procedure": fx.PROCEDURE})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"unit", "tax_code"}
    r = caller.call("POST", "/api/v1/dossiers", json=new_dossier(declaration_date="31/02/2026",
                                                                  nonsense="x"))
    fields = {e["field"] for e in r.json()["errors"]}
    assert r.status_code == 422 and fields == {"answers.nonsense"}
    r = caller.call("POST", "/api/v1/dossiers", json=new_dossier(declaration_date="31/02/2026"))
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"answers.declaration_date"}
    r = caller.call("POST", "/api/v1/dossiers", json=new_dossier(tax_code="0100109106x"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "tax_code"
    not_online = {**new_dossier(), "procedure": fx.NOT_ONLINE}
    assert caller.call("POST", "/api/v1/dossiers", json=not_online).status_code == 409
    assert caller.call("POST", "/api/v1/dossiers", body=b"[1,").status_code == 422


def test_idempotency_key_gives_the_same_dossier(caller, forms, people):
    key = {"Idempotency-Key": "order-42"}
    first = caller.call("POST", "/api/v1/dossiers", json=new_dossier(), headers=key)
    again = caller.call("POST", "/api/v1/dossiers", json=new_dossier(), headers=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert first.headers["location"] == f"/api/v1/dossiers/{first.json()['id']}"
    other = caller.call("POST", "/api/v1/dossiers", json=new_dossier(reason="Khác"), headers=key)
    assert other.status_code == 409


def _upload(caller: Caller, did: int, document: int, data: bytes) -> None:
    """The tus exchange signed by hand (tests/test_api_tus.py runs tuspy)."""
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}"
                    for k, v in {"document": str(document), "filename": "to-khai.pdf"}.items())
    r = caller.call("POST", f"/api/v1/dossiers/{did}/uploads",
                    headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)),
                             "Upload-Metadata": meta})
    assert r.status_code == 201, r.text
    location = r.headers["location"]
    assert location.startswith("/api/v1/uploads/")
    r = caller.call("PATCH", location, body=data,
                    headers={"Tus-Resumable": "1.0.0", "Upload-Offset": "0",
                             "Content-Type": "application/offset+octet-stream"})
    assert r.status_code == 204 and r.headers["upload-complete"] == "1", r.text


def test_create_upload_submit_read_and_follow_the_feed(caller, forms, people, settings):
    r = caller.call("POST", "/api/v1/dossiers", json=new_dossier())
    assert r.status_code == 201, r.text
    did = r.json()["id"]
    early = caller.call("POST", f"/api/v1/dossiers/{did}/submit")
    assert early.status_code == 422
    assert {e["field"] for e in early.json()["errors"]} == {f"doc-{d}" for d in document_ids()}
    for doc in document_ids():
        _upload(caller, did, doc, pdf_bytes(f"doc {doc}"))
    r = caller.call("POST", f"/api/v1/dossiers/{did}/submit", headers={"Idempotency-Key": "s1"})
    assert r.status_code == 200, r.text
    submitted = r.json()
    assert submitted["status"]["code"] == 1 and submitted["code"].startswith("02CI-")
    again = caller.call("POST", f"/api/v1/dossiers/{did}/submit", headers={"Idempotency-Key": "s1"})
    assert again.status_code == 200 and again.json()["code"] == submitted["code"]
    read = caller.call("GET", f"/api/v1/dossiers/{did}").json()
    assert [d["files"] for d in read["documents"]] == [1, 1]
    assert read["steps"][-1]["action"] == "submitted_via_api"
    with db.connection_context():
        event = DossierEvent.get(DossierEvent.dossier == did,
                                 DossierEvent.action == "submitted_via_api")
    assert event.note == "API: Hệ thống A" and event.actor_id == people.enterprise.id
    feed = caller.call("GET", "/api/v1/status-changes?after=0").json()
    assert [(i["dossier_id"], i["status_after"]) for i in feed["items"]] == [(did, 1)]
    rest = caller.call("GET", f"/api/v1/status-changes?after={feed['next']}").json()
    assert rest == {"items": [], "next": feed["next"]}


def test_a_client_reads_only_its_own_dossiers_unless_it_may_read_all(settings, client, caller,
                                                                     forms, people):
    did = caller.call("POST", "/api/v1/dossiers", json=new_dossier()).json()["id"]
    other = Caller(client, *register(settings, name="B"))
    assert other.call("GET", f"/api/v1/dossiers/{did}").status_code == 404
    assert other.call("POST", f"/api/v1/dossiers/{did}/submit").status_code == 404
    everything = Caller(client, *register(settings, name="C", scopes=["dossiers:read-all"]))
    # a draft is nobody's business but its creator's
    assert everything.call("GET", f"/api/v1/dossiers/{did}").status_code == 404
    for doc in document_ids():
        _upload(caller, did, doc, pdf_bytes())
    assert caller.call("POST", f"/api/v1/dossiers/{did}/submit").status_code == 200
    assert everything.call("GET", f"/api/v1/dossiers/{did}").status_code == 200
    assert other.call("GET", "/api/v1/status-changes").json()["items"] == []
    assert len(everything.call("GET", "/api/v1/status-changes").json()["items"]) == 1


def test_an_upload_to_another_clients_dossier_is_not_found(settings, client, caller, forms,
                                                          people):
    did = caller.call("POST", "/api/v1/dossiers", json=new_dossier()).json()["id"]
    other = Caller(client, *register(settings, name="B"))
    r = other.call("POST", f"/api/v1/dossiers/{did}/uploads",
                   headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10",
                            "Upload-Metadata": "document " + base64.b64encode(b"1").decode()})
    assert r.status_code == 404 and r.headers["tus-resumable"] == "1.0.0"
    assert r.headers["content-type"] == PROBLEM


def test_a_chunk_other_than_the_signed_one_is_refused(caller, forms, people):
    did = caller.call("POST", "/api/v1/dossiers", json=new_dossier()).json()["id"]
    data = pdf_bytes()
    meta = "document " + base64.b64encode(str(document_ids()[0]).encode()).decode()
    r = caller.call("POST", f"/api/v1/dossiers/{did}/uploads",
                    headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)),
                             "Upload-Metadata": meta})
    location = r.headers["location"]
    signed = caller.headers("PATCH", location, data)
    r = caller.http.patch(location, content=data[:-1] + b"!", headers={
        **signed, "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
        "Content-Type": "application/offset+octet-stream"})
    assert r.status_code == 401 and r.headers["content-type"] == PROBLEM
    head = caller.call("HEAD", location, headers={"Tus-Resumable": "1.0.0"})
    assert head.headers["upload-offset"] == "0"


def test_the_openapi_document_is_served(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200 and r.json()["openapi"] == "3.1.0"
    assert "/api/v1/status-changes" in json.loads(r.text)["paths"]


def test_the_api_settings_come_from_the_environment(tmp_path):
    from portal.config import ConfigError, Settings

    env = {"PORTAL_DATA_DIR": str(tmp_path), "PORTAL_SECRET_KEY": "k" * 40,
           "PORTAL_HISTORY_KEY": "h" * 40}
    default = Settings.from_env(env)
    assert (default.api_clock_skew_seconds, default.api_rate_limit) == (300, 120)
    chosen = Settings.from_env({**env, "PORTAL_API_CLOCK_SKEW_SECONDS": "60",
                                "PORTAL_API_RATE_LIMIT": "10"})
    assert (chosen.api_clock_skew_seconds, chosen.api_rate_limit) == (60, 10)
    with pytest.raises(ConfigError, match="PORTAL_API_RATE_LIMIT"):
        Settings.from_env({**env, "PORTAL_API_RATE_LIMIT": "0"})
