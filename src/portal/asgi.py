"""The application as uvicorn imports it (`portal.asgi:app`), configured from the environment."""

import sys

from portal.app import create_app
from portal.config import Settings

# A request thread that waits on the database (each SQLite or PostgreSQL call lets go of the
# GIL) must get the interpreter back before it can go on; by default it waits up to 5 ms for
# a thread that renders a page to hand it over, once per query. A submission's transaction
# (35 ms of CPU) then held SQLite's write lock for 150 ms and more. Handing over every 1 ms
# brought the page p95 of most 12 s windows of a 120 s bench/load.py run from 0.5-1.1 s to
# about 0.2 s.
sys.setswitchinterval(0.001)

app = create_app(Settings.from_env())
