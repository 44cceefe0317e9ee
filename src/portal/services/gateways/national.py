"""The national payment platform (the National Public Service Portal's payment service), as
far as public sources describe it: an INIT message returns the address to send the payer to;
every message is authenticated by a SHA-256 over its fields joined by `|` with the shared
secret last; the platform confirms a payment with a callback, which the portal re-verifies
with a QUERY before believing it; QUERY also serves the reconciliation.

The field names and their order, the answer codes and the addresses (`<base>/init`,
`<base>/query`) are this portal's reading of that description, not the platform's published
specification (which is given to connected agencies): an adapter to adjust against it.
Both sides are here: the portal's (`National`) and what the sandbox gateway needs."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from portal.services.gateways.base import (
    ACK_MESSAGES,
    Checkout,
    GatewayConfig,
    GatewayUnavailable,
    Post,
    Report,
    as_text,
    whole_vnd,
    yyyymmddhhmmss,
)

PAID, PENDING, NOT_FOUND = "00", "02", "01"
TIMEOUT = 10.0
# The fields each message's checksum covers, in order (the secret comes last).
FIELDS = {
    "INIT": (
        "type",
        "merchant_code",
        "order_id",
        "amount",
        "currency",
        "order_info",
        "return_url",
        "notify_url",
        "create_time",
    ),
    "INIT_ANSWER": ("error_code", "order_id", "redirect_url"),
    "CONFIRM": (
        "type",
        "merchant_code",
        "order_id",
        "transaction_id",
        "amount",
        "currency",
        "status",
        "pay_time",
    ),
    "RETURN": (
        "type",
        "merchant_code",
        "order_id",
        "transaction_id",
        "amount",
        "currency",
        "status",
        "pay_time",
    ),
    "QUERY": ("type", "merchant_code", "order_id", "request_time"),
    "QUERY_ANSWER": (
        "error_code",
        "order_id",
        "transaction_id",
        "amount",
        "currency",
        "status",
        "pay_time",
    ),
    "ACK": ("error_code", "order_id"),
}


def checksum(message: Mapping[str, Any], kind: str, secret: str) -> str:
    """SHA-256 (hex) of the message's `kind` fields and the secret, joined by `|`."""
    parts = [str(message.get(name, "")) for name in FIELDS[kind]] + [secret]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def signed(message: dict[str, Any], kind: str, secret: str) -> dict[str, Any]:
    return {**message, "checksum": checksum(message, kind, secret)}


def valid(message: Mapping[str, Any], kind: str, secret: str) -> bool:
    given = str(message.get("checksum", ""))
    return bool(given) and hmac.compare_digest(given.lower(), checksum(message, kind, secret))


def _report(message: Mapping[str, Any], kind: str, secret: str) -> Report:
    raw = as_text(message)
    ref = raw.get("order_id", "")
    if raw.get("type", kind) != kind or not valid(raw, kind, secret):
        return Report(ref=ref, valid=False, raw=raw)
    return _status_report(ref, raw)


def _status_report(ref: str, raw: dict[str, str]) -> Report:
    """What a valid message (a confirm callback or a QUERY's answer) says of order `ref`."""
    status = raw.get("status", "")
    return Report(
        ref=ref,
        valid=True,
        paid=status == PAID,
        pending=status == PENDING,
        amount=whole_vnd(raw.get("amount", "")),
        currency=raw.get("currency", ""),
        transaction_id=raw.get("transaction_id", ""),
        code=status,
        raw=raw,
    )


class National:
    """The portal's side of the national payment platform's protocol."""

    name = "national"
    # The confirm callback is believed only once a QUERY says the same (see module docstring).
    reverifies = True

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config

    def _url(self, path: str) -> str:
        return f"{self.config.pay_url.rstrip('/')}/{path}"

    def start(self, checkout: Checkout, post: Post) -> str:
        message = signed(
            {
                "type": "INIT",
                "merchant_code": self.config.merchant,
                "order_id": checkout.ref,
                "amount": str(checkout.amount),
                "currency": checkout.currency,
                "order_info": checkout.info,
                "return_url": checkout.return_url,
                "notify_url": checkout.notify_url,
                "create_time": yyyymmddhhmmss(checkout.created_at),
            },
            "INIT",
            self.config.secret,
        )
        answer = as_text(post(self._url("init"), message, TIMEOUT))
        if not valid(answer, "INIT_ANSWER", self.config.secret):
            raise GatewayUnavailable("the INIT answer's checksum does not check out")
        if answer.get("error_code") != PAID or answer.get("order_id") != checkout.ref:
            raise GatewayUnavailable(f"INIT refused: {answer.get('error_code')}")
        target = answer.get("redirect_url", "")
        here, there = urlsplit(self.config.pay_url), urlsplit(target)
        if there.scheme not in ("https", "http") or there.netloc != here.netloc:
            # the payer is sent only to the platform configured, whatever an answer says
            raise GatewayUnavailable(f"INIT names another site: {target[:100]!r}")
        return target

    def read_notification(self, params: Mapping[str, str]) -> Report:
        return _report(params, "CONFIRM", self.config.secret)

    def read_return(self, params: Mapping[str, str]) -> Report:
        return _report(params, "RETURN", self.config.secret)

    def acknowledge(self, code: str, ref: str = "") -> dict[str, str]:
        answer = {"error_code": code, "order_id": ref, "message": ACK_MESSAGES.get(code, "")}
        return signed(answer, "ACK", self.config.secret)

    def query(self, ref: str, created_at: dt.datetime, post: Post) -> Report:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        message = signed(
            {
                "type": "QUERY",
                "merchant_code": self.config.merchant,
                "order_id": ref,
                "request_time": yyyymmddhhmmss(now),
            },
            "QUERY",
            self.config.secret,
        )
        answer = as_text(post(self._url("query"), message, TIMEOUT))
        if not valid(answer, "QUERY_ANSWER", self.config.secret):
            return Report(ref=ref, valid=False, raw=answer)
        code = answer.get("error_code", "")
        if code == NOT_FOUND:
            return Report(ref=ref, valid=True, found=False, code=code, raw=answer)
        if code != PAID or answer.get("order_id") != ref:
            raise GatewayUnavailable(f"QUERY answered {code} for {ref}")
        return _status_report(ref, answer)
