"""Crash safety with real processes killed by SIGKILL: the web server in the middle of fifty
submissions, and the background worker in the middle of a burst of e-mails.

The server test runs each dossier's web flow over HTTP from its own thread (attach a PDF through
the multipart form, open the review page for its submit key, submit), kills the server once
KILL_AFTER submissions were acknowledged, restarts it on the same data and checks that nothing
acknowledged was lost, nothing half-made is visible, no file is left without its row after the
orphan clean-up, the history chain is intact, and that the interrupted submissions, sent again
with their submit keys, each give exactly one dossier. Before the burst, LOST submissions go
through but their clients never read the answer (a link that drops on the way back): the
server committed them, so their retries after the restart must find them, not submit again.
(A kill catches a commit whose answer had not left yet only by chance, so this case is made
sure of this way.)

The mail test is in tests/test_crash_safety_mail.py."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from portal import jobs
from portal.db import db
from portal.models import Attachment, Dossier, DossierEvent, OutgoingMail
from portal.services import dossiers
from tests.conftest import PASSWORD
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import GOOD_ANSWERS, PNG, PROCEDURE, UNIT, documents
from tests.dossier_web_fixtures import pdf_bytes
from tests.live_server import LiveServer
from tests.tus_client import DROPPED, Session

ROOT = Path(__file__).resolve().parents[1]
COUNT = 50
KILL_AFTER = 15  # acknowledged submissions before the SIGKILL
LOST = 3  # flows whose answer to the submission is lost on the way back (a dropped link)
SUBMIT_KEY_RE = re.compile(r'name="submit_key" value="([^"]+)"')


def big_pdf(n: int) -> bytes:
    """A well-formed PDF of about 300 KB whose content differs for every n."""
    return pdf_bytes(f"Dossier {n} " + hashlib.sha256(b"%d" % n).hexdigest() * 4700)


def multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = f"----crash{os.urandom(12).hex()}"
    out = bytearray()
    for name, value in fields.items():
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    out += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: application/pdf\r\n\r\n'
    ).encode()
    out += content + f"\r\n--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


@dataclass
class Flow:
    """One dossier's web flow and what the server acknowledged of it."""

    dossier_id: int
    pdf: bytes
    session: Session
    file_acked: bool = False
    submit_key: str = ""
    submit_sent: bool = False
    submit_acked: bool = False
    lose_answer: bool = False  # the server answers the submission; the answer never arrives
    dropped_at: str = ""  # the step whose request the crash cut
    unexpected: str = ""  # an answer that is not part of the flow (a bug)


