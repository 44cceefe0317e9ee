"""The database: one proxy bound at start-up from DATABASE_URL (SQLite or PostgreSQL)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from peewee import DatabaseProxy, PostgresqlDatabase
from playhouse.db_url import connect

from portal.config import Settings

db = DatabaseProxy()

P = ParamSpec("P")
R = TypeVar("R")

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    "synchronous": "full",
    "cache_size": -8000,
}
# A request that finds all pooled connections in use (the web server runs up to 40 threads)
# waits this long for one to be returned instead of failing at once.
POOL_WAIT_SECONDS = 30


def configure(settings: Settings) -> None:
    """Bind the proxy to the database named by the settings (pooled connections)."""
    url = settings.database_url
    if url.startswith("sqlite:"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        url = "sqlite+pool:" + url[len("sqlite:") :]
        database = connect(
            url,
            pragmas=SQLITE_PRAGMAS,
            lock_type="IMMEDIATE",
            check_same_thread=False,  # pooled connections move between worker threads
            max_connections=32,
            stale_timeout=300,
            timeout=POOL_WAIT_SECONDS,
            autoconnect=False,
        )
    else:
        rest = url.split(":", 1)[1]
        database = connect(
            "postgresql+pool:" + rest,
            max_connections=32,
            stale_timeout=300,
            timeout=POOL_WAIT_SECONDS,
            autoconnect=False,
        )
    db.initialize(database)


def is_postgres() -> bool:
    return isinstance(db.obj, PostgresqlDatabase)


def transactional(fn: Callable[P, R]) -> Callable[P, R]:
    """Run `fn` in one transaction on a connection of this thread (both nest safely)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with db.connection_context(), db.atomic():
            return fn(*args, **kwargs)

    return wrapper


def reading(fn: Callable[P, R]) -> Callable[P, R]:
    """Run `fn` with a connection of this thread, without opening a write transaction."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with db.connection_context():
            return fn(*args, **kwargs)

    return wrapper
