"""Payments as services: the officer's request with its items, paying online (an order at a
gateway), the gateways' notifications settled once whatever arrives twice or crosses, what
does not match listed for staff, payments at the counter, and the reconciliation's queries.
The gateways are reached through the sandbox gateway, in this process."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from portal.db import db
from portal.models import Dossier, DossierEvent, Notification, Payment, PaymentNotice, PaymentOrder
from portal.services import payment_notices, payments, processing, security_log
from portal.services.errors import DomainError, NotFound, ValidationError
from portal.services.gateways.base import ALREADY, BAD_SIGNATURE, NOT_FOUND, OK, OTHER, WRONG_AMOUNT
from tests.dossier_fixtures import complete_draft, ctx_of, forms, people  # noqa: F401
from tests.payment_fixtures import (  # noqa: F401
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

pytestmark = pytest.mark.usefixtures("units", "catalogue")
URLS = {"return_url": "http://testserver/payments/return/x",
        "notify_url": "http://testserver/payments/notify/x"}


@pytest.fixture
def due(people, ctx_of):  # noqa: F811
    return owing(people, ctx_of, complete_draft)


def events(did: int) -> list[DossierEvent]:
    with db.connection_context():
        return list(DossierEvent.select().where(DossierEvent.dossier == did)
                    .order_by(DossierEvent.id))


def status(did: int) -> int:
    with db.connection_context():
        return Dossier.get_by_id(did).status


def payment(pid: int) -> Payment:
    with db.connection_context():
        return Payment.get_by_id(pid)


def notices(outcome: str | None = None) -> list[PaymentNotice]:
    with db.connection_context():
        query = PaymentNotice.select().order_by(PaymentNotice.id)
        return list(query.where(PaymentNotice.outcome == outcome) if outcome else query)


def start(people, ctx_of, setup, did, pid, gateway="vnpay"):  # noqa: F811
    return payments.start(ctx_of(people.owner), did, pid, gateway, setup, **URLS)


# --- the request ---------------------------------------------------------------------------


def test_the_request_asks_the_procedures_fees_and_says_so_in_the_history(due, people):  # noqa: F811
    did, p = due
    assert (p.total, p.status, p.reason) == (20000, "requested", "")
    assert status(did) == 6
    event = events(did)[-1]
    assert (event.action, event.status_after) == ("request_payment", 6)
    assert event.note == "Lệ phí làm thủ tục hải quan: 20.000 đ (tổng cộng 20.000 đ)"
    with db.connection_context():
        told = Notification.select().where(Notification.user == people.owner.id).count()
    assert told >= 2  # submitted, received ... and asked to pay


def test_other_amounts_need_the_reason(people, ctx_of):  # noqa: F811
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    from portal.services import dossiers

    did = dossiers.submit(owner, complete_draft(owner), "").id
    processing.act(officer, did, "receive")
    rows = [("Lệ phí làm thủ tục hải quan", "20000"), ("Phí lưu kho", "150.000")]
    with pytest.raises(ValidationError) as caught:
        payments.request_payment(officer, did, rows, "")
    assert set(caught.value.errors) == {"note"}
    assert status(did) == 2 and events(did)[-1].action == "receive"  # nothing written
    with pytest.raises(DomainError) as caught:
        payments.request_payment(owner, did, rows, "x")
    assert caught.value.kind == "forbidden"
    p = payments.request_payment(officer, did, rows, "Hàng lưu kho quá hạn")
    assert (p.total, p.reason) == (170000, "Hàng lưu kho quá hạn")
    assert "Phí lưu kho: 150.000 đ" in events(did)[-1].note
    with pytest.raises(DomainError) as caught:  # asked already: the dossier waits for payment
        payments.request_payment(officer, did, rows, "x")
    assert caught.value.kind == "conflict"


# --- paying online -------------------------------------------------------------------------


def test_paying_online_confirmed_by_the_notification_moves_the_dossier_once(
        due, people, ctx_of, setup):  # noqa: F811
    did, p = due
    url = start(people, ctx_of, setup, did, p.id)
    assert url.startswith("http://sandbox.test/vnpay/paymentv2/vpcpay.html?")
    ref = ref_in(url)
    assert order_of(ref).status == "pending" and order_of(ref).amount == 20000
    ack = payment_notices.receive("vnpay", vnpay_ipn(ref, 20000), setup)
    assert ack == {"RspCode": OK, "Message": "Confirm Success"}
    paid = payment(p.id)
    year = paid.paid_at.year  # (Vietnam's year, but not near New Year in a test run)
    assert (paid.status, paid.channel, paid.gateway, paid.transaction_id) == (
        "paid", "online", "vnpay", "14123456")
    assert paid.number in (f"1/{year}/BLTP-02CI", f"1/{year + 1}/BLTP-02CI")
    assert status(did) == 4
    event = events(did)[-1]
    assert (event.action, event.actor_role, event.actor_id) == ("payment_received", "system", None)
    assert "14123456" in event.note and paid.number in event.note
    # the same notification again, and once more: answered "already confirmed", nothing else
    for _ in range(2):
        assert payment_notices.receive("vnpay", vnpay_ipn(ref, 20000), setup)["RspCode"] == ALREADY
    assert [e.action for e in events(did)].count("payment_received") == 1
    assert [n.outcome for n in notices()] == ["confirmed", "duplicate", "duplicate"]
    with pytest.raises(DomainError) as caught:  # paid: nothing more to pay
        start(people, ctx_of, setup, did, p.id)
    assert caught.value.kind == "conflict"


def test_only_the_owner_pays_and_only_with_a_gateway_offered(due, people, ctx_of, setup):  # noqa: F811
    did, p = due
    with pytest.raises(DomainError) as caught:
        payments.start(ctx_of(people.officer), did, p.id, "vnpay", setup, **URLS)
    assert caught.value.kind == "forbidden"
    with pytest.raises(NotFound):
        payments.start(ctx_of(people.stranger), did, p.id, "vnpay", setup, **URLS)
    with pytest.raises(ValidationError):
        start(people, ctx_of, setup, did, p.id, "paypal")
    with pytest.raises(NotFound):
        start(people, ctx_of, setup, did, p.id + 1)


def test_a_wrong_amount_is_refused_and_listed(due, people, ctx_of, setup):  # noqa: F811
    did, p = due
    ref = ref_in(start(people, ctx_of, setup, did, p.id))
    ack = payment_notices.receive("vnpay", vnpay_ipn(ref, 21000), setup)
    assert ack["RspCode"] == WRONG_AMOUNT
    assert status(did) == 6 and payment(p.id).status == "requested"
    assert (order_of(ref).status, order_of(ref).result_code) == ("failed", "amount")
    (listed,) = payment_notices.unmatched().page.items
    assert (listed.outcome, listed.amount) == ("amount", 21000)
    assert listed.order.payment.dossier.id == did
    with db.connection_context():  # the unit is told (the dossier's assignee, or its officers)
        told = Notification.select().where(Notification.message == payment_notices.TO_CHECK)
        assert told.exists()


def test_a_bad_signature_changes_nothing_and_is_only_counted(
        due, people, ctx_of, setup):  # noqa: F811
    did, p = due
    ref = ref_in(start(people, ctx_of, setup, did, p.id))
    forged = {**vnpay_ipn(ref, 20000), "vnp_TransactionNo": "666"}
    ack = payment_notices.receive("vnpay", forged, setup, "198.51.100.9")
    assert ack["RspCode"] == BAD_SIGNATURE
    other_secret = vnpay_ipn(ref, 20000, secret="not-the-merchant-secret-000000")
    assert payment_notices.receive("vnpay", other_secret, setup)["RspCode"] == BAD_SIGNATURE
    assert order_of(ref).status == "pending" and status(did) == 6
    assert notices() == []
    rows = security_log.counts(payment_notices.BAD_SIGNATURE_LOG)
    assert sum(r.count for r in rows) == 2
    assert payment_notices.unmatched().bad_signatures == 2


def test_an_unknown_order_is_listed_for_staff(settings, setup):  # noqa: F811
    ack = payment_notices.receive("vnpay", vnpay_ipn("NOSUCHORDER1", 50000), setup)
    assert ack["RspCode"] == NOT_FOUND
    (listed,) = payment_notices.unmatched().page.items
    assert (listed.outcome, listed.ref, listed.order) == ("unknown", "NOSUCHORDER1", None)


def test_a_declined_payment_can_be_paid_again(due, people, ctx_of, setup):  # noqa: F811
    did, p = due
    first = ref_in(start(people, ctx_of, setup, did, p.id))
    assert payment_notices.receive("vnpay", vnpay_ipn(first, 20000, paid=False), setup)[
        "RspCode"] == OK
    assert (order_of(first).status, order_of(first).result_code) == ("failed", "24")
    assert status(did) == 6
    second = ref_in(start(people, ctx_of, setup, did, p.id))
    assert second != first
    assert payment_notices.receive("vnpay", vnpay_ipn(second, 20000, txn="2"), setup)[
        "RspCode"] == OK
    assert status(did) == 4 and payment(p.id).transaction_id == "2"


def test_money_taken_twice_or_after_a_withdrawal_is_listed_to_refund(
        due, people, ctx_of, setup):  # noqa: F811
    did, p = due
    a = ref_in(start(people, ctx_of, setup, did, p.id))
    b = ref_in(start(people, ctx_of, setup, did, p.id))  # a second tab
    assert payment_notices.receive("vnpay", vnpay_ipn(a, 20000, txn="A"), setup)["RspCode"] == OK
    assert payment_notices.receive("vnpay", vnpay_ipn(b, 20000, txn="B"), setup)["RspCode"] == OK
    assert [n.outcome for n in notices()] == ["confirmed", "twice"]
    assert payment(p.id).transaction_id == "A"
    assert [e.action for e in events(did)].count("payment_received") == 1


def test_a_withdrawal_cancels_the_payment_and_a_late_payment_is_listed(
        due, people, ctx_of, setup):  # noqa: F811
    did, p = due
    ref = ref_in(start(people, ctx_of, setup, did, p.id))
    processing.act(ctx_of(people.owner), did, "withdraw", "Không cần nữa")
    assert payment(p.id).status == "cancelled"
    assert payment_notices.receive("vnpay", vnpay_ipn(ref, 20000), setup)["RspCode"] == OK
    assert [n.outcome for n in notices()] == ["orphan"]
    assert status(did) == 7 and payment(p.id).status == "cancelled"


def test_a_payment_at_the_counter_gets_its_receipt(due, people, ctx_of):  # noqa: F811
    did, p = due
    with pytest.raises(DomainError):
        payments.record_counter_payment(ctx_of(people.owner), did, "")
    paid = payments.record_counter_payment(ctx_of(people.officer), did, "Nộp tiền mặt")
    assert (paid.status, paid.channel, paid.recorded_by) == ("paid", "counter",
                                                             people.officer.full_name)
    assert paid.number.startswith("1/") and paid.number.endswith("/BLTP-02CI")
    assert status(did) == 4
    event = events(did)[-1]
    assert event.action == "confirm_payment" and paid.number in event.note
    assert "Nộp tiền mặt" in event.note


def test_the_national_platform_is_believed_once_its_own_query_agrees(
        due, people, ctx_of, setup, sandbox):  # noqa: F811
    did, p = due
    url = start(people, ctx_of, setup, did, p.id, "national")
    ref = ref_in(url)
    assert url == f"http://sandbox.test/national/pay/{ref}"  # from the INIT's answer
    # the platform's own records still say unpaid: the confirmation is not believed
    ack = payment_notices.receive("national", national_confirm(ref, 20000), setup)
    assert ack["error_code"] == OTHER and status(did) == 6
    assert [n.outcome for n in notices()] == ["unverified"]
    txn = txns(sandbox)[ref]
    txn.status, txn.transaction_no, txn.paid_amount = "paid", "T-1", 20000
    ack = payment_notices.receive("national", national_confirm(ref, 20000), setup)
    assert ack["error_code"] == OK and status(did) == 4


def test_a_gateway_that_does_not_answer_leaves_nothing_open(due, people, ctx_of, settings):  # noqa: F811
    did, p = due

    def down(url, payload, timeout):
        from portal.services.gateways import GatewayUnavailable

        raise GatewayUnavailable("connection refused")

    broken = payments.Setup(payments.Setup.of(settings).gateways, post=down)
    with pytest.raises(DomainError) as caught:
        start(people, ctx_of, broken, did, p.id, "national")
    assert caught.value.kind == "unavailable"
    with db.connection_context():
        (order,) = PaymentOrder.select()
    assert (order.status, order.result_code) == ("failed", "unavailable")


# --- reconciliation ------------------------------------------------------------------------


def test_the_reconciliation_settles_what_the_gateway_knows(due, people, ctx_of, setup, sandbox):  # noqa: F811
    did, p = due
    paid = ref_in(start(people, ctx_of, setup, did, p.id))
    lost = ref_in(start(people, ctx_of, setup, did, p.id, "national"))
    never = ref_in(start(people, ctx_of, setup, did, p.id))  # the payer never opened the page
    txns(sandbox)[paid] = _txn(paid, 20000)  # paid: its notification never arrived
    now = order_of(never).created_at + dt.timedelta(minutes=10)
    assert payment_notices.reconcile(setup, now) == {"asked": 0, "unavailable": 0}  # too soon
    later = now + dt.timedelta(minutes=15)
    assert payment_notices.reconcile(setup, later) == {"asked": 3, "unavailable": 0}
    assert order_of(paid).status == "paid" and status(did) == 4
    assert order_of(lost).status == "expired"  # still waiting at the platform, past its time
    assert order_of(never).status == "expired"  # unknown to the gateway
    assert payment_notices.reconcile(setup, later) == {"asked": 0, "unavailable": 0}
    assert [n.source for n in notices("confirmed")] == ["query"]


def _txn(ref: str, amount: int):
    from portal.sandbox_gateway import Txn

    return Txn("vnpay", ref, amount, "VND", "", "", "", "", status="paid", paid_amount=amount,
               transaction_no="99", pay_date="20260302093500")


def test_two_notifications_at_once_confirm_once(due, people, ctx_of, setup):  # noqa: F811
    did, p = due
    ref = ref_in(start(people, ctx_of, setup, did, p.id))
    answers: list[str] = []
    barrier = threading.Barrier(4)

    def notify() -> None:
        barrier.wait()
        try:
            answers.append(payment_notices.receive("vnpay", vnpay_ipn(ref, 20000), setup)[
                "RspCode"])
        finally:
            db.close()

    threads = [threading.Thread(target=notify) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [OK, ALREADY, ALREADY, ALREADY]
    assert [e.action for e in events(did)].count("payment_received") == 1
    with db.connection_context():
        assert Payment.get_by_id(p.id).number.startswith("1/")


def at_once(calls: list) -> list:
    """Run `calls` in threads released together; their results in the calls' order."""
    results: list = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        finally:
            db.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_payments_confirmed_at_once_get_receipt_numbers_of_their_own(
        people, ctx_of, setup):  # noqa: F811
    owed = [owing(people, ctx_of, complete_draft) for _ in range(4)]
    refs = [ref_in(start(people, ctx_of, setup, did, p.id)) for did, p in owed]
    answers = at_once([
        (lambda ref=ref, n=n: payment_notices.receive(
            "vnpay", vnpay_ipn(ref, 20000, txn=f"1412345{n}"), setup)["RspCode"])
        for n, ref in enumerate(refs)])
    assert answers == [OK] * 4
    numbers = [payment(p.id).number for _, p in owed]
    assert sorted(int(n.split("/")[0]) for n in numbers) == [1, 2, 3, 4], numbers


