"""A VNPay-compatible gateway (payment API 2.1.0): the payment's parameters `vnp_*`, sorted by
name and URL-encoded, signed with HMAC-SHA512 under the merchant's secret (`vnp_SecureHash`);
amounts in hundredths of a dong (×100). The gateway notifies the merchant's IPN address with
the same signed parameters (a GET) and the IPN changes the order's state; the browser comes
back to the return address with them too, which only shows the outcome. `querydr` asks about
an order (its fields joined by `|` and signed the same way) for the reconciliation.

Both sides are here: the portal's (`VNPay`) and what the sandbox gateway needs to answer."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus, urlsplit, urlunsplit

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

VERSION = "2.1.0"
HASH_FIELDS_EXCLUDED = ("vnp_SecureHash", "vnp_SecureHashType")
PAID = "00"  # vnp_ResponseCode and vnp_TransactionStatus of a successful payment
NOT_FOUND = "91"  # querydr: no such transaction
QUERY_TIMEOUT = 10.0
QUERY_REQUEST_FIELDS = (
    "vnp_RequestId",
    "vnp_Version",
    "vnp_Command",
    "vnp_TmnCode",
    "vnp_TxnRef",
    "vnp_TransactionDate",
    "vnp_CreateDate",
    "vnp_IpAddr",
    "vnp_OrderInfo",
)
QUERY_ANSWER_FIELDS = (
    "vnp_ResponseId",
    "vnp_Command",
    "vnp_ResponseCode",
    "vnp_Message",
    "vnp_TmnCode",
    "vnp_TxnRef",
    "vnp_Amount",
    "vnp_BankCode",
    "vnp_PayDate",
    "vnp_TransactionNo",
    "vnp_TransactionType",
    "vnp_TransactionStatus",
    "vnp_OrderInfo",
    "vnp_PromotionCode",
    "vnp_PromotionAmount",
)


def hmac512(secret: str, data: str) -> str:
    return hmac.new(secret.encode(), data.encode(), hashlib.sha512).hexdigest()


def hash_data(params: Mapping[str, str]) -> str:
    """The signed text: every `vnp_` parameter but the hash, sorted, `name=value` URL-encoded
    (spaces as +) and joined by `&`, as VNPay's merchant code samples build it."""
    pairs = sorted(
        (k, v) for k, v in params.items() if k.startswith("vnp_") and k not in HASH_FIELDS_EXCLUDED
    )
    return "&".join(f"{k}={quote_plus(str(v))}" for k, v in pairs)


def sign(params: Mapping[str, str], secret: str) -> str:
    return hmac512(secret, hash_data(params))


def signed_query(params: Mapping[str, str], secret: str) -> str:
    """`params` as a query string with its vnp_SecureHash."""
    return f"{hash_data(params)}&vnp_SecureHash={sign(params, secret)}"


def verify(params: Mapping[str, str], secret: str) -> bool:
    given = params.get("vnp_SecureHash", "")
    return bool(given) and hmac.compare_digest(given.lower(), sign(params, secret))


def _joined_hash(params: Mapping[str, Any], names: tuple[str, ...], secret: str) -> str:
    return hmac512(secret, "|".join(str(params.get(n, "")) for n in names))


def query_answer_valid(answer: Mapping[str, Any], secret: str) -> bool:
    given = str(answer.get("vnp_SecureHash", ""))
    expected = _joined_hash(answer, QUERY_ANSWER_FIELDS, secret)
    return bool(given) and hmac.compare_digest(given.lower(), expected)


def sign_query_answer(answer: dict[str, Any], secret: str) -> dict[str, Any]:
    """The gateway's side: `answer` with its vnp_SecureHash."""
    return {**answer, "vnp_SecureHash": _joined_hash(answer, QUERY_ANSWER_FIELDS, secret)}


def query_request_valid(request: Mapping[str, Any], secret: str) -> bool:
    given = str(request.get("vnp_SecureHash", ""))
    expected = _joined_hash(request, QUERY_REQUEST_FIELDS, secret)
    return bool(given) and hmac.compare_digest(given.lower(), expected)