class Runner:
    """Runs flows, counting requests in flight and acknowledged submissions."""

    def __init__(self, document_id: int) -> None:
        self.document_id = document_id
        self.lock = threading.Lock()
        self.in_flight: Counter[str] = Counter()
        self.acks = 0
        self.lost = 0
        self.kill_now = threading.Event()

    def _count(self, lost: bool) -> None:
        with self.lock:
            self.acks += not lost
            self.lost += lost
            if self.acks >= KILL_AFTER:
                self.kill_now.set()

    def _call(
        self,
        flow: Flow,
        step: str,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "",
    ):
        with self.lock:
            self.in_flight[step] += 1
        try:
            headers = {"Content-Type": content_type} if content_type else {}
            return flow.session.request(method, path, body, headers)
        except DROPPED:
            flow.dropped_at = step
            return None
        finally:
            with self.lock:
                self.in_flight[step] -= 1

    def attach(self, flow: Flow) -> bool:
        body, kind = multipart(
            {"csrf_token": flow.session.csrf, "document": str(self.document_id)},
            f"don-{flow.dossier_id}.pdf",
            flow.pdf,
        )
        r = self._call(flow, "file", "POST", f"/dossiers/{flow.dossier_id}/files", body, kind)
        if r is not None and r.status == 303:
            flow.file_acked = True
        elif r is not None:
            flow.unexpected = f"file: {r.status}"
        return flow.file_acked

    def submit(self, flow: Flow) -> bool:
        body = (f"csrf_token={flow.session.csrf}&confirm=1&submit_key={flow.submit_key}").encode()
        flow.submit_sent = True
        r = self._call(
            flow,
            "submit",
            "POST",
            f"/dossiers/{flow.dossier_id}/submit",
            body,
            "application/x-www-form-urlencoded",
        )
        if r is None:
            return False
        if r.status == 303 and r.getheader("Location") == f"/dossiers/{flow.dossier_id}/receipt":
            if flow.lose_answer:
                flow.lose_answer, flow.dropped_at = False, "submit (answer lost)"
            else:
                flow.submit_acked = True
            self._count(lost=bool(flow.dropped_at))
        else:
            flow.unexpected = f"submit: {r.status} {r.getheader('Location')}"
        return flow.submit_acked

    def run(self, flow: Flow) -> None:
        """The whole flow from where it stands; stops at the first dropped request."""
        try:
            if not flow.file_acked and not self.attach(flow):
                return
            if not flow.submit_key:
                r = self._call(flow, "review", "GET", f"/dossiers/{flow.dossier_id}/review")
                if r is None:
                    return
                match = SUBMIT_KEY_RE.search(r.read_body.decode())
                if r.status != 200 or not match:
                    flow.unexpected = f"review: {r.status}"
                    return
                flow.submit_key = match.group(1)
            self.submit(flow)
        except Exception as exc:  # a thread must not die silently: record it as a failure
            flow.unexpected = f"{type(exc).__name__}: {exc}"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_nothing_half_made(uploads: Path, ids: list[int]) -> dict[int, Dossier]:
    """Every submitted dossier is whole (code, one submit event, its mandatory files, its mail);
    every draft has none of these; every attachment row has its intact file."""
    with db.connection_context():
        rows = {d.id: d for d in Dossier.select().where(Dossier.id.in_(ids))}
        submits = Counter(
            e.dossier_id for e in DossierEvent.select().where(DossierEvent.action == "submit")
        )
        mails = Counter(
            m.event.dossier_id
            for m in OutgoingMail.select(OutgoingMail, DossierEvent).join(DossierEvent)
        )
        attached: dict[int, set[int]] = {}
        for att in Attachment.select():
            attached.setdefault(att.dossier_id, set()).add(att.document_id)
            path = uploads / att.stored_name
            assert path.is_file(), f"attachment {att.id} has no file"
            assert sha256_file(path) == att.sha256 and path.stat().st_size == att.size
        mandatory = {d.id for d in documents() if d.mandatory}
    assert set(rows) == set(ids)
    for did, row in rows.items():
        if row.status == 0:
            assert (row.code, submits[did], mails[did]) == (None, 0, 0), did
        else:
            assert row.status == 1 and re.fullmatch(rf"{UNIT}-\d{{6}}-\d{{4}}", row.code or "")
            assert submits[did] == 1 and mails[did] == 1, did
            assert mandatory <= attached.get(did, set()), did
    return rows


def files_without_rows(uploads: Path) -> set[str]:
    with db.connection_context():
        known = {a.stored_name for a in Attachment.select(Attachment.stored_name)}
    return {p.name for p in uploads.iterdir() if p.is_file()} - known


def clean_orphans_after_grace_time(uploads: Path) -> int:
    """Run the hourly clean-up job as it runs once the files are an hour old."""
    then = time.time() - 7200
    for path in uploads.iterdir():
        if path.is_file():
            os.utime(path, (then, then))
    return jobs.clean_orphan_uploads.call_local()


