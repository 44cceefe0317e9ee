"""A small real OpenID Connect provider for the tests (Flask and authlib's authorisation
server: the authorisation code grant with PKCE and OpenID Connect's ID token, signed RS256
with a key published at /jwks), standing in for the national identity (VNeID).

Run on loopback as a separate process:
    python tests/oidc_provider.py --port P --client-id ID --client-secret S --redirect-uri URI

Its sign-in page is a form prefilled with the identity to hand back (type, ID number or tax
code, name, assurance level), which a test or a browser submits. `POST /_test/config` (JSON)
sets the next identity and a fault to inject into the ID token: `wrong_signature` (signed with
a key that is not published, under the published key's id), `wrong_audience`, `expired`, or
`replay_nonce` (the nonce of the first sign-in it saw); an outage to stand for a provider that
does not answer well: `discovery` (its discovery document answers 500), `token` (its token
endpoint answers 503), `token_slow` (its token endpoint answers after `delay` seconds), `jwks`
(its keys answer 500); and the `redirect_uri` of the client (a live server's port is known only
once it runs). Its sign-in page also has a button to cancel (the portal gets `access_denied`).
`GET /_test/log` lists the logouts."""

from __future__ import annotations

import argparse
import html
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.models import ClientMixin
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.models import AuthorizationCodeMixin
from flask import Flask, jsonify, redirect, request
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

KID = "test-key-1"
FAULTS = ("", "wrong_signature", "wrong_audience", "expired", "replay_nonce")
OUTAGES = ("", "discovery", "token", "token_slow", "jwks")
IDENTITY_FIELDS = ("sub", "account_type", "id_number", "tax_code", "name", "assurance_level",
                   "email")


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uri: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope.split() if s in ("openid", "profile", "email"))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.redirect_uri

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Person:
    claims: dict[str, Any]

    def get_user_id(self) -> str:
        return str(self.claims["sub"])


