"""Background tasks: thin wrappers that call services (ids in, safe to run twice). Importing
this module registers the tasks the services ask for (portal.background); only the worker's
entry point and the app's factory import it."""

from __future__ import annotations

import datetime as dt
import functools
import logging

from huey import crontab
from huey.exceptions import RetryTask

from portal import background, clamd
from portal.config import Settings
from portal.db import reading
from portal.models import Attachment
from portal.queue import huey
from portal.services import (
    accounts,
    national_outbox,
    notify,
    oidc_client,
    payment_notices,
    payments,
    procedure_forms,
    processing,
    scanning,
    security_log,
    uploads,
)
from portal.storage import orphans

log = logging.getLogger("portal.jobs")


@functools.cache
def settings() -> Settings:
    """The worker's settings, read from the environment once (the tests clear the cache)."""
    return Settings.from_env()


def smtp_settings(s: Settings) -> notify.SmtpSettings | None:
    if not s.smtp_host:
        return None
    return notify.SmtpSettings(
        s.smtp_host, s.smtp_port, s.smtp_user, s.smtp_password, s.smtp_sender, s.smtp_starttls
    )


@huey.task(retries=notify.MAX_ATTEMPTS)
def send_mail(mail_id: int) -> str:
    """Send one queued e-mail; on failure retry after 30 s, 60 s, 120 s ... (at most an hour)."""
    try:
        return notify.deliver(mail_id, smtp_settings(settings()))
    except Exception as exc:
        attempts = notify.attempts(mail_id)
        log.warning("mail %s failed (attempt %s): %s", mail_id, attempts, exc)
        raise RetryTask(delay=min(3600, 30 * 2 ** max(0, attempts - 1))) from exc


@huey.periodic_task(crontab(minute="*/5"))
def flush_mail() -> int:
    """Every 5 minutes: queue again what is still pending (nothing is lost if a worker died)."""
    ids = notify.pending_mail_ids()
    for mail_id in ids:
        send_mail(mail_id)
    return len(ids)


@huey.periodic_task(crontab(minute="*/15"))
def notice_overdue() -> int:
    """Every quarter of an hour: ask the units of newly overdue dossiers for an apology slip."""
    return processing.notice_overdue()


@huey.periodic_task(crontab(hour="0", minute="30"))
def remind_due_tomorrow() -> int:
    """Daily at 07:30 Vietnam time: remind officers of dossiers due on the next working day."""
    return processing.remind_due_tomorrow(settings().office_hours)


@reading
def _known_files() -> set[str]:
    attached = {a.stored_name for a in Attachment.select(Attachment.stored_name)}
    return attached | procedure_forms.stored_names()


@huey.periodic_task(crontab(minute="41"))
def clean_orphan_uploads() -> int:
    """Hourly: delete uploaded files that no attachment nor procedure form names (a crash
    between the file and the database write), once they are an hour old."""
    stale = orphans(settings().uploads, _known_files())
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


@huey.task(retries=20, retry_delay=30)
def scan_attachment(attachment_id: int) -> str:
    """Scan one new file with clamd; retried every 30 s while clamd cannot answer (the file
    stays held back meanwhile)."""
    address = settings().clamd_address
    if not address:
        return "not configured"
    try:
        return scanning.scan(settings().uploads, attachment_id, address)
    except clamd.ClamdError as exc:
        log.warning("scan of attachment %s failed: %s", attachment_id, exc)
        raise


@huey.periodic_task(crontab(minute="*/5"))
def rescan_pending() -> int:
    """Every 5 minutes: queue again the files still waiting for a scan (a worker died)."""
    ids = scanning.pending_ids() if settings().clamd_address else []
    for attachment_id in ids:
        scan_attachment(attachment_id)
    return len(ids)


@huey.periodic_task(crontab(minute="*/10"))
def clean_expired_uploads() -> int:
    """Every 10 minutes: drop resumable uploads left unfinished for a day, and their chunks."""
    return uploads.clean_expired(settings().uploads)


@huey.periodic_task(crontab(minute="17"))
def purge_old_sessions() -> int:
    """Hourly: delete session rows that ended or started more than 30 days ago."""
    return accounts.purge_sessions(dt.timedelta(days=30))


@huey.periodic_task(crontab(minute="*/5"))
def reconcile_payments() -> dict[str, int]:
    """Every 5 minutes: ask the payment gateways about the payments left pending (longer than
    PORTAL_PAYMENT_CHECK_MINUTES) and settle what they answer."""
    return payment_notices.reconcile(payments.Setup.of(settings()))


@huey.periodic_task(crontab(minute="*/10"))
def purge_security_log() -> int:
    """Every 10 minutes: drop the security log's counts older than its retention (2 hours)."""
    return security_log.purge()


@huey.task()
def sync_dossier(dossier_id: int) -> int:
    """Send a dossier's due status-sync messages to the national portal, in order; when one
    waits for its next attempt, ask for this task again then. Returns how many were sent."""
    delivery = national_outbox.deliver_dossier(dossier_id, settings().national_sync)
    if delivery.retry_in is not None and not huey.immediate:
        sync_dossier.schedule(args=(dossier_id,), delay=max(1.0, delivery.retry_in))
    return delivery.sent


@huey.periodic_task(crontab(minute="*"))
def flush_national_sync() -> int:
    """Every minute: queue the dossiers whose status-sync messages are due (nothing is lost
    if an enqueue was missed or a worker died holding a message: its lease runs out)."""
    if not settings().national_sync.enabled:
        return 0
    ids = national_outbox.due_dossier_ids()
    for dossier_id in ids:
        sync_dossier(dossier_id)
    return len(ids)


@huey.periodic_task(crontab(minute="*/10"))
def purge_sign_on_requests() -> int:
    """Every 10 minutes: drop the national sign-ins that were used or have expired."""
    return oidc_client.purge_requests()


background.register(background.SEND_MAIL, send_mail)
background.register(background.NATIONAL_SYNC, sync_dossier)
background.register(background.SCAN_ATTACHMENT, scan_attachment)
