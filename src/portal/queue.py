"""The huey queue: SQLite storage in the data directory by default, Redis when REDIS_URL is set.
Built from the environment at import, as huey's task decorators need it then."""

from __future__ import annotations

import os

from huey import Huey, RedisHuey, SqliteHuey

from portal.config import Settings


def make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        return RedisHuey("portal", url=settings.redis_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("portal", filename=str(settings.data_dir / "huey.db"))


huey = make_huey(Settings.from_env(os.environ))
