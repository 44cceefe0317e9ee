"""Shared by the API tests: registered clients and requests signed with their keys, as a
client system sends them (services/api_clients.sign is what run.py api-call uses too)."""

from __future__ import annotations

import json as jsonlib
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from portal.db import db
from portal.services import api_clients

ALL_SCOPES = ["procedures:read", "dossiers:write", "dossiers:read"]


@dataclass
class Caller:
    """A registered client calling through a test client (or any httpx-like client)."""

    http: TestClient
    key_id: str
    secret: str

    def headers(self, method: str, target: str, body: bytes, **kwargs) -> dict[str, str]:
        return api_clients.sign(self.secret, method, target, body, key_id=self.key_id, **kwargs)

    def call(self, method: str, target: str, *, json: object = None, body: bytes = b"",
             headers: dict[str, str] | None = None, **sign_kwargs):
        if json is not None:
            body = jsonlib.dumps(json).encode()
        signed = self.headers(method, target, body, **sign_kwargs)
        extra = {"Content-Type": "application/json"} if json is not None else {}
        return self.http.request(method, target, content=body,
                                 headers={**extra, **signed, **(headers or {})})


def register(settings, name: str = "Hệ thống A", scopes: list[str] | None = None,
             rate_limit: int | None = None) -> tuple[str, str]:
    with db.connection_context():
        client, secret = api_clients.register(settings.secret_key, name,
                                              scopes or ALL_SCOPES, rate_limit)
    return client.key_id, secret


@pytest.fixture
def caller(settings, client) -> Caller:
    key_id, secret = register(settings)
    return Caller(client, key_id, secret)


def new_dossier(tax_code: str = "0100112437", **answers: str) -> dict:
    from tests.dossier_web_fixtures import ANSWERS, PROCEDURE, UNIT

    return {"procedure": PROCEDURE, "unit": UNIT, "tax_code": tax_code,
            "answers": {**ANSWERS, **answers}}
