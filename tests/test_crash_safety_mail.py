"""Crash safety of the e-mail worker: a real huey consumer (`run.py worker`) sending a burst of
fifty notification mails to a real SMTP server (aiosmtpd on 127.0.0.1) is killed with SIGKILL
twice, and every mail still reaches the server; no mail is sent twice except in the one window
that no sender can close.

How the mails are queued: fifty dossiers are submitted through the services in the test process;
each submission writes its OutgoingMail row and, after the commit, enqueues `jobs.send_mail`
through the app's own code (notify.queue_mail -> jobs.send_mail) into the SQLite queue file of
the test's data directory (queue.make_huey), which the worker reads. After each restart the test
enqueues `jobs.flush_mail`, the periodic task the worker runs every five minutes, the same way.

The two kills are placed by the SMTP server, so they land at the same moments on every run:

* at the QUIT of the QUIT_KILL-th mail: the server has answered 250 to its DATA. The worker
  records a mail as sent as soon as the server has taken it, before it says goodbye, so this
  mail is `sent` and is never sent again (before, a crash or a failed QUIT here sent it twice).
* inside the DATA of the DATA_KILL-th mail: the server has the message but the worker dies
  before the 250 reaches it. This is the inherent at-least-once window of SMTP (RFC 1047): the
  row stays `sending`, and the worker cannot know whether the server took the mail. After ten
  minutes flush_mail gives it back to the queue and it is sent again (the test moves the claim
  ten minutes back instead of waiting): the server gets it twice, with the same Message-ID, so
  the receiving side can recognise the copy. Losing the mail instead would be worse.

Other worker threads may be in that window too at the moment of a kill: a mail that was
`sending` when its worker died may arrive once or twice; every other mail arrives exactly once.
The test counts the copies and fails on any other duplicate."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from portal import jobs
from portal.db import db
from portal.models import OutgoingMail, utcnow
from portal.queue import huey, make_huey
from portal.services import dossiers
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import complete_draft
from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[1]
COUNT = 50
QUIT_KILL = 10
DATA_KILL = 30
OWNER_ADDR = "owner@example.vn"


class Recorder:
    """An SMTP handler that keeps what it receives and kills the worker at the chosen moments."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[tuple[tuple[str, ...], str, str]] = []  # rcpts, subject, Message-ID
        self.worker: subprocess.Popen | None = None
        self.killed: dict[str, str] = {}  # moment -> subject of the mail it caught
        self.quit_reply = "221 Bye"

    def _kill(self, moment: str, subject: str) -> None:
        assert self.worker is not None
        os.kill(self.worker.pid, signal.SIGKILL)
        self.killed[moment] = subject

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd)
        message = email.message_from_bytes(
            envelope.original_content or envelope.content, policy=email.policy.default
        )
        subject = str(message["Subject"])
        with self.lock:
            self.messages.append((tuple(envelope.rcpt_tos), subject, str(message["Message-ID"])))
            n = len(self.messages)
        session.portal_mail = (n, subject)
        if n == DATA_KILL:
            self._kill("data", subject)  # the message is here; its 250 will reach nobody
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd)
        n, subject = getattr(session, "portal_mail", (0, ""))
        if n == QUIT_KILL:
            self._kill("quit", subject)
        return self.quit_reply

    def copies(self) -> Counter[tuple[tuple[str, ...], str]]:
        with self.lock:
            return Counter((rcpts, subject) for rcpts, subject, _ in self.messages)


@pytest.fixture
def smtp_recorder() -> Iterator[tuple[Recorder, int]]:
    recorder, port = Recorder(), free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield recorder, port
    controller.stop()


@pytest.fixture
def worker_queue(settings, monkeypatch):
    """The queue as the worker sees it: out of immediate mode, on the SQLite file that the app's
    own code names for the test's data directory."""
    huey.immediate = False
    storage = make_huey(settings).storage
    monkeypatch.setattr(huey, "storage", storage)
    storage.flush_all()
    yield storage
    storage.close()


