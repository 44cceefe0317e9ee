"""The load benchmark in its short CI form (bench/load.py --short) against a real server: on
SQLite, or on a fresh database of the PostgreSQL server the suite runs on."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[1]


def test_short_load_run_has_no_errors_and_prints_the_table() -> None:
    command = [sys.executable, str(ROOT / "bench" / "load.py"), "--short"]
    command += ["--port", str(free_port())]
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url.startswith(("postgres:", "postgresql:")):
        command += ["--database-url", database_url]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PORTAL_DATA_DIR")}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=170)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr[-3000:]
    assert re.search(r"^route +requests +errors +p50 ms +p95 ms +p99 ms +p95 target$", out, re.M)
    rows = {
        m.group(1).strip(): (int(m.group(2)), int(m.group(3)))
        for m in re.finditer(
            r"^(\S.*?) +(\d+) +(\d+) +\d+ +\d+ +\d+ +< \d+ (?:ok|OVER)$", out, re.M
        )
    }
    # every kind of user got through its first steps, with no error anywhere
    for route in (
        "GET /procedures?q=",
        "POST /login",
        "POST /dossiers/{id}/files",
        "GET /officer/inbox",
    ):
        assert rows.get(route, (0, 0))[0] > 0, (route, out)
    assert all(errors == 0 for _, errors in rows.values()), out
    assert "errors: 0 (target 0)" in out
    assert "server log: 0 unhandled error(s)" in out
    assert re.search(r"^requests/s: \d+\.\d over \d+ s$", out, re.M)
    # the default two workers, with the main process and multiprocessing's tracker
    memory = r"^server peak memory \(VmHWM, 4 process\(es\)\): main \d+ \+ tracker \d+ "
    assert re.search(memory + r"\+ worker \d+ \+ worker \d+ = \d+ MiB$", out, re.M), out
    assert re.search(r"^timeline \(2 s slices\)", out, re.M), out
