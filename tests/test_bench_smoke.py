"""The page-weight, upload, hot-path and scale benchmarks still run (their figures are read
by people, not asserted here: see bench/README.md). Run once, on SQLite: the benchmarks make
their own SQLite data directory whatever database the suite runs on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ON_POSTGRES
from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(ON_POSTGRES, reason="the benchmarks run on their own SQLite")]


def run_bench(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_page_weight_prints_every_page_and_fragment():
    out = run_bench("bench/page_weight.py", "--runs", "1", "--port", str(free_port()))
    for name in ("home", "catalogue search", "new dossier form", "officer inbox",
                 "statistics", "draft autosave"):
        assert f"\n{name} " in out, out
    assert "OVER" in out or "all within budget" in out


@pytest.mark.parametrize("chunk_mb", ["4", "0"])  # 0: the whole file in one PATCH
def test_upload_bench_stores_the_file_intact(chunk_mb):
    out = run_bench("bench/upload.py", "--mb", "20", "--chunk-mb", chunk_mb,
                    "--port", str(free_port()))
    rows = [line for line in out.splitlines() if line.startswith(("tus ", "multipart "))]
    assert len(rows) == 2 and all(row.endswith("yes") for row in rows), out


def test_hot_path_bench_measures_the_three_sides_in_both_modes():
    port = free_port()
    out = run_bench("bench/hot_path.py", "--seconds", "1", "--rounds", "1", "--connections",
                    "8", "--port", str(port))
    for mode in ("browser (br/zstd/gzip)", "identity"):
        for side in ("portal", "rendered", "bare"):
            row = next(line for line in out.splitlines() if line.startswith(f"{mode:24} {side} "))
            assert " 0 bad" in row, out
            assert float(row[len(f"{mode:24} {side:9}"):].split()[0]) > 0, row  # requests/s
        assert f"{mode:24} portal/bare requests/s:" in out


def test_scale_bench_measures_every_page_of_the_table(tmp_path):
    env_dir = {"PORTAL_DATA_DIR": str(tmp_path)}
    seeded = subprocess.run(
        [sys.executable, "bench/seed_scale.py", "--dossiers", "300", "--enterprises", "30",
         "--busy-open", "40"], cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**_clean_env(), **env_dir})
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    out = subprocess.run(
        [sys.executable, "bench/scale.py", "--data-dir", str(tmp_path), "--requests", "2",
         "--port", str(free_port())], cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**_clean_env(), **env_dir})
    assert out.returncode == 0, out.stderr[-3000:]
    for page in ("officer inbox, open, page 200", "inbox, overdue view", "statistics CSV",
                 "statistics, one department", "enterprise's list"):
        assert f"\n{page}" in out.stdout, out.stdout
    assert "The processing history is intact" in out.stdout
    assert "Backup written to" in out.stdout


def _clean_env() -> dict[str, str]:
    """This environment without DATABASE_URL: the benchmarks' data set is SQLite here."""
    import os

    return {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
