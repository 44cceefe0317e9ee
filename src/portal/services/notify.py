"""Notifications: in-app messages and e-mails, written in the transaction of the event they
announce. E-mails are queued at most once per event and recipient (a unique key) and sent
after the commit by the worker, retried until they go; see deliver() for the one moment a
worker's crash can send a mail twice."""

from __future__ import annotations

import datetime as dt
import json
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from portal import background
from portal.config import LANGUAGES
from portal.db import transactional
from portal.i18n import message_text, pick_language
from portal.models import (
    Attachment,
    Dossier,
    DossierEvent,
    Notification,
    OutgoingMail,
    Procedure,
    Slip,
    User,
    utcnow,
)
from portal.services.access import result_released
from portal.services.download_links import DownloadLinks, Target
from portal.services.errors import N_
from portal.services.status import STATUS_LABELS
from portal.services.workflow import PURPOSE_NAMES, SLIP_NAMES

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    user: str = ""
    password: str = ""
    sender: str = "no-reply@dichvucong.example"
    starttls: bool = False


def language_of(user: User | None) -> str:
    """The language a person reads their messages in: the one they chose last (kept in
    their profile by the language switch), else Vietnamese."""
    return pick_language(user.language if user is not None else None)


def in_language(language: str, message: str, **params: Any) -> str:
    """`message` (a message id) in `language`, its parameters filled in; a parameter given
    as msg(...) is itself a message id to translate."""
    return message_text(message, params, language)


def msg(message: str) -> dict[str, str]:
    """A parameter that is itself a message id, translated with the message it fills."""
    return {"msgid": message}


def notification_rows(
    users: list[User], dossier: Dossier | None, message: str, **params: Any
) -> list[dict[str, Any]]:
    """The notifications of `message` to `users`: each keeps the message id and parameters
    (read in whatever language its reader has then) and its text in the user's language."""
    kept = json.dumps(params, ensure_ascii=False)
    return [
        {
            "user": user.id,
            "dossier": dossier.id if dossier is not None else None,
            "text": in_language(language_of(user), message, **params),
            "message": message,
            "params": kept,
        }
        for user in users
    ]


def tell(user: User, dossier: Dossier | None, message: str, **params: Any) -> None:
    """One notification to `user` (see notification_rows)."""
    Notification.insert_many(notification_rows([user], dossier, message, **params)).execute()


def _owner(dossier: Dossier) -> User:
    return User.get_by_id(dossier.owner_id)


def status_changed(
    dossier: Dossier,
    event: DossierEvent,
    links: DownloadLinks | None = None,
    slip: Slip | None = None,
) -> None:
    """Tell the applicant about a status change, in their language: a notification and an
    e-mail (queued), which links to what the change made available (signed by `links`; no
    links when None)."""
    owner = _owner(dossier)
    status = msg(STATUS_LABELS.get(dossier.status, ""))
    if event.note and event.public:
        tell(owner, dossier, STATUS_NOTED, code=dossier.code, status=status, note=event.note)
    else:
        tell(owner, dossier, STATUS_CHANGED, code=dossier.code, status=status)
    if owner.email:
        language = language_of(owner)
        subject = in_language(language, STATUS_CHANGED, code=dossier.code, status=status)
        lines = link_lines(dossier, event, links, slip, language)
        body = _mail_body(dossier, status, event, language, lines)
        queue_mail(event, owner.email, subject, body)


STATUS_CHANGED = N_("%(code)s: %(status)s")
STATUS_NOTED = N_("%(code)s: %(status)s — %(note)s")
AUTOMATIC = N_("This is an automatic message of the customs online public-service portal.")


def download_targets(
    dossier: Dossier, event: DossierEvent, slip: Slip | None = None
) -> list[tuple[str, Target]]:
    """What the applicant's e-mail about `event` points at, each with its label: the receipt
    of a submission, the slip the event issued, the result document once it is released."""
    owner = dossier.owner_id
    targets = []
    if event.action in ("submit", "submitted_via_api"):
        targets.append((N_("Receipt"), Target(owner, dossier.id, "receipt", dossier.id)))
    if slip is not None:
        label = SLIP_NAMES.get(slip.kind, N_("Receipt"))
        targets.append((label, Target(owner, dossier.id, "slip", slip.id)))
    if result_released(dossier, Procedure.get_by_id(dossier.procedure_id)):
        results = Attachment.select(Attachment.id).where(
            Attachment.dossier == dossier.id, Attachment.purpose == "result"
        )
        targets += [
            (PURPOSE_NAMES["result"], Target(owner, dossier.id, "file", a.id))
            for a in results.order_by(Attachment.id)
        ]
    return targets