@pytest.fixture
def start_worker(settings, smtp_recorder, tmp_path) -> Iterator[Callable[[], subprocess.Popen]]:
    recorder, port = smtp_recorder
    env = {
        **os.environ,
        "PORTAL_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url,
        "PORTAL_SECRET_KEY": settings.secret_key,
        "PORTAL_SMTP_HOST": "127.0.0.1",
        "PORTAL_SMTP_PORT": str(port),
        "PORTAL_SMTP_FROM": "dichvucong@customs.example",
        "REDIS_URL": "",
    }
    for name in (
        "PORTAL_SMTP_USER",
        "PORTAL_SMTP_PASSWORD",
        "PORTAL_SMTP_STARTTLS",
        "PORTAL_UPLOAD_DIR",
    ):
        env.pop(name, None)
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        log = (tmp_path / f"worker-{len(started) + 1}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "run.py", "worker", "--workers", "4"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        started.append(proc)
        recorder.worker = proc
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # huey's graceful stop
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def statuses() -> dict[int, str]:
    with db.connection_context():
        return {m.id: m.status for m in OutgoingMail.select()}


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def subject_of(mail_id: int) -> str:
    with db.connection_context():
        return OutgoingMail.get_by_id(mail_id).subject


def test_worker_killed_during_a_mail_burst_sends_every_mail(
    people, ctx_of, settings, worker_queue, smtp_recorder, start_worker
):
    recorder, _ = smtp_recorder
    owner = ctx_of(people.owner)
    for n in range(COUNT):
        dossiers.submit(owner, complete_draft(owner), f"burst-{n}")
    assert worker_queue.queue_size() == COUNT  # queued by the app, nothing sent yet
    with db.connection_context():
        mails = {m.id: m for m in OutgoingMail.select()}
    assert len(mails) == COUNT and recorder.messages == []
    by_subject = {m.subject: m.id for m in mails.values()}

    # 1: killed when the QUIT_KILL-th mail says goodbye (after the server's 250).
    start_worker().wait(timeout=60)
    quit_mail = by_subject[recorder.killed["quit"]]
    first_kill = statuses()
    sending = {i for i, s in first_kill.items() if s == "sending"}
    assert first_kill[quit_mail] == "sent"  # recorded before the goodbye: never sent again
    delivered_1 = len(recorder.messages)

    # 2: a new worker goes on with the queue and the flush; killed inside the DATA_KILL-th DATA.
    worker = start_worker()
    jobs.flush_mail()  # enqueued into the worker's queue, as the scheduler does
    worker.wait(timeout=60)
    data_mail = by_subject[recorder.killed["data"]]
    second_kill = statuses()
    sending |= {i for i, s in second_kill.items() if s == "sending"}
    assert second_kill[data_mail] == "sending"  # the worker never learnt that it went
    delivered_2 = len(recorder.messages)

    # 3: a third worker sends what is pending; what dead workers claimed waits ten minutes.
    start_worker()
    jobs.flush_mail()
    wait_for(
        lambda: (
            set(statuses().values()) <= {"sent", "sending"}
            and {i for i, s in statuses().items() if s == "sending"} <= sending
        ),
        "the pending mails to be sent",
    )
    stuck = {i for i, s in statuses().items() if s == "sending"}
    assert data_mail in stuck
    with db.connection_context():  # ten minutes later
        OutgoingMail.update(claimed_at=utcnow() - dt.timedelta(minutes=11)).where(
            OutgoingMail.id.in_(stuck)
        ).execute()
    jobs.flush_mail()
    wait_for(lambda: set(statuses().values()) == {"sent"}, "every mail to be sent")

    copies = recorder.copies()
    print(
        f"\n[crash-mail] delivered before the 1st kill: {delivered_1}, before the 2nd: "
        f"{delivered_2}; 'sending' at the kills: {len(sending)}; stuck until the ten "
        f"minutes: {len(stuck)}; messages received: {sum(copies.values())} for {COUNT} "
        f"mails; duplicates: {sorted(subject for (_, subject), n in copies.items() if n > 1)}"
    )
    assert set(copies) == {((OWNER_ADDR,), m.subject) for m in mails.values()}
    for mail_id, mail in mails.items():
        n = copies[((OWNER_ADDR,), mail.subject)]
        if mail_id == data_mail:
            assert n == 2, "the mail cut inside DATA is sent again (at least once)"
        elif mail_id in sending:
            assert n in (1, 2), mail.subject  # in the window when its worker died
        else:
            assert n == 1, f"{mail.subject} was sent {n} times"
    ids: dict[str, set[str]] = {}
    for _, subject, message_id in recorder.messages:
        ids.setdefault(subject, set()).add(message_id)
    assert all(len(v) == 1 for v in ids.values())  # a copy carries the same Message-ID
    assert len({next(iter(v)) for v in ids.values()}) == COUNT


def test_a_failed_goodbye_does_not_send_a_mail_twice(
    people, ctx_of, smtp_recorder, job_settings, monkeypatch
):
    """The server took the mail (250) but answers the QUIT with an error: the mail is sent, and
    neither the retry nor the flush sends it again. (Immediate queue: sent at the commit.)"""
    recorder, port = smtp_recorder
    recorder.quit_reply = "421 Service closing transmission channel"
    monkeypatch.setenv("PORTAL_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PORTAL_SMTP_PORT", str(port))
    jobs.settings.cache_clear()
    owner = ctx_of(people.owner)
    dossiers.submit(owner, complete_draft(owner), "goodbye")
    jobs.flush_mail()
    with db.connection_context():
        [mail] = OutgoingMail.select()
    assert (mail.status, mail.attempts, mail.last_error) == ("sent", 1, "")
    assert [subject for _, subject, _ in recorder.messages] == [mail.subject]
    assert huey.scheduled_count() == 0  # no retry waiting either
