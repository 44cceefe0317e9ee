"""Whether status changes are synced to the National Public Service Portal, bound at start-up
from the settings (PORTAL_NATIONAL_SYNC_URL set or not) like the history keys: the history
writes an outbox message for a status change only while it is on (services/national_outbox)."""

from __future__ import annotations

_on: list[bool] = [False]


def bind(enabled: bool) -> None:
    """Turn the status sync on or off for this process."""
    _on[0] = bool(enabled)


def enabled() -> bool:
    return _on[0]