def link_lines(
    dossier: Dossier,
    event: DossierEvent,
    links: DownloadLinks | None,
    slip: Slip | None = None,
    language: str = LANGUAGES[0],
) -> list[str]:
    """An e-mail's lines in `language` with the signed links to `download_targets` (none
    without `links`)."""
    if links is None:
        return []
    targets = download_targets(dossier, event, slip)
    if not targets:
        return []
    lines = [f"{in_language(language, label)}: {links.url(target)}" for label, target in targets]
    note = N_(
        "The links work for %(days)s days, after you log in with the account they were sent to."
    )
    return [*lines, in_language(language, note, days=links.days)]


def tell_unit(dossier: Dossier, message: str) -> None:
    """Notify the officer the dossier is assigned to, or every officer and leader of its unit,
    each in their language; only people who are active staff of the dossier's unit now are
    told (an assignee who has since moved to another unit, been deactivated or changed role
    is not: the unit is)."""
    staff = User.select().where(User.unit_staff(dossier.unit_id))
    assignee = None
    if dossier.assigned_to_id:
        assignee = staff.where(User.id == dossier.assigned_to_id).first()
    users = [assignee] if assignee is not None else list(staff)
    rows = notification_rows(users, dossier, message, code=dossier.code)
    if rows:
        Notification.insert_many(rows).execute()


def _mail_body(
    dossier: Dossier,
    status: dict[str, str],
    event: DossierEvent,
    language: str,
    links: list[str] | None = None,
) -> str:
    proc = Procedure.get_by_id(dossier.procedure_id)

    def line(label: str, value: str) -> str:
        return f"{in_language(language, label)}: {value}"

    lines = [
        line(N_("Dossier"), dossier.code),
        line(N_("Procedure"), f"{proc.code} {proc.name}"),
        line(N_("Status"), in_language(language, status["msgid"])),
    ]
    if event.note and event.public:
        lines.append(line(N_("Note"), event.note))
    if links:
        lines += ["", *links]
    lines += ["", in_language(language, AUTOMATIC)]
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
        background.after_commit(background.SEND_MAIL, mail.id)


def deliver(mail_id: int, smtp: SmtpSettings | None) -> str:
    """Send one queued e-mail if it is still pending; returns its status afterwards. Raises
    on a delivery failure so the worker retries (the attempt is counted).

    The mail is recorded as sent as soon as the server has taken it (its 250 to DATA), before
    the goodbye, so that neither a failed QUIT nor a crash from then on sends it twice. A worker
    that dies after the server has the message and before that record is written leaves the
    mail `sending`; ten minutes later pending_mail_ids() sends it again (at least once: the
    copy carries the same Message-ID, so the receiving side can recognise it)."""
    if smtp is None:  # kept pending, no attempt counted, until the server is configured
        return "pending"
    mail = _claim(mail_id)
    if mail is None:
        return "done"
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = mail.to_addr
    message["Subject"] = mail.subject
    message["Message-ID"] = message_id(mail, smtp.sender)
    message.set_content(mail.body)
    sent = False
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=20) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.user:
                client.login(smtp.user, smtp.password)
            client.send_message(message)
            _mark_sent(mail_id)
            sent = True
    except (OSError, smtplib.SMTPException) as exc:
        if sent:  # only the goodbye failed: the server has the mail
            return "sent"
        _release(mail_id, str(exc)[:500])
        raise
    return "sent"


def message_id(mail: OutgoingMail, sender: str) -> str:
    """The Message-ID of a mail: the same on every attempt, unique to the mail."""
    domain = sender.rpartition("@")[2].strip(" <>") or "portal"
    return f"<{mail.created_at:%Y%m%d%H%M%S%f}.{mail.id}.portal@{domain}>"


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
