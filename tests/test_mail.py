"""E-mails to the applicant through a real SMTP server (aiosmtpd on 127.0.0.1): one per status
change, never twice, kept pending while the server is down and sent once it is back.

The queue runs in immediate mode in the tests: `jobs.send_mail` runs in the committing thread
right after the commit. When delivery fails the task raises RetryTask; huey then does not loop
or raise but puts the retry in its (in-memory) schedule, which only a consumer would run, so
the retry here is `jobs.flush_mail`, as it is in production every five minutes."""

from __future__ import annotations

import email
import email.policy
import socket

import pytest
from aiosmtpd.controller import Controller

from portal import jobs
from portal.db import db
from portal.models import DossierEvent, OutgoingMail
from portal.queue import huey
from portal.services import dossiers, processing
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import complete_draft

OWNER_ADDR = "owner@example.vn"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd)
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for _, m in self.messages]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Smtp:
    def __init__(self, port: int) -> None:
        self.port = port
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(settings, monkeypatch):
    server = Smtp(free_port())
    server.start()
    monkeypatch.setenv("PORTAL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PORTAL_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PORTAL_SMTP_PORT", str(server.port))
    monkeypatch.setenv("PORTAL_SMTP_FROM", "dichvucong@customs.example")
    for name in ("PORTAL_SMTP_USER", "PORTAL_SMTP_STARTTLS", "PORTAL_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    jobs.settings.cache_clear()
    yield server
    server.stop()
    jobs.settings.cache_clear()


def mails() -> list[OutgoingMail]:
    with db.connection_context():
        return list(OutgoingMail.select().order_by(OutgoingMail.id))


def status_changes(dossier_id: int) -> list[DossierEvent]:
    with db.connection_context():
        return [e for e in DossierEvent.select().where(DossierEvent.dossier == dossier_id)
                .order_by(DossierEvent.id) if e.status_before != e.status_after]


def test_one_mail_per_status_change(people, ctx_of, smtp):
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    dossier_id = complete_draft(owner)
    code = dossiers.submit(owner, dossier_id, "mail").code
    processing.act(officer, dossier_id, "receive")
    processing.act(officer, dossier_id, "start_processing")
    processing.act(officer, dossier_id, "submit_for_approval")  # no status change: no mail
    processing.act(officer, dossier_id, "request_supplement", "Bổ sung hóa đơn")

    changes = status_changes(dossier_id)
    assert [e.action for e in changes] == ["submit", "receive", "start_processing",
                                           "request_supplement"]
    assert len(smtp.inbox.messages) == len(changes)
    assert all(rcpt == [OWNER_ADDR] for rcpt, _ in smtp.inbox.messages)
    assert all(s.startswith(f"{code}: ") for s in smtp.inbox.subjects())
    assert len(set(smtp.inbox.subjects())) == 4  # each names its new status
    # In the owner's language, Vietnamese (they never chose another), and only in it.
    assert "Đã tiếp nhận" in smtp.inbox.subjects()[1]
    assert "Received" not in smtp.inbox.subjects()[1]
    last = smtp.inbox.messages[-1][1]
    assert last["From"] == "dichvucong@customs.example"
    assert "Bổ sung hóa đơn" in last.get_content()  # the public note is in the body
    assert len({m["Message-ID"] for _, m in smtp.inbox.messages}) == 4
    assert [(m.key, m.status, m.attempts, m.last_error) for m in mails()] == [
        (f"event:{e.id}:{OWNER_ADDR}", "sent", 1, "") for e in changes]

    # The periodic flush and a repeated task find nothing left to send.
    jobs.flush_mail()
    assert notify_deliver_again(mails()[0].id) == "done"
    assert len(smtp.inbox.messages) == 4


def notify_deliver_again(mail_id: int) -> str:
    from portal.services import notify

    return notify.deliver(mail_id, jobs.smtp_settings(jobs.settings()))


def test_a_mail_waits_while_the_server_is_down_then_goes_once(people, ctx_of, smtp):
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    dossier_id = complete_draft(owner)
    dossiers.submit(owner, dossier_id, "down")
    assert len(smtp.inbox.messages) == 1

    smtp.stop()
    processing.act(officer, dossier_id, "receive")  # the commit is not held up by the mail
    [_, waiting] = mails()
    assert waiting.status == "pending" and waiting.attempts == 1 and waiting.last_error
    # Immediate mode: the retry was scheduled (30 s later), not run in a loop.
    assert huey.scheduled_count() == 1
    assert huey.scheduled()[0].args == (waiting.id,)

    jobs.flush_mail()  # still down: one more attempt counted
    waiting = mails()[1]
    assert (waiting.status, waiting.attempts) == ("pending", 2) and waiting.last_error

    smtp.start()  # back on the same port
    jobs.flush_mail()
    sent = mails()[1]
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 3, "")
    assert sent.sent_at is not None
    jobs.flush_mail()
    assert len(smtp.inbox.messages) == 2
    assert smtp.inbox.subjects()[1] == sent.subject


