"""Payment gateways: one interface, two adapters (the national payment platform and a
VNPay-compatible gateway). Pure protocol code: build the signed message that starts a payment,
read and check what the gateway sends back (its server-to-server notification, the browser's
return, the answer to a query), and say how to acknowledge a notification. The adapters never
touch the database; `services.payments` decides what a report means for a dossier.

The sandbox gateway (portal.sandbox_gateway) speaks both protocols with these same functions,
from the gateway's side."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from portal.services.deadlines import to_local
from portal.services.errors import N_

GATEWAY_NAMES = ("national", "vnpay")
# Their names on official documents (the receipt, the history's notes), in Vietnamese.
LABELS = {"national": "Nền tảng thanh toán quốc gia", "vnpay": "VNPay"}
# Their names on pages, translated.
TITLES = {"national": N_("the national payment platform"), "vnpay": N_("VNPay")}

# How a notification is acknowledged (VNPay's RspCode values; the national platform's
# error_code takes the same ones here).
OK, NOT_FOUND, ALREADY, WRONG_AMOUNT, BAD_SIGNATURE, OTHER = "00", "01", "02", "04", "97", "99"
ACK_MESSAGES = {
    OK: "Confirm Success",
    NOT_FOUND: "Order not found",
    ALREADY: "Order already confirmed",
    WRONG_AMOUNT: "Invalid amount",
    BAD_SIGNATURE: "Invalid signature",
    OTHER: "Unknown error",
}

# post(url, json payload, timeout in seconds) -> the JSON answer; raises GatewayUnavailable.
Post = Callable[[str, dict[str, Any], float], dict[str, Any]]


class GatewayUnavailable(Exception):
    """The gateway could not be reached, or answered with something that is not its protocol."""


@dataclass(frozen=True)
class GatewayConfig:
    """One gateway's address and the portal's credentials there (from the settings)."""

    name: str
    pay_url: str  # VNPay: the payment page; national: the platform's API base
    merchant: str  # VNPay's vnp_TmnCode; the national platform's merchant code
    secret: str
    api_url: str = ""  # VNPay's query API ("": next to the payment page)


@dataclass(frozen=True)
class Checkout:
    """What starting a payment at a gateway needs to say."""

    ref: str
    amount: int  # VND
    currency: str
    info: str  # what is paid for, plain ASCII
    return_url: str
    notify_url: str
    client_ip: str
    created_at: dt.datetime  # UTC
    expires_at: dt.datetime  # UTC


@dataclass(frozen=True)
class Report:
    """What a gateway says about one order: in a notification, a browser's return or the
    answer to a query. `valid` is False when the signature does not check out (then nothing
    else in it may be trusted)."""

    ref: str
    valid: bool
    paid: bool = False
    amount: int | None = None  # VND; None when it is not a whole number of VND
    currency: str = ""  # "" when the message does not carry one
    transaction_id: str = ""
    code: str = ""  # the gateway's result code
    found: bool = True  # a query: whether the gateway knows the order
    pending: bool = False  # a query: the gateway still waits for the payer
    raw: dict[str, str] = field(default_factory=dict)


class Gateway(Protocol):
    name: str

    def start(self, checkout: Checkout, post: Post) -> str:
        """The address to send the payer's browser to; raises GatewayUnavailable."""

    def read_notification(self, params: Mapping[str, str]) -> Report:
        """The server-to-server notification, its signature checked."""

    def read_return(self, params: Mapping[str, str]) -> Report:
        """The parameters of the browser's return, its signature checked."""

    def acknowledge(self, code: str, ref: str = "") -> dict[str, str]:
        """The JSON answer to a notification with `code` (OK, NOT_FOUND ...)."""

    def query(self, ref: str, created_at: dt.datetime, post: Post) -> Report:
        """Ask the gateway about an order (reconciliation); raises GatewayUnavailable."""


def as_text(params: Mapping[str, Any]) -> dict[str, str]:
    """A message's fields as text (bounded: a message is a few hundred bytes)."""
    return {str(k)[:64]: str(v)[:512] for k, v in list(params.items())[:64]}


def yyyymmddhhmmss(moment: dt.datetime) -> str:
    """A UTC time as the gateways write it: Vietnam's local time, yyyyMMddHHmmss."""
    return to_local(moment).strftime("%Y%m%d%H%M%S")


def whole_vnd(text: str, minor_units: int = 1) -> int | None:
    """An amount field as whole VND (VNPay sends hundredths), None when it is not one."""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    value, rest = divmod(int(text), minor_units)
    return None if rest else value
