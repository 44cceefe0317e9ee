"""Fees a dossier's unit asks the applicant to pay, paid online through a gateway or at the
counter, each payment with its electronic receipt.

An officer asks for the procedure's fees as they come to for the dossier's answers (or other
amounts, saying why): the dossier waits for payment (status 6). The applicant pays online:
each attempt is an order at a gateway, and only the gateway's own confirmation, its signed
notification (or the reconciliation's query, `payment_notices`), marks the payment paid and
moves the dossier on, as the system's event in the history. The browser's return from the
gateway shows the outcome and changes nothing. A payment made in cash at the counter is
recorded by an officer (`confirm_payment`), with its receipt all the same."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from peewee import Case, fn

from portal.config import Settings
from portal.db import is_postgres, reading, transactional
from portal.models import Dossier, Payment, PaymentOrder, Unit, User, utcnow
from portal.services import catalogue, dossiers, fees, processing, slips
from portal.services.access import OWNER, Ctx, actor_kind, require_view
from portal.services.dossiers import DossierView
from portal.services.errors import N_, DomainError, Message, NotFound, ValidationError
from portal.services.fees import Item
from portal.services.gateways import (
    LABELS,
    TITLES,
    Checkout,
    Gateway,
    GatewayConfig,
    GatewayUnavailable,
    make,
)
from portal.services.gateways.base import Post
from portal.services.gateways.http import post_json
from portal.services.status import PAYMENT
from portal.services.workflow import PAYMENTS, Facts, check

log = logging.getLogger("portal.payments")

RECEIPT_KIND, RECEIPT_CODE = "payment", "BLTP"  # receipts: {n}/{year}/BLTP-{unit}
ORDER_LIFETIME = dt.timedelta(minutes=15)  # how long a gateway's payment page stays open
NOT_NOW = N_("This payment is no longer asked for.")
NOT_YOURS = N_("You may not do this with this dossier.")
UNAVAILABLE = N_("The payment service does not answer. Please try again in a few minutes.")
MAX_ROWS = fees.MAX_ITEMS
PAYMENT_LABELS = {
    "requested": N_("To be paid"),
    "paid": N_("Paid"),
    "cancelled": N_("No longer asked for"),
}
ORDER_LABELS = {
    "pending": N_("Open at the payment service"),
    "paid": N_("Paid"),
    "failed": N_("Not paid"),
    "expired": N_("Not completed in time"),
}
CHANNEL_LABELS = {"online": N_("Paid online"), "counter": N_("Paid at the counter")}


@dataclass(frozen=True)
class Setup:
    """The deployment's gateways, by name in the order offered, and how they are reached."""

    gateways: dict[str, Gateway] = field(default_factory=dict)
    check_after: dt.timedelta = dt.timedelta(minutes=15)
    post: Post = post_json

    @classmethod
    def of(cls, settings: Settings) -> Setup:
        configs = [
            GatewayConfig(
                name, url, code, secret, settings.vnpay_api_url if name == "vnpay" else ""
            )
            for name, url, code, secret in settings.payment_gateways
        ]
        return cls(
            gateways={c.name: make(c) for c in configs},
            check_after=dt.timedelta(minutes=settings.payment_check_minutes),
        )

    @property
    def choices(self) -> list[tuple[str, str]]:
        """(name, title: a message id) of each gateway offered."""
        return [(name, TITLES[name]) for name in self.gateways]


# --- the officer's request -----------------------------------------------------------------


def proposed(view: DossierView) -> list[Item]:
    """What the procedure's fees come to for the dossier's answers (the request's prefill)."""
    return fees.compute(catalogue.procedure_fees(view.procedure.id), view.data)


def _locked(dossier_id: int) -> Dossier | None:
    query = Dossier.select().where(Dossier.id == dossier_id)
    return (query.for_update() if is_postgres() else query).first()


def _facts(dossier: Dossier) -> Facts:
    return Facts(dossier.status, dossier.approval)


def _summary(items: list[Item]) -> str:
    """The items as the history's note says them: `label: 20.000 đ; … (total 40.000 đ)`."""
    amounts = "; ".join(f"{i.label}: {vnd(i.amount)}" for i in items)
    return f"{amounts} (tổng cộng {vnd(fees.total(items))})"


def vnd(amount: int) -> str:
    """An amount as Vietnamese write it in a note: 1.250.000 đ."""
    return f"{amount:,} đ".replace(",", ".")


