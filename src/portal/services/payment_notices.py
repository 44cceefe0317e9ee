"""What the payment gateways report, and what the portal makes of it: their notifications,
the reconciliation's queries about orders left pending, and the list for staff of what the
portal cannot match.

One function, `settle`, applies a report to its order, under the order's lock and in one
transaction, whatever brought it (a notification, a query): so a notification sent twice, or
a notification and a query crossing, confirm a payment once. Every report is kept
(`PaymentNotice`), which is also how the staff's list finds what the gateway says and the
portal does not know. A message whose signature does not check out is no report (anybody can
send one): it is counted in the bounded security log, never stored."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass

from peewee import JOIN

from portal.db import is_postgres, reading, transactional
from portal.models import Dossier, Payment, PaymentNotice, PaymentOrder, utcnow
from portal.services import notify, payments, processing, security_log
from portal.services.errors import N_
from portal.services.gateways import LABELS, GatewayUnavailable, Report
from portal.services.gateways.base import (
    ALREADY,
    BAD_SIGNATURE,
    NOT_FOUND,
    OK,
    OTHER,
    WRONG_AMOUNT,
)
from portal.services.paging import Page, paginate
from portal.services.workflow import PAYMENTS

log = logging.getLogger("portal.payments")

# Outcomes staff must look at: the gateway reports an order the portal does not know, an
# amount or currency it did not ask, a payment of a fee already paid (or no longer asked: a
# refund is due), or a confirmation its own query does not bear out.
LISTED = ("unknown", "amount", "currency", "twice", "orphan", "unverified")
OUTCOME_LABELS = {
    "unknown": N_("An order the portal does not know"),
    "amount": N_("Another amount than the one asked"),
    "currency": N_("Another currency than the one asked"),
    "twice": N_("Paid again: the fee was paid already (refund it)"),
    "orphan": N_("Paid after the fee was no longer asked for (refund it)"),
    "unverified": N_("A confirmation the payment service's own answer does not bear out"),
}
TO_CHECK = N_("Dossier %(code)s: a payment needs checking (see Payments to check).")
SOURCE_LABELS = {"notify": N_("notification"), "query": N_("answer to a query")}
BAD_SIGNATURE_LOG = "payment_signature"  # the security log's action
# A query that still finds an order unpaid this long after it was opened closes it.
EXPIRY = payments.ORDER_LIFETIME + dt.timedelta(minutes=5)
MAX_QUERIES = 200  # orders asked about per reconciliation run


def _notice(
    gateway: str, source: str, report: Report, order: PaymentOrder | None, outcome: str
) -> None:
    PaymentNotice.create(
        gateway=gateway,
        source=source,
        ref=report.ref[:64],
        order=order,
        amount=report.amount,
        currency=report.currency[:3],
        transaction_id=report.transaction_id[:64],
        paid=report.paid,
        outcome=outcome,
        raw=json.dumps(report.raw, ensure_ascii=False),
    )


def _locked_order(ref: str) -> PaymentOrder | None:
    query = PaymentOrder.select().where(PaymentOrder.ref == ref[:40])
    return (query.for_update() if is_postgres() else query).first()


def _mismatch(report: Report, order: PaymentOrder) -> str:
    """'amount' or 'currency' when the report names another than the order's, else ''."""
    if report.currency and report.currency != order.currency:
        return "currency"
    if (report.paid or report.amount is not None) and report.amount != order.amount:
        return "amount"
    return ""


@transactional
def settle(gateway: str, report: Report, source: str, now: dt.datetime | None = None) -> str:
    """Apply a signed report (`source`: notify or query) to its order; returns the answer's
    code (gateways.base: OK, NOT_FOUND, ALREADY, WRONG_AMOUNT). Idempotent: an order is paid,
    its payment confirmed and its dossier moved on once."""
    now = now or utcnow()
    order = _locked_order(report.ref)
    if order is None or order.gateway != gateway:
        _notice(gateway, source, report, None, "unknown")
        return NOT_FOUND
    if source == "query" and (not report.found or report.pending):
        if order.pending and now - order.created_at > EXPIRY:
            PaymentOrder.update(status="expired", settled_at=now, result_code=report.code).where(
                PaymentOrder.id == order.id
            ).execute()
        return OK
    mismatch = _mismatch(report, order)
    if mismatch:  # not what was asked: staff look into it; the payer may pay again meanwhile
        if order.pending:
            PaymentOrder.update(status="failed", settled_at=now, result_code=mismatch).where(
                PaymentOrder.id == order.id
            ).execute()
            _tell_unit(order)
        _notice(gateway, source, report, order, mismatch)
        return WRONG_AMOUNT
    if order.status == "paid" or (not report.paid and not order.pending):
        _notice(gateway, source, report, order, "duplicate")
        return ALREADY
    if not report.paid:
        PaymentOrder.update(status="failed", settled_at=now, result_code=report.code).where(
            PaymentOrder.id == order.id
        ).execute()
        _notice(gateway, source, report, order, "failed")
        return OK
    PaymentOrder.update(
        status="paid",
        settled_at=now,
        transaction_id=report.transaction_id[:64],
        result_code=report.code,
    ).where(PaymentOrder.id == order.id).execute()
    outcome = _confirm(gateway, order, report, now)
    if outcome != "confirmed":
        _tell_unit(order)
    _notice(gateway, source, report, order, outcome)
    return OK


def _tell_unit(order: PaymentOrder) -> None:
    """The unit's staff are told of a payment to check (it is on their list)."""
    payment = Payment.get_by_id(order.payment_id)
    notify.tell_unit(Dossier.get_by_id(payment.dossier_id), TO_CHECK)


