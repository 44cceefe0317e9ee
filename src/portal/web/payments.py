"""Payments on a dossier's page: the officer's request with its items, a payment recorded at
the counter, paying online (off to the gateway), the page the gateway sends the payer back
to, the gateways' notifications, the electronic receipt (page and PDF) and the staff's list
of what the gateways report that the portal could not match."""

from __future__ import annotations

import json
import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from portal.i18n import gettext_ as _
from portal.services import payment_notices, payment_outcome, payments, receipt_pdf, slips
from portal.services.errors import DomainError, NotFound, ValidationError
from portal.services.gateways import GATEWAY_NAMES, TITLES
from portal.services.gateways.base import OTHER
from portal.services.text import as_int
from portal.web.dossier_page import page_with_errors
from portal.web.downloads import private_pdf
from portal.web.forms import flash, form_dict
from portal.web.rendering import render
from portal.web.requests import ctx_of, dossier_id, int_param
from portal.web.security import client_addr, guard, read_form
from portal.web.urls import url

log = logging.getLogger("portal.payments")
ROW_FIELDS = tuple(f"{key}-{n}" for n in range(payments.MAX_ROWS) for key in ("label", "amount"))
MAX_NOTICE_BYTES = 16 * 1024


def setup_of(request: Request) -> payments.Setup:
    return request.app.state.payments


def _absolute(request: Request, name: str, **params: str) -> str:
    """An address of the portal as a gateway reaches it (the deployment's public address)."""
    return request.app.state.settings.base_url + url(request, name, **params)


@guard("unit_staff")
async def dossier_payment_request(request: Request) -> Response:
    did = dossier_id(request)
    data = form_dict(await read_form(request), ("note", *ROW_FIELDS))
    rows = [(data[f"label-{n}"], data[f"amount-{n}"]) for n in range(payments.MAX_ROWS)]
    try:
        await run_in_threadpool(payments.request_payment, ctx_of(request), did, rows, data["note"])
    except ValidationError as exc:
        return await page_with_errors(request, did, exc, failed="request_payment", values=data)
    flash(request, _("Payment is requested; the enterprise is told."))
    return RedirectResponse(url(request, "dossier_detail", dossier_id=did), 303)


@guard("unit_staff")
async def dossier_payment_counter(request: Request) -> Response:
    did = dossier_id(request)
    data = form_dict(await read_form(request), ("note",))
    try:
        await run_in_threadpool(payments.record_counter_payment, ctx_of(request), did, data["note"])
    except ValidationError as exc:
        return await page_with_errors(request, did, exc, failed="confirm_payment", values=data)
    flash(request, _("The payment is recorded and its receipt issued."))
    return RedirectResponse(url(request, "dossier_detail", dossier_id=did), 303)


@guard("enterprise")
async def payment_pay(request: Request) -> Response:
    """Open an order at the chosen gateway and send the payer there (the page's CSP lets its
    forms go to the configured gateways: web/security.py)."""
    did = dossier_id(request)
    payment_id = as_int(request.path_params["payment_id"])
    if payment_id is None:
        raise NotFound("payment")
    data = form_dict(await read_form(request), ("gateway",))
    gateway = data["gateway"]
    try:
        target = await run_in_threadpool(
            payments.start,
            ctx_of(request),
            did,
            payment_id,
            gateway,
            setup_of(request),
            return_url=_absolute(request, "payment_return", gateway=gateway or "x"),
            notify_url=_absolute(request, "payment_notify", gateway=gateway or "x"),
        )
    except ValidationError as exc:
        return await page_with_errors(request, did, exc, failed="pay", values=data)
    except DomainError as exc:
        if exc.kind != "unavailable":
            raise
        flash(request, _(exc.message.text), "error")
        return RedirectResponse(url(request, "dossier_detail", dossier_id=did), 303)
    return RedirectResponse(target, 303)


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


@guard("signed_in")
async def payment_return(request: Request) -> Response:
    """Where the gateway sends the payer back: the outcome as the portal knows it (only the
    gateway's notification changes anything); htmx asks again until it is settled."""
    gateway = request.path_params["gateway"]
    if gateway not in setup_of(request).gateways:
        raise NotFound("gateway")
    params = dict(list(request.query_params.items())[:64])
    outcome = await run_in_threadpool(
        payment_outcome.outcome, request.state.user, gateway, params, setup_of(request)
    )
    return render(
        request,
        "payments/return.html",
        {"outcome": outcome, "gateway_title": TITLES[gateway], "here": _here(request)},
        fragment="outcome",
    )


async def _notice_params(request: Request) -> dict[str, str]:
    """A notification's fields: the query (VNPay's IPN is a GET), or a JSON or form body."""
    if request.method != "POST":
        return {k: v for k, v in list(request.query_params.items())[:64]}
    body = await request.body()
    if len(body) > MAX_NOTICE_BYTES:
        return {}
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(body)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    form = await request.form(max_files=0, max_fields=64)
    return {k: v for k, v in form.items() if isinstance(v, str)}


@guard("gateway")
async def payment_notify(request: Request) -> Response:
    """A gateway's server-to-server notification (no session, no CSRF token: its signature is
    checked instead); answers in the gateway's protocol, always as JSON."""
    gateway = request.path_params["gateway"]
    setup = setup_of(request)
    if gateway not in GATEWAY_NAMES or gateway not in setup.gateways:
        raise NotFound("gateway")
    params = await _notice_params(request)
    try:
        answer = await run_in_threadpool(
            payment_notices.receive, gateway, params, setup, client_addr(request)
        )
    except Exception:  # the gateway gets its "other error" and sends the notification again
        log.exception("%s notification failed", gateway)
        answer = setup.gateways[gateway].acknowledge(OTHER, str(params.get("vnp_TxnRef", "")))
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


async def _receipt(request: Request) -> payments.ReceiptView:
    payment_id = as_int(request.path_params["payment_id"])
    if payment_id is None:
        raise NotFound("payment")
    return await run_in_threadpool(
        payments.receipt, dossier_id(request), payment_id, request.state.user
    )


def _sheet(request: Request, receipt: payments.ReceiptView) -> receipt_pdf.ReceiptSheet:
    return receipt_pdf.sheet(receipt, request.app.state.settings.slip_place)


@guard("signed_in")
async def payment_receipt(request: Request) -> Response:
    receipt = await _receipt(request)
    return render(
        request,
        "payments/receipt.html",
        {
            "r": receipt,
            "sheet": _sheet(request, receipt),
            "view": receipt.view,
            "heading": slips.HEADING,
            "motto": slips.MOTTO,
            "kind": receipt_pdf.KIND,
            "title": receipt_pdf.TITLE,
            "columns": receipt_pdf.COLUMNS,
            "amount": receipt_pdf.amount_text,
        },
    )


@guard("signed_in")
async def payment_receipt_pdf(request: Request) -> Response:
    receipt = await _receipt(request)
    body = await run_in_threadpool(receipt_pdf.render, _sheet(request, receipt))
    name = f"bien-lai-{(receipt.payment.number or str(receipt.payment.id)).replace('/', '-')}.pdf"
    return private_pdf(body, name)


@guard("staff")
async def payments_unmatched(request: Request) -> Response:
    found = await run_in_threadpool(payment_notices.unmatched, int_param(request, "page"))
    return render(
        request,
        "payments/unmatched.html",
        {
            "found": found,
            "notice_sources": payment_notices.SOURCE_LABELS,
            "notice_outcomes": payment_notices.OUTCOME_LABELS,
        },
        fragment="results",
    )