def test_a_mail_fails_for_good_after_max_attempts(people, ctx_of, smtp):
    from portal.services import notify

    owner = ctx_of(people.owner)
    smtp.stop()
    dossiers.submit(owner, complete_draft(owner), "fail")
    for _ in range(notify.MAX_ATTEMPTS - 1):
        jobs.flush_mail()
    mail = mails()[0]
    assert (mail.status, mail.attempts) == ("failed", notify.MAX_ATTEMPTS)
    smtp.start()
    jobs.flush_mail()
    assert smtp.inbox.messages == [] and mails()[0].status == "failed"


def test_no_smtp_configured_keeps_the_mail_pending(people, ctx_of, smtp, monkeypatch):
    monkeypatch.setenv("PORTAL_SMTP_HOST", "")
    jobs.settings.cache_clear()
    owner = ctx_of(people.owner)
    dossiers.submit(owner, complete_draft(owner), "none")
    jobs.flush_mail()
    [mail] = mails()
    assert (mail.status, mail.attempts) == ("pending", 0)  # waiting is not a failed attempt
    assert huey.scheduled_count() == 0  # nothing to retry before the flush
    assert smtp.inbox.messages == []


def test_a_mail_being_sent_now_is_not_requeued(people, ctx_of, smtp):
    import datetime as dt

    from portal.models import utcnow
    from portal.services import notify

    owner = ctx_of(people.owner)
    smtp.stop()
    dossiers.submit(owner, complete_draft(owner), "race")
    [mail] = mails()
    with db.connection_context():  # queued an hour ago; its retry is due now
        OutgoingMail.update(created_at=utcnow() - dt.timedelta(hours=1)).where(
            OutgoingMail.id == mail.id).execute()
    assert notify._claim(mail.id) is not None  # a worker starts sending it (slow server)
    # Meanwhile the periodic flush runs on another worker.
    assert mail.id not in notify.pending_mail_ids()
    assert mails()[0].status == "sending"
    # A worker that died while sending: after ten minutes the mail is tried again.
    with db.connection_context():
        OutgoingMail.update(claimed_at=utcnow() - dt.timedelta(minutes=11)).where(
            OutgoingMail.id == mail.id).execute()
    assert notify.pending_mail_ids() == [mail.id]
    smtp.start()
    jobs.flush_mail()
    assert mails()[0].status == "sent" and len(smtp.inbox.messages) == 1


def test_mails_wait_for_smtp_to_be_configured(people, ctx_of, smtp, monkeypatch):
    from portal.services import notify

    monkeypatch.setenv("PORTAL_SMTP_HOST", "")
    jobs.settings.cache_clear()
    owner = ctx_of(people.owner)
    dossiers.submit(owner, complete_draft(owner), "later")
    for _ in range(notify.MAX_ATTEMPTS + 1):
        jobs.flush_mail()
    assert mails()[0].status == "pending"
    monkeypatch.setenv("PORTAL_SMTP_HOST", "127.0.0.1")
    jobs.settings.cache_clear()
    jobs.flush_mail()
    assert mails()[0].status == "sent" and len(smtp.inbox.messages) == 1
