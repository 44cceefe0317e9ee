"""The one door from the business rules to the background worker.

Services write their durable rows first (an e-mail to send, a file to scan) and then call
`after_commit(task, object_id)`: once the transaction commits, the task registered under that
name is asked to run for the row. `portal.jobs` registers the worker's tasks when it is
imported; until then (a command that never imports it) nothing is enqueued, and the periodic
jobs pick the rows up from the database. Services never import the worker or its queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from portal.db import db

SEND_MAIL = "send_mail"
SCAN_ATTACHMENT = "scan_attachment"
NATIONAL_SYNC = "national_sync"  # deliver a dossier's status-sync messages, in order
TASKS = (SEND_MAIL, SCAN_ATTACHMENT, NATIONAL_SYNC)

_registered: dict[str, Callable[[int], Any]] = {}


def register(name: str, task: Callable[[int], Any]) -> None:
    """Make `task` the one that runs for `name` (called by the worker's task module)."""
    if name not in TASKS:
        raise ValueError(f"no background task is named {name!r}")
    _registered[name] = task


def after_commit(name: str, object_id: int) -> None:
    """Ask for task `name` on `object_id` once the current transaction commits (at once when
    none is open); nothing is asked if the transaction rolls back."""
    if name not in TASKS:
        raise ValueError(f"no background task is named {name!r}")
    db.after_commit(lambda: _enqueue(name, object_id))


def _enqueue(name: str, object_id: int) -> None:
    task = _registered.get(name)
    if task is not None:
        task(object_id)
