"""A real portal server (uvicorn in a subprocess) on a free loopback port, for browser tests, and
the sandbox payment gateway as `run.py sandbox-gateway` runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from portal.config import Settings

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A server in a subprocess on a free loopback port, up once its /healthz answers."""

    name = "server"

    def _start(self, command: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env)
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the {self.name} did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class LiveServer(Process):
    name = "portal server"

    def __init__(self, settings: Settings, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PORTAL_DATA_DIR": str(settings.data_dir),
               "DATABASE_URL": settings.database_url, "PORTAL_SECRET_KEY": settings.secret_key,
               "PORTAL_BASE_URL": self.url,
               "PORTAL_TRUST_ANCHORS": str(settings.trust_anchors or ""), **(env or {})}
        self._start(
            [sys.executable, "-m", "uvicorn", "portal.asgi:app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning", "--app-dir", str(ROOT / "src")],
            env)


class SandboxGateway(Process):
    """The sandbox payment gateway, started as `run.py sandbox-gateway` starts it."""

    name = "sandbox gateway"

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._start([sys.executable, str(ROOT / "run.py"), "sandbox-gateway", "--port",
                     str(self.port)], {**os.environ, **env})