@dataclass
class Code(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    person: Person
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass
class State:
    client: Client
    issuer: str
    key: RSAKey
    rogue_key: RSAKey
    identity: dict[str, Any]
    fault: str = ""
    outage: str = ""
    delay: float = 0.0
    codes: dict[str, Code] = field(default_factory=dict)
    nonces: list[str] = field(default_factory=list)
    logouts: list[dict[str, str]] = field(default_factory=list)


def create_provider(
    issuer: str, client_id: str, client_secret: str, redirect_uri: str
) -> tuple[Flask, State]:
    """The provider's Flask app for `issuer`, with one registered client."""
    state = State(
        client=Client(client_id, client_secret, redirect_uri),
        issuer=issuer,
        key=RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig"}),
        rogue_key=RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig"}),
        identity={
            "sub": "citizen-001",
            "account_type": 1,
            "id_number": "001090000001",
            "tax_code": "",
            "name": "Nguyễn Văn An",
            "assurance_level": 2,
        },
    )

    class CodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

        def save_authorization_code(self, code: str, req: Any) -> None:
            payload = req.payload
            state.codes[code] = Code(
                code=code,
                client_id=req.client.client_id,
                redirect_uri=payload.redirect_uri,
                scope=req.client.get_allowed_scope(payload.scope),
                nonce=payload.data.get("nonce"),
                code_challenge=payload.data.get("code_challenge"),
                code_challenge_method=payload.data.get("code_challenge_method"),
                person=req.user,
            )

        def query_authorization_code(self, code: str, client: Client) -> Code | None:
            found = state.codes.get(code)
            return found if found and found.client_id == client.client_id else None

        def delete_authorization_code(self, authorization_code: Code) -> None:
            state.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: Code) -> Person:
            return authorization_code.person

    class IdToken(OpenIDCode):
        def exists_nonce(self, nonce: str, req: Any) -> bool:
            return nonce in state.nonces

        def resolve_client_private_key(self, client: Client) -> RSAKey:
            return state.rogue_key if state.fault == "wrong_signature" else state.key

        def get_client_algorithm(self, client: Client) -> str:
            return "RS256"

        def get_encode_header(self, client: Client) -> dict[str, str]:
            return {"alg": "RS256", "kid": KID}

        def get_client_claims(self, client: Client) -> dict[str, Any]:
            now = int(time.time())
            audience = "another-service" if state.fault == "wrong_audience" else client.client_id
            if state.fault == "expired":
                return {"iss": state.issuer, "aud": [audience], "iat": now - 7200,
                        "exp": now - 3600}
            return {"iss": state.issuer, "aud": [audience], "iat": now, "exp": now + 600}

        def get_authorization_code_claims(self, authorization_code: Code) -> dict[str, Any]:
            claims = super().get_authorization_code_claims(authorization_code)
            if state.fault == "replay_nonce" and state.nonces:
                claims["nonce"] = state.nonces[0]  # an earlier sign-in's token, replayed
            return claims

        def generate_user_info(self, user: Person, scope: str) -> dict[str, Any]:
            return {k: v for k, v in user.claims.items() if v not in ("", None)}

    app = Flask(__name__)
    server = AuthorizationServer(
        app,
        query_client=lambda cid: state.client if cid == state.client.client_id else None,
        save_token=lambda token, req: None,
    )
    server.register_grant(CodeGrant, [CodeChallenge(required=True), IdToken(require_nonce=True)])

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Any:
        if state.outage == "discovery":
            return "Internal Server Error", 500
        return jsonify(
            issuer=state.issuer,
            authorization_endpoint=f"{state.issuer}/authorize",
            token_endpoint=f"{state.issuer}/token",
            jwks_uri=f"{state.issuer}/jwks",
            end_session_endpoint=f"{state.issuer}/logout",
            response_types_supported=["code"],
            subject_types_supported=["public"],
            id_token_signing_alg_values_supported=["RS256"],
            code_challenge_methods_supported=["S256"],
            token_endpoint_auth_methods_supported=["client_secret_basic"],
        )

    @app.get("/jwks")
    def jwks() -> Any:
        if state.outage == "jwks":
            return "Internal Server Error", 500
        return jsonify(keys=[state.key.as_dict(private=False)])

    @app.get("/healthz")
    def health() -> Any:
        return "ok"

    @app.get("/authorize")
    def authorize_form() -> Any:
        inputs = "".join(
            f'<p><label for="{k}">{k}</label> '
            f'<input id="{k}" name="{k}" value="{html.escape(str(state.identity.get(k, "")))}">'
            "</p>"
            for k in IDENTITY_FIELDS
        )
        action = html.escape("/authorize?" + urlencode(list(request.args.items(multi=True))))
        return (
            '<!doctype html><html lang="vi"><head><title>VNeID (test)</title></head><body>'
            f'<h1>VNeID (test)</h1><form method="post" action="{action}">{inputs}'
            '<button type="submit">Đăng nhập</button> '
            '<button type="submit" name="cancel" value="1">Huỷ</button></form></body></html>'
        )

    @app.post("/authorize")
    def authorize() -> Any:
        claims: dict[str, Any] = {k: request.form.get(k, "") for k in IDENTITY_FIELDS}
        for k in ("account_type", "assurance_level"):
            if str(claims[k]).isdigit():
                claims[k] = int(claims[k])
        person = Person(claims)
        grant = server.get_consent_grant(end_user=person)
        nonce = request.args.get("nonce")
        if request.form.get("cancel"):  # the person declined: access_denied to the client
            return server.create_authorization_response(grant=grant, grant_user=None)
        response = server.create_authorization_response(grant=grant, grant_user=person)
        if nonce and nonce not in state.nonces:
            state.nonces.append(nonce)
        return response

    @app.post("/token")
    def token() -> Any:
        if state.outage == "token":
            return "Service Unavailable", 503
        if state.outage == "token_slow":
            time.sleep(state.delay)
        return server.create_token_response()

    @app.get("/logout")
    def logout() -> Any:
        state.logouts.append(dict(request.args.items()))
        target = request.args.get("post_logout_redirect_uri", "")
        return redirect(target) if target else "logged out"

    @app.post("/_test/config")
    def configure() -> Any:
        data = request.get_json()
        if "fault" in data:
            if data["fault"] not in FAULTS:
                return jsonify(error="unknown fault"), 400
            state.fault = data["fault"]
        if "identity" in data:
            state.identity = dict(data["identity"])
        if "outage" in data:
            if data["outage"] not in OUTAGES:
                return jsonify(error="unknown outage"), 400
            state.outage = data["outage"]
            state.delay = float(data.get("delay", 0))
        if "redirect_uri" in data:
            state.client.redirect_uri = str(data["redirect_uri"])
        return jsonify(ok=True)

    @app.get("/_test/log")
    def log() -> Any:
        return jsonify(logouts=state.logouts, nonces=state.nonces)

    return app, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--redirect-uri", required=True)
    args = parser.parse_args()
    issuer = f"http://127.0.0.1:{args.port}"
    app, _ = create_provider(issuer, args.client_id, args.client_secret, args.redirect_uri)
    make_server("127.0.0.1", args.port, app, threaded=True).serve_forever()


if __name__ == "__main__":
    main()


class OidcProvider:
    """This provider as a separate process on a free loopback port (for the tests)."""

    def __init__(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        import sys
        from pathlib import Path

        from tests.live_server import Process, free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process = Process()
        self._process.name = "OpenID provider"
        self._process.url = self.url  # type: ignore[attr-defined]
        self._process._start(
            [sys.executable, str(Path(__file__)), "--port", str(self.port), "--client-id",
             client_id, "--client-secret", client_secret, "--redirect-uri", redirect_uri],
            dict(os.environ),
        )

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def configure(self, **data: Any) -> None:
        import json
        import urllib.request

        req = urllib.request.Request(f"{self.url}/_test/config", json.dumps(data).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200

    def log(self) -> dict[str, Any]:
        import json
        import urllib.request

        with urllib.request.urlopen(f"{self.url}/_test/log", timeout=5) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        self._process.stop()
