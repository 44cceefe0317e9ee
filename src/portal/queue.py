"""The huey queue. Its storage comes from the settings it is given, at the edge (`bind`): a
SQLite file in the data directory by default, Redis when REDIS_URL is set. Importing this
module reads no environment and writes no file: until it is bound, the queue holds nothing
(huey's black-hole storage), and the tests run it in immediate mode (in memory)."""

from __future__ import annotations

from typing import Any

from huey import Huey
from huey.storage import BlackHoleStorage, RedisStorage, SqliteStorage

from portal.config import Settings

# The task decorators of portal.jobs need the queue at import; its storage is bound later.
huey = Huey("portal", storage_class=BlackHoleStorage)


def storage_of(settings: Settings) -> tuple[type, dict[str, Any]]:
    """The storage class and its arguments for `settings` (creates the data directory)."""
    if settings.redis_url:
        return RedisStorage, {"url": settings.redis_url}
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteStorage, {"filename": str(settings.data_dir / "huey.db")}


def bind(settings: Settings) -> Huey:
    """Point the queue at the deployment's storage; returns it."""
    huey.storage_class, huey.storage_kwargs = storage_of(settings)
    if not huey.immediate:
        huey.storage = huey.create_storage()
    return huey


def make_huey(settings: Settings) -> Huey:
    """A separate queue on the deployment's storage (to look at what the worker would read)."""
    storage_class, kwargs = storage_of(settings)
    return Huey("portal", storage_class=storage_class, **kwargs)