def verify_history(settings) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PORTAL_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url,
        "PYTHONIOENCODING": "utf-8",
    }
    env.pop("PORTAL_SECRET_KEY", None)
    return subprocess.run(
        [sys.executable, "run.py", "verify-history"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_server_killed_mid_submission_loses_nothing_acknowledged(
    people, ctx_of, settings, job_settings
):
    ctx = ctx_of(people.owner)
    first, second = (d.id for d in documents())
    ids = []
    for _ in range(COUNT):  # drafts with valid answers and the second document
        draft = dossiers.start_draft(ctx, PROCEDURE, UNIT)
        assert dossiers.save_answers(ctx, draft.id, GOOD_ANSWERS) == {}
        dossiers.add_attachment(ctx, draft.id, second, "chung-tu.png", [PNG])
        ids.append(draft.id)
    db.close_all()
    env = {"REDIS_URL": ""}  # the server's queue: a SQLite file in the data directory
    server = LiveServer(settings, env)
    try:
        login = Session("127.0.0.1", server.port)
        login.login(people.owner.username, PASSWORD)
        runner = Runner(first)
        flows = [
            Flow(
                did,
                big_pdf(n),
                Session("127.0.0.1", server.port, login.cookie, login.csrf),
                lose_answer=n < LOST,
            )
            for n, did in enumerate(ids)
        ]
        # First the submissions whose answers are lost, then the burst of all the others.
        early = [threading.Thread(target=runner.run, args=(f,)) for f in flows[:LOST]]
        threads = [threading.Thread(target=runner.run, args=(f,)) for f in flows[LOST:]]
        for t in early:
            t.start()
        for t in early:
            t.join(timeout=30)
        assert runner.lost == LOST and runner.acks == 0, [f.unexpected for f in flows[:LOST]]
        threads += early
        for t in threads[: COUNT - LOST]:
            t.start()
        assert runner.kill_now.wait(timeout=40), "the submissions were not acknowledged"
        with runner.lock:
            in_flight = +runner.in_flight
            acked_before_kill = runner.acks
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=10)
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        assert [f.unexpected for f in flows if f.unexpected] == []
    finally:
        server.stop()

    acked = [f for f in flows if f.submit_acked]
    files_acked = [f for f in flows if f.file_acked]
    interrupted = [f for f in flows if f.submit_sent and not f.submit_acked]
    dropped = Counter(f.dropped_at for f in flows if f.dropped_at)
    print(
        f"\n[crash] acknowledged before the kill: {acked_before_kill} submissions; "
        f"in flight at the kill: {dict(in_flight)}; acknowledged in all: {len(acked)} "
        f"submissions, {len(files_acked)} files; requests cut: {dict(dropped)}"
    )
    assert KILL_AFTER <= len(acked) < COUNT - LOST  # the kill came mid-way
    assert sum(in_flight.values()) > 0 and set(dropped) - {"submit (answer lost)"}

    server = LiveServer(settings, env)
    try:
        # What was acknowledged is there: the submission with its code, the file intact.
        rows = check_nothing_half_made(settings.uploads, ids)
        with db.connection_context():
            pdfs = {
                a.dossier_id: a for a in Attachment.select().where(Attachment.document == first)
            }
        for f in acked:
            assert rows[f.dossier_id].status == 1 and rows[f.dossier_id].code
            assert rows[f.dossier_id].submit_key == f.submit_key
        for f in files_acked:
            att = pdfs[f.dossier_id]
            sent = hashlib.sha256(f.pdf).hexdigest()
            assert att.sha256 == sent == sha256_file(settings.uploads / att.stored_name)
        committed_unacked = [f for f in interrupted if rows[f.dossier_id].status == 1]
        orphans = files_without_rows(settings.uploads)
        assert clean_orphans_after_grace_time(settings.uploads) == len(orphans)
        assert files_without_rows(settings.uploads) == set()
        result = verify_history(settings)
        assert result.returncode == 0, result.stderr
        print(
            f"[crash] submissions sent but not acknowledged: {len(interrupted)}, of which "
            f"committed: {len(committed_unacked)}; orphan files after the crash: {len(orphans)}"
        )
        # The lost answers: submitted (their submit key is on the dossier), never acknowledged.
        assert {f.dossier_id for f in flows[:LOST]} <= {f.dossier_id for f in committed_unacked}

        # The same submissions again, with their keys, on the restarted server; the others
        # go through their whole flow; the acknowledged ones once more (a resent request).
        for f in flows:
            f.session.port = server.port
            f.dropped_at = ""
        runner = Runner(first)
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(runner.run, [f for f in flows if not f.submit_acked]))
            for f in acked:
                f.submit_acked = False
            list(pool.map(runner.submit, acked))
        assert [f.unexpected or f.dropped_at for f in flows if f.unexpected or f.dropped_at] == []
        assert all(f.submit_acked for f in flows)

        codes_before = {did: r.code for did, r in rows.items() if r.status == 1}
        rows = check_nothing_half_made(settings.uploads, ids)
        assert {did: rows[did].code for did in codes_before} == codes_before
        for f in interrupted:  # the key sent before the crash submitted it, once
            assert rows[f.dossier_id].submit_key == f.submit_key
        codes = sorted(r.code for r in rows.values())
        assert sorted(int(c[-4:]) for c in codes) == list(range(1, COUNT + 1))  # no gap
        assert clean_orphans_after_grace_time(settings.uploads) == 0
        assert files_without_rows(settings.uploads) == set()
        result = verify_history(settings)
        assert result.returncode == 0, result.stderr
        assert "intact" in result.stdout
    finally:
        server.stop()
