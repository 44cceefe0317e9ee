"""The application as uvicorn imports it (`portal.asgi:app`), configured from the environment."""

import sys

from portal.app import create_app
from portal.config import Settings

# A request thread that waits on the database (each SQLite or PostgreSQL call lets go of the
# GIL) must get the interpreter back before it can go on; by default it waits up to 5 ms for
# a thread that renders a page to hand it over, once per query. A write transaction of thirty
# statements then held the write lock for 150 ms instead of 30. Handing over every 1 ms cut
# the load benchmark's p95 by half (bench/README.md).
sys.setswitchinterval(0.001)

app = create_app(Settings.from_env())
