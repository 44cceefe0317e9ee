"""Every outcome of the sandbox gateway, over HTTP between real processes: the portal (uvicorn)
and the sandbox gateway (`run.py sandbox-gateway`), for each protocol. The payer's requests go
as a browser's would (a session, the forms, the redirects); the sandbox notifies the portal
over the loopback; the reconciliation asks the sandbox about what is left pending."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
import time
from collections.abc import Iterator

import httpx2 as httpx
import pytest

from portal import i18n
from portal.db import db
from portal.models import Dossier, DossierEvent, Payment, PaymentNotice, PaymentOrder
from portal.services import payment_notices, payments
from tests.conftest import PASSWORD
from tests.dossier_fixtures import complete_draft, ctx_of, forms, people  # noqa: F401
from tests.helpers import csrf_from
from tests.live_server import LiveServer, SandboxGateway
from tests.payment_fixtures import gateway_env, gateway_settings, owing

pytestmark = pytest.mark.usefixtures("units", "catalogue")
OUTCOMES = ("approve", "decline", "timeout", "notify_twice", "notify_late",
            "notify_before_return", "wrong_amount", "bad_signature")


def tr(msgid: str, **params: object) -> str:
    text = i18n.translations("vi").gettext(msgid)
    return text % params if params else text


@pytest.fixture
def owner_client(live, people) -> Iterator[httpx.Client]:  # noqa: F811
    client = signed_in(live[0], people.owner)
    yield client
    client.close()


@pytest.fixture
def live(settings, forms, people) -> Iterator[tuple[LiveServer, SandboxGateway]]:  # noqa: F811
    sandbox = SandboxGateway({**gateway_env("http://unused"),
                              "PORTAL_SANDBOX_LATE_SECONDS": "1.5"})
    portal = LiveServer(settings, env=gateway_env(sandbox.url))
    yield portal, sandbox
    portal.stop()
    sandbox.stop()


def signed_in(portal: LiveServer, user) -> httpx.Client:
    client = httpx.Client(follow_redirects=True, timeout=20)
    token = csrf_from(client.get(f"{portal.url}/login").text)
    r = client.post(f"{portal.url}/login", data={"username": user.username,
                                                 "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 200 and "/login" not in str(r.url)
    return client


def pay(client: httpx.Client, portal: LiveServer, did: int, pid: int, gateway: str,
        outcome: str) -> httpx.Response:
    """Press "Pay online", then the sandbox's button for `outcome`; the page it ends on."""
    page = client.get(f"{portal.url}/dossiers/{did}")
    r = client.post(f"{portal.url}/dossiers/{did}/payments/{pid}/pay",
                    data={"csrf_token": csrf_from(page.text), "gateway": gateway})
    assert r.status_code == 200 and "/pay" in str(r.url), str(r.url)  # the sandbox's page
    action = re.search(r'<form method="post" action="([^"]+)"', r.text).group(1)
    return client.post(str(r.url.join(action)), data={"outcome": outcome})


def state(did: int, pid: int) -> tuple[int, str, list[str]]:
    with db.connection_context():
        orders = PaymentOrder.select().where(PaymentOrder.payment == pid).order_by(
            PaymentOrder.id)
        return (Dossier.get_by_id(did).status, Payment.get_by_id(pid).status,
                [o.status for o in orders])


def settled(did: int, pid: int, timeout: float = 10.0) -> tuple[int, str, list[str]]:
    """The state once no order is pending any more (or after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        found = state(did, pid)
        if "pending" not in found[2] or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def received_events(did: int) -> int:
    with db.connection_context():
        return DossierEvent.select().where(DossierEvent.dossier == did,
                                           DossierEvent.action == "payment_received").count()


@pytest.mark.parametrize("gateway", ["vnpay", "national"])
def test_each_outcome_of_the_sandbox(live, owner_client, settings, people, ctx_of, gateway):  # noqa: F811
    portal, sandbox = live
    due = {outcome: owing(people, ctx_of, complete_draft) for outcome in OUTCOMES}
    client = owner_client
    pages, back = {}, {}
    for outcome in OUTCOMES:
        did, p = due[outcome]
        r = pay(client, portal, did, p.id, gateway, outcome)
        pages[outcome], back[outcome] = html.unescape(r.text), str(r.url)

    paid, waiting = tr("The payment is confirmed."), tr(
        "The payment service says you have paid. The portal is waiting for the payment service "
        "to confirm it directly; the dossier goes on then.")
    # approve: the notification and the return race; either way it is paid, once
    for outcome in ("approve", "notify_twice", "notify_before_return", "notify_late"):
        did, p = due[outcome]
        assert settled(did, p.id) == (4, "paid", ["paid"]), outcome
        assert received_events(did) == 1, outcome
    assert paid in pages["notify_before_return"] and paid in pages["notify_twice"]
    assert waiting in pages["notify_late"]  # back before the notification
    assert paid in pages["approve"] or waiting in pages["approve"]
    # notify_late: the page the payer is on says so once the notification has come
    assert back["notify_late"].startswith(f"{portal.url}/payments/return/{gateway}?")
    assert paid in html.unescape(client.get(back["notify_late"]).text)

    did, p = due["decline"]
    assert state(did, p.id) == (6, "requested", ["failed"])
    assert "51" in pages["decline"]
    did, p = due["wrong_amount"]
    assert state(did, p.id) == (6, "requested", ["failed"])
    assert tr("The payment service reports another amount than the one asked. The payment is "
              "not counted: the unit's staff are told and will settle it with you.") in pages[
        "wrong_amount"]
    did, p = due["bad_signature"]
    assert state(did, p.id) == (6, "requested", ["pending"])
    assert tr("The answer the payment service sent back with you could not be verified. The "
              "portal keeps to what the payment service confirms to it directly, which has not "
              "come yet.") in pages["bad_signature"]
    did, p = due["timeout"]
    assert state(did, p.id) == (6, "requested", ["pending"])
    assert "Hết thời gian thanh toán" in pages["timeout"]

    # what the sandbox sent, and what the portal answered each time
    sent = httpx.get(f"{sandbox.url}/_sandbox/sent").json()
    answers = {}
    for message in sent:
        answers.setdefault(message["outcome"], []).append(code_in(message["answer"]))
    assert answers["notify_twice"] == ["00", "02"]
    assert answers["wrong_amount"] == ["04"] and answers["bad_signature"] == ["97"]
    assert answers["decline"] == ["00"] and "timeout" not in answers

    # the reconciliation, later: the payment the gateway took with a bad signature is settled
    # from the gateway's own answer; the abandoned one is closed
    with db.connection_context():
        late = PaymentOrder.select().order_by(PaymentOrder.created_at.desc()).first().created_at
    setup = payments.Setup.of(dataclasses.replace(
        settings, payment_gateways=gateway_settings(sandbox.url)))
    counts = payment_notices.reconcile(setup, late + dt.timedelta(minutes=30))
    assert counts == {"asked": 2, "unavailable": 0}
    did, p = due["bad_signature"]
    assert state(did, p.id) == (4, "paid", ["paid"])
    did, p = due["timeout"]
    assert state(did, p.id) == (6, "requested", ["expired"])
    with db.connection_context():
        listed = [n.outcome for n in PaymentNotice.select().where(
            PaymentNotice.outcome.in_(payment_notices.LISTED))]
    assert listed == ["amount"]


def code_in(answer: str) -> str:
    match = re.search(r'"(?:RspCode|error_code)":\s*"(\d+)"', answer)
    assert match, answer
    return match.group(1)
