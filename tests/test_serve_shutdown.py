"""`run.py serve --with-worker` (and so `run.py demo`) stopped by SIGTERM or by Ctrl+C: the
request in flight is answered, then the worker it started finishes and is gone, then the
command ends by the signal. Real processes on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.config import Settings
from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[1]
WAIT = 60  # seconds: the bound of every wait (the machine may be busy)


def wait_for(what: str, check) -> object:
    deadline = time.monotonic() + WAIT
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {WAIT} s")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie, dead but not yet reaped, does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


class Portal:
    """`run.py serve --with-worker --no-demo` on a pre-migrated database, in a session of its
    own (as in a terminal), its output in a file."""

    def __init__(self, settings: Settings, folder: Path) -> None:
        self.port = free_port()
        self.log = folder / "serve.log"
        env = {**os.environ, "PORTAL_DATA_DIR": str(settings.data_dir),
               "DATABASE_URL": settings.database_url, "PORTAL_SECRET_KEY": settings.secret_key}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "run.py", "serve", "--with-worker", "--no-demo",
                 "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.worker = 0
        wait_for("the portal to answer", self.answers)
        self.worker = wait_for("the worker", lambda: children(self.proc.pid))[0]
        wait_for("the worker's consumer", lambda: "consumer started" in self.output())

    def answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"run.py serve ended:\n{self.output()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """Whatever a failed test left running, by pid."""
        for pid in (self.proc.pid, self.worker):
            if pid and alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=WAIT)


@pytest.fixture
def portal(settings: Settings, tmp_path: Path) -> Iterator[Portal]:
    p = Portal(settings, tmp_path)
    yield p
    p.stop()


BODY = b"username=nobody&password=wrong-password-1&csrf_token=not-the-token"


def post_login(port: int) -> socket.socket:
    """A POST of a login form the application is reading: it has asked for the body (the
    server's `100 Continue`), which is not sent yet. A request in flight."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    conn.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                 b"Expect: 100-continue\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(BODY))
    interim = b""
    while not interim.endswith(b"\r\n\r\n"):
        chunk = conn.recv(1)
        assert chunk, f"the connection closed: {interim!r}"
        interim += chunk
    assert interim.startswith(b"HTTP/1.1 100 "), interim
    return conn


def finish(conn: socket.socket) -> bytes:
    """Send the body; the whole answer (the server closes the connection)."""
    conn.sendall(BODY)
    answer = b""
    while chunk := conn.recv(65536):
        answer += chunk
    conn.close()
    return answer


@pytest.mark.parametrize("how", ["SIGTERM", "Ctrl+C"])
def test_a_signal_stops_the_server_then_its_worker(portal: Portal, how: str):
    control = finish(post_login(portal.port))  # the same request, with no shutdown going on
    status = control.split(b"\r\n", 1)[0]
    assert status.startswith(b"HTTP/1.1 ")

    in_flight = post_login(portal.port)
    if how == "SIGTERM":  # systemd, kill PID: the process itself
        os.kill(portal.proc.pid, signal.SIGTERM)
        expected = -signal.SIGTERM
    else:  # a terminal sends SIGINT to the foreground process group
        os.killpg(portal.proc.pid, signal.SIGINT)
        expected = -signal.SIGINT
    wait_for("the server to wait for the request in flight",
             lambda: "Waiting for connections to close" in portal.output())
    assert alive(portal.worker)  # the worker stops after the server, not before
    answer = finish(in_flight)
    assert answer.split(b"\r\n", 1)[0] == status and b"\r\n\r\n" in answer

    assert portal.proc.wait(timeout=WAIT) == expected
    assert not alive(portal.worker), portal.output()
    # The worker was asked once to stop gracefully and finished by itself.
    log = portal.output()
    assert "Consumer exiting" in log and "shut down now" not in log, log