@transactional
def request_payment(ctx: Ctx, dossier_id: int, rows: list[tuple[str, str]], note: str) -> Payment:
    """Ask the applicant to pay the items of `rows` (label, amount); a request that differs
    from the procedure's fees needs the reason in `note`. The dossier waits for payment; the
    history's note lists the items. Raises NotFound, DomainError or ValidationError."""
    dossier = require_view(ctx.user, _locked(dossier_id))
    check("request_payment", actor_kind(ctx.user, dossier), _facts(dossier), PAYMENTS)
    view = dossiers.load(dossier.id, ctx.user)
    wanted = proposed(view)
    items = fees.parse_items(rows, wanted)
    reason = note.strip()
    if fees.changed(items, wanted) and not reason:
        raise ValidationError(
            {"note": Message(N_("Say why the amounts differ from the procedure's fees."))}
        )
    text = _summary(items) + (f"\n{reason}" if reason else "")
    processing.act(ctx, dossier.id, "request_payment", text, path=PAYMENTS)
    return Payment.create(
        dossier=dossier.id,
        items=fees.items_json(items),
        total=fees.total(items),
        reason=reason if fees.changed(items, wanted) else "",
        requested_by=ctx.user.id,
    )


def _requested(dossier_id: int) -> Payment | None:
    query = Payment.select().where(Payment.dossier == dossier_id, Payment.status == "requested")
    return (query.for_update() if is_postgres() else query).order_by(Payment.id.desc()).first()


def mark_paid(payment: Payment, when: dt.datetime, **how: Any) -> str:
    """Record `payment` as paid and give its receipt its number (inside the caller's
    transaction); returns the number. `how`: channel, gateway, transaction_id, recorded_by."""
    dossier = Dossier.get_by_id(payment.dossier_id)
    unit = Unit.get_by_id(dossier.unit_id)
    number = slips.next_number(unit, RECEIPT_KIND, when, RECEIPT_CODE)
    Payment.update(status="paid", paid_at=when, number=number, unit=unit, **how).where(
        Payment.id == payment.id
    ).execute()
    return number


@transactional
def record_counter_payment(ctx: Ctx, dossier_id: int, note: str) -> Payment | None:
    """The applicant paid at the counter: the officer records it, the payment gets its
    receipt and the dossier goes on. A dossier asked to pay before payments had items (no
    payment row) just goes on. Raises NotFound, DomainError or ValidationError."""
    dossier = require_view(ctx.user, _locked(dossier_id))
    check("confirm_payment", actor_kind(ctx.user, dossier), _facts(dossier), PAYMENTS)
    payment = _requested(dossier.id)
    text = note.strip()
    if payment is not None:
        number = mark_paid(
            payment, utcnow(), channel="counter", recorded_by=ctx.user.full_name[:255]
        )
        text = f"{vnd(payment.total)} · {number}" + (f"\n{text}" if text else "")
    processing.act(ctx, dossier.id, "confirm_payment", text, path=PAYMENTS)
    return Payment.get_by_id(payment.id) if payment is not None else None


# --- paying online -------------------------------------------------------------------------


def order_ref(code: str) -> str:
    """A new order's reference at the gateway: the dossier's code without dashes and six
    random hex digits (letters and digits only, as VNPay's vnp_TxnRef wants)."""
    return f"{code.replace('-', '')}{secrets.token_hex(3).upper()}"


@transactional
def _new_order(ctx: Ctx, dossier_id: int, payment_id: int, gateway: str) -> PaymentOrder:
    dossier = require_view(ctx.user, _locked(dossier_id))
    if actor_kind(ctx.user, dossier) != OWNER:
        raise DomainError(NOT_YOURS, kind="forbidden")
    payment = Payment.get_or_none(Payment.id == payment_id, Payment.dossier == dossier.id)
    if payment is None:
        raise NotFound("payment")
    if not payment.payable or dossier.status != PAYMENT:
        raise DomainError(NOT_NOW, kind="conflict")
    return PaymentOrder.create(
        payment=payment,
        ref=order_ref(dossier.code or str(dossier.id)),
        gateway=gateway,
        amount=payment.total,
        currency=payment.currency,
    )


@transactional
def _order_failed(order_id: int, code: str) -> None:
    PaymentOrder.update(status="failed", result_code=code, settled_at=utcnow()).where(
        PaymentOrder.id == order_id, PaymentOrder.status == "pending"
    ).execute()


