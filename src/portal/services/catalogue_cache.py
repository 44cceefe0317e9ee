"""Answers about the catalogue, kept in memory until the catalogue changes.

The catalogue is read on most requests (half of them are anonymous visitors browsing it) and
changes a few times a year. Each answer is kept with the catalogue's revision: how many
procedures there are and when the last one was edited (every edit goes through
catalogue.write_procedure, which stamps `updated_at`; seeding stamps new rows). A request
reads the revision (one small query) and gets the kept answer while it is the same; after an
edit, in this process or another, the answer is computed again. The answers are shared
between requests: read them, never change them.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, ParamSpec, TypeVar

from portal.db import db

P = ParamSpec("P")
R = TypeVar("R")

# At most this many answers per process, the least recently used dropped first. Searches are
# kept as procedure ids, so even a full cache holds little more than the catalogue itself.
MAX_ENTRIES = 1024
REVISION_SQL = 'SELECT COUNT(*), MAX(updated_at) FROM "procedure"'

_entries: OrderedDict[Hashable, tuple[tuple, Any]] = OrderedDict()
_lock = threading.Lock()
_local_changes = 0


def note_change() -> None:
    """Say that this process just changed the catalogue (with the `updated_at` stamp): what
    keeps answers without reading the revision on every request (web/shared_pages.py) reads
    it again at once."""
    global _local_changes
    with _lock:
        _local_changes += 1


def local_changes() -> int:
    """How many changes this process has noted."""
    return _local_changes


def revision() -> tuple:
    """The catalogue's revision (needs a connection of this thread), with the database it is
    of: tests, and tools that switch databases, bind another one in the same process."""
    return (id(db.obj), *db.execute_sql(REVISION_SQL).fetchone())


def read_revision() -> tuple:
    """The catalogue's revision, on a connection of its own (for a caller outside a service,
    such as web/shared_pages.py)."""
    with db.connection_context():
        return revision()


def cached(
    key: Callable[..., Hashable] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Keep `fn`'s answers per catalogue revision, by its arguments (or by `key` of them)."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            entry_key = (
                fn.__qualname__,
                key(*args, **kwargs) if key else (args, tuple(sorted(kwargs.items()))),
            )
            with db.connection_context():
                current = revision()
                with _lock:
                    found = _entries.get(entry_key)
                    if found is not None and found[0] == current:
                        _entries.move_to_end(entry_key)
                        return found[1]
                # Read after the revision: an edit in between is newer than the revision
                # kept with it, so the answer is computed again next time, never kept stale.
                value = fn(*args, **kwargs)
            with _lock:
                _entries[entry_key] = (current, value)
                _entries.move_to_end(entry_key)
                while len(_entries) > MAX_ENTRIES:
                    _entries.popitem(last=False)
            return value

        return wrapper

    return decorate
