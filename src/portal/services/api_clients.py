"""API clients: systems an administrator registers to call /api/v1, each with a key id, the
scopes it may use and a secret shown once. Every request is signed with the secret
(HMAC-SHA256 over the method, the path with its query, the timestamp, a nonce and the SHA-256
of the body); this module checks the signature, refuses a replayed nonce while the timestamp is
within the allowed clock skew, and counts the client's requests in a sliding minute.

Secrets are kept sealed with AES-GCM under a key derived (HKDF-SHA256) from the portal's
secret key: a copy of the database alone does not give them away. Changing
PORTAL_SECRET_KEY makes the sealed secrets unreadable: rotate every client's secret then."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from peewee import IntegrityError

from portal.db import db, reading, transactional
from portal.models import ApiClient, ApiNonce, User, utcnow
from portal.services import history
from portal.services.errors import N_, DomainError, Message, NotFound, ValidationError
from portal.services.history import Actor
from portal.services.text import clean

SCOPES = {
    "procedures:read": N_("Read the procedure catalogue"),
    "dossiers:write": N_("Create and submit dossiers for enterprises"),
    "dossiers:read": N_("Read the dossiers this client created"),
    "dossiers:read-all": N_("Read every submitted dossier and its status changes"),
}
HEADERS = ("x-api-key", "x-api-timestamp", "x-api-nonce", "x-api-content-sha256",
           "x-api-signature")
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
HEX64 = re.compile(r"[0-9a-f]{64}")
RATE_WINDOW = dt.timedelta(minutes=1)
SEALED_PREFIX = "v1:"


class Unauthenticated(Exception):
    """The request's signature is missing, wrong, too old or replayed (401); `detail` says
    which, in English (clients read it, people do not)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class RateLimited(Exception):
    """The client made its allowed requests of the last minute (429 with Retry-After)."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"retry after {retry_after} s")


# --- sealing -------------------------------------------------------------------------------


def _key(secret_key: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"portal-api", info=b"api-client-secrets"
    ).derive(secret_key.encode())


def seal(secret_key: str, secret: str, key_id: str) -> str:
    """`secret` encrypted (AES-GCM, the key id as associated data: a sealed secret copied to
    another client's row does not open)."""
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_key(secret_key)).encrypt(nonce, secret.encode(), key_id.encode())
    return SEALED_PREFIX + base64.b64encode(nonce + sealed).decode()


def unseal(secret_key: str, sealed: str, key_id: str) -> str:
    raw = base64.b64decode(sealed.removeprefix(SEALED_PREFIX))
    return AESGCM(_key(secret_key)).decrypt(raw[:12], raw[12:], key_id.encode()).decode()


# --- signing -------------------------------------------------------------------------------


def canonical(method: str, target: str, timestamp: str, nonce: str, body_sha256: str) -> bytes:
    """What is signed: the method, the path with its query as sent, the timestamp (Unix
    seconds), the nonce and the body's SHA-256 (hex), one a line."""
    return "\n".join([method.upper(), target, timestamp, nonce, body_sha256]).encode()


