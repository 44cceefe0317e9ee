"""The hot path: the public catalogue page against a bare Starlette + Jinja page of the same
size, side by side, in the same run, measured from outside with wrk.

    .venv/bin/python bench/hot_path.py [--connections 50] [--seconds 10] [--workers 2]
                                       [--rounds 2] [--path /procedures]

Starts the portal (uvicorn, `--workers` processes, on a fresh SQLite data directory seeded with
the demo data, or on PostgreSQL when DATABASE_URL is set) and bench/bare_page.py (the same
number of processes, its page as large as the portal's), then runs wrk against each in turn,
`--rounds` times (alternating, so that both meet the same machine), after a warm-up. Two
modes: as a browser asks (`Accept-Encoding: gzip, deflate, br, zstd`; the bare page then goes
through the same compression middleware at the same levels) and without compression. Prints,
per mode, each side's best round: requests/s, latency p50/p90/p99, the bytes of one response,
and the ratio of the portal's requests/s to the bare page's, for the page as anonymous visitors
get it (kept as sent: web/shared_pages.py) and as rendered for each request (what a visitor with
a session gets). Needs Debian's wrk.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import ROOT, start_server, stop_server, wait_until_up  # noqa: E402

BROWSER = "gzip, deflate, br, zstd"
# The sides, by the cookie they send: an anonymous visitor (the kept page: web/shared_pages.py),
# a visitor with a session cookie (it decodes to no session: the same page, rendered and
# compressed for each request, as a signed-in user's is), and the bare page.
SIDES = {"portal": "", "rendered": "portal_session=bench", "bare": ""}
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def fetch_size(url: str, encoding: str | None) -> int:
    """Bytes of one response body as sent (compressed when `encoding` allows)."""
    headers = {"Accept-Encoding": encoding} if encoding else {"Accept-Encoding": "identity"}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as resp:
        return len(resp.read())


def start_bare(port: int, workers: int, size: int, compress: bool) -> subprocess.Popen:
    env = {**os.environ, "BARE_PAGE_BYTES": str(size),
           "BARE_PAGE_COMPRESS": "1" if compress else "0"}
    command = [sys.executable, "-m", "uvicorn", "bare_page:app", "--port", str(port),
               "--log-level", "warning", "--app-dir", str(ROOT / "bench"),
               "--workers", str(workers)]
    proc = subprocess.Popen(command, env=env, cwd=ROOT)
    return wait_until_up(proc, f"http://127.0.0.1:{port}/")


def wrk(
    url: str, connections: int, seconds: int, encoding: str | None, cookie: str = ""
) -> dict[str, float]:
    """One wrk run: requests/s, p50/p90/p99 in ms, and the non-2xx/3xx answers and errors."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    command += ["-H", f"Accept-Encoding: {encoding or 'identity'}"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    figures: dict[str, float] = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])}
    for pct in ("50", "90", "99"):
        value, unit = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)$", out, re.M).groups()
        figures[f"p{pct}"] = float(value) * UNIT_MS[unit]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    figures["bad"] = float(bad[1]) if bad else 0.0
    figures["errors"] = errors[1] if errors else ""
    return figures


def best(runs: list[dict]) -> dict:
    return max(runs, key=lambda run: run["rps"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--path", default="/procedures")
    parser.add_argument("--port", type=int, default=8141)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/hot_path.py needs wrk: apt-get install wrk")
    portal_url = f"http://127.0.0.1:{args.port}{args.path}"
    bare_url = f"http://127.0.0.1:{args.port + 1}/"
    with tempfile.TemporaryDirectory(prefix="portal-hot-path-") as tmp:
        portal = start_server(Path(tmp), args.port, workers=args.workers)
        try:
            size = fetch_size(portal_url, None)
            results = {}
            for label, encoding in (("browser (br/zstd/gzip)", BROWSER), ("identity", None)):
                bare = start_bare(args.port + 1, args.workers, size, compress=bool(encoding))
                try:
                    runs: dict[str, list[dict]] = {name: [] for name in SIDES}
                    urls = {"portal": portal_url, "rendered": portal_url, "bare": bare_url}
                    warm_up = min(2, args.seconds)
                    for name, cookie in SIDES.items():
                        wrk(urls[name], args.connections, warm_up, encoding, cookie)
                    for _ in range(args.rounds):
                        for name, cookie in SIDES.items():
                            runs[name].append(
                                wrk(urls[name], args.connections, args.seconds, encoding, cookie)
                            )
                    results[label] = {
                        name: {**best(runs[name]), "bytes": fetch_size(urls[name], encoding)}
                        for name in SIDES
                    }
                finally:
                    stop_server(bare)
        finally:
            stop_server(portal)
    print(f"{args.path}: {size} bytes of HTML; {args.workers} processes each; wrk -t2 "
          f"-c{args.connections} -d{args.seconds}s, best of {args.rounds} rounds")
    print(f"{'mode':24} {'side':9} {'req/s':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
          f"{'bytes':>7}  errors")
    for label, sides in results.items():
        for name, fig in sides.items():
            print(f"{label:24} {name:9} {fig['rps']:8.0f} {fig['p50']:7.1f} {fig['p90']:7.1f} "
                  f"{fig['p99']:7.1f} {fig['bytes']:7d}  {int(fig['bad'])} bad {fig['errors']}")
        for name in ("portal", "rendered"):
            ratio = sides[name]["rps"] / sides["bare"]["rps"]
            print(f"{label:24} {name}/bare requests/s: {ratio:.3f} (target >= 0.5); p99 "
                  f"{sides[name]['p99']:.1f} ms (target < 50)")
    print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
