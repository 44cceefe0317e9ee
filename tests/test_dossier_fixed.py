"""A submitted dossier is fixed: no file is attached, replaced or removed once it is no longer a
draft, except through a supplement round, whose earlier files stay as evidence; the file limit
holds when the last chunks of many resumable uploads arrive at once; and resumable uploads
reserve no more than the dossier's free places and the user's byte allowance.

The races run with real threads (and a real server process for the tus requests) on the
database the suite runs on: SQLite, or PostgreSQL when DATABASE_URL names one."""

from __future__ import annotations

import base64
import datetime as dt
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from portal.config import Settings
from portal.db import db
from portal.models import Attachment, Dossier, DossierEvent, Upload, utcnow
from portal.services import dossiers, processing, uploads
from portal.services.errors import DomainError, NotFound, ValidationError
from tests.conftest import PASSWORD
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import (
    PDF,
    PNG,
    PROCEDURE,
    UNIT,
    complete_draft,
    documents,
    uploaded_files,
)
from tests.dossier_web_fixtures import pdf_bytes
from tests.live_server import LiveServer
from tests.tus_client import Session as TusSession

MB = 1024 * 1024


def files_of(did: int) -> list[tuple[int, str, str]]:
    with db.connection_context():
        return [(a.id, a.original_name, a.stored_name) for a in
                Attachment.select().where(Attachment.dossier == did).order_by(Attachment.id)]


def actions(did: int) -> list[tuple[str, str]]:
    with db.connection_context():
        return [(e.action, e.note) for e in
                DossierEvent.select().where(DossierEvent.dossier == did).order_by(DossierEvent.id)]


# --- 1. no file changes once the dossier is submitted -----------------------------------------

def test_a_file_whose_upload_races_the_submission_does_not_change_the_submitted_dossier(
        people, ctx_of, settings):
    """The file is checked (`attachable`) while the dossier is a draft, arrives slowly, and the
    dossier is submitted before it is written: it must be refused, not replace a submitted
    document (the plain form and the tus upload's last chunk both go this way)."""
    ctx = ctx_of(people.owner)
    did = complete_draft(ctx)
    first, _ = documents()
    submitted_files = files_of(did)
    receiving, submitted = threading.Event(), threading.Event()

    def slow_file() -> Iterator[bytes]:  # the file's bytes, still arriving over the network
        receiving.set()
        assert submitted.wait(30)
        yield pdf_bytes("thay the")

    with ThreadPoolExecutor(max_workers=1) as pool:
        late = pool.submit(dossiers.add_attachment, ctx, did, first.id, "thay-the.pdf",
                           slow_file())
        assert receiving.wait(30)
        code = dossiers.submit(ctx, did, "race-the-file").code
        submitted.set()
        with pytest.raises(DomainError) as caught:
            late.result(timeout=60)
    assert not isinstance(caught.value, ValidationError)
    assert code and files_of(did) == submitted_files
    # The refused file is not left on disk, the submitted ones are all there.
    assert uploaded_files(settings.uploads) == {name for _, _, name in submitted_files}
    assert [a for a, _ in actions(did)] == ["submit"]


@pytest.fixture
def live(settings, units, catalogue, forms, people) -> Iterator[LiveServer]:
    server = LiveServer(settings, {"PORTAL_MAX_FILES": "20"})
    yield server
    server.stop()


def tus_session(live: LiveServer, username: str) -> TusSession:
    session = TusSession("127.0.0.1", live.port)
    session.login(username, PASSWORD)
    return session


