"""A sandbox payment gateway for development, tests and the demo: one small Starlette app that
speaks both protocols the portal's adapters speak (services/gateways: the national payment
platform and VNPay), from the gateway's side, with the same secrets the portal is configured
with. Its payment page lets the payer choose what happens:

    approve               paid; the notification and the return leave at once (they race)
    decline               not paid (code 51); notified, then back to the portal
    timeout               the payer never finishes: nothing is sent; a query later says unpaid
    notify_twice          paid; the same notification is sent twice, then the return
    notify_late           paid; back to the portal first, the notification some seconds later
    notify_before_return  paid; the notification is answered before the payer is sent back
    wrong_amount          paid 1.000 VND more than asked; notification and return say so
    bad_signature         paid; the notification and the return carry a broken signature (the
                          gateway knows it paid: the portal's reconciliation finds it)

Run it with `run.py sandbox-gateway --port N`; `run.py demo` starts one. Not for production:
it keeps its transactions in memory and signs whatever it is asked to."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import json
import logging
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from portal.services.gateways import national, vnpay
from portal.services.gateways.base import whole_vnd, yyyymmddhhmmss

log = logging.getLogger("portal.sandbox")
OUTCOMES = {
    "approve": "Thanh toán thành công / Approve",
    "decline": "Từ chối / Decline",
    "timeout": "Hết thời gian, bỏ dở / Time out, abandon",
    "notify_twice": "Thành công, báo hai lần / Approve, notify twice",
    "notify_late": "Thành công, báo muộn / Approve, notify late",
    "notify_before_return": (
        "Thành công, báo trước khi quay lại / Approve, notify before the return"
    ),
    "wrong_amount": "Thành công, sai số tiền / Approve, wrong amount",
    "bad_signature": "Thành công, sai chữ ký / Approve, bad signature",
}
DECLINED = "51"  # VNPay: the account has not enough money
NOTIFY_TIMEOUT = 15.0


@dataclass
class SandboxConfig:
    """The merchants the sandbox knows (the portal's codes and secrets) and its timing."""

    vnpay_tmn_code: str = ""
    vnpay_secret: str = ""
    national_merchant: str = ""
    national_secret: str = ""
    late_seconds: float = 5.0
    vnpay_ipn_url: str = ""  # "": the return address's site + /payments/notify/vnpay

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SandboxConfig:
        return cls(
            vnpay_tmn_code=env.get("PORTAL_VNPAY_TMN_CODE", ""),
            vnpay_secret=env.get("PORTAL_VNPAY_SECRET", ""),
            national_merchant=env.get("PORTAL_NATIONAL_PAY_MERCHANT", ""),
            national_secret=env.get("PORTAL_NATIONAL_PAY_SECRET", ""),
            late_seconds=float(env.get("PORTAL_SANDBOX_LATE_SECONDS", "5")),
            vnpay_ipn_url=env.get("PORTAL_SANDBOX_VNPAY_IPN_URL", ""),
        )


@dataclass
class Txn:
    """One payment the sandbox was asked to take."""

    gateway: str
    ref: str
    amount: int
    currency: str
    info: str
    return_url: str
    notify_url: str
    create_date: str
    status: str = "created"  # created paid failed timeout
    paid_amount: int = 0
    transaction_no: str = ""
    pay_date: str = ""


@dataclass
class Sandbox:
    config: SandboxConfig
    txns: dict[str, Txn] = field(default_factory=dict)
    # every notification sent: (ref, outcome chosen, what the merchant answered)
    sent: list[dict[str, Any]] = field(default_factory=list)
    tasks: set[asyncio.Task] = field(default_factory=set)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>{html.escape(title)}'
        '</title><meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,"></head>'
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>",
        status,
    )


