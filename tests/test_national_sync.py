"""The status sync to the National Public Service Portal, end to end against a real HTTP
receiver on loopback (tests/national_receiver.py): every status change is written to the
outbox in its own transaction, delivered by the worker in order per dossier, retried with
back-off through failures, time-outs and late answers, applied once, and failed messages
are sent again by an administrator."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest

from portal import jobs, sync_switch
from portal.db import db
from portal.models import Dossier, DossierEvent, NationalMessage, utcnow
from portal.services import (
    dossiers,
    national_delivery,
    national_outbox,
    national_sync,
    processing,
)
from portal.services.errors import DomainError
from portal.services.national_message import national_time
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import PROCEDURE, UNIT, complete_draft
from tests.national_receiver import CLIENT_ID, SECRET, NationalReceiver


@pytest.fixture
def receiver():
    with NationalReceiver() as r:
        yield r


@pytest.fixture
def link(settings, receiver, monkeypatch):
    """The sync switched on, the worker pointed at the receiver (1 s time-out, 3 attempts)."""
    monkeypatch.setenv("PORTAL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PORTAL_NATIONAL_SYNC_URL", receiver.url)
    monkeypatch.setenv("PORTAL_NATIONAL_SYNC_CLIENT", CLIENT_ID)
    monkeypatch.setenv("PORTAL_NATIONAL_SYNC_SECRET", SECRET)
    monkeypatch.setenv("PORTAL_NATIONAL_SYNC_TIMEOUT", "1")
    monkeypatch.setenv("PORTAL_NATIONAL_SYNC_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("PORTAL_NATIONAL_SYNC_RETRY_SECONDS", "60")
    jobs.settings.cache_clear()
    sync_switch.bind(True)
    yield jobs.settings().national_sync
    sync_switch.bind(False)
    jobs.settings.cache_clear()


def messages(dossier_id: int) -> list[NationalMessage]:
    with db.connection_context():
        return list(NationalMessage.select().where(NationalMessage.dossier == dossier_id)
                    .order_by(NationalMessage.id))


def submitted(people, ctx_of, key: str = "sync") -> int:
    owner = ctx_of(people.owner)
    return dossiers.submit(owner, complete_draft(owner), key).id


def later(minutes: float) -> dt.datetime:
    return utcnow() + dt.timedelta(minutes=minutes)


def test_every_status_change_reaches_the_receiver_in_order_with_its_fields(
        people, ctx_of, link, receiver):
    did = submitted(people, ctx_of)
    processing.act(ctx_of(people.officer), did, "receive")
    assert [m["TrangThaiHoSo"] for m in receiver.applied] == [1, 2]
    assert [m["LoaiThongDiep"] for m in receiver.applied] == ["add", "progress"]
    assert [r.path for r in receiver.received] == ["/api/dossiers/add", "/api/dossiers/progress"]
    with db.connection_context():
        dossier = Dossier.get_by_id(did)
    last = receiver.applied[-1]
    assert last["MaHoSo"] == dossier.code and last["MaTTHC"] == PROCEDURE
    assert last["TenTTHC"].startswith("Thủ tục") and last["TenLinhVuc"]
    assert last["KenhThucHien"] == "2" and last["LoaiDoiTuong"] == "2"
    assert last["MaDoiTuong"] == "0100112437" and last["ChuHoSo"]
    assert last["MaDonViXuLy"] == UNIT and last["DonViXuLy"]
    assert last["NgayHenTra"] == national_time(dossier.due_at) and len(last["NgayHenTra"]) == 14
    assert last["NgayTiepNhan"] == national_time(dossier.received_at) and last["NgayTra"] == ""
    assert [(f["DuocSoHoa"], f["DuocTaiSuDung"]) for f in last["TaiLieuNop"]] == [(0, 0), (0, 0)]
    assert [s["HanhDong"] for s in last["QuaTrinhXuLy"]] == ["submit", "receive"]
    assert [s["TrangThaiSau"] for s in last["QuaTrinhXuLy"]] == [1, 2]
    assert [m.state for m in messages(did)] == ["sent", "sent"]
    assert national_sync.state_of(did).label == "synced"


def test_a_change_that_leaves_the_status_writes_no_message(people, ctx_of, link, receiver):
    did = submitted(people, ctx_of)
    processing.act(ctx_of(people.officer), did, "receive")
    with db.connection_context(), db.atomic():
        from portal.services import history

        history.note(history.SYSTEM, "test_note", Dossier.get_by_id(did), "x")
    assert len(messages(did)) == 2


def test_with_the_sync_off_no_message_is_written(people, ctx_of, settings):
    did = submitted(people, ctx_of)
    processing.act(ctx_of(people.officer), did, "receive")
    assert messages(did) == []
    assert national_sync.state_of(did).label == "off"


def test_failures_are_retried_with_back_off_and_a_later_message_waits(
        people, ctx_of, link, receiver):
    receiver.plan("fail", "refuse")
    did = submitted(people, ctx_of)  # first attempt: HTTP 500
    first = messages(did)[0]
    assert (first.state, first.attempts, first.error_code) == ("pending", 1, "E500")
    assert first.next_attempt_at - utcnow() > dt.timedelta(seconds=50)  # 60 s, then 120 s
    processing.act(ctx_of(people.officer), did, "receive")  # waits behind the first
    assert [m.attempts for m in messages(did)] == [1, 0] and receiver.applied == []
    assert national_outbox.deliver_dossier(did, link).sent == 0  # not due yet
    report = national_outbox.deliver_dossier(did, link, later(1.5))  # the receiver refuses
    assert report.sent == 0 and 100 < report.retry_in < 130
    first = messages(did)[0]
    assert (first.attempts, first.error_code, first.error_message) == (
        2, "91", "Mã TTHC không tồn tại")
    assert national_sync.state_of(did).error_code == "91"
    assert national_outbox.deliver_dossier(did, link, later(4)).sent == 2
    assert [m["SoThuTu"] for m in receiver.applied] == [1, 2]
    assert [m.state for m in messages(did)] == ["sent", "sent"]


def test_a_time_out_and_a_late_answer_are_applied_once(people, ctx_of, link, receiver):
    receiver.plan("slow", "late")
    did = submitted(people, ctx_of)  # applied, but answered after the client gave up
    assert messages(did)[0].error_code == national_delivery.TIMEOUT
    assert len(receiver.applied) == 1
    processing.act(ctx_of(people.officer), did, "receive")
    assert national_outbox.deliver_dossier(did, link, later(1.5)).sent == 0  # "late": times out
    # ... and the retry overtakes the late request: the receiver applies it, then the late
    # one finds its key already applied.
    assert national_outbox.deliver_dossier(did, link, later(5)).sent == 2
    time.sleep(receiver.slow_seconds + 0.5)
    assert [m["SoThuTu"] for m in receiver.applied] == [1, 2]
    keys = [r.key for r in receiver.received]
    assert len(keys) == 4 and len(set(keys)) == 2


def test_a_message_fails_after_the_last_attempt_and_an_administrator_retries_it(
        people, ctx_of, link, receiver, make_user):
    receiver.plan("garbage", "fail", "fail")
    did = submitted(people, ctx_of)
    processing.act(ctx_of(people.officer), did, "receive")
    national_outbox.deliver_dossier(did, link, later(2))
    national_outbox.deliver_dossier(did, link, later(10))
    assert [m.state for m in messages(did)] == ["failed", "pending"]
    assert national_outbox.deliver_dossier(did, link, later(60)).sent == 0  # blocked
    [row] = national_sync.failed()
    assert (row.dossier_id, row.error_code, row.attempts) == (did, "E500", 3)
    assert national_sync.state_of(did).label == "failed"
    admin = make_user("admin")
    national_sync.retry(admin, row.id)  # the worker (immediate here) sends both, in order
    assert [m["SoThuTu"] for m in receiver.applied] == [1, 2]
    assert national_sync.failed() == [] and national_sync.counts()["sent"] == 2
    with db.connection_context():
        actions = [e.action for e in DossierEvent.select().where(DossierEvent.dossier == did)]
    assert "national_sync_retry" in actions
    with pytest.raises(DomainError):
        national_sync.retry(admin, row.id)


def test_a_bad_signature_is_a_failure_with_the_receivers_error(people, ctx_of, link, receiver):
    from dataclasses import replace

    did = submitted(people, ctx_of)
    wrong = replace(link, secret="another-secret-of-enough-length")
    with db.connection_context():
        NationalMessage.update(state="pending", sent_at=None).execute()
    national_outbox.deliver_dossier(did, wrong)
    assert messages(did)[0].error_code == "SIGNATURE"


def test_the_periodic_flush_sends_what_was_left(people, ctx_of, link, receiver):
    sync_switch.bind(False)  # written while the sync was off: nothing
    did = submitted(people, ctx_of)
    sync_switch.bind(True)
    receiver.plan("fail")
    processing.act(ctx_of(people.officer), did, "receive")
    assert national_outbox.due_dossier_ids() == []  # waits for its back-off
    with db.connection_context():
        NationalMessage.update(next_attempt_at=utcnow()).execute()
    assert national_outbox.due_dossier_ids() == [did]
    assert jobs.flush_national_sync.call_local() == 1
    assert [m["TrangThaiHoSo"] for m in receiver.applied] == [2]
    assert [m["LoaiThongDiep"] for m in receiver.applied] == ["add"]


def test_two_workers_never_hold_the_same_message(people, ctx_of, link, receiver):
    receiver.plan("fail")
    did = submitted(people, ctx_of)
    for _round in range(5):
        with db.connection_context():
            NationalMessage.update(next_attempt_at=utcnow(), lease_until=None).execute()
        barrier = threading.Barrier(4)
        won: list[object] = []

        def claim(barrier: threading.Barrier = barrier, won: list[object] = won) -> None:
            barrier.wait()
            got = national_outbox.claim_next(did, 30)
            if got is not None:
                won.append(got)

        threads = [threading.Thread(target=claim) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1
    assert messages(did)[0].attempts == 6


def test_the_stored_message_is_the_one_sent(people, ctx_of, link, receiver):
    did = submitted(people, ctx_of)
    [message] = messages(did)
    assert json.loads(message.payload) == receiver.applied[0]
    assert receiver.received[0].key == message.key == receiver.applied[0]["MaThongDiep"]
