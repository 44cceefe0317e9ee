"""A real portal server for the benchmarks: uvicorn in a subprocess on loopback, on a fresh
data directory seeded with the demo data (`run.py seed-demo`), and its memory figures."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]


def start_server(
    data_dir: Path,
    port: int,
    env: dict[str, str] | None = None,
    workers: int = 1,
    log: IO | None = None,
) -> subprocess.Popen:
    """Seed `data_dir` and serve it on 127.0.0.1:`port`; returns once /healthz answers.
    The server's output goes to `log` when given (a file open for writing)."""
    full_env = {**os.environ, "PORTAL_DATA_DIR": str(data_dir), **(env or {})}
    subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "seed-demo"],
        env=full_env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    command = [sys.executable, "-m", "uvicorn", "portal.asgi:app", "--port", str(port)]
    command += ["--log-level", "warning", "--app-dir", str(ROOT / "src")]
    if workers > 1:
        command += ["--workers", str(workers)]
    proc = subprocess.Popen(command, env=full_env, cwd=ROOT, stdout=log, stderr=log)
    return wait_until_up(proc, f"http://127.0.0.1:{port}/healthz")


def wait_until_up(proc: subprocess.Popen, url: str) -> subprocess.Popen:
    """Wait (30 s at most) until `url` answers; kill `proc` and exit if it does not."""
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=1)
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the server did not start ({url})")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def memory_kib(pid: int, field: str = "VmHWM") -> int:
    """A memory figure of a process from /proc: VmHWM (peak resident) or VmRSS (now)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak(pid: int) -> None:
    """Start VmHWM again from the current resident size (Linux: clear_refs 5), so a peak
    measured afterwards belongs to what follows (not to, say, the argon2 login before)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
