"""Load test: many people using the portal at once, against a real server on loopback.

    .venv/bin/python bench/load.py [--users 200] [--seconds 300] [--workers 2]
                                   [--think 1,3] [--database-url postgresql://...] [--short]

Starts the portal (uvicorn, --workers processes) on a fresh data directory seeded with the demo
data, on SQLite in that directory, or on a fresh PostgreSQL database created on the server
that --database-url names (dropped afterwards). Creates the accounts the virtual users log in
with directly in the database (one argon2 hash shared by all), then runs --users virtual users
(asyncio, one httpx2 client and session each) for --seconds, their starts spread over the
ramp-up, each waiting a random think time (--think min,max seconds) between steps:

- half are anonymous visitors: home, catalogue, page 2, searches in Vietnamese (typed or as
  the live search's htmx request), procedure pages;
- 35 % are enterprise users: they log in once, then file dossiers of procedure 1.005458 one
  after another (new draft, the form autosaved, both documents attached as a 1 MB PDF each,
  review, submit, receipt) and track them (their list, a dossier's page);
- 15 % are officers of unit 02CI: the inbox, its "new" view, a waiting dossier opened and
  received (or an open dossier looked at when none waits).

Prints per route: requests, errors, p50/p95/p99 latency in ms and the p95 target (300 ms for
pages, 2 s for the login's argon2id and the submissions with attachments); then requests/s,
the errors with the first distinct samples, the unhandled errors in the server's log, the
server's peak memory (VmHWM per process), and the CPU time the server and this client used
with the machine's load average (the client runs on the same CPUs). Exits with status 1 when
any request failed (a status other than the one a browser expects, or no answer within 60 s).
A request whose kept-alive connection the server closes without answering is sent once more,
as browsers do; the report counts these. --short is the CI form: 20 users for 20 s, think
time 0.1-0.4 s, ramp-up 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))
from load_users import (  # noqa: E402
    PAGE_MS,
    UNIT,
    Browser,
    Recorder,
    anonymous,
    enterprise,
    officer,
    target_ms,
)
from server import memory_kib, start_server, stop_server  # noqa: E402

PASSWORD = "load-bench-2026"
MIX = {"anonymous": 0.50, "enterprise": 0.35, "officer": 0.15}
PDF_BYTES = 1024 * 1024


def make_pdf(size: int = PDF_BYTES) -> bytes:
    """A file the portal takes for a PDF (it sniffs the header), of `size` bytes."""
    head, tail = b"%PDF-1.7\n", b"\n%%EOF\n"
    return head + os.urandom(size - len(head) - len(tail)) + tail


def tax_codes(count: int) -> list[str]:
    """`count` 10-digit tax codes with a valid check digit, starting 09 (none of the demo's)."""
    weights = (31, 29, 23, 19, 17, 13, 7, 5, 3)
    codes, number = [], 0
    while len(codes) < count:
        body = f"09{number:07d}"
        check = (10 - sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11) % 11
        if check < 10:  # no code has this body
            codes.append(body + str(check))
        number += 1
    return codes


def create_accounts(env: dict[str, str], enterprises: int, officers: int) -> tuple[list, list]:
    """Enterprise users (one enterprise each) and officers of UNIT, written straight to the
    database the server uses, all with the same password hashed once. Returns their names."""
    from portal.config import Settings
    from portal.db import configure, db, transactional
    from portal.models import Enterprise, Unit, User, utcnow
    from portal.services.accounts import hash_password

    configure(Settings.from_env(env))
    password_hash = hash_password(PASSWORD)
    codes = tax_codes(enterprises)

    @transactional
    def write() -> tuple[list, list]:
        now = utcnow()
        ent_names = [f"load.dn{i:04d}@example.vn" for i in range(enterprises)]
        for i, (name, code) in enumerate(zip(ent_names, codes, strict=True)):
            company = Enterprise.create(
                tax_code=code, name=f"Công ty TNHH Thử tải số {i + 1} (bench)", email=name
            )
            User.create(
                username=name,
                password_hash=password_hash,
                email=name,
                full_name=f"Người khai {i + 1}",
                role="enterprise",
                enterprise=company,
                enterprise_status="active",  # they file dossiers under load
                created_at=now,
            )
        unit = Unit.get(Unit.code == UNIT)
        off_names = [f"load.cb{i:04d}" for i in range(officers)]
        User.insert_many(
            [
                {
                    "username": name,
                    "password_hash": password_hash,
                    "full_name": f"Cán bộ {i + 1}",
                    "role": "officer",
                    "unit": unit.id,
                    "created_at": now,
                }
                for i, name in enumerate(off_names)
            ]
        ).execute()
        return ent_names, off_names

    try:
        return write()
    finally:
        db.close_all()


def fresh_postgres(url: str) -> tuple[str, str]:
    """Create an empty database on the server `url` names; returns (its URL, its name)."""
    import psycopg2

    name = f"portal_load_{os.getpid()}_{secrets.token_hex(3)}"
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return urlunsplit(urlsplit(url)._replace(path="/" + name)), name


def drop_postgres(url: str, name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def server_pids(pid: int) -> list[int]:
    """The server process and, with --workers > 1, its worker processes."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = [int(p) for p in children.read_text().split()] if children.exists() else []
    return [pid, *found]


def process_name(pid: int, server: int) -> str:
    """What a server process is: the main one, a worker, or multiprocessing's tracker."""
    command = Path(f"/proc/{pid}/cmdline").read_bytes()
    if pid == server:
        return "main"
    return "tracker" if b"resource_tracker" in command else "worker"


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used so far (from /proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


async def drive(args, port: int, enterprises: list, officers: list) -> tuple[Recorder, float]:
    rec = Recorder()
    started = time.monotonic()
    ends = started + args.seconds
    base = f"http://127.0.0.1:{port}"
    pdf = make_pdf()
    claimed: set[int] = set()
    scenarios = [enterprise(name, PASSWORD, pdf) for name in enterprises] + [
        officer(name, PASSWORD, claimed) for name in officers
    ]
    scenarios += [anonymous] * (args.users - len(scenarios))

    async def user(i: int, scenario) -> None:
        await asyncio.sleep(args.ramp * i / max(1, args.users))
        await Browser(base, rec, args.think, ends, seed=i).run(scenario)

    order = list(range(len(scenarios)))
    random.Random(0).shuffle(order)  # people of every kind arrive all through the ramp-up
    await asyncio.gather(*(user(i, scenarios[k]) for i, k in enumerate(order)))
    return rec, time.monotonic() - started


def server_errors(log: str) -> Counter:
    """The unhandled errors the server logged, by the last line of their traceback (the
    exception, after any it was raised while handling)."""
    found: Counter = Counter()
    current, inside = "", False
    for line in [*log.splitlines(), "ERROR: end"]:
        if line.startswith(("ERROR:", "WARNING:", "INFO:")):
            if inside:
                found[current or "(no traceback)"] += 1
            inside, current = line.startswith("ERROR:portal:unhandled error"), ""
        elif inside and line[:1].strip() and not line.startswith(("Traceback", "During")):
            current = line
    return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def report(rec: Recorder, seconds: float, memory: list[tuple[str, int]], log: str) -> None:
    head = f"{'route':42} {'requests':>8} {'errors':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
    print(head + f" {'p95 target':>10}")
    for route in sorted(rec.times):
        times = rec.times[route]
        p95, target = percentile(times, 0.95), target_ms(route)
        verdict = "ok" if p95 < target else "OVER"
        print(
            f"{route:42} {len(times):8d} {rec.errors[route]:6d} {percentile(times, 0.5):7.0f} "
            f"{p95:7.0f} {percentile(times, 0.99):7.0f} {f'< {target} {verdict}':>10}"
        )
    errors = sum(rec.errors.values())
    print(f"{'all':42} {rec.total:8d} {errors:6d}")
    print(f"requests/s: {rec.total / seconds:.1f} over {seconds:.0f} s")
    print_timeline(rec, seconds)
    print(f"errors: {errors} (target 0)")
    for sample, count in rec.samples.items():
        print(f"  {count:5d} x {sample}")
    resent = ", ".join(f"{route} {n}" for route, n in rec.resent.most_common())
    print(
        f"sent again after the server closed the connection without answering: "
        f"{sum(rec.resent.values())}" + (f" ({resent})" if resent else "")
    )
    logged = server_errors(log)
    print(f"server log: {sum(logged.values())} unhandled error(s)")
    for line, count in logged.most_common(5):
        print(f"  {count:5d} x {line[:160]}")
    peaks = " + ".join(f"{name} {kib / 1024:.0f}" for name, kib in memory)
    total = sum(kib for _, kib in memory) / 1024
    label = f"{peaks} = {total:.0f} MiB" if len(memory) > 1 else f"{total:.0f} MiB"
    print(f"server peak memory (VmHWM, {len(memory)} process(es)): {label}")


def print_timeline(rec: Recorder, seconds: float, slices: int = 10) -> None:
    """Requests/s and the p95 of pages and of the heavy routes in each tenth of the run: the
    ramp-up (every user logging in) against the steady state."""
    width = seconds / slices
    print(f"timeline ({width:.0f} s slices): requests/s, p95 ms of pages / of heavy routes")
    cells = []
    for i in range(slices):
        rows = [(r, ms) for t, r, ms in rec.timeline if i * width <= t < (i + 1) * width]
        pages = [ms for r, ms in rows if target_ms(r) == PAGE_MS]
        heavy = [ms for r, ms in rows if target_ms(r) != PAGE_MS]
        cells.append(
            f"{i * width:4.0f}s {len(rows) / width:5.1f}/s "
            f"{percentile(pages, 0.95):5.0f}/{percentile(heavy, 0.95):5.0f}"
        )
    for i in range(0, slices, 5):
        print("  " + "   ".join(cells[i : i + 5]))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=200, help="virtual users")
    ap.add_argument("--seconds", type=float, default=300, help="duration of the run")
    ap.add_argument(
        "--workers",
        type=int,
        default=2,
        help="uvicorn worker processes (default 2: one per core, as deploy/portal-web.service)",
    )
    ap.add_argument("--think", default="1,3", help="think time between steps: min,max seconds")
    ap.add_argument(
        "--ramp",
        type=float,
        help="seconds over which users start (default: a tenth of the run, at most 30)",
    )
    ap.add_argument(
        "--database-url",
        default="",
        help="postgresql://... to run on a fresh "
        "database of that server (default: SQLite in the temporary data directory)",
    )
    ap.add_argument(
        "--short",
        action="store_true",
        help="CI form: 20 users, 20 s, think 0.1-0.4 s, ramp-up 5 s, unless given",
    )
    ap.add_argument("--port", type=int, default=8768)
    ap.add_argument(
        "--server-log", help="keep the server's output in this file (default: a temporary one)"
    )
    args = ap.parse_args(argv)
    explicit = set(a.split("=")[0] for a in (argv if argv is not None else sys.argv[1:]))
    if args.short:
        args.users = args.users if "--users" in explicit else 20
        args.seconds = args.seconds if "--seconds" in explicit else 20
        args.think = args.think if "--think" in explicit else "0.1,0.4"
        args.ramp = args.ramp if args.ramp is not None else 5.0
    try:
        low, high = (float(x) for x in args.think.split(","))
    except ValueError:
        ap.error("--think takes min,max in seconds, like 1,3")
    if not 0 <= low <= high or args.users < 1 or args.seconds <= 0 or args.workers < 1:
        ap.error("--users, --seconds and --workers must be positive, and --think min <= max")
    if args.database_url and not args.database_url.startswith(("postgresql://", "postgres://")):
        ap.error("--database-url takes a postgresql:// URL (SQLite is the default)")
    args.think = (low, high)
    if args.ramp is None:
        args.ramp = min(30.0, args.seconds / 10)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n_enterprise = round(args.users * MIX["enterprise"])
    n_officer = max(1, round(args.users * MIX["officer"])) if args.users > 2 else 0
    with tempfile.TemporaryDirectory(prefix="portal-load-") as tmp:
        data_dir = Path(tmp)
        database, pg_name = f"sqlite:///{data_dir / 'portal.db'}", ""
        if args.database_url:
            database, pg_name = fresh_postgres(args.database_url)
        env = {"PORTAL_DATA_DIR": str(data_dir), "DATABASE_URL": database}
        try:
            log_path = Path(args.server_log) if args.server_log else data_dir / "server.log"
            with log_path.open("w") as log_file:
                proc = start_server(data_dir, args.port, env, args.workers, log_file)
            try:
                enterprises, officers = create_accounts(env, n_enterprise, n_officer)
                kind = "PostgreSQL" if pg_name else "SQLite"
                print(
                    f"{args.users} users ({args.users - n_enterprise - n_officer} "
                    f"anonymous, {n_enterprise} enterprise, {n_officer} officer) for "
                    f"{args.seconds:.0f} s, ramp-up {args.ramp:.0f} s, think "
                    f"{args.think[0]:g}-{args.think[1]:g} s; uvicorn, {args.workers} "
                    f"worker(s), {kind}; {os.cpu_count()} CPUs"
                )
                pids = server_pids(proc.pid)
                cpu = [cpu_seconds(pids), time.process_time(), os.getloadavg()[0]]
                rec, seconds = asyncio.run(drive(args, args.port, enterprises, officers))
                cpu = [cpu_seconds(pids) - cpu[0], time.process_time() - cpu[1], cpu[2]]
                memory = [(process_name(pid, proc.pid), memory_kib(pid)) for pid in pids]
            finally:
                stop_server(proc)
            log = log_path.read_text(errors="replace")
        finally:
            if pg_name:
                drop_postgres(args.database_url, pg_name)
    report(rec, seconds, memory, log)
    server_cpu, client_cpu, load_before = cpu
    print(
        f"CPU used: server {server_cpu:.0f} s ({server_cpu / seconds:.2f} of a CPU on average), "
        f"load client {client_cpu:.0f} s ({client_cpu / seconds:.2f}); {os.cpu_count()} CPUs, "
        f"load average {load_before:.1f} before the run and {os.getloadavg()[0]:.1f} after"
    )
    return 1 if sum(rec.errors.values()) or not rec.total else 0


if __name__ == "__main__":
    sys.exit(main())
