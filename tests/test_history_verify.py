"""The streamed, parallel and resumable history check (services/history_verify.py): worker
processes over small ranges of ids name the same first broken event as the one-process check,
for every kind of tampering; checkpoints are MACed and resumed from, and an interrupted run
leaves one that `--resume` carries on from."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from portal import history_keys
from portal.db import db
from portal.models import DossierEvent, HistoryCheckpoint, HistoryHead
from portal.services import history, history_verify
from portal.services.history_verify import (
    BAD_CHECKPOINT,
    CONTENT,
    LINK,
    MISSING,
    MOVED_CHECKPOINT,
    UNKEYED,
)
from tests.test_history_key import events, legacy_chain, record

ROOT = Path(__file__).resolve().parents[1]
# Ranges of 7 ids read 3 rows at a time: many ranges, many batches, stitched by the parent.
SMALL = {"span": 7, "batch": 3}


def both(**options: object) -> tuple[int, int | None, str]:
    """The verdict of 2 worker processes, after checking it equals the one-process check's."""
    alone = history_verify.verify(jobs=1, **SMALL, **options)
    pooled = history_verify.verify(jobs=2, **SMALL, **options)
    assert pooled == alone
    return tuple(pooled)


def edit(event_id: int, **values: object) -> None:
    with db.connection_context(), db.atomic():
        assert DossierEvent.update(**values).where(DossierEvent.id == event_id).execute() == 1


def delete(event_id: int) -> None:
    with db.connection_context(), db.atomic():
        DossierEvent.delete().where(DossierEvent.id == event_id).execute()


@pytest.fixture
def chain(settings) -> list[DossierEvent]:
    record(40)
    rows = events()
    assert both() == (40, None, "")
    return rows


@pytest.mark.parametrize("position", [1, 7, 8, 20, 40])  # first, range ends and starts, last
def test_an_edited_event_is_named_by_the_workers(chain, position):
    target = chain[position - 1]
    edit(target.id, note="changed")
    assert both() == (position, target.id, CONTENT)


@pytest.mark.parametrize("position", [2, 8, 15, 40])
def test_an_edited_previous_hash_is_named(chain, position):
    target = chain[position - 1]
    edit(target.id, prev_hash="f" * 64)
    assert both() == (position, target.id, LINK)


@pytest.mark.parametrize("position", [1, 7, 8, 21])
def test_a_deleted_event_in_the_middle_breaks_the_next_ones_link(chain, position):
    delete(chain[position - 1].id)
    assert both() == (position, chain[position].id, LINK)


def test_a_deleted_last_event_is_found_at_the_end(chain):
    delete(chain[-1].id)
    assert both() == (39, None, MISSING)
    with db.connection_context(), db.atomic():
        HistoryHead.update(count=39).execute()  # the count lowered to match
    assert both() == (39, None, MISSING)


def test_a_cut_over_inside_a_range_is_checked_and_moving_it_is_found(settings):
    legacy_chain(10)  # ten unkeyed events, sealed; then keyed ones
    record(12, "new")
    assert both() == (22, None, "")
    with db.connection_context(), db.atomic():
        HistoryHead.update(keyed_from=12).execute()
    assert both() == (11, events()[10].id, CONTENT)  # the 11th, keyed, is read as unkeyed


def test_an_unkeyed_event_after_the_cut_over_is_named(settings):
    record(20)
    target = events()[15]
    with db.connection_context(), db.atomic():
        DossierEvent.update(key_id="", hash=history.digest(target.prev_hash, history.values_of(
            target))).where(DossierEvent.id == target.id).execute()
    assert both() == (16, target.id, UNKEYED)


def test_events_appended_while_it_runs_are_not_taken_for_a_broken_end(chain):
    """The head and the last id are read in one snapshot: what the portal appends meanwhile
    is left for the next run (read one after the other, a commit between them would look
    like events missing at the end)."""
    stop, errors = threading.Event(), []

    def keep_recording() -> None:
        try:
            while not stop.is_set():
                record(1, "meanwhile")
        except Exception as exc:  # reported below
            errors.append(exc)

    writer = threading.Thread(target=keep_recording)
    writer.start()
    try:
        verdicts = [history_verify.verify(jobs=jobs, **SMALL) for jobs in (1, 2, 1, 2, 1, 2)]
    finally:
        stop.set()
        writer.join(timeout=60)
    assert not errors, errors
    assert [v.problem for v in verdicts] == [""] * 6
    assert verdicts[-1].checked > 40


# --- checkpoints -------------------------------------------------------------------------------


class Stop(Exception):
    """A crash: no chance to save anything (as with kill -9)."""


def interrupt_after(n: int, error: type[BaseException] = KeyboardInterrupt):
    def progress(checked: int, total: int) -> None:
        if checked >= n:
            raise error

    return progress


