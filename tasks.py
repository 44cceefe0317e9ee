"""Entry point of the background worker: `huey_consumer tasks.huey` (or `python run.py worker`).
The worker's one Settings (`portal.jobs.settings`) configures the database and binds the queue."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from portal import jobs, queue  # noqa: E402
from portal.db import configure  # noqa: E402

configure(jobs.settings())
huey = queue.bind(jobs.settings())

__all__ = ["huey"]