def _pay_page(txn: Txn, action: str) -> HTMLResponse:
    buttons = "".join(
        f'<p><button type="submit" name="outcome" value="{k}">{html.escape(v)}</button></p>'
        for k, v in OUTCOMES.items()
    )
    body = (
        f"<p>Cổng thanh toán thử nghiệm / Sandbox gateway ({html.escape(txn.gateway)})</p>"
        f'<dl><dt>Mã đơn hàng / Order</dt><dd id="ref">{html.escape(txn.ref)}</dd>'
        f'<dt>Số tiền / Amount</dt><dd id="amount">{txn.amount} {html.escape(txn.currency)}</dd>'
        f"<dt>Nội dung / For</dt><dd>{html.escape(txn.info)}</dd></dl>"
        f'<form method="post" action="{html.escape(action)}">{buttons}</form>'
    )
    return _page("Thanh toán / Payment", body)


def _local_now() -> str:
    return yyyymmddhhmmss(dt.datetime.now(dt.UTC).replace(tzinfo=None))


# --- what each protocol sends back -------------------------------------------------------


def _vnpay_result(sb: Sandbox, txn: Txn, outcome: str) -> dict[str, str]:
    paid = outcome != "decline"
    code = "00" if paid else DECLINED
    params = {
        "vnp_TmnCode": sb.config.vnpay_tmn_code,
        "vnp_Amount": str(txn.paid_amount * 100),
        "vnp_BankCode": "NCB",
        "vnp_BankTranNo": f"VNP{txn.transaction_no}",
        "vnp_CardType": "ATM",
        "vnp_PayDate": txn.pay_date,
        "vnp_OrderInfo": txn.info,
        "vnp_TransactionNo": txn.transaction_no,
        "vnp_ResponseCode": code,
        "vnp_TransactionStatus": "00" if paid else "02",
        "vnp_TxnRef": txn.ref,
    }
    params["vnp_SecureHash"] = vnpay.sign(params, sb.config.vnpay_secret)
    if outcome == "bad_signature":
        params["vnp_SecureHash"] = _broken(params["vnp_SecureHash"])
    return params


def _national_result(sb: Sandbox, txn: Txn, outcome: str, kind: str) -> dict[str, str]:
    message = {
        "type": kind,
        "merchant_code": sb.config.national_merchant,
        "order_id": txn.ref,
        "transaction_id": txn.transaction_no,
        "amount": str(txn.paid_amount),
        "currency": txn.currency,
        "status": "00" if outcome != "decline" else DECLINED,
        "pay_time": txn.pay_date,
    }
    signed = national.signed(message, kind, sb.config.national_secret)
    if outcome == "bad_signature":
        signed["checksum"] = _broken(signed["checksum"])
    return signed


def _broken(signature: str) -> str:
    return ("0" if signature[0] != "0" else "1") + signature[1:]


def _ipn_url(sb: Sandbox, txn: Txn) -> str:
    if sb.config.vnpay_ipn_url:
        return sb.config.vnpay_ipn_url
    parts = urlsplit(txn.return_url)
    return f"{parts.scheme}://{parts.netloc}/payments/notify/vnpay"


def _send(url: str, data: bytes | None, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=NOTIFY_TIMEOUT) as response:  # noqa: S310
            return response.status, response.read(4096).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(4096).decode("utf-8", "replace")
    except OSError as exc:
        return 0, str(exc)


async def _notify(sb: Sandbox, txn: Txn, outcome: str, delay: float = 0.0) -> None:
    """Send the merchant the server-to-server notification (off the event loop: the portal may
    query the sandbox while it answers)."""
    if delay:
        await asyncio.sleep(delay)
    if txn.gateway == "vnpay":
        url = f"{_ipn_url(sb, txn)}?{urlencode(_vnpay_result(sb, txn, outcome))}"
        status, body = await asyncio.to_thread(_send, url, None, {})
    else:
        message = json.dumps(_national_result(sb, txn, outcome, "CONFIRM")).encode()
        headers = {"Content-Type": "application/json"}
        status, body = await asyncio.to_thread(_send, txn.notify_url, message, headers)
    sb.sent.append({"ref": txn.ref, "outcome": outcome, "status": status, "answer": body})
    log.info("notified %s (%s): %s %s", txn.ref, outcome, status, body)


