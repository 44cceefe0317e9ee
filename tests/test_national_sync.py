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
    blocked = national_outbox.deliver_dossier(did, link, later(60))
    assert (blocked.sent, blocked.retry_in) == (0, None)  # waits for an administrator
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


def test_the_sync_is_configured_from_the_environment(tmp_path):
    from portal.config import ConfigError, Settings

    base = {"PORTAL_DATA_DIR": str(tmp_path), "PORTAL_SECRET_KEY": "x" * 40,
            "PORTAL_HISTORY_KEY": "h" * 40}
    off = Settings.from_env(base).national_sync
    assert not off.enabled and (off.timeout, off.max_attempts, off.retry_seconds) == (10, 8, 30)
    on = Settings.from_env({**base, "PORTAL_NATIONAL_SYNC_URL": "https://dvc.example/api/",
                            "PORTAL_NATIONAL_SYNC_CLIENT": "hq", "PORTAL_NATIONAL_SYNC_SECRET":
                            "s" * 16, "PORTAL_NATIONAL_SYNC_MAX_ATTEMPTS": "3"}).national_sync
    assert on.enabled and on.url == "https://dvc.example/api" and on.max_attempts == 3
    for wrong in ({"PORTAL_NATIONAL_SYNC_URL": "ftp://x"},
                  {"PORTAL_NATIONAL_SYNC_URL": "https://x",
                   "PORTAL_NATIONAL_SYNC_SECRET": "s" * 16},
                  {"PORTAL_NATIONAL_SYNC_URL": "https://x", "PORTAL_NATIONAL_SYNC_CLIENT": "hq",
                   "PORTAL_NATIONAL_SYNC_SECRET": "short"},
                  {"PORTAL_NATIONAL_SYNC_TIMEOUT": "0"}):
        with pytest.raises(ConfigError):
            Settings.from_env({**base, **wrong})


def test_the_message_is_built_from_plain_facts():
    from portal.services.national_message import (
        DossierFacts,
        FeeFact,
        FileFact,
        StepFact,
        build,
    )

    moment = dt.datetime(2026, 12, 4, 17, 30, 5)  # UTC: 00:30:05 the next day in Vietnam
    facts = DossierFacts(
        code="02CI-261205-0001", procedure_code="1.005458", procedure_name="Huỷ tờ khai",
        field="Hải quan", channel="counter", owner_name="Nguyễn Văn A", owner_kind="person",
        owner_id="001203004567", status=10, received_at=moment, due_at=None,
        returned_at=moment, unit_code="02CI", unit_name="Hải quan cửa khẩu cảng Sài Gòn KV I",
        files=[FileFact("don.pdf", "Đơn đề nghị", "ab" * 32, digitised=True)],
        fees=[FeeFact("Lệ phí", 2, 10000, 20000, paid=True)],
        results=[FileFact("ket-qua.pdf", "", "cd" * 32, digitised=False)],
        steps=[StepFact(moment, "return_result", 9, 10, "Cán bộ", "officer", "2025:02CI", "")],
    )
    message = build(facts, kind="progress", key="k1", sequence=7)
    assert (message["NgayTiepNhan"], message["NgayHenTra"]) == ("20261205003005", "")
    assert (message["KenhThucHien"], message["LoaiDoiTuong"], message["MaDoiTuong"]) == (
        "1", "1", "001203004567")
    assert message["TaiLieuNop"][0]["DuocSoHoa"] == 1
    assert message["DanhSachGiayToKetQua"][0]["DuocSoHoa"] == 0
    assert message["DanhSachLePhi"] == [{"TenPhiLePhi": "Lệ phí", "SoLuong": 2, "DonGia": 10000,
                                         "SoTien": 20000, "DaThanhToan": 1}]
    assert message["QuaTrinhXuLy"][0]["TrangThaiSau"] == 10 and message["SoThuTu"] == 7
    with pytest.raises(ValueError):
        build(facts, kind="delete", key="k1", sequence=1)


def test_a_paper_dossier_of_a_citizen_goes_with_its_scans_digitised(people, ctx_of, link,
                                                                   receiver):
    from portal.services import counter
    from tests.test_counter_service import NOT_ONLINE, PERSON, scans_for

    counter.record_dossier(ctx_of(people.officer), NOT_ONLINE, PERSON, scans_for(NOT_ONLINE))
    [message] = receiver.applied
    assert (message["LoaiThongDiep"], message["TrangThaiHoSo"]) == ("add", 2)
    assert (message["KenhThucHien"], message["LoaiDoiTuong"]) == ("1", "1")
    assert len(message["MaDoiTuong"]) == 12 and message["NgayHenTra"]
    assert message["TaiLieuNop"] and all(f["DuocSoHoa"] == 1 for f in message["TaiLieuNop"])
    assert [s["HanhDong"] for s in message["QuaTrinhXuLy"]] == ["receive_at_counter"]