def test_a_notification_racing_the_reconciliation_settles_once(
        due, people, ctx_of, setup, sandbox):  # noqa: F811
    did, p = due
    ref = ref_in(start(people, ctx_of, setup, did, p.id))
    txns(sandbox)[ref] = _txn(ref, 20000)  # the gateway took the payment
    with db.connection_context():
        later = PaymentOrder.get(PaymentOrder.ref == ref).created_at + dt.timedelta(hours=1)
    answers = at_once([
        lambda: payment_notices.receive("vnpay", vnpay_ipn(ref, 20000, txn="99"), setup)[
            "RspCode"],
        lambda: payment_notices.reconcile(setup, later),
    ])
    assert answers[0] in (OK, ALREADY)
    assert answers[1]["unavailable"] == 0
    assert [e.action for e in events(did)].count("payment_received") == 1
    assert (order_of(ref).status, payment(p.id).status) == ("paid", "paid")


def test_the_statistics_count_the_online_payment_rate(people, ctx_of, setup):  # noqa: F811
    from portal.services import stats

    online, p1 = owing(people, ctx_of, complete_draft)
    counter, p2 = owing(people, ctx_of, complete_draft)
    owing(people, ctx_of, complete_draft)  # asked, not paid: not counted
    ref = ref_in(start(people, ctx_of, setup, online, p1.id))
    payment_notices.receive("vnpay", vnpay_ipn(ref, 20000), setup)
    payments.record_counter_payment(ctx_of(people.officer), counter, "")
    today = stats.local_today()
    query = stats.clean_query({}, 1, today)
    figures = stats.build_report(query).figures
    assert (figures.payments, figures.paid_online, str(figures.online_payment_rate)) == (
        2, 1, "50.0")
    elsewhere = stats.clean_query({"unit": "KV01"}, 1, today)  # a regional branch without them
    assert stats.build_report(elsewhere).figures.payments == 0
    mine = stats.clean_query({"unit": "KV02"}, 1, today)  # 02CI's (Hồ Chí Minh)
    assert stats.build_report(mine).figures.paid_online == 1