def sign(secret: str, method: str, target: str, body: bytes, *, key_id: str,
         timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    """The headers that sign a request (what a client does; run.py api-call and the tests
    use it)."""
    stamp = str(int(timestamp if timestamp is not None else utcnow().replace(
        tzinfo=dt.UTC).timestamp()))
    nonce = nonce or secrets.token_urlsafe(18)
    digest = hashlib.sha256(body).hexdigest()
    mac = hmac.new(secret.encode(), canonical(method, target, stamp, nonce, digest),
                   hashlib.sha256).hexdigest()
    return {"X-Api-Key": key_id, "X-Api-Timestamp": stamp, "X-Api-Nonce": nonce,
            "X-Api-Content-SHA256": digest, "X-Api-Signature": mac}


@dataclass(frozen=True)
class Signed:
    """What a request says about its signature (the values of HEADERS)."""

    key_id: str
    timestamp: str
    nonce: str
    body_sha256: str
    signature: str


@dataclass(frozen=True)
class Limits:
    secret_key: str
    skew_seconds: int
    rate_limit: int


def authenticate(signed: Signed, method: str, target: str, limits: Limits) -> ApiClient:
    """The client that signed this request; raises Unauthenticated (which check failed) or
    RateLimited. The body's SHA-256 is the caller's to compare with `signed.body_sha256`."""
    if not all((signed.key_id, signed.timestamp, signed.nonce, signed.body_sha256,
                signed.signature)):
        raise Unauthenticated("The request is not signed: send the X-Api-Key, X-Api-Timestamp,"
                              " X-Api-Nonce, X-Api-Content-SHA256 and X-Api-Signature headers.")
    now = utcnow()
    stamp = _timestamp(signed.timestamp, now, limits.skew_seconds)
    if not NONCE.fullmatch(signed.nonce):
        raise Unauthenticated("X-Api-Nonce must be 16 to 64 letters, digits, '-' or '_'.")
    if not HEX64.fullmatch(signed.body_sha256):
        raise Unauthenticated("X-Api-Content-SHA256 must be 64 lower-case hex digits.")
    with db.connection_context():
        client = ApiClient.get_or_none(ApiClient.key_id == signed.key_id[:32])
    if client is None or client.revoked_at is not None:
        raise Unauthenticated("The key is unknown or revoked.")
    secret = unseal(limits.secret_key, client.secret_sealed, client.key_id)
    expected = hmac.new(secret.encode(), canonical(method, target, signed.timestamp,
                        signed.nonce, signed.body_sha256), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signed.signature.strip().lower()):
        raise Unauthenticated("The signature does not match the request.")
    keep_until = max(stamp + dt.timedelta(seconds=limits.skew_seconds), now + RATE_WINDOW)
    _admit(client, signed.nonce, now, keep_until, client.rate_limit or limits.rate_limit)
    return client


def _timestamp(value: str, now: dt.datetime, skew: int) -> dt.datetime:
    if not value.isdigit() or len(value) > 12:
        raise Unauthenticated("X-Api-Timestamp must be the time in Unix seconds.")
    stamp = dt.datetime.fromtimestamp(int(value), dt.UTC).replace(tzinfo=None)
    if abs((now - stamp).total_seconds()) > skew:
        raise Unauthenticated(f"X-Api-Timestamp is more than {skew} seconds from the "
                              "server's clock.")
    return stamp


@transactional
def _admit(client: ApiClient, nonce: str, now: dt.datetime, keep_until: dt.datetime,
           limit: int) -> None:
    """Record the nonce (a replay fails on the unique index) once the client's requests of
    the last minute are under `limit`; nonces whose time is past are dropped first."""
    ApiNonce.delete().where(ApiNonce.client == client.id, ApiNonce.expires_at < now,
                            ApiNonce.created_at < now - RATE_WINDOW).execute()
    if ApiNonce.select().where(ApiNonce.client == client.id, ApiNonce.nonce == nonce).exists():
        raise Unauthenticated("This nonce was used already: the request is a replay.")
    recent = ApiNonce.select(ApiNonce.created_at).where(
        ApiNonce.client == client.id, ApiNonce.created_at > now - RATE_WINDOW
    ).order_by(ApiNonce.created_at)
    if recent.count() >= limit:
        oldest = recent.first().created_at
        wait = (oldest + RATE_WINDOW - now).total_seconds()
        raise RateLimited(max(1, int(wait) + 1))
    try:
        with db.atomic():
            ApiNonce.create(client=client.id, nonce=nonce, created_at=now, expires_at=keep_until)
    except IntegrityError:  # the same nonce in a request that ran at the same moment
        raise Unauthenticated("This nonce was used already: the request is a replay.") from None


# --- administration ------------------------------------------------------------------------


def _scopes(values: list[str]) -> str:
    chosen = [s for s in SCOPES if s in values]
    if not chosen or len(chosen) != len(set(values)):
        raise ValidationError({"scopes": Message(N_("Choose at least one scope."))})
    return " ".join(chosen)


def _admin_actor(admin: User | None, client_addr: str) -> Actor:
    return Actor.of(admin, client_addr) if admin else Actor(None, "command line", "admin", "")


@transactional
def register(secret_key: str, name: str, scopes: list[str], rate_limit: int | None,
             admin: User | None = None, client_addr: str = "") -> tuple[ApiClient, str]:
    """Register a client; returns it and its secret (shown once, kept only sealed). Raises
    ValidationError on the `name`, `scopes` or `rate_limit` field."""
    errors: dict[str, Message] = {}
    name = clean(name)[:255]
    if not name:
        errors["name"] = Message(N_("Enter the client's name."))
    try:
        scope_text = _scopes(scopes)
    except ValidationError as exc:
        errors.update(exc.errors)
    if rate_limit is not None and not 1 <= rate_limit <= 100_000:
        errors["rate_limit"] = Message(N_("Enter a number of requests from 1 to 100000."))
    if errors:
        raise ValidationError(errors)
    key_id, secret = secrets.token_hex(12), secrets.token_urlsafe(32)
    client = ApiClient.create(
        key_id=key_id, name=name, scopes=scope_text, rate_limit=rate_limit or 0,
        secret_sealed=seal(secret_key, secret, key_id),
        created_by=admin.username if admin else "command line",
    )
    history.record(_admin_actor(admin, client_addr), "api_client_registered",
                   note=f"{name} ({key_id}): {scope_text}", public=False)
    return client, secret


@transactional
def rotate(secret_key: str, key_id: str, admin: User | None = None,
           client_addr: str = "") -> tuple[ApiClient, str]:
    """Give a client a new secret (the old one stops working at once); returns the client
    and the new secret. Raises NotFound, DomainError when the client is revoked."""
    client = _client(key_id)
    secret = secrets.token_urlsafe(32)
    client.secret_sealed = seal(secret_key, secret, client.key_id)
    client.rotated_at = utcnow()
    client.save()
    history.record(_admin_actor(admin, client_addr), "api_client_rotated",
                   note=f"{client.name} ({client.key_id})", public=False)
    return client, secret


@transactional
def revoke(key_id: str, admin: User | None = None, client_addr: str = "") -> ApiClient:
    """Revoke a client for good: its requests are refused from now on. Raises NotFound,
    DomainError when it is revoked already."""
    client = _client(key_id)
    client.revoked_at = utcnow()
    client.save()
    history.record(_admin_actor(admin, client_addr), "api_client_revoked",
                   note=f"{client.name} ({client.key_id})", public=False)
    return client


def _client(key_id: str) -> ApiClient:
    client = ApiClient.get_or_none(ApiClient.key_id == key_id[:32])
    if client is None:
        raise NotFound("api client")
    if client.revoked_at is not None:
        raise DomainError(N_("This client is revoked."), kind="conflict")
    return client


@reading
def clients() -> list[ApiClient]:
    """Every registered client, the active ones first, newest first."""
    return list(ApiClient.select().order_by(ApiClient.revoked_at.is_null(False),
                                            ApiClient.created_at.desc(), ApiClient.id.desc()))


@reading
def get(key_id: str) -> ApiClient:
    client = ApiClient.get_or_none(ApiClient.key_id == key_id[:32])
    if client is None:
        raise NotFound("api client")
    return client


@reading
def secret_of(secret_key: str, key_id: str) -> str:
    """A client's secret (run.py api-call signs with it on the portal's own machine)."""
    client = _client(key_id)
    return unseal(secret_key, client.secret_sealed, client.key_id)
