"""Pages at national scale (issue 16's table): latency of each page, measured from outside, on
a data set loaded by bench/seed_scale.py; then `run.py verify-history` (wall time, peak memory
of its processes, the workers included) and `run.py backup` (wall time) on it.

    DATABASE_URL=... .venv/bin/python bench/scale.py --data-dir DIR [--requests 30]
                                                    [--port 8161] [--skip-verify] [--skip-backup]

`--data-dir` is the PORTAL_DATA_DIR seed_scale.py filled (its history key, and its SQLite file
unless DATABASE_URL names a PostgreSQL database). One uvicorn process serves it. Each page is
asked `--requests` times one after the other (after two requests to warm it), on a kept-alive
connection with the session of the user who sees it: the busy office's first officer
(seed_scale's `--busy-office`), the enterprise with the most dossiers, the demo administrator
for the statistics. Prints p50/p95/max in ms and the body's size per page.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import ROOT, memory_kib, stop_server  # noqa: E402

SCALE_PASSWORD = "scale-bench-2026"  # seed_scale.py's accounts
DEMO_PASSWORD = "demo-portal-2026"


def register_client(env: dict[str, str]) -> tuple[str, str]:
    """A client reading every dossier's status changes (`run.py api-client register`):
    its key and secret."""
    out = subprocess.run(
        [sys.executable, "run.py", "api-client", "register", "--name", "bench/scale.py",
         "--scope", "dossiers:read-all", "--rate-limit", "100000"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    found = dict(re.findall(r"^(key|secret):\s+(\S+)$", out, re.M))
    return found["key"], found["secret"]


class SignedClient:
    """A system calling the API: every request signed with the client's secret."""

    def __init__(self, port: int, key: str, secret: str) -> None:
        sys.path.insert(0, str(ROOT / "src"))
        from portal.services.api_clients import sign

        self.browser, self.key, self.secret, self.sign = Browser(port), key, secret, sign

    def get(self, path: str) -> tuple[int, bytes]:
        self.browser.headers = self.sign(self.secret, "GET", path, b"", key_id=self.key)
        return self.browser.get(path)


