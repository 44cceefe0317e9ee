"""OpenID Connect with the national identity provider, through authlib: the authorisation
code flow with PKCE (S256), state and nonce, and the ID token verified with joserfc (the
JOSE library of authlib's authors, which authlib's own OpenID clients use): its signature
against the provider's JWKS, its issuer, audience, expiry and nonce.

Each login under way is a `sign_on_request` row: its state, nonce and PKCE verifier stay on
the server. A state is consumed once (the row is marked used in one conditional update) and
the row is kept until it expires, so a used state or nonce is never accepted again. No token
is parsed or signed here by hand: authlib builds the requests and joserfc checks the token."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from portal.db import transactional
from portal.models import SignOnRequest, utcnow
from portal.services.errors import N_, DomainError

REQUEST_MINUTES = 10  # how long a login may stay at the provider
METADATA_SECONDS = 3600  # how long the discovery document and the keys are kept
TIMEOUT = 10.0
LEEWAY = 60  # seconds of clock difference allowed on the token's times
# The OAuth error codes by which a provider says it cannot serve now (RFC 6749, 4.1.2.1, 5.2).
PROVIDER_DOWN = ("server_error", "temporarily_unavailable")
UNAVAILABLE = N_("The national identity service does not answer. Try again later.")


class SignOnError(DomainError):
    """The sign-in with the national identity failed; the message says why (safe to show)."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message, kind="invalid")
        self.message.params.update(params)


@dataclass(frozen=True)
class Provider:
    """The configured provider and the portal's addresses it sends the browser back to."""

    discovery_url: str
    client_id: str
    client_secret: str
    scopes: str
    redirect_uri: str  # <base>/login/national/callback
    post_logout_uri: str  # <base>/

    @classmethod
    def of(cls, settings: Any) -> Provider | None:
        """The provider of `settings`, or None when single sign-on is off."""
        if not settings.national_id_discovery_url:
            return None
        return cls(
            settings.national_id_discovery_url,
            settings.national_id_client_id,
            settings.national_id_client_secret,
            settings.national_id_scopes,
            f"{settings.base_url}/login/national/callback",
            f"{settings.base_url}/",
        )

    @property
    def origin(self) -> str:
        parts = urlsplit(self.discovery_url)
        return f"{parts.scheme}://{parts.netloc}"

    def client(self, **kwargs: Any) -> OAuth2Client:
        return OAuth2Client(
            client_id=self.client_id,
            client_secret=self.client_secret,
            scope=self.scopes,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            timeout=TIMEOUT,
            **kwargs,
        )


_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def _get_json(provider: Provider, url: str) -> dict[str, Any]:
    try:
        with provider.client() as client:
            response = client.request("GET", url, withhold_token=True)
            response.raise_for_status()
            data = response.json()
    except Exception as exc:  # network, HTTP status or JSON: the provider is not usable now
        raise DomainError(UNAVAILABLE, kind="unavailable") from exc
    if not isinstance(data, dict):
        raise DomainError(UNAVAILABLE, kind="unavailable")
    return data


def _cached(key: str, fetch: Any, force: bool = False) -> dict[str, Any]:
    with _lock:
        hit = _cache.get(key)
    if hit and not force and time.monotonic() - hit[0] < METADATA_SECONDS:
        return hit[1]
    value = fetch()
    with _lock:
        _cache[key] = (time.monotonic(), value)
    return value


def metadata(provider: Provider) -> dict[str, Any]:
    """The provider's discovery document (kept an hour); raises DomainError (unavailable)."""

    def fetch() -> dict[str, Any]:
        data = _get_json(provider, provider.discovery_url)
        needed = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
        if any(not isinstance(data.get(k), str) for k in needed):
            raise DomainError(UNAVAILABLE, kind="unavailable")
        return data

    return _cached("meta:" + provider.discovery_url, fetch)


def _keys(provider: Provider, meta: dict[str, Any], force: bool = False) -> KeySet:
    data = _cached("jwks:" + meta["jwks_uri"], lambda: _get_json(provider, meta["jwks_uri"]), force)
    return KeySet.import_key_set(data)  # type: ignore[arg-type]


def forget_metadata() -> None:
    """Drop the kept discovery documents and keys (a provider's configuration changed)."""
    with _lock:
        _cache.clear()


