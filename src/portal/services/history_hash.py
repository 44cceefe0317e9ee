"""The hash of a history event and the seal of the cut-over to keyed hashes: the one
definition both the writer (services/history.py) and the verifier (services/history_verify.py)
use."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence

from portal import history_keys

GENESIS = "0" * 64
UNSEALED = "the cut-over to keyed hashes is not sealed by a history key known here"


# The hashed columns of an event, in the order its hash joins them (after the previous hash).
HASHED = (
    "dossier_id",
    "actor_id",
    "actor_name",
    "actor_role",
    "actor_unit",
    "action",
    "status_before",
    "status_after",
    "note",
    "public",
    "client_addr",
    "created_at",
)


def values_of(event: object) -> tuple:
    """An event's hashed values, in HASHED order (from a model instance or any object with
    those attributes)."""
    return tuple(getattr(event, name) for name in HASHED)


def digest(prev_hash: str, values: Sequence, key: str | None = None) -> str:
    """The event's hash, from its hashed values in HASHED order (a row as the database gives
    it, or `values_of(event)`): plain SHA-256 of its fields (the events before keying), or
    their HMAC-SHA256 with `key`. The one definition of an event's hash."""
    dossier, actor, name, role, unit, action, before, after, text, public, addr, at = values
    message = (
        f"{prev_hash}\x1f{dossier or ''}\x1f{actor or ''}\x1f{name}\x1f{role}\x1f{unit}"
        f"\x1f{action}\x1f{'' if before is None else before}"
        f"\x1f{'' if after is None else after}\x1f{text}\x1f{'1' if public else '0'}"
        f"\x1f{addr}\x1f{_instant(at)}"
    ).encode()
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.digest(key.encode(), message, "sha256").hex()


def _instant(value: dt.datetime | str) -> str:
    """The creation time as hashed; SQLite's raw rows give it as text ("2025-01-02
    03:04:05.678901"), read the way the model reads it."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":  # as SQLite keeps it: only the "T" differs
            return f"{value[:10]}T{value[11:]}"
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value  # not a time: it cannot match the time that was hashed
    return value.isoformat(timespec="microseconds")


def seal_of(keyed_from: int, last_hash: str, kid: str, key: str) -> str:
    """The head's seal of the cut-over: how many events came before it and the last one's
    hash, MACed with the key `kid`."""
    message = f"history-cut-over\x1f{keyed_from}\x1f{last_hash}".encode()
    return f"{kid}:{hmac.new(key.encode(), message, hashlib.sha256).hexdigest()}"


def seal_holds(keyed_from: int, seal: str, last_hash: str) -> bool:
    """Whether the head's `seal` is the cut-over after `keyed_from` events ending with
    `last_hash`, MACed with a history key known here."""
    kid, _, _mac = seal.partition(":")
    key = history_keys.get(kid)
    expected = seal_of(keyed_from, last_hash, kid, key) if key is not None else ""
    return key is not None and hmac.compare_digest(seal, expected)
