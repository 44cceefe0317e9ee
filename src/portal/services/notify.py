"""Notifications: in-app messages and e-mails, written in the transaction of the event they
announce. E-mails are sent after the commit by the worker, at most once per event and
recipient (a unique key), retried until they go."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

from portal.db import db, transactional
from portal.models import Dossier, DossierEvent, Notification, OutgoingMail, Procedure, User, utcnow
from portal.services.workflow import STATUS_LABELS

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    user: str = ""
    password: str = ""
    sender: str = "no-reply@dichvucong.example"
    starttls: bool = False


def bilingual(message: str) -> str:
    """A message in Vietnamese and English, for e-mails and notifications kept as text."""
    from portal.i18n import translations

    vi = translations("vi").gettext(message)
    return vi if vi == message else f"{vi} / {message}"


def _owner(dossier: Dossier) -> User:
    return User.get_by_id(dossier.owner_id)


def status_changed(dossier: Dossier, event: DossierEvent) -> None:
    """Tell the applicant about a status change: a notification and an e-mail (queued)."""
    owner = _owner(dossier)
    status = bilingual(STATUS_LABELS.get(dossier.status, ""))
    text = f"{dossier.code}: {status}" + (f" — {event.note}" if event.note and event.public else "")
    Notification.create(user=owner, dossier=dossier, text=text)
    if owner.email:
        queue_mail(
            event, owner.email, f"{dossier.code}: {status}", _mail_body(dossier, status, event)
        )


def tell_unit(dossier: Dossier, message: str) -> None:
    """Notify the officer the dossier is assigned to, or every officer and leader of its unit."""
    if dossier.assigned_to_id:
        users = [User.get_by_id(dossier.assigned_to_id)]
    else:
        users = list(
            User.select().where(
                User.unit == dossier.unit_id,
                User.active == True,  # noqa: E712
                User.role.in_(("officer", "leader")),
            )
        )
    for user in users:
        Notification.create(
            user=user, dossier=dossier, text=bilingual(message) % {"code": dossier.code}
        )


def _mail_body(dossier: Dossier, status: str, event: DossierEvent) -> str:
    proc = Procedure.get_by_id(dossier.procedure_id)
    lines = [
        f"Hồ sơ / Dossier: {dossier.code}",
        f"Thủ tục / Procedure: {proc.code} {proc.name}",
        f"Trạng thái / Status: {status}",
    ]
    if event.note and event.public:
        lines.append(f"Ghi chú / Note: {event.note}")
    lines.append("")
    lines.append(
        "Đây là thư tự động của Cổng dịch vụ công trực tuyến Hải quan. / "
        "This is an automatic message of the customs online public-service portal."
    )
    return "\n".join(lines)


def queue_mail(
    event: DossierEvent | None, to_addr: str, subject: str, body: str, key: str | None = None
) -> None:
    """Queue one e-mail (idempotent by key) and ask the worker to send it after the commit."""
    key = key or f"event:{event.id if event else 0}:{to_addr}"
    created = (
        OutgoingMail.insert(
            event=event, key=key[:96], to_addr=to_addr, subject=subject[:255], body=body
        )
        .on_conflict_ignore()
        .execute()
    )
    if created:
        mail = OutgoingMail.get(OutgoingMail.key == key[:96])
        db.after_commit(lambda: _enqueue(mail.id))


def _enqueue(mail_id: int) -> None:
    from portal import jobs  # the queue is optional for services: imported when used

    jobs.send_mail(mail_id)


def deliver(mail_id: int, smtp: SmtpSettings | None) -> str:
    """Send one queued e-mail if it is still pending; returns its status afterwards. Raises
    on a delivery failure so the worker retries (the attempt is counted)."""
    if smtp is None:  # kept pending, no attempt counted, until the server is configured
        return "pending"
    mail = _claim(mail_id)
    if mail is None:
        return "done"
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = mail.to_addr
    message["Subject"] = mail.subject
    message["Message-ID"] = make_msgid(idstring=mail.key.replace(":", "."), domain="portal")
    message.set_content(mail.body)
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=20) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.user:
                client.login(smtp.user, smtp.password)
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        _release(mail_id, str(exc)[:500])
        raise
    _mark_sent(mail_id)
    return "sent"


@transactional
def _claim(mail_id: int) -> OutgoingMail | None:
    mail = OutgoingMail.get_or_none(OutgoingMail.id == mail_id)
    if mail is None or mail.status != "pending":
        return None
    updated = (
        OutgoingMail.update(
            status="sending", attempts=OutgoingMail.attempts + 1, claimed_at=utcnow()
        )
        .where(OutgoingMail.id == mail_id, OutgoingMail.status == "pending")
        .execute()
    )
    return mail if updated else None


@transactional
def _release(mail_id: int, error: str) -> None:
    mail = OutgoingMail.get_by_id(mail_id)
    status = "failed" if mail.attempts >= MAX_ATTEMPTS else "pending"
    OutgoingMail.update(status=status, last_error=error).where(OutgoingMail.id == mail_id).execute()


@transactional
def _mark_sent(mail_id: int) -> None:
    OutgoingMail.update(status="sent", sent_at=utcnow(), last_error="").where(
        OutgoingMail.id == mail_id
    ).execute()


@transactional
def pending_mail_ids(stale_minutes: int = 10) -> list[int]:
    """Mails to (re)try: pending ones, and ones left 'sending' by a worker that died."""
    import datetime as dt

    stale = utcnow() - dt.timedelta(minutes=stale_minutes)
    OutgoingMail.update(status="pending").where(
        OutgoingMail.status == "sending", OutgoingMail.claimed_at < stale
    ).execute()
    return [
        m.id
        for m in OutgoingMail.select(OutgoingMail.id)
        .where(OutgoingMail.status == "pending")
        .order_by(OutgoingMail.id)
        .limit(500)
    ]


@transactional
def unread(user_id: int, limit: int = 20) -> list[Notification]:
    return list(
        Notification.select()
        .where(Notification.user == user_id)
        .order_by(Notification.id.desc())
        .limit(limit)
    )


@transactional
def mark_read(user_id: int) -> int:
    return (
        Notification.update(read_at=utcnow())
        .where(Notification.user == user_id, Notification.read_at.is_null())
        .execute()
    )


@transactional
def attempts(mail_id: int) -> int:
    mail = OutgoingMail.get_or_none(OutgoingMail.id == mail_id)
    return mail.attempts if mail else 0