def report_of(params: Mapping[str, str], secret: str) -> Report:
    """A notification's or return's parameters as a report (`valid` False on a bad hash)."""
    raw = as_text(params)
    ref = raw.get("vnp_TxnRef", "")
    if not verify(raw, secret):
        return Report(ref=ref, valid=False, raw=raw)
    code = raw.get("vnp_ResponseCode", "")
    return Report(
        ref=ref,
        valid=True,
        paid=code == PAID and raw.get("vnp_TransactionStatus", "") == PAID,
        amount=whole_vnd(raw.get("vnp_Amount", ""), 100),
        currency=raw.get("vnp_CurrCode", ""),
        transaction_id=raw.get("vnp_TransactionNo", ""),
        code=code,
        raw=raw,
    )


class VNPay:
    """The portal's side of the VNPay protocol."""

    name = "vnpay"

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config

    @property
    def api_url(self) -> str:
        """The query API: configured, else beside the payment page (`…/paymentv2/vpcpay.html`
        → `…/merchant_webapi/api/transaction`, as VNPay lays out its hosts)."""
        if self.config.api_url:
            return self.config.api_url
        parts = urlsplit(self.config.pay_url)
        base = parts.path.rsplit("/paymentv2/", 1)[0] if "/paymentv2/" in parts.path else ""
        return urlunsplit(
            (parts.scheme, parts.netloc, f"{base}/merchant_webapi/api/transaction", "", "")
        )

    def start(self, checkout: Checkout, post: Post) -> str:
        params = {
            "vnp_Version": VERSION,
            "vnp_Command": "pay",
            "vnp_TmnCode": self.config.merchant,
            "vnp_Amount": str(checkout.amount * 100),
            "vnp_CurrCode": checkout.currency,
            "vnp_TxnRef": checkout.ref,
            "vnp_OrderInfo": checkout.info,
            "vnp_OrderType": "other",
            "vnp_Locale": "vn",
            "vnp_ReturnUrl": checkout.return_url,
            "vnp_IpAddr": checkout.client_ip or "127.0.0.1",
            "vnp_CreateDate": yyyymmddhhmmss(checkout.created_at),
            "vnp_ExpireDate": yyyymmddhhmmss(checkout.expires_at),
        }
        return f"{self.config.pay_url}?{signed_query(params, self.config.secret)}"

    def read_notification(self, params: Mapping[str, str]) -> Report:
        return report_of(params, self.config.secret)

    def read_return(self, params: Mapping[str, str]) -> Report:
        return report_of(params, self.config.secret)

    def acknowledge(self, code: str, ref: str = "") -> dict[str, str]:
        return {"RspCode": code, "Message": ACK_MESSAGES.get(code, "")}

    def query(self, ref: str, created_at: dt.datetime, post: Post) -> Report:
        request = {
            "vnp_RequestId": secrets.token_hex(16),
            "vnp_Version": VERSION,
            "vnp_Command": "querydr",
            "vnp_TmnCode": self.config.merchant,
            "vnp_TxnRef": ref,
            "vnp_OrderInfo": f"Doi soat {ref}",
            "vnp_TransactionDate": yyyymmddhhmmss(created_at),
            "vnp_CreateDate": yyyymmddhhmmss(dt.datetime.now(dt.UTC).replace(tzinfo=None)),
            "vnp_IpAddr": "127.0.0.1",
        }
        request["vnp_SecureHash"] = _joined_hash(request, QUERY_REQUEST_FIELDS, self.config.secret)
        answer = post(self.api_url, request, QUERY_TIMEOUT)
        raw = as_text(answer)
        if not query_answer_valid(answer, self.config.secret):
            return Report(ref=ref, valid=False, raw=raw)
        code = raw.get("vnp_ResponseCode", "")
        if code == NOT_FOUND:
            return Report(ref=ref, valid=True, found=False, code=code, raw=raw)
        if code != PAID or raw.get("vnp_TxnRef") != ref:
            raise GatewayUnavailable(f"querydr answered {code} for {ref}")
        status = raw.get("vnp_TransactionStatus", "")
        return Report(
            ref=ref,
            valid=True,
            paid=status == PAID,
            pending=status == "01",  # not completed yet
            amount=whole_vnd(raw.get("vnp_Amount", ""), 100),
            transaction_id=raw.get("vnp_TransactionNo", ""),
            code=status,
            raw=raw,
        )