def _return_url(sb: Sandbox, txn: Txn, outcome: str) -> str:
    if txn.gateway == "vnpay":
        params = _vnpay_result(sb, txn, outcome)
    else:
        params = _national_result(sb, txn, outcome, "RETURN")
    return f"{txn.return_url}?{urlencode(params)}"


async def _finish(sb: Sandbox, txn: Txn, outcome: str) -> Response:
    """Do what the payer chose, then send them back (or not, on a time-out)."""
    if outcome not in OUTCOMES:
        return _page("Lựa chọn không hợp lệ / Unknown choice", "", 400)
    if txn.status != "created":
        return _page("Giao dịch đã xử lý / Already done", "", 409)
    if outcome == "timeout":
        txn.status = "timeout"
        back = urlsplit(txn.return_url)
        link = html.escape(f"{back.scheme}://{back.netloc}/dossiers")
        return _page(
            "Hết thời gian thanh toán / Payment timed out",
            "<p>Không có thông báo nào được gửi. / Nothing was sent to the merchant.</p>"
            f'<p><a href="{link}">Quay lại / Back to the merchant</a></p>',
        )
    txn.status = "failed" if outcome == "decline" else "paid"
    txn.transaction_no = str(secrets.randbelow(10**8)).zfill(8)
    txn.pay_date = _local_now()
    txn.paid_amount = txn.amount + (1000 if outcome == "wrong_amount" else 0)
    if outcome in ("approve", "notify_late"):
        delay = sb.config.late_seconds if outcome == "notify_late" else 0.0
        task = asyncio.create_task(_notify(sb, txn, outcome, delay))
        sb.tasks.add(task)
        task.add_done_callback(sb.tasks.discard)
    else:
        await _notify(sb, txn, outcome)
        if outcome == "notify_twice":
            await _notify(sb, txn, outcome)
    return RedirectResponse(_return_url(sb, txn, outcome), 303)


# --- VNPay ---------------------------------------------------------------------------------


