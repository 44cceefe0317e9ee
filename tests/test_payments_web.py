"""Payments through the pages (no JavaScript: plain forms and 303s): the officer's request
form prefilled with the procedure's fees, "Pay online" off to the gateway, the gateways'
notifications (no session, no CSRF token: the signature), the page the payer comes back to,
the receipt as a page and a PDF, the staff's list, a payment at the counter."""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode, urlsplit

import pytest

from portal import i18n
from portal.db import db
from portal.models import Dossier
from portal.services import payments
from portal.services.gateways import national
from tests.dossier_fixtures import complete_draft, ctx_of, forms, people  # noqa: F401
from tests.helpers import HX, csrf_from
from tests.payment_fixtures import (  # noqa: F401
    MERCHANTS,
    SECRETS,
    national_confirm,
    order_of,
    owing,
    ref_in,
    sandbox,
    settings,
    setup,
    txns,
    vnpay_ipn,
)


def tr(msgid: str, **params: object) -> str:
    text = i18n.translations("vi").gettext(msgid)
    return text % params if params else text


@pytest.fixture
def portal(app, setup):  # noqa: F811
    """The app, its gateways reaching the in-process sandbox."""
    app.state.payments = setup
    return app


@pytest.fixture
def due(people, ctx_of):  # noqa: F811
    return owing(people, ctx_of, complete_draft)