def start(
    ctx: Ctx,
    dossier_id: int,
    payment_id: int,
    gateway_name: str,
    setup: Setup,
    *,
    return_url: str,
    notify_url: str,
) -> str:
    """Open an order for the payment at the gateway; returns the address to send the payer
    to. Raises ValidationError (no such gateway here), NotFound, DomainError (not the owner,
    not payable now, or the gateway does not answer: kind "unavailable")."""
    gateway = setup.gateways.get(gateway_name)
    if gateway is None:
        raise ValidationError({"gateway": Message(N_("Choose how to pay."))})
    order = _new_order(ctx, dossier_id, payment_id, gateway_name)
    checkout = Checkout(
        ref=order.ref,
        amount=order.amount,
        currency=order.currency,
        info=f"Thanh toan phi ho so {order.ref}",
        return_url=return_url,
        notify_url=notify_url,
        client_ip=ctx.client_addr,
        created_at=order.created_at,
        expires_at=order.created_at + ORDER_LIFETIME,
    )
    try:
        return gateway.start(checkout, setup.post)
    except GatewayUnavailable as exc:
        log.warning("payment order %s not opened at %s: %s", order.ref, gateway_name, exc)
        _order_failed(order.id, "unavailable")
        raise DomainError(UNAVAILABLE, kind="unavailable") from None


# --- what pages show -----------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentView:
    """A payment with its items and its orders (newest first)."""

    payment: Payment
    items: list[Item]
    orders: list[PaymentOrder]

    @property
    def waiting_for_gateway(self) -> bool:
        """An order is open at a gateway: the payer may be paying right now."""
        return any(o.pending for o in self.orders)


def _views(dossier_id: int) -> list[PaymentView]:
    payments = list(
        Payment.select().where(Payment.dossier == dossier_id).order_by(Payment.id.desc())
    )
    orders: dict[int, list[PaymentOrder]] = {}
    for order in (
        PaymentOrder.select()
        .where(PaymentOrder.payment.in_([p.id for p in payments]))
        .order_by(PaymentOrder.id.desc())
    ):
        orders.setdefault(order.payment_id, []).append(order)
    return [PaymentView(p, fees.items_of(p.items), orders.get(p.id, [])) for p in payments]


def payments_of(dossier_id: int) -> list[PaymentView]:
    """The dossier's payments, newest first (inside a reading connection)."""
    return _views(dossier_id)


@dataclass(frozen=True)
class ReceiptView:
    """What a payment's electronic receipt shows."""

    view: DossierView
    payment: Payment
    items: list[Item]
    unit: Unit | None
    parent: Unit | None
    requested_by: User | None

    @property
    def channel_label(self) -> str:
        if self.payment.channel == "counter":
            return "Nộp trực tiếp tại bộ phận một cửa"
        return f"Thanh toán trực tuyến qua {LABELS.get(self.payment.gateway, self.payment.gateway)}"


@reading
def receipt(dossier_id: int, payment_id: int, user: User | None) -> ReceiptView:
    """The electronic receipt of a paid payment of a dossier `user` may see; raises NotFound
    (also while it is not paid)."""
    view = dossiers.load(dossier_id, user)
    payment = Payment.get_or_none(Payment.id == payment_id, Payment.dossier == dossier_id)
    if payment is None or not payment.is_paid:
        raise NotFound("receipt")
    unit = Unit.get_or_none(Unit.id == payment.unit_id) if payment.unit_id else None
    parent = Unit.get_or_none(Unit.id == unit.parent_id) if unit and unit.parent_id else None
    requested_by = (
        User.get_or_none(User.id == payment.requested_by_id) if payment.requested_by_id else None
    )
    return ReceiptView(view, payment, fees.items_of(payment.items), unit, parent, requested_by)


def paid_counts(
    start: dt.datetime, end: dt.datetime, unit_ids: list[int] | None = None
) -> tuple[int, int]:
    """Payments paid in [start, end) (by the units `unit_ids`, all when None) and, of them,
    those paid online (inside a reading connection): the statistics' online payment rate."""
    online = fn.COALESCE(fn.SUM(Case(None, [(Payment.channel == "online", 1)], 0)), 0)
    query = Payment.select(fn.COUNT(Payment.id), online).where(
        Payment.status == "paid", Payment.paid_at >= start, Payment.paid_at < end
    )
    if unit_ids is not None:
        query = query.where(Payment.unit.in_(unit_ids))
    paid, by_gateway = query.tuples().get()
    return int(paid or 0), int(by_gateway or 0)
