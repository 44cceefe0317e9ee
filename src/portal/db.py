"""The database: one proxy bound at start-up from DATABASE_URL (SQLite or PostgreSQL)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from peewee import DatabaseProxy, OperationalError, PostgresqlDatabase
from playhouse.db_url import connect, parse
from playhouse.pool import PooledSqliteDatabase

from portal import history_keys, sync_switch
from portal.config import Settings
from portal.write_lock import WriteLock

db = DatabaseProxy()
_bound_url: list[str] = []  # the URL `configure` bound, for processes that open their own

P = ParamSpec("P")
R = TypeVar("R")

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    "synchronous": "full",
    "cache_size": -8000,
}
# A request that finds all pooled connections in use (a web process runs PORTAL_WEB_THREADS
# threads) waits this long for one to be returned instead of failing at once.
POOL_WAIT_SECONDS = 30
WRITE_WAIT_SECONDS = SQLITE_PRAGMAS["busy_timeout"] / 1000


class SerialWriteSqliteDatabase(PooledSqliteDatabase):
    """Pooled SQLite whose write transactions take the database's WriteLock first (see
    portal/write_lock.py): writers queue in turn instead of polling SQLite's lock."""

    def __init__(self, database: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        in_memory = database == ":memory:" or database.startswith("file:")
        self.write_lock = WriteLock(None if in_memory else Path(database + "-writer"))
        self._holder = threading.local()

    def begin(self, lock_type: str | None = None) -> None:
        if not self.write_lock.acquire(WRITE_WAIT_SECONDS):
            raise OperationalError("database is locked")
        self._holder.held = True
        try:
            super().begin(lock_type)
        except BaseException:
            self._release()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def _release(self) -> None:
        # A failed COMMIT is followed by a ROLLBACK: the lock is released once.
        if getattr(self._holder, "held", False):
            self._holder.held = False
            self.write_lock.release()


def configure(settings: Settings) -> None:
    """Bind the proxy to the database named by the settings (pooled connections)."""
    url = settings.database_url
    if url.startswith("sqlite:"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        options = {
            "pragmas": SQLITE_PRAGMAS,
            "lock_type": "IMMEDIATE",
            "check_same_thread": False,  # pooled connections move between worker threads
            "max_connections": 32,
            "stale_timeout": 300,
            "timeout": POOL_WAIT_SECONDS,
            "autoconnect": False,
        }
        database = SerialWriteSqliteDatabase(**{**options, **parse(url)})
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
    _bound_url[:] = [url]
    history_keys.bind(settings.history_keys)
    sync_switch.bind(settings.national_sync.enabled)


def bound_url() -> str:
    """The DATABASE_URL `configure` bound (worker processes connect to it themselves)."""
    if not _bound_url:
        raise RuntimeError("the database is not configured")
    return _bound_url[0]


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