async def vnpay_pay_page(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    params = dict(request.query_params)
    if not vnpay.verify(params, sb.config.vnpay_secret):
        return _page("Sai chữ ký / Invalid signature (97)", "", 400)
    if params.get("vnp_TmnCode") != sb.config.vnpay_tmn_code:
        return _page("Sai mã website / Unknown merchant (02)", "", 400)
    ref = params.get("vnp_TxnRef", "")
    amount = whole_vnd(params.get("vnp_Amount", ""), 100)
    if not ref or amount is None:
        return _page("Thiếu tham số / Missing parameters (03)", "", 400)
    txn = sb.txns.setdefault(
        ref,
        Txn("vnpay", ref, amount, params.get("vnp_CurrCode", "VND"),
            params.get("vnp_OrderInfo", ""), params.get("vnp_ReturnUrl", ""), "",
            params.get("vnp_CreateDate", "")),
    )
    return _pay_page(txn, f"/vnpay/pay/{ref}")


async def vnpay_query(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    body = await request.json()
    secret = sb.config.vnpay_secret
    answer: dict[str, Any] = {
        "vnp_ResponseId": secrets.token_hex(8),
        "vnp_Command": "querydr",
        "vnp_TmnCode": sb.config.vnpay_tmn_code,
        "vnp_TxnRef": str(body.get("vnp_TxnRef", "")),
    }
    txn = sb.txns.get(answer["vnp_TxnRef"])
    if not vnpay.query_request_valid(body, secret):
        answer.update(vnp_ResponseCode="97", vnp_Message="Invalid checksum")
    elif txn is None:
        answer.update(vnp_ResponseCode=vnpay.NOT_FOUND, vnp_Message="Transaction not found")
    else:
        status = {"paid": "00", "failed": "02"}.get(txn.status, "01")
        answer.update(
            vnp_ResponseCode="00",
            vnp_Message="QueryDR Success",
            vnp_Amount=str((txn.paid_amount or txn.amount) * 100),
            vnp_BankCode="NCB",
            vnp_PayDate=txn.pay_date,
            vnp_TransactionNo=txn.transaction_no,
            vnp_TransactionType="01",
            vnp_TransactionStatus=status,
            vnp_OrderInfo=txn.info,
            vnp_PromotionCode="",
            vnp_PromotionAmount="",
        )
    return JSONResponse(vnpay.sign_query_answer(answer, secret))


# --- the national platform ---------------------------------------------------------------


async def national_init(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    body = await request.json()
    secret = sb.config.national_secret
    ref = str(body.get("order_id", ""))
    amount = whole_vnd(str(body.get("amount", "")))
    answer: dict[str, Any] = {"order_id": ref, "redirect_url": ""}
    if not national.valid(body, "INIT", secret):
        answer["error_code"] = "97"
    elif body.get("merchant_code") != sb.config.national_merchant or not ref or amount is None:
        answer["error_code"] = "99"
    else:
        sb.txns.setdefault(
            ref,
            Txn("national", ref, amount, str(body.get("currency", "VND")),
                str(body.get("order_info", "")), str(body.get("return_url", "")),
                str(body.get("notify_url", "")), str(body.get("create_time", ""))),
        )
        answer.update(error_code="00", redirect_url=f"{request.base_url}national/pay/{ref}")
    return JSONResponse(national.signed(answer, "INIT_ANSWER", secret))


async def national_pay_page(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    txn = sb.txns.get(request.path_params["ref"])
    if txn is None or txn.gateway != "national":
        return _page("Không tìm thấy giao dịch / No such order", "", 404)
    return _pay_page(txn, f"/national/pay/{txn.ref}")


async def national_query(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    body = await request.json()
    secret = sb.config.national_secret
    ref = str(body.get("order_id", ""))
    txn = sb.txns.get(ref)
    answer: dict[str, Any] = {"order_id": ref}
    if not national.valid(body, "QUERY", secret):
        answer["error_code"] = "97"
    elif txn is None:
        answer["error_code"] = national.NOT_FOUND
    else:
        status = {"paid": national.PAID, "failed": DECLINED}.get(txn.status, national.PENDING)
        answer.update(
            error_code="00",
            transaction_id=txn.transaction_no,
            amount=str(txn.paid_amount or txn.amount),
            currency=txn.currency,
            status=status,
            pay_time=txn.pay_date,
        )
    return JSONResponse(national.signed(answer, "QUERY_ANSWER", secret))


# --- both --------------------------------------------------------------------------------


async def pay(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    txn = sb.txns.get(request.path_params["ref"])
    if txn is None or txn.gateway != request.path_params["gateway"]:
        return _page("Không tìm thấy giao dịch / No such order", "", 404)
    form = await request.form()
    return await _finish(sb, txn, str(form.get("outcome", "")))


async def sent(request: Request) -> Response:
    """What the sandbox sent and what the merchant answered (for tests and curious people)."""
    return JSONResponse(request.app.state.sandbox.sent)


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


def create_sandbox(config: SandboxConfig | None = None) -> Starlette:
    """The sandbox gateway's app (merchants from the environment unless `config` is given)."""
    app = Starlette(
        routes=[
            Route("/healthz", health),
            Route("/vnpay/paymentv2/vpcpay.html", vnpay_pay_page),
            Route("/vnpay/merchant_webapi/api/transaction", vnpay_query, methods=["POST"]),
            Route("/national/init", national_init, methods=["POST"]),
            Route("/national/query", national_query, methods=["POST"]),
            Route("/national/pay/{ref}", national_pay_page),
            Route("/{gateway:str}/pay/{ref}", pay, methods=["POST"]),
            Route("/_sandbox/sent", sent),
        ]
    )
    app.state.sandbox = Sandbox(config or SandboxConfig.from_env())
    return app
