"""`run.py backup` while the portal writes (issue 16: backup without stopping the portal): a
writer process appends history events through the services (each in its own transaction, as
the web's actions do) before, during and after the backup; prints the backup's wall time, how
many writes committed while it ran and the longest and p99 wait of one write then.

    DATABASE_URL=... .venv/bin/python bench/backup_online.py --data-dir DIR

`--data-dir` is a PORTAL_DATA_DIR (seed_scale.py's). The writes are `login` events of the
system actor: they stay in the data set's history (verify-history still passes).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def write(stop, out) -> None:
    """Append events until `stop` is set; send (start, end) of each commit."""
    from portal.config import Settings
    from portal.db import configure, db
    from portal.services import history

    configure(Settings.from_env())
    times = []
    while not stop.is_set():
        began = time.monotonic()
        with db.connection_context(), db.atomic():
            history.record(history.SYSTEM, "login", note="bench/backup_online.py", public=False)
        times.append((began, time.monotonic()))
    out.send(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, type=Path)
    args = parser.parse_args()
    os.environ["PORTAL_DATA_DIR"] = str(args.data_dir.resolve())
    context = multiprocessing.get_context("spawn")
    stop, (mine, theirs) = context.Event(), context.Pipe()
    writer = context.Process(target=write, args=(stop, theirs))
    writer.start()
    time.sleep(3)
    with tempfile.TemporaryDirectory(prefix="portal-backup-online-") as out:
        began = time.monotonic()
        done = subprocess.run([sys.executable, "run.py", "backup", "--output",
                               str(Path(out) / "b.tar")], cwd=ROOT, capture_output=True,
                              text=True)
        ended = time.monotonic()
    time.sleep(1)
    stop.set()
    times = mine.recv()
    writer.join()
    print(done.stdout.strip() or done.stderr.strip())
    waits = sorted(b - a for a, b in times if a <= ended and b >= began)
    before = [b - a for a, b in times if b < began]
    print(f"backup: {ended - began:.1f} s; {len(waits)} writes committed while it ran, "
          f"longest {1000 * max(waits, default=0):.0f} ms, p99 "
          f"{1000 * waits[int(0.99 * (len(waits) - 1))] if waits else 0:.0f} ms; before it: "
          f"{len(before)} writes, median {1000 * statistics.median(before or [0]):.0f} ms, "
          f"longest {1000 * max(before, default=0):.0f} ms")


if __name__ == "__main__":
    main()