def begin(provider: Provider, user_id: int | None = None, next_path: str = "") -> tuple[str, str]:
    """Start a login: returns (the provider's authorisation address to send the browser to,
    the state to keep in the browser's session). `user_id`: the signed-in user the identity
    is to be linked to. Raises DomainError (unavailable) when the provider does not answer."""
    meta = metadata(provider)
    state, nonce, verifier = generate_token(43), generate_token(43), generate_token(64)
    with provider.client() as client:
        address, _ = client.create_authorization_url(
            meta["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
        )
    _store(state, nonce, verifier, user_id, next_path)
    return address, state


@transactional
def _store(state: str, nonce: str, verifier: str, user_id: int | None, next_path: str) -> None:
    now = utcnow()
    # Expired requests go: their state and nonce cannot be accepted anyway.
    SignOnRequest.delete().where(SignOnRequest.expires_at < now).execute()
    SignOnRequest.create(
        state=state,
        nonce=nonce,
        code_verifier=verifier,
        user=user_id,
        next_path=next_path[:500],
        created_at=now,
        expires_at=now + dt.timedelta(minutes=REQUEST_MINUTES),
    )


@transactional
def purge_requests(now: dt.datetime | None = None) -> int:
    """Delete the sign-in requests that were used or have expired; returns how many went.
    Neither can be accepted again once gone: a state is accepted only while its row exists,
    unused and unexpired, and an ID token only with the nonce of the row its state names."""
    now = now or utcnow()
    return (
        SignOnRequest.delete()
        .where(SignOnRequest.used_at.is_null(False) | (SignOnRequest.expires_at < now))
        .execute()
    )


@dataclass(frozen=True)
class Completed:
    """A verified sign-in: the provider's issuer and subject, the ID token's claims, the
    token itself (for the provider's logout) and what the login was started for."""

    issuer: str
    subject: str
    claims: dict[str, Any]
    id_token: str
    user_id: int | None
    next_path: str


@transactional
def _consume(state: str) -> SignOnRequest:
    now = utcnow()
    used = (
        SignOnRequest.update(used_at=now)
        .where(
            SignOnRequest.state == state,
            SignOnRequest.used_at.is_null(),
            SignOnRequest.expires_at > now,
        )
        .execute()
    )
    if not used:
        raise SignOnError(
            N_("This sign-in was already used or has expired. Start again from the login page.")
        )
    return SignOnRequest.get(SignOnRequest.state == state)


def finish(provider: Provider, state: str, code: str, session_state: str) -> Completed:
    """Complete a login from the provider's answer: the state (once, and only in the browser
    that started it), the code exchanged with the PKCE verifier, the ID token verified.
    Raises SignOnError saying what was wrong, DomainError (unavailable)."""
    if not state or not session_state or state != session_state:
        raise SignOnError(
            N_("This sign-in was not started in this browser. Start again from the login page.")
        )
    request = _consume(state)
    if not code:
        raise SignOnError(N_("The national identity service sent no authorisation code."))
    meta = metadata(provider)
    try:
        with provider.client() as client:
            token = client.fetch_token(
                meta["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=request.code_verifier,
                redirect_uri=provider.redirect_uri,
            )
    except OAuthError as exc:
        if exc.error in PROVIDER_DOWN:  # the provider's own trouble, not the sign-in's
            raise DomainError(UNAVAILABLE, kind="unavailable") from exc
        raise SignOnError(
            N_("The national identity service refused the sign-in (%(error)s)."),
            error=str(exc.error or "")[:100],
        ) from None
    except Exception as exc:
        raise DomainError(UNAVAILABLE, kind="unavailable") from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SignOnError(N_("The national identity service sent no identity token."))
    claims = verify_id_token(provider, meta, id_token, request.nonce, token.get("access_token"))
    return Completed(
        meta["issuer"],
        str(claims["sub"]),
        claims,
        id_token,
        request.user_id,
        request.next_path,
    )


def verify_id_token(
    provider: Provider,
    meta: dict[str, Any],
    id_token: str,
    nonce: str,
    access_token: str | None = None,
) -> dict[str, Any]:
    """The claims of `id_token` once its signature (the provider's keys), issuer, audience,
    times and nonce are checked; raises SignOnError naming the check that failed."""
    registry = JWSRegistry(algorithms=meta.get("id_token_signing_alg_values_supported"))
    try:
        try:
            decoded = jwt.decode(id_token, _keys(provider, meta), registry=registry)
        except InvalidKeyIdError:  # the provider may have rotated its keys: fetch them again
            decoded = jwt.decode(id_token, _keys(provider, meta, force=True), registry=registry)
    except BadSignatureError:
        raise SignOnError(
            N_("The identity token's signature is not the national identity service's.")
        ) from None
    except (JoseError, ValueError):
        raise SignOnError(N_("The identity token could not be read or verified.")) from None
    params: dict[str, Any] = {"nonce": nonce, "client_id": provider.client_id}
    if access_token:
        params["access_token"] = access_token
    # The audience is checked by joserfc's claims registry: authlib's IDToken alone only
    # asks for an `azp` when the audience differs, and would accept one naming this client.
    options = {
        "iss": {"essential": True, "value": meta["issuer"]},
        "aud": {"essential": True, "value": provider.client_id},
    }
    checked = CodeIDToken(decoded.claims, decoded.header, options, params)
    try:
        checked.validate(leeway=LEEWAY)
    except ExpiredTokenError:
        raise SignOnError(N_("The identity token has expired. Start again.")) from None
    except (InvalidClaimError, MissingClaimError) as exc:
        raise SignOnError(_claim_message(exc.claim)) from None
    except JoseError:
        raise SignOnError(N_("The identity token could not be read or verified.")) from None
    if not isinstance(checked.get("sub"), str) or not checked["sub"]:
        raise SignOnError(_claim_message("sub"))
    return dict(checked)


def _claim_message(claim: str) -> str:
    return {
        "aud": N_("The identity token was issued for another service, not for this portal."),
        "azp": N_("The identity token was issued for another service, not for this portal."),
        "iss": N_("The identity token was not issued by the configured identity service."),
        "nonce": N_(
            "The identity token does not belong to this sign-in (it was replayed). Start again."
        ),
    }.get(claim, N_("The identity token could not be read or verified."))


def logout_url(provider: Provider, id_token: str) -> str | None:
    """The provider's end-session address for RP-initiated logout (the browser comes back to
    the portal's home page), or None when the provider offers none or does not answer."""
    try:
        meta = metadata(provider)
    except DomainError:
        return None
    endpoint = meta.get("end_session_endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        return None
    return add_params_to_uri(
        endpoint,
        {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": provider.post_logout_uri,
            "client_id": provider.client_id,
        },
    )