def test_last_chunks_racing_submissions_on_a_real_server_leave_submitted_dossiers_alone(
        live, people, ctx_of):
    """Six drafts, each with a resumable upload replacing its first document. The last chunk
    is sent, and as soon as the server holds it (the file is now being checked and stored) the
    dossier is submitted. Whichever comes first, no file of a dossier is newer than its
    submission, and a refused upload is closed."""
    ctx = ctx_of(people.owner)
    first, _ = documents()
    drafts = [complete_draft(ctx) for _ in range(6)]
    data = b"%PDF-1.4\n" + b"0" * (8 * MB)  # large enough to take a while to check and store
    client = tus_session(live, people.owner.username)
    locations = {}
    for did in drafts:
        locations[did] = client.create(did, first.id, "thay-the.pdf", len(data))
        # Chunks of 3 MB: every chunk before the last byte is over the 64 KB minimum.
        assert client.send(locations[did], data[:-1], 3 * MB) == 204

    def last_chunk(did: int) -> int:
        session = TusSession("127.0.0.1", live.port, cookie=client.cookie, csrf=client.csrf)
        r = session.tus("PATCH", locations[did], data[-1:], {
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": str(len(data) - 1)})
        return r.status

    statuses = {}
    with ThreadPoolExecutor(max_workers=1) as pool:
        for did in drafts:
            key = locations[did].rsplit("/", 1)[1]
            sent = pool.submit(last_chunk, did)
            while not sent.done() and _offset(key) < len(data):
                time.sleep(0.001)  # not a timing assertion: wait for the chunk to be kept
            assert dossiers.submit(ctx, did, f"race-{did}").code
            statuses[did] = sent.result(timeout=120)
    with db.connection_context():
        for did in drafts:
            dossier = Dossier.get_by_id(did)
            files = list(Attachment.select().where(Attachment.dossier == did))
            upload = Upload.get(Upload.key == locations[did].rsplit("/", 1)[1])
            assert dossier.status == 1 and len(files) == 2
            late = [f.original_name for f in files if f.uploaded_at > dossier.submitted_at]
            assert late == [], f"a file replaced one of submitted dossier {did}"
            assert statuses[did] in (204, 422), statuses[did]
            assert (upload.state == "done") == (statuses[did] == 204)
            assert upload.state != "open"
            adds = DossierEvent.select().where(DossierEvent.dossier == did,
                                               DossierEvent.action != "submit").count()
            assert adds == 0


def _offset(key: str) -> int:
    with db.connection_context():
        return Upload.get(Upload.key == key).offset


# --- 2. the file limit under concurrency ------------------------------------------------------

def test_twelve_last_chunks_at_once_never_pass_the_file_limit(live, people, ctx_of):
    """12 final PATCHes at once on a dossier holding 18 of its 20 files: exactly two get in."""
    ctx = ctx_of(people.owner)
    _, several = documents()  # a document that takes several files
    did = dossiers.start_draft(ctx, PROCEDURE, UNIT).id
    client = tus_session(live, people.owner.username)
    data = pdf_bytes("chung tu") + b"1" * 200_000
    # The uploads are opened while the dossier is empty (twelve free places is room enough),
    # then the plain form brings it to 18 files.
    locations = [client.create(did, several.id, f"chung-tu-{i}.pdf", len(data))
                 for i in range(12)]
    for i in range(18):
        dossiers.add_attachment(ctx, did, several.id, f"tep-{i}.pdf", [PDF])
    start = threading.Barrier(12)

    def send(location: str) -> int:
        session = TusSession("127.0.0.1", live.port, cookie=client.cookie, csrf=client.csrf)
        start.wait(30)
        return session.send(location, data, len(data))

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(send, locations, timeout=120))
    assert sorted(statuses) == [204] * 2 + [422] * 10
    assert len(files_of(did)) == 20
    with db.connection_context():
        states = sorted(u.state for u in Upload.select().where(Upload.dossier == did))
    assert states == ["done"] * 2 + ["rejected"] * 10


# --- 3. supplement rounds are evidence --------------------------------------------------------

def test_files_of_an_earlier_supplement_round_stay_and_each_change_is_on_the_record(
        people, ctx_of, settings):
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    did = dossiers.submit(owner, complete_draft(owner), "rounds").id
    _, second = documents()
    processing.act(officer, did, "request_supplement", "Bổ sung hợp đồng.")
    first_round = dossiers.add_attachment(owner, did, second.id, "hop-dong.png", [PNG],
                                          purpose="supplement")
    processing.act(owner, did, "supplement")
    processing.act(officer, did, "request_supplement", "Bổ sung hóa đơn.")
    # The file sent in the first round is evidence: it cannot be taken back now.
    with pytest.raises(NotFound):
        dossiers.remove_attachment(owner, did, first_round.id)
    assert first_round.id in [i for i, _, _ in files_of(did)]
    assert first_round.stored_name in uploaded_files(settings.uploads)
    # A file of this round may be taken back before the supplement is sent; both are recorded.
    second_round = dossiers.add_attachment(owner, did, second.id, "hoa-don.pdf", [PDF],
                                           purpose="supplement")
    dossiers.remove_attachment(owner, did, second_round.id)
    assert second_round.stored_name not in uploaded_files(settings.uploads)
    assert actions(did) == [
        ("submit", ""),
        ("request_supplement", "Bổ sung hợp đồng."),
        ("add_file", "hop-dong.png"),
        ("supplement", ""),
        ("request_supplement", "Bổ sung hóa đơn."),
        ("add_file", "hoa-don.pdf"),
        ("remove_file", "hoa-don.pdf"),
    ]
    with db.connection_context():
        events = list(DossierEvent.select().where(DossierEvent.dossier == did,
                                                  DossierEvent.action.in_(["add_file",
                                                                           "remove_file"])))
    assert all(e.actor_id == people.owner.id and e.status_before == e.status_after == 5
               and e.public and e.client_addr == "203.0.113.7" for e in events)


def test_an_earlier_rounds_file_stays_through_the_web(people, ctx_of, make_user, client):
    """The same rule through the route the page's remove button posts to."""
    from tests.helpers import csrf_from

    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    did = dossiers.submit(owner, complete_draft(owner), "rounds-web").id
    _, second = documents()
    processing.act(officer, did, "request_supplement", "Bổ sung hợp đồng.")
    earlier = dossiers.add_attachment(owner, did, second.id, "hop-dong.png", [PNG],
                                      purpose="supplement")
    processing.act(owner, did, "supplement")
    processing.act(officer, did, "request_supplement", "Bổ sung hóa đơn.")
    token = csrf_from(client.get("/login").text)
    client.post("/login", data={"username": people.owner.username, "password": PASSWORD,
                                "csrf_token": token}, follow_redirects=False)
    token = csrf_from(client.get(f"/dossiers/{did}").text)
    r = client.post(f"/dossiers/{did}/files/{earlier.id}/delete", data={"csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 404
    assert earlier.id in [i for i, _, _ in files_of(did)]


# --- 4. what resumable uploads may reserve ----------------------------------------------------

def test_open_uploads_take_no_more_than_the_free_file_places(people, ctx_of):
    ctx = ctx_of(people.owner, max_files=3)
    _, several = documents()
    did = dossiers.start_draft(ctx, PROCEDURE, UNIT).id
    dossiers.add_attachment(ctx, did, several.id, "a.pdf", [PDF])
    opened = [uploads.create(ctx, did, several.id, f"{i}.pdf", 1000, "application")
              for i in range(2)]
    with pytest.raises(ValidationError) as caught:
        uploads.create(ctx, did, several.id, "3.pdf", 1000, "application")
    assert f"doc-{several.id}" in caught.value.errors
    # A cancelled upload or one left to expire frees its place.
    uploads.terminate(ctx, opened[0].key)
    again = uploads.create(ctx, did, several.id, "3.pdf", 1000, "application")
    with db.connection_context():
        Upload.update(expires_at=utcnow() - dt.timedelta(minutes=1)).where(
            Upload.key == again.key).execute()
    uploads.create(ctx, did, several.id, "4.pdf", 1000, "application")
    with db.connection_context():
        assert Upload.select().where(Upload.dossier == did, Upload.state == "open").count() == 3


def test_a_users_open_uploads_reserve_at_most_the_allowance(people, ctx_of):
    ctx = ctx_of(people.owner, max_reserved_bytes=3 * MB)
    _, several = documents()
    one, other = (dossiers.start_draft(ctx, PROCEDURE, UNIT).id for _ in range(2))
    uploads.create(ctx, one, several.id, "a.pdf", 2 * MB, "application")
    with pytest.raises(ValidationError) as caught:  # counted across the user's dossiers
        uploads.create(ctx, other, several.id, "b.pdf", MB + 1, "application")
    assert caught.value.errors[f"doc-{several.id}"].params == {"mb": 3}
    uploads.create(ctx, other, several.id, "b.pdf", MB, "application")
    # Another user of the enterprise has an allowance of their own.
    colleague = ctx_of(people.colleague, max_reserved_bytes=3 * MB)
    uploads.create(colleague, other, several.id, "c.pdf", MB, "application")


def test_the_allowance_is_a_setting(tmp_path):
    env = {"PORTAL_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(env).max_reserved_bytes == 200 * MB
    assert Settings.from_env({**env, "PORTAL_MAX_RESERVED_MB": "5"}).max_reserved_bytes == 5 * MB


@pytest.fixture
def tight_live(settings, units, catalogue, forms, people) -> Iterator[LiveServer]:
    server = LiveServer(settings, {"PORTAL_MAX_FILES": "20", "PORTAL_MAX_RESERVED_MB": "1"})
    yield server
    server.stop()


def test_uploads_opened_at_once_keep_to_the_free_places_and_the_allowance(tight_live, people,
                                                                          ctx_of):
    """Eight uploads opened at once on a dossier with 18 of 20 files: two are opened. Then six
    at once of 400 KB each on six other dossiers, against 1 MB: two are opened."""
    ctx = ctx_of(people.owner)
    _, several = documents()
    full = dossiers.start_draft(ctx, PROCEDURE, UNIT).id
    for i in range(18):
        dossiers.add_attachment(ctx, full, several.id, f"tep-{i}.pdf", [PDF])
    others = [dossiers.start_draft(ctx, PROCEDURE, UNIT).id for _ in range(6)]
    client = tus_session(tight_live, people.owner.username)

    def create(did: int, length: int, start: threading.Barrier) -> int:
        session = TusSession("127.0.0.1", tight_live.port, cookie=client.cookie,
                             csrf=client.csrf)
        meta = f"filename {base64.b64encode(b'a.pdf').decode()},document " \
               f"{base64.b64encode(str(several.id).encode()).decode()}"
        start.wait(30)
        return session.tus("POST", f"/dossiers/{did}/uploads", headers={
            "Upload-Length": str(length), "Upload-Metadata": meta}).status

    with ThreadPoolExecutor(max_workers=8) as pool:
        start = threading.Barrier(8)
        places = list(pool.map(lambda _: create(full, 1000, start), range(8), timeout=120))
        start = threading.Barrier(6)
        allowance = list(pool.map(lambda did: create(did, 400 * 1024, start), others,
                                  timeout=120))
    assert sorted(places) == [201] * 2 + [422] * 6
    assert sorted(allowance) == [201] * 2 + [422] * 4
    with db.connection_context():
        assert Upload.select().where(Upload.dossier == full).count() == 2
        assert Upload.select().where(Upload.dossier.in_(others)).count() == 2
