"""Issue 15 end to end: a dossier created, filled and submitted through the API by a signed
client system is processed in the branch, and every status change reaches the national
portal's receiver (a real HTTP server on loopback) in order, once each, through a failure, a
time-out, a late answer and a refusal on the way (both databases)."""

from __future__ import annotations

import datetime as dt

from portal.db import db
from portal.models import DossierEvent, NationalMessage, utcnow
from portal.services import national_outbox, national_sync, processing
from tests import api_fixtures
from tests import dossier_web_fixtures as fx
from tests.api_fixtures import new_dossier
from tests.dossier_fixtures import make_ctx
from tests.dossier_web_fixtures import document_ids, pdf_bytes
from tests.test_api import _upload
from tests.test_national_sync import link, receiver  # noqa: F401  (fixtures)

forms, people, caller = fx.forms, fx.people, api_fixtures.caller


def deliver_everything(did: int, link) -> None:  # noqa: F811
    """Let the worker's retries come due, as time passing would, until nothing is left."""
    minutes = 0.0
    for _ in range(12):
        with db.connection_context():
            left = NationalMessage.select().where(NationalMessage.dossier == did,
                                                  NationalMessage.state != "sent").count()
        if not left:
            return
        minutes += 10
        national_outbox.deliver_dossier(did, link, utcnow() + dt.timedelta(minutes=minutes))
    raise AssertionError("messages left undelivered")


def test_an_api_dossier_processed_in_the_branch_reaches_the_national_portal_in_order(
        caller, forms, people, settings, signed_result, link, receiver):  # noqa: F811
    # The receiver fails the first delivery (HTTP 500), answers the second only after the
    # client gave up (it applied it: the third, a retry with the same idempotency key, is
    # answered as already applied), refuses the next message once with its own error code,
    # and applies the rest.
    receiver.plan("fail", "slow", "ok", "refuse")
    created = caller.call("POST", "/api/v1/dossiers", json=new_dossier(),
                          headers={"Idempotency-Key": "order-1"})
    assert created.status_code == 201, created.text
    did = created.json()["id"]
    for doc in document_ids():
        _upload(caller, did, doc, pdf_bytes(f"to khai {doc}"))
    submitted = caller.call("POST", f"/api/v1/dossiers/{did}/submit")
    assert submitted.status_code == 200 and submitted.json()["status"]["code"] == 1
    officer, leader = make_ctx(people.officer, settings), make_ctx(people.leader, settings)
    for action in ("receive", "start_processing", "submit_for_approval"):
        processing.act(officer, did, action)
    processing.act(leader, did, "approve")
    processing.upload_result(officer, did, "ket-qua.pdf", [signed_result])
    processing.act(officer, did, "issue_result")
    processing.act(officer, did, "return_result")
    assert national_sync.state_of(did).label != "synced"  # the failures held the line
    deliver_everything(did, link)

    with db.connection_context():
        changes = [(e.status_before, e.status_after) for e in DossierEvent.select().where(
            DossierEvent.dossier == did).order_by(DossierEvent.id)
            if e.status_after != e.status_before]
    assert [after for _, after in changes] == [1, 2, 4, 9, 10]
    # Every change reached the receiver once, in order, numbered one after the other.
    assert [m["TrangThaiHoSo"] for m in receiver.applied] == [1, 2, 4, 9, 10]
    assert [m["SoThuTu"] for m in receiver.applied] == [1, 2, 3, 4, 5]
    code = submitted.json()["code"]
    assert {m["MaHoSo"] for m in receiver.applied} == {code}
    assert receiver.applied[0]["LoaiThongDiep"] == "add"
    assert receiver.applied[-1]["NgayTra"] != ""
    # What failed on the way was sent again: more requests than messages, none applied twice.
    assert len(receiver.received) > len(receiver.applied)
    assert national_sync.state_of(did).label == "synced"
    # And the client system follows the same changes in the API's feed.
    feed = caller.call("GET", "/api/v1/status-changes?after=0").json()
    assert [(i["dossier_id"], i["status_after"]) for i in feed["items"]] == [
        (did, s) for s in (1, 2, 4, 9, 10)]
