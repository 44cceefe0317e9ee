"""The page a gateway sends the payer back to: what the portal knows of the payment. The
return's own parameters only say what the gateway told the browser, which anybody can type:
they choose the words ("the payment service says you paid, the portal waits for its
confirmation"), never the state; only the gateway's notification or the reconciliation's
query changes that (services/payment_notices.py)."""

from __future__ import annotations

from dataclasses import dataclass

from portal.db import reading
from portal.models import Dossier, Payment, PaymentOrder, User
from portal.services.access import require_view
from portal.services.errors import NotFound
from portal.services.payments import Setup

# What the page says, from the portal's own records first.
PAID, FAILED, EXPIRED = "paid", "failed", "expired"
WAITING = "waiting"  # the return says paid; the confirmation has not come yet
NOT_PAID = "not_paid"  # the return says not paid; the order is still open here
UNVERIFIED = "unverified"  # the return's signature does not check out
MISMATCH = "mismatch"  # the gateway took another amount (or currency) than the one asked
SETTLED = (PAID, FAILED, EXPIRED, MISMATCH)


@dataclass(frozen=True)
class Outcome:
    state: str
    order: PaymentOrder
    payment: Payment
    dossier: Dossier
    code: str = ""  # the gateway's result code, as the return or the order has it

    @property
    def settled(self) -> bool:
        """Nothing more will change: the page stops asking."""
        return self.state in SETTLED


@reading
def outcome(user: User | None, gateway: str, params: dict[str, str], setup: Setup) -> Outcome:
    """The outcome of the order the return's parameters name, if `user` may see its dossier;
    raises NotFound (an unknown order, or another's)."""
    report = setup.gateways[gateway].read_return(params)
    order = (
        PaymentOrder.get_or_none(
            PaymentOrder.ref == report.ref[:40], PaymentOrder.gateway == gateway
        )
        if report.ref
        else None
    )
    if order is None:
        raise NotFound("order")
    payment = Payment.get_by_id(order.payment_id)
    dossier = require_view(user, Dossier.get_or_none(Dossier.id == payment.dossier_id))
    if payment.is_paid or order.status == PAID:
        return Outcome(PAID, order, payment, dossier)
    if order.status == FAILED and order.result_code in ("amount", "currency"):
        return Outcome(MISMATCH, order, payment, dossier)
    if order.status in (FAILED, EXPIRED):
        return Outcome(order.status, order, payment, dossier, order.result_code)
    if not report.valid:
        return Outcome(UNVERIFIED, order, payment, dossier)
    if report.paid and report.amount != order.amount:
        return Outcome(MISMATCH, order, payment, dossier)
    state = WAITING if report.paid else NOT_PAID
    return Outcome(state, order, payment, dossier, report.code)