class Browser:
    """One kept-alive connection with a session cookie."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookie = ""
        self.headers: dict[str, str] = {}

    def get(self, path: str) -> tuple[int, bytes]:
        return self.request("GET", path)

    def request(self, method: str, path: str, body: str = "") -> tuple[int, bytes]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        headers.update(self.headers)
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=body or None, headers=headers)
            resp = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed the kept-alive connection while it was idle (uvicorn's
            # keep-alive time-out): a browser opens a new one and sends the request again.
            self.conn.close()
            self.conn.request(method, path, body=body or None, headers=headers)
            resp = self.conn.getresponse()
        data = resp.read()
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie" and value.startswith("portal_session="):
                self.cookie = value.split(";", 1)[0]
        return resp.status, data

    def login(self, username: str, password: str) -> Browser:
        _, page = self.get("/login")
        token = re.search(rb'name="csrf_token" value="([^"]+)"', page)[1].decode()
        status, _ = self.request("POST", "/login", urlencode(
            {"username": username, "password": password, "csrf_token": token}))
        if status != 303:
            raise SystemExit(f"could not log in as {username} ({status})")
        return self


def measure(browser: Browser, path: str, count: int) -> dict[str, float]:
    for _ in range(2):
        status, body = browser.get(path)
        if status != 200:
            raise SystemExit(f"{path} answered {status}")
    times = []
    for _ in range(count):
        began = time.perf_counter()
        browser.get(path)
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return {"p50": statistics.median(times), "p95": times[max(0, int(len(times) * 0.95) - 1)],
            "max": times[-1], "bytes": len(body)}


def facts(env: dict[str, str]) -> dict[str, object]:
    """Who and what to ask for, read from the database (in a child process: the settings are
    the environment's)."""
    code = r"""
import json, sys
sys.path.insert(0, "src")
from peewee import fn
from portal.config import Settings
from portal.db import configure, db
from portal.models import Dossier, DossierEvent, Unit, User
configure(Settings.from_env())
with db.connection_context():
    busy = (Dossier.select(Dossier.unit, fn.COUNT(Dossier.id).alias("n"))
            .where(Dossier.status.not_in([3, 7, 8, 10])).group_by(Dossier.unit)
            .order_by(fn.COUNT(Dossier.id).desc()).first())
    unit = Unit.get_by_id(busy.unit_id)
    owner = (Dossier.select(Dossier.owner, fn.COUNT(Dossier.id).alias("n"))
             .group_by(Dossier.owner).order_by(fn.COUNT(Dossier.id).desc()).first())
    longest = (DossierEvent.select(DossierEvent.dossier, fn.COUNT(DossierEvent.id).alias("n"))
               .where(DossierEvent.dossier.in_(Dossier.select(Dossier.id).where(
                   Dossier.unit == unit.id).limit(2000)))
               .group_by(DossierEvent.dossier).order_by(fn.COUNT(DossierEvent.id).desc()).first())
    print(json.dumps({
        "officer": f"scale.officer1.{unit.structure}.{unit.code.lower()}",
        "unit": unit.ref, "open": busy.n,
        "enterprise": User.get_by_id(owner.owner_id).username, "enterprise_dossiers": owner.n,
        "dossier": longest.dossier_id, "events": longest.n,
        "department": Unit.get_by_id(unit.parent_id).code,
        "dossiers": Dossier.select().count(), "all_events": DossierEvent.select().count(),
        "last_event": DossierEvent.select(fn.MAX(DossierEvent.id)).scalar(),
    }))
"""
    import json

    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def descendants(pid: int) -> list[int]:
    """The process's children, theirs, and so on (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


def timed(command: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Wall seconds, the peak resident memory in KiB of the child and its own children (each
    one's VmHWM, read every 0.1 s until it ends, summed: verify-history's worker processes
    count), and its first line of output (the last of stderr when it failed: the progress lines
go there before)."""
    began = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
        peaks: dict[int, int] = {}
        while child.poll() is None:
            with contextlib.suppress(OSError, ValueError):  # they may end between list and read
                for pid in [child.pid, *descendants(child.pid)]:
                    peaks[pid] = max(peaks.get(pid, 0), memory_kib(pid))
            time.sleep(0.1)
        wall = time.monotonic() - began
        out.seek(0)
        err.seek(0)
        if child.returncode == 0:
            line = (out.read().strip().splitlines() or [""])[0]
        else:
            line = (err.read().strip().splitlines() or [""])[-1]
    return wall, sum(peaks.values()), line[:160]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--port", type=int, default=8161)
    parser.add_argument("--skip-verify", action="store_true")
    parser.add_argument("--skip-backup", action="store_true")
    args = parser.parse_args()
    env = {**os.environ, "PORTAL_DATA_DIR": str(args.data_dir.resolve())}
    database = env.get("DATABASE_URL", "") or "SQLite"
    subprocess.run([sys.executable, "run.py", "migrate"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    seen = facts(env)
    print(f"{seen['dossiers']} dossiers, {seen['all_events']} events on "
          f"{database.split('@')[-1]}; busy office {seen['unit']} ({seen['open']} open)",
          flush=True)
    today = dt.date.today()
    this_year = {"from": f"{today.year}-01-01", "to": today.isoformat()}
    three_years = {"from": (today - dt.timedelta(days=3 * 365)).isoformat(),
                   "to": today.isoformat()}
    command = [sys.executable, "-m", "uvicorn", "portal.asgi:app", "--port", str(args.port),
               "--log-level", "warning", "--app-dir", str(ROOT / "src")]
    server = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        for _ in range(600):
            try:
                Browser(args.port).get("/healthz")
                break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.1)
        anonymous = Browser(args.port)
        officer = Browser(args.port).login(seen["officer"], SCALE_PASSWORD)
        enterprise = Browser(args.port).login(seen["enterprise"], SCALE_PASSWORD)
        admin = Browser(args.port).login("admin", DEMO_PASSWORD)
        system = SignedClient(args.port, *register_client(env))
        recent = max(0, seen["last_event"] - 2_000)
        pages = [
            ("catalogue, search (anonymous)", anonymous, "/procedures?q=huy+to+khai"),
            ("officer inbox, open, page 1", officer, "/officer/inbox"),
            ("officer inbox, open, page 200", officer, "/officer/inbox?page=200"),
            ("inbox, overdue view", officer, "/officer/inbox?view=overdue"),
            ("inbox, all, status filter", officer, "/officer/inbox?view=all&status=10"),
            ("inbox, all, by submission", officer, "/officer/inbox?view=all&sort=-submitted"),
            (f"enterprise's list ({seen['enterprise_dossiers']}), status filter", enterprise,
             "/dossiers?status=10"),
            (f"dossier page, {seen['events']} events", officer, f"/dossiers/{seen['dossier']}"),
            ("statistics, this year", admin, "/statistics?" + urlencode(this_year)),
            ("statistics, three years", admin, "/statistics?" + urlencode(three_years)),
            ("statistics, one department", admin,
             "/statistics?" + urlencode({**this_year, "unit": seen["department"]})),
            ("statistics CSV", admin, "/statistics.csv?" + urlencode(this_year)),
            ("public statistics, this year (anonymous)", anonymous,
             "/statistics?" + urlencode(this_year)),
            ("public statistics, three years (anonymous)", anonymous,
             "/statistics?" + urlencode(three_years)),
            ("statistics XLSX, trend", admin,
             "/statistics.xlsx?" + urlencode({**three_years, "table": "trend"})),
            ("API status changes, from the start", system,
             "/api/v1/status-changes?after=0&limit=100"),
            ("API status changes, the last 2,000 events", system,
             f"/api/v1/status-changes?after={recent}&limit=100"),
        ]
        print(f"{'page':44} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'bytes':>8}", flush=True)
        for label, browser, path in pages:
            fig = measure(browser, path, args.requests)
            print(f"{label:44} {fig['p50']:8.1f} {fig['p95']:8.1f} {fig['max']:8.1f} "
                  f"{fig['bytes']:8d}", flush=True)
    finally:
        stop_server(server)
    if not args.skip_verify:
        # As an operator runs it: one worker process per core, checkpoints as it goes.
        wall, peak, last = timed([sys.executable, "run.py", "verify-history"], env)
        print(f"verify-history: {wall:.0f} s, peak {peak // 1024} MB (all its processes): "
              f"{last}", flush=True)
    if not args.skip_backup:
        with tempfile.TemporaryDirectory(prefix="portal-scale-backup-") as out:
            wall, _, last = timed(
                [sys.executable, "run.py", "backup", "--output", str(Path(out) / "b.tar")], env)
            print(f"backup: {wall:.0f} s: {last}", flush=True)


if __name__ == "__main__":
    main()
