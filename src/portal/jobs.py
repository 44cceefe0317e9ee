"""Background tasks: thin wrappers that call services (ids in, safe to run twice)."""

from __future__ import annotations

import datetime as dt

from huey import crontab

from portal.queue import huey
from portal.services import accounts


@huey.periodic_task(crontab(minute="17"))
def purge_old_sessions() -> int:
    """Hourly: delete session rows that ended or started more than 30 days ago."""
    return accounts.purge_sessions(dt.timedelta(days=30))