def saved() -> HistoryCheckpoint:
    with db.connection_context():
        return HistoryCheckpoint.get()


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_interrupted_run_saves_a_checkpoint_and_resume_finds_what_comes_after(chain, jobs):
    with pytest.raises(KeyboardInterrupt):
        history_verify.run(jobs=jobs, checkpoint_every=10, progress=interrupt_after(25), **SMALL)
    cp = saved()
    assert cp.checked >= 25 and cp.checked < 40
    assert (cp.last_id, cp.last_hash) == (chain[cp.checked - 1].id, chain[cp.checked - 1].hash)

    edit(chain[2].id, note="before the checkpoint")  # a resumed run trusts what it verified
    edit(chain[36].id, note="after the checkpoint")
    report = history_verify.run(jobs=jobs, resume=True, checkpoint_every=10, **SMALL)
    assert report.verdict == (37, chain[36].id, CONTENT)
    assert report.resumed_from.checked == cp.checked
    assert history_verify.verify(jobs=jobs, **SMALL) == (3, chain[2].id, CONTENT)


def test_a_crash_leaves_the_last_periodic_checkpoint(chain):
    with pytest.raises(Stop):
        history_verify.run(jobs=2, checkpoint_every=10, progress=interrupt_after(30, Stop),
                           **SMALL)
    cp = saved()
    assert 10 <= cp.checked < 30
    report = history_verify.run(jobs=2, resume=True, checkpoint_every=10, **SMALL)
    assert report.verdict == (40, None, "")
    assert saved().checked == 40  # an intact chain ends with a checkpoint at its end


def test_resume_after_a_complete_run_checks_only_the_new_events(chain):
    assert history_verify.run(checkpoint_every=1000).verdict == (40, None, "")
    record(2)
    seen = []
    report = history_verify.run(resume=True, checkpoint_every=1000,
                                progress=lambda checked, total: seen.append((checked, total)))
    assert report.verdict == (42, None, "") and report.resumed_from.checked == 40
    assert seen == [(40, 42), (42, 42)]
    assert history_verify.run(resume=True).resumed_from.checked == 42


@pytest.mark.parametrize("column", ["checked", "last_id", "last_hash", "mac"])
def test_an_edited_checkpoint_is_refused(chain, column):
    with pytest.raises(Stop):
        history_verify.run(checkpoint_every=20, progress=interrupt_after(30, Stop), **SMALL)
    cp = saved()
    values = {"checked": cp.checked + 5, "last_id": chain[30].id, "last_hash": chain[30].hash,
              "mac": cp.mac[:-4] + "0000"}
    with db.connection_context(), db.atomic():
        HistoryCheckpoint.update(**{column: values[column]}).execute()
    assert history_verify.verify(resume=True, **SMALL) == (0, None, BAD_CHECKPOINT)
    assert history_verify.verify(**SMALL) == (40, None, "")  # a full run does not need it


def test_a_checkpoint_made_with_a_key_not_known_here_is_refused(chain):
    history_verify.run(checkpoint_every=1000)
    history_keys.bind(["another-history-key-of-at-least-32-characters",
                       *(history_keys.get(k) for k in history_keys.known_ids())])
    assert history_verify.verify(resume=True) == (40, None, "")  # the old key still verifies
    history_verify.run(checkpoint_every=1000)  # now MACed with the new key
    history_keys.bind([history_keys.get(k) for k in history_keys.known_ids()][1:])
    assert history_verify.verify(resume=True) == (0, None, BAD_CHECKPOINT)


def test_the_event_a_checkpoint_ends_at_rewritten_is_found(chain):
    history_verify.run(checkpoint_every=1000)
    edit(chain[-1].id, hash="e" * 64)
    assert history_verify.verify(resume=True) == (40, chain[-1].id, MOVED_CHECKPOINT)


# --- the command -------------------------------------------------------------------------------


def cli(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PORTAL_DATA_DIR": str(tmp_path / "cli-data"),
           "DATABASE_URL": database_url, "PYTHONIOENCODING": "utf-8",
           "PORTAL_HISTORY_KEY": history_keys.current()[1]}
    env.pop("PORTAL_SECRET_KEY", None)
    return subprocess.run([sys.executable, "run.py", "verify-history", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_the_command_checkpoints_resumes_and_reports_progress(chain, tmp_path, database_url):
    db.close_all()
    result = cli(tmp_path, database_url, "--resume", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    assert "intact: 40 events checked (there was no checkpoint" in result.stdout
    assert "verify-history: 40 of 40 events (100.0%)" in result.stderr
    assert "events/s" in result.stderr
    record(3)
    db.close_all()
    result = cli(tmp_path, database_url, "--resume")
    assert result.returncode == 0, result.stderr
    assert "intact: 43 events checked (3 after the checkpoint of " in result.stdout
    assert f"at event {chain[-1].id})" in result.stdout
    record(3)
    edit(events()[44].id, note="changed")  # the second event after the checkpoint
    db.close_all()
    result = cli(tmp_path, database_url, "--resume")
    assert result.returncode != 0 and result.stdout == ""
    assert f"BROKEN at event {events()[44].id}" in result.stderr
    assert "(45 events checked (2 after the checkpoint" in result.stderr
