"""Server memory while it receives a large attachment, through the resumable (tus) path and
through the plain multipart form.

    .venv/bin/python bench/upload.py [--mb 200] [--chunk-mb 8]

`--chunk-mb 0` sends the whole file in one tus PATCH, streamed from disk, as the official tus
clients do at their defaults.

For each path it starts a fresh server (uvicorn, one process, SQLite, demo data), logs in as
the demo enterprise, starts a draft, sends a file of --mb megabytes to it, checks the stored
attachment's SHA-256, and prints the server's resident memory when idle, its peak (VmHWM)
after the upload, the difference, and the upload's throughput. Target (issue 4): the peak
stays under 60 MB above idle for a 200 MB file.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import re
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from server import memory_kib, reset_peak, start_server, stop_server  # noqa: E402

from tests.tus_client import Session  # noqa: E402

DEMO_USER, DEMO_PASSWORD = "doanhnghiep@example.vn", "demo-portal-2026"
PROCEDURE, UNIT = "1.005458", "02CI"


def make_file(path: Path, size: int) -> str:
    """A PDF-headed file of `size` random bytes; returns its SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as f:
        head = b"%PDF-1.7\n"
        f.write(head)
        digest.update(head)
        left = size - len(head)
        while left:
            block = os.urandom(min(left, 1 << 20))
            f.write(block)
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def new_draft(s: Session) -> tuple[int, int]:
    """A fresh draft of the demo procedure: (dossier id, id of its first document slot)."""
    body = f"procedure={PROCEDURE}&unit={UNIT}&csrf_token={s.csrf}".encode()
    r = s.request(
        "POST", "/dossiers/new", body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    did = int((r.getheader("Location") or "").split("/")[2])
    page = s.request("GET", f"/dossiers/{did}/edit").read_body.decode()  # type: ignore[attr-defined]
    doc = int(re.search(r'name="document" value="(\d+)"', page).group(1))  # type: ignore[union-attr]
    return did, doc


def send_tus(s: Session, path: Path, did: int, doc: int, chunk: int) -> None:
    size = path.stat().st_size
    location = s.create(did, doc, "bench.pdf", size)
    if chunk <= 0:  # one PATCH with the whole file, read from disk as it is sent
        with path.open("rb") as f:
            r = s.tus(
                "PATCH",
                location,
                f,  # type: ignore[arg-type]
                {
                    "Content-Type": "application/offset+octet-stream",
                    "Upload-Offset": "0",
                    "Content-Length": str(size),
                },
            )
        assert r.status == 204, (r.status, r.read_body)  # type: ignore[attr-defined]
        assert r.getheader("Upload-Offset") == str(size)
        return
    with path.open("rb") as f:
        offset = 0
        while offset < size:
            data = f.read(chunk)
            r = s.tus(
                "PATCH",
                location,
                data,
                {"Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset)},
            )
            assert r.status == 204, (r.status, r.read_body)  # type: ignore[attr-defined]
            offset = int(r.getheader("Upload-Offset") or "0")


def send_multipart(s: Session, path: Path, did: int, doc: int) -> None:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
        f'{s.csrf}\r\n--{boundary}\r\nContent-Disposition: form-data; name="document"\r\n'
        f'\r\n{doc}\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="bench.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                yield block
        yield tail

    conn = http.client.HTTPConnection(s.host, s.port, timeout=600)
    conn.request(
        "POST",
        f"/dossiers/{did}/files",
        body=body(),
        headers={
            "Cookie": s.cookie,
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + path.stat().st_size + len(tail)),
        },
    )
    r = conn.getresponse()
    r.read()
    conn.close()
    assert r.status == 303, r.status


def stored_sha256(data_dir: Path, did: int) -> str:
    with sqlite3.connect(data_dir / "portal.db") as conn:
        row = conn.execute("SELECT sha256 FROM attachment WHERE dossier_id = ?", (did,)).fetchone()
    return row[0] if row else ""


def run(mode: str, file: Path, expected: str, port: int, mb: int, chunk: int) -> None:
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        data_dir = Path(tmp)
        proc = start_server(
            data_dir,
            port,
            {
                "PORTAL_MAX_UPLOAD_MB": str(mb + 10),
                "PORTAL_MAX_RESERVED_MB": str(mb + 10),  # the open upload reserves the file
                "DATABASE_URL": f"sqlite:///{data_dir}/portal.db",
            },
        )
        try:
            s = Session("127.0.0.1", port)
            s.login(DEMO_USER, DEMO_PASSWORD)
            did, doc = new_draft(s)
            reset_peak(proc.pid)  # the login's argon2 (64 MiB) is not the upload's
            idle = memory_kib(proc.pid, "VmRSS")
            started = time.perf_counter()
            if mode == "tus":
                send_tus(s, file, did, doc, chunk)
            else:
                send_multipart(s, file, did, doc)
            seconds = time.perf_counter() - started
            peak = memory_kib(proc.pid, "VmHWM")
            ok = stored_sha256(data_dir, did) == expected
            print(
                f"{mode:10} {idle / 1024:9.1f} {peak / 1024:9.1f} {(peak - idle) / 1024:9.1f} "
                f"{mb / seconds:8.1f}  {'yes' if ok else 'NO'}"
            )
        finally:
            stop_server(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200, help="size of the file in MB")
    ap.add_argument("--chunk-mb", type=int, default=8, help="tus chunk size in MB (0: one PATCH)")
    ap.add_argument("--port", type=int, default=8766)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="portal-bench-file-") as tmp:
        file = Path(tmp) / "big.pdf"
        expected = make_file(file, args.mb * 1024 * 1024)
        chunks = f"chunks of {args.chunk_mb} MB" if args.chunk_mb > 0 else "one PATCH"
        print(f"file: {args.mb} MB; tus {chunks}; one uvicorn process, SQLite")
        print(f"{'path':10} {'idle MiB':>9} {'peak MiB':>9} {'+MiB':>9} {'MB/s':>8}  sha256 ok")
        for mode in ("tus", "multipart"):
            run(mode, file, expected, args.port, args.mb, args.chunk_mb * 1024 * 1024)


if __name__ == "__main__":
    main()
