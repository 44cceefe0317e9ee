"""Page weight and latency of the public pages, against a real server on loopback.

    .venv/bin/python bench/pages.py [--requests 200] [--concurrency 8]

Starts the portal (uvicorn, one process) on a fresh SQLite data directory seeded with the real
catalogue, then for each page prints the compressed size on the wire (status line, headers and
body, as a browser asking for br/gzip gets it), the uncompressed HTML size, latency percentiles
over sequential requests, and requests/s with several concurrent keep-alive clients. Ends with
the server's peak resident memory. Set DATABASE_URL to measure on PostgreSQL.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import memory_kib, start_server, stop_server  # noqa: E402

PAGES = [
    ("home", "/"),
    ("catalogue", "/procedures"),
    ("catalogue search", "/procedures?q=huy+to+khai"),
    ("catalogue search (htmx fragment)", "/procedures?q=bo+sung"),
    ("procedure page", "/procedures/1.005458"),
    ("login", "/login"),
    ("register", "/register"),
]
HTMX = {"HX-Request": "true"}


def fetch(
    conn: http.client.HTTPConnection, path: str, headers: dict[str, str]
) -> tuple[int, int, int]:
    """(status, bytes on the wire, decoded body length) of one GET."""
    conn.request("GET", path, headers={"Accept-Encoding": "br, gzip", **headers})
    resp = conn.getresponse()
    body = resp.read()
    head = (
        len(f"HTTP/1.1 {resp.status} {resp.reason}\r\n")
        + sum(len(k) + len(v) + 4 for k, v in resp.getheaders())
        + 2
    )
    encoding = resp.getheader("Content-Encoding", "")
    if encoding == "br":
        import brotli

        plain = len(brotli.decompress(body))
    elif encoding == "gzip":
        import gzip

        plain = len(gzip.decompress(body))
    else:
        plain = len(body)
    return resp.status, head + len(body), plain


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def throughput(
    port: int, path: str, headers: dict[str, str], clients: int, seconds: float
) -> float:
    done = [0] * clients
    stop = time.monotonic() + seconds

    def run(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < stop:
            fetch(conn, path, headers)
            done[i] += 1
        conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200, help="sequential requests per page")
    ap.add_argument("--concurrency", type=int, default=8, help="clients for requests/s")
    ap.add_argument("--seconds", type=float, default=3.0, help="duration of each requests/s run")
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        proc = start_server(Path(tmp), args.port)
        try:
            print(
                f"{'page':36} {'wire B':>7} {'html B':>7} {'p50 ms':>7} {'p95 ms':>7} "
                f"{'p99 ms':>7} {'req/s':>7}"
            )
            for name, path in PAGES:
                headers = HTMX if "htmx" in name else {}
                conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
                status, wire, plain = fetch(conn, path, headers)
                assert status == 200, (path, status)
                times = []
                for _ in range(args.requests):
                    t0 = time.perf_counter()
                    fetch(conn, path, headers)
                    times.append((time.perf_counter() - t0) * 1000)
                conn.close()
                rps = throughput(args.port, path, headers, args.concurrency, args.seconds)
                print(
                    f"{name:36} {wire:7d} {plain:7d} {statistics.median(times):7.1f} "
                    f"{percentile(times, 0.95):7.1f} {percentile(times, 0.99):7.1f} {rps:7.0f}"
                )
            print(f"server peak memory (VmHWM): {memory_kib(proc.pid) / 1024:.1f} MiB")
        finally:
            stop_server(proc)


if __name__ == "__main__":
    main()
