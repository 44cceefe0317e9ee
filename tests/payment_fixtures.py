"""Shared by the payment tests: the gateways' test settings (the same secrets for the portal and
the sandbox gateway), a dossier of procedure 1.005458 waiting for payment, the notifications a
gateway would send, and the sandbox gateway in this process as the gateways' transport."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from portal.config import Settings
from portal.db import configure, db
from portal.migrations import migrate
from portal.models import Payment, PaymentOrder
from portal.sandbox_gateway import SandboxConfig, Txn, create_sandbox
from portal.services import dossiers, payments, processing
from portal.services.gateways import national, vnpay
from portal.services.gateways.base import yyyymmddhhmmss

SECRETS = {"vnpay": "vnpay-test-secret-0123456789abcdef",
           "national": "national-test-0123456789abcd"}
MERCHANTS = {"vnpay": "TESTTMN1", "national": "HQ-TEST"}
SANDBOX = "http://sandbox.test"  # the in-process sandbox's address (no network)


def gateway_settings(sandbox: str = SANDBOX) -> tuple[tuple[str, str, str, str], ...]:
    return (
        ("vnpay", f"{sandbox}/vnpay/paymentv2/vpcpay.html", MERCHANTS["vnpay"], SECRETS["vnpay"]),
        ("national", f"{sandbox}/national", MERCHANTS["national"], SECRETS["national"]),
    )


def gateway_env(sandbox: str) -> dict[str, str]:
    """The environment that points a portal process and a sandbox process at each other."""
    return {
        "PORTAL_PAYMENT_GATEWAYS": "vnpay,national",
        "PORTAL_VNPAY_URL": f"{sandbox}/vnpay/paymentv2/vpcpay.html",
        "PORTAL_VNPAY_TMN_CODE": MERCHANTS["vnpay"],
        "PORTAL_VNPAY_SECRET": SECRETS["vnpay"],
        "PORTAL_NATIONAL_PAY_URL": f"{sandbox}/national",
        "PORTAL_NATIONAL_PAY_MERCHANT": MERCHANTS["national"],
        "PORTAL_NATIONAL_PAY_SECRET": SECRETS["national"],
    }


def sandbox_config(**more: Any) -> SandboxConfig:
    return SandboxConfig(MERCHANTS["vnpay"], SECRETS["vnpay"], MERCHANTS["national"],
                         SECRETS["national"], **more)


@pytest.fixture
def settings(tmp_path, database_url) -> Iterator[Settings]:
    """The test's settings with both gateways configured (replaces conftest's)."""
    s = Settings.for_data_dir(tmp_path / "data", database_url=database_url,
                              payment_gateways=gateway_settings(), base_url="http://testserver")
    configure(s)
    migrate()
    yield s
    db.close_all()


@pytest.fixture
def sandbox() -> Iterator[TestClient]:
    """The sandbox gateway, in this process."""
    with TestClient(create_sandbox(sandbox_config()), base_url=SANDBOX) as client:
        yield client


def txns(sandbox: TestClient) -> dict[str, Txn]:
    return sandbox.app.state.sandbox.txns


@pytest.fixture
def setup(settings, sandbox) -> payments.Setup:
    """The portal's gateways, reaching the in-process sandbox."""

    def post(url: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        r = sandbox.post(urlsplit(url).path, json=payload)
        return r.json()

    return payments.Setup(payments.Setup.of(settings).gateways, post=post)


def owing(people, ctx_of, complete_draft) -> tuple[int, Payment]:
    """A dossier of the owner, received at 02CI and asked to pay the procedure's fees."""
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    did = dossiers.submit(owner, complete_draft(owner), "").id
    processing.act(officer, did, "receive")
    view = dossiers.load(did, people.officer)
    rows = [(i.label, str(i.amount)) for i in payments.proposed(view)]
    return did, payments.request_payment(officer, did, rows, "")


def order_of(ref: str) -> PaymentOrder:
    with db.connection_context():
        return PaymentOrder.get(PaymentOrder.ref == ref)


def ref_in(url: str) -> str:
    """The order's reference in the address a payment starts at."""
    query = dict(p.split("=", 1) for p in urlsplit(url).query.split("&") if "=" in p)
    return query.get("vnp_TxnRef") or urlsplit(url).path.rsplit("/", 1)[-1]


def vnpay_ipn(ref: str, amount: int, *, paid: bool = True, txn: str = "14123456",
              secret: str = SECRETS["vnpay"]) -> dict[str, str]:
    """The IPN VNPay sends for order `ref` (amount in VND)."""
    params = {
        "vnp_TmnCode": MERCHANTS["vnpay"],
        "vnp_Amount": str(amount * 100),
        "vnp_TxnRef": ref,
        "vnp_ResponseCode": "00" if paid else "24",
        "vnp_TransactionStatus": "00" if paid else "02",
        "vnp_TransactionNo": txn,
        "vnp_PayDate": yyyymmddhhmmss(dt.datetime(2026, 3, 2, 2, 35)),
        "vnp_OrderInfo": "Thanh toan phi ho so",
    }
    return {**params, "vnp_SecureHash": vnpay.sign(params, secret)}


def national_confirm(ref: str, amount: int, *, paid: bool = True, txn: str = "T-1") -> dict:
    message = {"type": "CONFIRM", "merchant_code": MERCHANTS["national"], "order_id": ref,
               "transaction_id": txn, "amount": str(amount), "currency": "VND",
               "status": "00" if paid else "51", "pay_time": "20260302093500"}
    return national.signed(message, "CONFIRM", SECRETS["national"])
