"""`run.py verify-history` as a real process on the test's database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from portal import history_keys
from portal.db import db, is_postgres
from portal.models import DossierEvent, OutgoingMail
from portal.services import dossiers, processing
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import complete_draft
from tests.test_history_key import insider_rehash

ROOT = Path(__file__).resolve().parents[1]


def verify_history(tmp_path: Path, database_url: str,
                   history_key: str = "") -> subprocess.CompletedProcess[str]:
    """The command in another data directory, given the instance's history key as an operator
    would (without it, the keyed events cannot be checked)."""
    env = {**os.environ, "PORTAL_DATA_DIR": str(tmp_path / "cli-data"),
           "DATABASE_URL": database_url, "PYTHONIOENCODING": "utf-8",
           "PORTAL_HISTORY_KEY": history_key or history_keys.current()[1]}
    env.pop("PORTAL_SECRET_KEY", None)
    return subprocess.run([sys.executable, "run.py", "verify-history"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_verify_history_names_the_tampered_event(people, ctx_of, tmp_path, database_url):
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    dossier_id = complete_draft(owner)
    dossiers.submit(owner, dossier_id, "cli")
    processing.act(officer, dossier_id, "receive")
    processing.act(officer, dossier_id, "request_supplement", "Thiếu chứng từ")
    processing.act(officer, dossier_id, "stop_processing", "Dừng")
    db.close_all()  # leave the database to the other process

    result = verify_history(tmp_path, database_url)
    assert result.returncode == 0, result.stderr
    assert "intact: 4 events checked" in result.stdout

    with db.connection_context():
        target = DossierEvent.select().order_by(DossierEvent.id)[2]  # the supplement request
        param = "%s" if is_postgres() else "?"
        with db.atomic():
            db.execute_sql(f"UPDATE dossier_event SET note={param} WHERE id={param}",
                           ("Không thiếu gì", target.id))
    db.close_all()

    result = verify_history(tmp_path, database_url)
    assert result.returncode != 0
    assert f"BROKEN at event {target.id}" in result.stderr
    assert "does not match its hash" in result.stderr and "3 events checked" in result.stderr
    assert result.stdout == ""


def test_verify_history_finds_a_deleted_last_event(people, ctx_of, tmp_path, database_url):
    owner = ctx_of(people.owner)
    submitted = dossiers.submit(owner, complete_draft(owner), "del")
    processing.act(ctx_of(people.officer), submitted.id, "receive")
    with db.connection_context(), db.atomic():
        last = DossierEvent.select().order_by(DossierEvent.id.desc()).first()
        OutgoingMail.delete().where(OutgoingMail.event == last.id).execute()
        DossierEvent.delete().where(DossierEvent.id == last.id).execute()
    db.close_all()
    result = verify_history(tmp_path, database_url)
    assert result.returncode != 0
    assert "BROKEN at the end of the chain" in result.stderr
    assert "1 events checked" in result.stderr


def test_verify_history_names_an_event_rewritten_with_every_hash_recomputed(
        people, ctx_of, tmp_path, database_url):
    """An insider edits a row and recomputes every hash with plain SHA-256: named."""
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    dossier_id = complete_draft(owner)
    dossiers.submit(owner, dossier_id, "insider")
    processing.act(officer, dossier_id, "receive")
    processing.act(officer, dossier_id, "request_supplement", "Thiếu chứng từ")
    target = insider_rehash(note="Không thiếu gì")
    db.close_all()
    result = verify_history(tmp_path, database_url)
    assert result.returncode != 0
    assert f"BROKEN at event {target}" in result.stderr and "3 events checked" in result.stderr
    assert "does not match its hash" in result.stderr and result.stdout == ""


def test_verify_history_without_the_key_says_so(people, ctx_of, tmp_path, database_url):
    owner = ctx_of(people.owner)
    dossiers.submit(owner, complete_draft(owner), "nokey")
    db.close_all()
    result = verify_history(tmp_path, database_url, history_key="x" * 40)
    assert result.returncode != 0
    assert "not sealed by a history key known here" in result.stderr
