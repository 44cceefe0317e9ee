"""Entry point of the background worker: `huey_consumer tasks.huey` (or `python run.py worker`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from portal.config import Settings  # noqa: E402
from portal.db import configure  # noqa: E402

configure(Settings.from_env())

import portal.jobs  # noqa: E402,F401  (registers the tasks)
from portal.queue import huey  # noqa: E402

__all__ = ["huey"]
