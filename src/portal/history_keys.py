"""The keys the official history is hashed with (HMAC-SHA256), bound at start-up from the
settings. They are never stored in the database: someone who can edit the database cannot
recompute a keyed hash. Each event names the key that hashed it by a key id (a one-way
fingerprint of the key), so a rotated-out key still verifies the events it hashed."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

_keys: dict[str, str] = {}
_current: list[str] = []


def key_id(key: str) -> str:
    """A short one-way fingerprint naming `key` in the history (it does not reveal the key)."""
    return hashlib.sha256(b"portal-history-key-id\x00" + key.encode()).hexdigest()[:16]


def bind(keys: Sequence[str]) -> None:
    """Use `keys`: the first hashes new events, all of them verify."""
    _keys.clear()
    _current.clear()
    for key in keys:
        _keys[key_id(key)] = key
    if keys:
        _current.append(key_id(keys[0]))


def current() -> tuple[str, str]:
    """(key id, key) that hashes new events; RuntimeError when no key is bound."""
    if not _current:
        raise RuntimeError("no history key is configured (PORTAL_HISTORY_KEY or history_key)")
    return _current[0], _keys[_current[0]]


def get(kid: str) -> str | None:
    """The key with the id `kid`, or None when this instance does not have it."""
    return _keys.get(kid)


def known_ids() -> list[str]:
    return list(_keys)
