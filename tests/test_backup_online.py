"""A backup of a portal that keeps working: `create_backup` runs while two threads submit and
receive dossiers through the services; no write fails, and the archive restores into an
instance that `run.py verify-history` finds intact. On SQLite the one-step copy of a large
file (the online backup API in WAL mode) reads a snapshot without holding a lock that would
make writers wait for it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from portal import backup
from portal.backup import create_backup
from portal.db import configure, db
from portal.models import DossierEvent
from portal.services import dossiers, processing
from tests.conftest import ON_POSTGRES
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import complete_draft
from tests.test_backup import cli, pg, target  # noqa: F401 (target is a fixture)


class Writers:
    """Threads that keep submitting and receiving dossiers until stopped; each commit's time
    and every error are kept."""

    def __init__(self, owner, officer, threads: int = 2) -> None:
        self.stop, self.errors, self.done = threading.Event(), [], []
        self.threads = [threading.Thread(target=self._write, args=(owner, officer))
                        for _ in range(threads)]

    def _write(self, owner, officer) -> None:
        try:
            while not self.stop.is_set():
                dossier_id = complete_draft(owner)
                dossiers.submit(owner, dossier_id, f"online-{dossier_id}")
                processing.act(officer, dossier_id, "receive")
                self.done.append(time.monotonic())
        except Exception as exc:  # reported by the tests
            self.errors.append(exc)

    def __enter__(self) -> Writers:
        for t in self.threads:
            t.start()
        while len(self.done) < 2 and not self.errors:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


def during(writes: list[float], began: float, ended: float) -> list[float]:
    return [t for t in writes if began <= t <= ended]


def test_create_backup_while_writers_carry_on_restores_an_intact_history(
    people, ctx_of, settings, target, tmp_path  # noqa: F811
):
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    if ON_POSTGRES:  # the archive's schema exists already in the target, empty
        with pg(target.database_url) as cur:
            cur.execute(f"CREATE SCHEMA {target.schema}")
    with Writers(owner, officer) as writers:
        # A small database is copied in a few milliseconds: again until a commit falls
        # inside the copy (writers commit every few tens of milliseconds).
        for attempt in range(40):
            began = time.monotonic()
            path, manifest, _ = create_backup(settings, tmp_path / f"portal-{attempt}.tar")
            ended = time.monotonic()
            if during(writers.done, began, ended):
                break
        time.sleep(0.2)
    assert not writers.errors, writers.errors
    assert during(writers.done, began, ended)  # dossiers were written while it ran
    with db.connection_context():
        live = DossierEvent.select().count()
    assert 0 < manifest["history"]["count"] < live

    assert target.restore(path).returncode == 0
    db.close_all()
    restored = target.settings()
    configure(restored)
    result = cli("verify-history", "--jobs", "2", data_dir=restored.data_dir,
                 database_url=target.database_url, history_key=target.history_key)
    assert result.returncode == 0, result.stderr
    count = manifest["history"]["count"]
    assert f"intact: {count} events checked" in result.stdout


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's online backup API")
def test_the_copy_of_a_large_sqlite_file_does_not_make_writers_wait(
    people, ctx_of, settings, tmp_path
):
    """The copy reads one snapshot; WAL lets writers commit meanwhile. Measured: the longest
    wait between two commits during the copy is a small part of the copy."""
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    with db.connection_context(), db.atomic():  # about 160 MB of pages to copy
        db.execute_sql("CREATE TABLE padding (data BLOB)")
        for _ in range(40):
            db.execute_sql("INSERT INTO padding SELECT randomblob(4000000)")
    work = tmp_path / "work"
    work.mkdir()
    with Writers(owner, officer) as writers:
        began = time.monotonic()
        copy, facts, _ = backup._snapshot_sqlite(settings.database_url, work)
        ended = time.monotonic()
    assert not writers.errors, writers.errors
    assert Path(copy).stat().st_size > 150 * 1024 * 1024
    writes = [began, *during(writers.done, began, ended), ended]
    longest = max(b - a for a, b in zip(writes, writes[1:], strict=False))
    assert len(writes) >= 4, (ended - began, writes)
    assert longest < (ended - began) / 2, (longest, ended - began)
    assert facts["history"]["count"] >= 4  # the two rounds before it began