def as_user(client, user):
    from tests.conftest import PASSWORD

    client.cookies.clear()
    token = csrf_from(client.get("/login").text)
    r = client.post("/login", data={"username": user.username, "password": PASSWORD,
                                    "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    return client


def page(client, path: str) -> tuple[str, str]:
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code)
    return html.unescape(r.text), csrf_from(r.text)


def status(did: int) -> int:
    with db.connection_context():
        return Dossier.get_by_id(did).status


def test_the_officer_asks_the_prefilled_fees(portal, client, people, ctx_of):  # noqa: F811
    from portal.services import dossiers, processing

    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    did = dossiers.submit(owner, complete_draft(owner), "").id
    processing.act(officer, did, "receive")
    as_user(client, people.officer)
    text, token = page(client, f"/dossiers/{did}")
    assert 'value="Lệ phí làm thủ tục hải quan"' in text
    assert 'name="amount-0" inputmode="numeric" value="20000"' in text
    # other amounts without the reason: the form again, with what was typed
    form = {"csrf_token": token, "label-0": "Lệ phí làm thủ tục hải quan", "amount-0": "20000",
            "label-1": "Phí lưu kho", "amount-1": "150.000", "note": ""}
    r = client.post(f"/dossiers/{did}/payment/request", data=form, follow_redirects=False)
    assert r.status_code == 422
    assert tr("Say why the amounts differ from the procedure's fees.") in html.unescape(r.text)
    assert 'value="Phí lưu kho"' in html.unescape(r.text)
    assert 'href="#f-request_payment-note"' in r.text
    r = client.post(f"/dossiers/{did}/payment/request", data={**form, "note": "Lưu kho"},
                    follow_redirects=False)
    assert r.status_code == 303 and status(did) == 6
    text, _ = page(client, f"/dossiers/{did}")
    assert "Phí lưu kho" in text and format_vnd(170000) in text


def format_vnd(amount: int) -> str:
    return i18n.format_vnd(amount)


def test_the_owner_pays_online_and_the_notification_confirms(portal, client, due, people):  # noqa: F811
    did, p = due
    as_user(client, people.owner)
    r = client.get(f"/dossiers/{did}")
    # the page's forms may lead to the gateways (the answer to "Pay online" sends the payer on)
    assert "form-action 'self' http://sandbox.test" in r.headers["content-security-policy"]
    text, token = html.unescape(r.text), csrf_from(r.text)
    assert tr("Pay %(amount)s online", amount=format_vnd(20000)) in text
    assert 'value="vnpay"' in text and 'value="national"' in text
    r = client.post(f"/dossiers/{did}/payments/{p.id}/pay", data={"csrf_token": token,
                                                                   "gateway": "vnpay"},
                    follow_redirects=False)
    assert r.status_code == 303
    target = r.headers["location"]
    assert target.startswith("http://sandbox.test/vnpay/paymentv2/vpcpay.html?vnp_")
    ref = ref_in(target)
    params = dict(p.split("=", 1) for p in urlsplit(target).query.split("&"))
    assert params["vnp_ReturnUrl"] == "http%3A%2F%2Ftestserver%2Fpayments%2Freturn%2Fvnpay"

    # the payer comes back before the notification: the page waits (and htmx asks again)
    back = "/payments/return/vnpay?" + urlencode(vnpay_ipn(ref, 20000))
    text, _ = page(client, back)
    assert tr("The payment service says you have paid. The portal is waiting for the payment "
              "service to confirm it directly; the dossier goes on then.") in text
    assert 'data-hx-trigger="every 3s"' in text and status(did) == 6
    fragment = client.get(back, headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert fragment.text.lstrip().startswith('<div id="outcome"')

    # the gateway's notification: a GET without session or CSRF token, answered in JSON
    anonymous = client.__class__(portal, base_url="http://testserver")
    r = anonymous.get("/payments/notify/vnpay?" + urlencode(vnpay_ipn(ref, 20000)))
    assert r.status_code == 200 and r.json() == {"RspCode": "00", "Message": "Confirm Success"}
    assert "set-cookie" not in r.headers
    assert anonymous.get("/payments/notify/vnpay?" + urlencode(vnpay_ipn(ref, 20000))).json()[
        "RspCode"] == "02"
    assert status(did) == 4

    text, _ = page(client, back)
    assert tr("The payment is confirmed.") in text and "hx-trigger" not in text
    with db.connection_context():
        number = payments.Payment.get_by_id(p.id).number
    assert tr("Electronic receipt no. %(number)s", number=number) in text
    text, _ = page(client, f"/dossiers/{did}")
    assert tr("Fees paid online") in text and number in text


def test_a_notification_answers_in_its_protocol(
        portal, client, due, people, ctx_of, setup, sandbox):  # noqa: F811
    did, p = due
    ref = ref_in(payments.start(ctx_of(people.owner), did, p.id, "national", setup,
                                return_url="r", notify_url="n"))
    txn = txns(sandbox)[ref]
    txn.status, txn.transaction_no, txn.paid_amount = "paid", "T-1", 20000
    r = client.post("/payments/notify/national", json=national_confirm(ref, 20000))
    assert r.status_code == 200 and r.json()["error_code"] == "00"
    assert national.valid(r.json(), "ACK", SECRETS["national"]) and status(did) == 4
    bad = {**national_confirm(ref, 20000), "amount": "1"}
    assert client.post("/payments/notify/national", json=bad).json()["error_code"] == "97"
    assert client.get("/payments/notify/vnpay?vnp_TxnRef=x").json()["RspCode"] == "97"
    assert client.get("/payments/notify/paypal").status_code == 404
    assert client.post("/payments/notify/national", content=b"{not json",
                       headers={"content-type": "application/json"}).json()["error_code"] == "97"


def test_the_return_page_belongs_to_the_dossiers_people(portal, client, due, people, ctx_of, setup):  # noqa: F811
    did, p = due
    ref = ref_in(payments.start(ctx_of(people.owner), did, p.id, "vnpay", setup,
                                return_url="r", notify_url="n"))
    back = "/payments/return/vnpay?" + urlencode(vnpay_ipn(ref, 20000))
    r = client.get(back, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    as_user(client, people.stranger)
    assert client.get(back).status_code == 404
    as_user(client, people.owner)
    forged = back.replace("vnp_TransactionNo=14123456", "vnp_TransactionNo=1")
    text, _ = page(client, forged)
    assert tr("The answer the payment service sent back with you could not be verified. The "
              "portal keeps to what the payment service confirms to it directly, which has not "
              "come yet.") in text
    declined = "/payments/return/vnpay?" + urlencode(vnpay_ipn(ref, 20000, paid=False))
    text, _ = page(client, declined)
    assert "(24)" in text or "24" in text
    assert status(did) == 6  # the return changed nothing


def test_the_receipt_page_and_pdf(portal, client, due, people, setup, ctx_of):  # noqa: F811
    did, p = due
    r = client.get(f"/dossiers/{did}/payments/{p.id}/receipt", follow_redirects=False)
    assert r.status_code == 303  # to the login page
    as_user(client, people.owner)
    assert client.get(f"/dossiers/{did}/payments/{p.id}/receipt").status_code == 404  # unpaid
    payments.record_counter_payment(ctx_of(people.officer), did, "")
    text, _ = page(client, f"/dossiers/{did}/payments/{p.id}/receipt")
    with db.connection_context():
        number = payments.Payment.get_by_id(p.id).number
    for expected in ("BIÊN LAI THU PHÍ, LỆ PHÍ", f"Số: {number}", "Lệ phí làm thủ tục hải quan",
                     "20.000 đồng", "Nộp trực tiếp tại bộ phận một cửa", people.officer.full_name):
        assert expected in text, expected
    r = client.get(f"/dossiers/{did}/payments/{p.id}/receipt.pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF-")
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"].startswith("attachment;")
    from io import BytesIO

    from pypdf import PdfReader

    pdf_text = "".join(pg.extract_text() for pg in PdfReader(BytesIO(r.content)).pages)
    assert "BIÊN LAI THU PHÍ, LỆ PHÍ" in pdf_text and number in pdf_text
    as_user(client, people.stranger)
    assert client.get(f"/dossiers/{did}/payments/{p.id}/receipt.pdf").status_code == 404


def test_the_officer_records_a_counter_payment_without_javascript(portal, client, due, people):  # noqa: F811
    did, p = due
    as_user(client, people.officer)
    text, token = page(client, f"/dossiers/{did}")
    assert f'action="/dossiers/{did}/payment/counter"' in text
    r = client.post(f"/dossiers/{did}/payment/counter", data={"csrf_token": token, "note": ""},
                    follow_redirects=False)
    assert r.status_code == 303 and status(did) == 4
    text, _ = page(client, f"/dossiers/{did}")
    assert tr("Paid at the counter") in text


def test_an_unanswering_gateway_sends_the_payer_back_with_a_message(
        app, client, due, people, settings):  # noqa: F811
    did, p = due

    def down(url, payload, timeout):
        from portal.services.gateways import GatewayUnavailable

        raise GatewayUnavailable("refused")

    app.state.payments = payments.Setup(payments.Setup.of(settings).gateways, post=down)
    as_user(client, people.owner)
    _, token = page(client, f"/dossiers/{did}")
    r = client.post(f"/dossiers/{did}/payments/{p.id}/pay",
                    data={"csrf_token": token, "gateway": "national"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{did}"
    text, _ = page(client, f"/dossiers/{did}")
    assert tr("The payment service does not answer. Please try again in a few minutes.") in text


def test_the_staff_list_what_does_not_match(portal, client, people, setup):  # noqa: F811
    client.get("/payments/notify/vnpay?" + urlencode(vnpay_ipn("UNKNOWN0001", 75000)))
    as_user(client, people.officer)
    text, _ = page(client, "/officer/payments")
    assert "UNKNOWN0001" in text and tr("An order the portal does not know") in text
    assert format_vnd(75000) in text
    as_user(client, people.owner)
    assert client.get("/officer/payments").status_code == 403


def test_without_gateways_the_owner_is_told_to_pay_at_the_counter(client, due, people, app):  # noqa: F811
    app.state.payments = payments.Setup()
    as_user(client, people.owner)
    text, _ = page(client, f"/dossiers/{due[0]}")
    assert tr("Online payment is not offered here: pay at the counter of the handling unit, "
              "which records it.") in text
    assert not re.search(r'action="[^"]+/pay"', text)
