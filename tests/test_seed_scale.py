"""bench/seed_scale.py loads a small national data set in bulk on the suite's database (both):
the dossiers of both unit structures on the right side of 1/3/2025, about ten events each in
a history chain that verifies, the busy office's open dossiers, and it refuses to load twice."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from portal.db import db
from portal.models import Dossier, DossierEvent, Unit
from portal.services import history, stats
from portal.services.status import FINAL

ROOT = Path(__file__).resolve().parents[1]


def seed_scale(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PORTAL_DATA_DIR": str(settings.data_dir),
           "DATABASE_URL": settings.database_url}
    return subprocess.run([sys.executable, "bench/seed_scale.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_small_national_data_set_loads_with_a_valid_history(settings):
    done = seed_scale(settings, "--dossiers", "600", "--enterprises", "80", "--busy-open", "90")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Seeded 600 dossiers (90 open in 02CI)" in done.stdout
    with db.connection_context():
        assert Dossier.select().count() == 600
        events = DossierEvent.select().where(DossierEvent.dossier.is_null(False)).count()
        assert 8 * 600 <= events <= 14 * 600
        checked, broken_at, problem = history.verify_chain()
        assert broken_at is None and problem == "" and checked >= events
        cut_over = "2025-02-28 17:00"
        for structure, wrong_side in (("2016", ">="), ("2025", "<")):
            units = Unit.select(Unit.id).where(Unit.structure == structure)
            stray = Dossier.select().where(Dossier.unit.in_(units))
            stray = stray.where(Dossier.submitted_at >= cut_over if wrong_side == ">="
                                else Dossier.submitted_at < cut_over)
            assert stray.count() == 0, structure
        busy = Unit.get(Unit.structure == "2025", Unit.code == "02CI")
        open_in_busy = Dossier.select().where(Dossier.unit == busy,
                                              Dossier.status.not_in(list(FINAL)))
        assert open_in_busy.count() >= 90
        ended = Dossier.select().where(Dossier.status.in_(list(FINAL)))
        assert ended.count() > 300
        assert ended.where(Dossier.finished_at.is_null()).count() == 0
        # Each dossier's last event leaves it in the status it has.
        for dossier in Dossier.select().limit(50):
            last = dossier.events.order_by(DossierEvent.id.desc()).first()
            assert last.status_after == dossier.status, dossier.code
    # The statistics were rebuilt from the loaded dossiers: three years, both structures.
    assert "Statistics rebuilt from 600 dossiers" in done.stdout
    today = stats.local_today()
    for unit in ("", "2016:02", "2025:KV02"):
        raw = {"from": (today - dt.timedelta(days=4 * 365)).isoformat(), "unit": unit}
        query = stats.clean_query(raw, 1, today)
        counted, recounted = stats.build_report(query), stats.recount(query)
        assert counted.figures == recounted.figures and counted.figures.received > 0, unit
        assert counted.units.items == recounted.units.items
    again = seed_scale(settings, "--dossiers", "10", "--enterprises", "1", "--busy-open", "0")
    assert again.returncode != 0 and "already has dossiers" in again.stderr