def _confirm(gateway: str, order: PaymentOrder, report: Report, now: dt.datetime) -> str:
    """The order is paid: its payment too, with its receipt, and the dossier goes on, when the
    payment was still asked for; otherwise the money came twice, or for a fee no longer asked
    (staff see it, to refund). Returns the notice's outcome."""
    query = Payment.select().where(Payment.id == order.payment_id)
    payment = (query.for_update() if is_postgres() else query).get()
    if payment.status != "requested":
        return "twice" if payment.is_paid else "orphan"
    number = payments.mark_paid(
        payment,
        now,
        channel="online",
        gateway=gateway,
        transaction_id=report.transaction_id[:64],
    )
    note = f"{payments.vnd(order.amount)} · {LABELS[gateway]} · {report.transaction_id} · {number}"
    processing.act_as_system(payment.dossier_id, "payment_received", note, PAYMENTS)
    return "confirmed"


@transactional
def _bad_signature(gateway: str, client_addr: str) -> None:
    security_log.add(BAD_SIGNATURE_LOG, "gateway", f"{gateway}:{client_addr}", utcnow())


@transactional
def _unverified(gateway: str, report: Report) -> None:
    order = PaymentOrder.get_or_none(PaymentOrder.ref == report.ref[:40])
    _notice(gateway, "notify", report, order, "unverified")


@reading
def _opened_at(ref: str) -> dt.datetime | None:
    order = PaymentOrder.get_or_none(PaymentOrder.ref == ref[:40])
    return order.created_at if order is not None else None


def receive(
    gateway_name: str, params: dict[str, str], setup: payments.Setup, client_addr: str = ""
) -> dict[str, str]:
    """A gateway's server-to-server notification: check its signature, re-verify it with a
    query where the gateway's protocol wants that (the national platform), settle it; returns
    the acknowledgement the gateway expects. Raises KeyError for a gateway not configured."""
    gateway = setup.gateways[gateway_name]
    report = gateway.read_notification(params)
    if not report.valid:
        log.warning("%s notification with a bad signature from %s", gateway_name, client_addr)
        _bad_signature(gateway_name, client_addr)
        return gateway.acknowledge(BAD_SIGNATURE, report.ref)
    opened = _opened_at(report.ref)
    if getattr(gateway, "reverifies", False) and report.paid and opened is not None:
        try:
            check = gateway.query(report.ref, opened, setup.post)
        except GatewayUnavailable as exc:
            log.warning("%s: could not re-verify %s: %s", gateway_name, report.ref, exc)
            return gateway.acknowledge(OTHER, report.ref)
        same = (check.paid, check.amount, check.transaction_id)
        if not check.valid or same != (True, report.amount, report.transaction_id):
            _unverified(gateway_name, report)
            return gateway.acknowledge(OTHER, report.ref)
    return gateway.acknowledge(settle(gateway_name, report, "notify"), report.ref)


@reading
def _due(setup: payments.Setup, now: dt.datetime) -> list[PaymentOrder]:
    return list(
        PaymentOrder.select()
        .where(
            PaymentOrder.status == "pending",
            PaymentOrder.created_at < now - setup.check_after,
            PaymentOrder.gateway.in_(list(setup.gateways)),
        )
        .order_by(PaymentOrder.checked_at.asc(nulls="first"), PaymentOrder.created_at)
        .limit(MAX_QUERIES)
    )


@transactional
def _checked(order_id: int, now: dt.datetime) -> None:
    PaymentOrder.update(checked_at=now).where(PaymentOrder.id == order_id).execute()


def reconcile(setup: payments.Setup, now: dt.datetime | None = None) -> dict[str, int]:
    """Ask the gateways about the orders left pending longer than `setup.check_after` and
    settle what they answer (paid, failed, or unpaid past its time: expired); run by the
    worker on a schedule. Returns how many orders were asked, and how many could not be."""
    now = now or utcnow()
    counts = {"asked": 0, "unavailable": 0}
    for order in _due(setup, now):
        gateway = setup.gateways[order.gateway]
        try:
            report = gateway.query(order.ref, order.created_at, setup.post)
        except GatewayUnavailable as exc:
            log.warning("reconciliation: %s unavailable for %s: %s", order.gateway, order.ref, exc)
            counts["unavailable"] += 1
            continue
        counts["asked"] += 1
        _checked(order.id, now)
        if not report.valid:
            _bad_signature(order.gateway, "query")
            continue
        settle(order.gateway, report, "query", now)
    return counts


# --- the staff's list ----------------------------------------------------------------------


@dataclass(frozen=True)
class Unmatched:
    """What staff must look at: the gateway's reports the portal could not match, and how many
    messages with a bad signature arrived lately."""

    page: Page
    bad_signatures: int


@reading
def unmatched(page: int = 1, now: dt.datetime | None = None) -> Unmatched:
    """The reports staff must look at, newest first, a page at a time, each with its order,
    payment and dossier when it has them (`notice.order.payment.dossier`)."""
    query = (
        PaymentNotice.select(PaymentNotice, PaymentOrder, Payment, Dossier)
        .join(PaymentOrder, JOIN.LEFT_OUTER, on=(PaymentNotice.order == PaymentOrder.id))
        .join(Payment, JOIN.LEFT_OUTER, on=(PaymentOrder.payment == Payment.id))
        .join(Dossier, JOIN.LEFT_OUTER, on=(Payment.dossier == Dossier.id))
        .where(PaymentNotice.outcome.in_(LISTED))
        .order_by(PaymentNotice.received_at.desc(), PaymentNotice.id.desc())
    )
    bad = sum(
        row.count
        for row in security_log.counts(BAD_SIGNATURE_LOG)
        if row.window_start > (now or utcnow()) - security_log.RETENTION
    )
    return Unmatched(paginate(query, page, 20), bad)
