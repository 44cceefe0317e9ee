"""The gateways' protocols as pure functions: the signed text each side computes (checked
against the documented recipe written out here, not only against the module's own code), the
signed address that starts a VNPay payment, reading notifications and returns, and the query
and INIT exchanges with a stand-in for the gateway."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from urllib.parse import parse_qsl, urlsplit

import pytest

from portal.services.gateways import (
    Checkout,
    GatewayConfig,
    GatewayUnavailable,
    make,
    national,
    vnpay,
)

SECRET = "s3cret-of-the-merchant-0123456789"
VNPAY = GatewayConfig("vnpay", "https://pay.example/paymentv2/vpcpay.html", "TESTTMN1", SECRET)
NATIONAL = GatewayConfig("national", "https://ttdt.example/api", "HQ-TEST", SECRET)
WHEN = dt.datetime(2026, 3, 2, 2, 30)  # UTC: 09:30 in Vietnam
CHECKOUT = Checkout("02CI2603020001AB12CD", 220000, "VND", "Thanh toan phi ho so",
                    "https://portal.example/payments/return/vnpay",
                    "https://portal.example/payments/notify/vnpay", "203.0.113.7", WHEN,
                    WHEN + dt.timedelta(minutes=15))


def test_the_vnpay_signature_follows_the_documented_recipe():
    params = {"vnp_TxnRef": "02CIABC", "vnp_Amount": "2000000", "vnp_Command": "pay",
              "vnp_OrderInfo": "Thanh toan phi ho so 02CI", "vnp_TmnCode": "TESTTMN1",
              "vnp_SecureHashType": "HmacSHA512", "other": "ignored"}
    # sorted vnp_ names, values URL-encoded with + for spaces, joined by &, HMAC-SHA512
    text = ("vnp_Amount=2000000&vnp_Command=pay&vnp_OrderInfo=Thanh+toan+phi+ho+so+02CI"
            "&vnp_TmnCode=TESTTMN1&vnp_TxnRef=02CIABC")
    expected = hmac.new(SECRET.encode(), text.encode(), hashlib.sha512).hexdigest()
    assert vnpay.hash_data(params) == text
    assert vnpay.sign(params, SECRET) == expected
    assert vnpay.verify({**params, "vnp_SecureHash": expected.upper()}, SECRET)
    assert not vnpay.verify({**params, "vnp_SecureHash": expected, "vnp_Amount": "2000100"},
                            SECRET)
    assert not vnpay.verify(params, SECRET)  # no signature at all


def test_the_national_checksum_follows_the_documented_recipe():
    message = {"type": "QUERY", "merchant_code": "HQ-TEST", "order_id": "X1",
               "request_time": "20260302093000"}
    text = f"QUERY|HQ-TEST|X1|20260302093000|{SECRET}"
    assert national.checksum(message, "QUERY", SECRET) == hashlib.sha256(text.encode()).hexdigest()
    signed = national.signed(message, "QUERY", SECRET)
    assert national.valid(signed, "QUERY", SECRET)
    assert not national.valid({**signed, "order_id": "X2"}, "QUERY", SECRET)
    assert not national.valid(signed, "QUERY", "another-secret-0123456789")


def test_vnpay_starts_with_a_signed_address_amount_times_100():
    url = make(VNPAY).start(CHECKOUT, post=None)  # type: ignore[arg-type]
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == VNPAY.pay_url
    params = dict(parse_qsl(parts.query))
    assert params["vnp_Amount"] == "22000000" and params["vnp_CurrCode"] == "VND"
    assert params["vnp_TxnRef"] == CHECKOUT.ref and params["vnp_TmnCode"] == "TESTTMN1"
    assert params["vnp_CreateDate"] == "20260302093000"  # Vietnam's time
    assert params["vnp_ExpireDate"] == "20260302094500"
    assert params["vnp_ReturnUrl"] == CHECKOUT.return_url
    assert vnpay.verify(params, SECRET)


def ipn(**changes: str) -> dict[str, str]:
    params = {"vnp_TmnCode": "TESTTMN1", "vnp_Amount": "22000000", "vnp_TxnRef": CHECKOUT.ref,
              "vnp_ResponseCode": "00", "vnp_TransactionStatus": "00",
              "vnp_TransactionNo": "14123456", "vnp_PayDate": "20260302093512",
              "vnp_OrderInfo": "Thanh toan phi ho so"}
    params.update(changes)
    return {**params, "vnp_SecureHash": vnpay.sign(params, SECRET)}


def test_reading_a_vnpay_notification():
    gateway = make(VNPAY)
    report = gateway.read_notification(ipn())
    assert (report.valid, report.paid, report.amount, report.transaction_id, report.ref) == (
        True, True, 220000, "14123456", CHECKOUT.ref)
    declined = gateway.read_notification(ipn(vnp_ResponseCode="51", vnp_TransactionStatus="02"))
    assert declined.valid and not declined.paid and declined.code == "51"
    assert gateway.read_notification(ipn(vnp_Amount="22000050")).amount is None  # not whole VND
    forged = {**ipn(), "vnp_Amount": "100"}
    assert not gateway.read_notification(forged).valid
    assert gateway.acknowledge("97") == {"RspCode": "97", "Message": "Invalid signature"}


def test_vnpay_query_is_signed_and_its_answer_checked():
    sent = {}

    def post(url, payload, timeout):
        sent.update(url=url, payload=payload)
        answer = {"vnp_ResponseId": "r1", "vnp_Command": "querydr", "vnp_ResponseCode": "00",
                  "vnp_Message": "ok", "vnp_TmnCode": "TESTTMN1", "vnp_TxnRef": CHECKOUT.ref,
                  "vnp_Amount": "22000000", "vnp_TransactionNo": "14123456",
                  "vnp_TransactionStatus": "00"}
        return vnpay.sign_query_answer(answer, SECRET)

    report = make(VNPAY).query(CHECKOUT.ref, WHEN, post)
    assert sent["url"] == "https://pay.example/merchant_webapi/api/transaction"
    assert vnpay.query_request_valid(sent["payload"], SECRET)
    assert sent["payload"]["vnp_TransactionDate"] == "20260302093000"
    assert (report.valid, report.paid, report.amount) == (True, True, 220000)

    def not_found(url, payload, timeout):
        return vnpay.sign_query_answer({"vnp_ResponseCode": "91", "vnp_TxnRef": "x"}, SECRET)

    assert make(VNPAY).query("x", WHEN, not_found).found is False

    def forged(url, payload, timeout):
        return {"vnp_ResponseCode": "00", "vnp_TransactionStatus": "00", "vnp_SecureHash": "ab"}

    assert make(VNPAY).query("x", WHEN, forged).valid is False


def national_answer(redirect: str = "https://ttdt.example/pay/1", **changes: str):
    def post(url, payload, timeout):
        assert url == "https://ttdt.example/api/init"
        assert national.valid(payload, "INIT", SECRET)
        answer = {"error_code": "00", "order_id": payload["order_id"], "redirect_url": redirect}
        answer.update(changes)
        return national.signed(answer, "INIT_ANSWER", SECRET)

    return post


def test_the_national_platform_starts_with_an_init_message():
    assert make(NATIONAL).start(CHECKOUT, national_answer()) == "https://ttdt.example/pay/1"
    with pytest.raises(GatewayUnavailable):  # an answer that sends the payer elsewhere
        make(NATIONAL).start(CHECKOUT, national_answer("https://evil.example/pay"))
    with pytest.raises(GatewayUnavailable):
        make(NATIONAL).start(CHECKOUT, national_answer(error_code="99"))

    def unsigned(url, payload, timeout):
        return {"error_code": "00", "order_id": CHECKOUT.ref, "redirect_url": "x"}

    with pytest.raises(GatewayUnavailable):
        make(NATIONAL).start(CHECKOUT, unsigned)


def test_reading_a_national_confirmation_and_its_query():
    gateway = make(NATIONAL)
    confirm = national.signed(
        {"type": "CONFIRM", "merchant_code": "HQ-TEST", "order_id": CHECKOUT.ref,
         "transaction_id": "T1", "amount": "220000", "currency": "VND", "status": "00",
         "pay_time": "20260302093512"}, "CONFIRM", SECRET)
    report = gateway.read_notification(confirm)
    assert (report.valid, report.paid, report.amount, report.currency) == (True, True, 220000,
                                                                           "VND")
    # a return's fields signed as a confirmation are not a confirmation
    assert not gateway.read_return(confirm).valid
    ack = gateway.acknowledge("02", CHECKOUT.ref)
    assert ack["error_code"] == "02" and national.valid(ack, "ACK", SECRET)

    def pending(url, payload, timeout):
        assert national.valid(payload, "QUERY", SECRET)
        return national.signed({"error_code": "00", "order_id": CHECKOUT.ref, "status": "02",
                                "amount": "220000", "currency": "VND"}, "QUERY_ANSWER", SECRET)

    assert gateway.query(CHECKOUT.ref, WHEN, pending).pending


def test_an_unreachable_gateway_is_unavailable():
    from portal.services.gateways.http import post_json

    with pytest.raises(GatewayUnavailable):
        post_json("http://127.0.0.1:9/init", {}, 2.0)
    with pytest.raises(GatewayUnavailable):
        post_json("file:///etc/passwd", {}, 2.0)


def test_the_gateways_are_configured_from_the_environment(tmp_path):
    from portal.config import ConfigError, Settings
    from tests.payment_fixtures import gateway_env

    env = {"PORTAL_DATA_DIR": str(tmp_path), "PORTAL_HISTORY_KEY": "k" * 40,
           **gateway_env("https://gw.example")}
    settings = Settings.from_env(env)
    assert [g[0] for g in settings.payment_gateways] == ["vnpay", "national"]
    assert settings.payment_gateways[0][1] == "https://gw.example/vnpay/paymentv2/vpcpay.html"
    assert Settings.from_env({**env, "PORTAL_PAYMENT_GATEWAYS": ""}).payment_gateways == ()
    for change, named in [({"PORTAL_PAYMENT_GATEWAYS": "paypal"}, "PORTAL_PAYMENT_GATEWAYS"),
                          ({"PORTAL_VNPAY_SECRET": ""}, "PORTAL_VNPAY_SECRET"),  # never defaulted
                          ({"PORTAL_VNPAY_SECRET": "short"}, "PORTAL_VNPAY_SECRET"),
                          ({"PORTAL_NATIONAL_PAY_URL": "ftp://x"}, "PORTAL_NATIONAL_PAY_URL"),
                          ({"PORTAL_NATIONAL_PAY_MERCHANT": ""}, "PORTAL_NATIONAL_PAY_MERCHANT")]:
        with pytest.raises(ConfigError, match=named):
            Settings.from_env({**env, **change})


def test_the_pages_may_send_their_forms_to_the_configured_gateways_only(tmp_path):
    from portal.app import gateway_origins
    from portal.config import Settings
    from tests.payment_fixtures import gateway_settings

    settings = Settings.for_data_dir(tmp_path, payment_gateways=gateway_settings(
        "https://gw.example:8443"))
    assert gateway_origins(settings) == ["https://gw.example:8443"]
    assert gateway_origins(Settings.for_data_dir(tmp_path)) == []
