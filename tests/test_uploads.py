"""Resumable uploads (tus 1.0: core, creation, termination, checksum, expiration): the protocol
through the app, the cleanup job, and a 20 MB file over a link that drops several times."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import os
from collections.abc import Iterator

import pytest
from tusclient.client import TusClient
from tusclient.storage.filestorage import FileStorage

from portal.db import db
from portal.jobs import clean_expired_uploads
from portal.models import Attachment, Dossier, Upload
from portal.services import dossiers, uploads
from portal.storage import PARTIAL
from tests import dossier_web_fixtures as fx
from tests.conftest import PASSWORD
from tests.cutting_proxy import CuttingProxy
from tests.dossier_fixtures import make_ctx
from tests.dossier_web_fixtures import PROCEDURE, UNIT, document_ids, pdf_bytes
from tests.live_server import LiveServer
from tests.tus_client import Session as TusSession

forms, people, sessions = fx.forms, fx.people, fx.sessions
TUS = {"Tus-Resumable": "1.0.0"}
K = 64 * 1024  # the smallest chunk that need not end the file


def meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def sha256_b64(data: bytes) -> str:
    return "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.fixture
def draft(sessions) -> int:
    s = sessions["enterprise"]
    r = s.post("/dossiers/new", {"procedure": PROCEDURE, "unit": UNIT})
    assert r.status_code == 303
    return int(r.headers["location"].split("/")[2])


class Tus:
    """tus requests through the test client, as one logged-in user."""

    def __init__(self, session) -> None:
        self.s = session

    def headers(self, **extra: str) -> dict[str, str]:
        return {**TUS, "X-CSRF-Token": self.s.token, **extra}

    def create(self, did: int, doc: int, length: int, filename: str = "to-khai.pdf",
               purpose: str = "application", **extra: str):
        return self.s.client.post(
            f"/dossiers/{did}/uploads",
            headers=self.headers(**{"Upload-Length": str(length),
                                    "Upload-Metadata": meta(filename=filename, document=str(doc),
                                                            purpose=purpose)}, **extra),
            follow_redirects=False)

    def patch(self, location: str, offset: int, data: bytes, checksum: str | None = None,
              **extra: str):
        headers = self.headers(**{"Content-Type": "application/offset+octet-stream",
                                  "Upload-Offset": str(offset), **extra})
        if checksum:
            headers["Upload-Checksum"] = checksum
        return self.s.client.patch(location, content=data, headers=headers)

    def head(self, location: str):
        return self.s.client.head(location, headers=self.headers())


@pytest.fixture
def tus(sessions) -> Tus:
    return Tus(sessions["enterprise"])


def partial_dirs(settings) -> list[str]:
    folder = settings.uploads / PARTIAL
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_discovery_names_version_extensions_and_limits(client, settings):
    r = client.options("/uploads")
    assert r.status_code == 204
    assert r.headers["tus-version"] == "1.0.0"
    assert set(r.headers["tus-extension"].split(",")) == {
        "creation", "termination", "checksum", "expiration"}
    assert int(r.headers["tus-max-size"]) == settings.max_upload_bytes
    assert "sha256" in r.headers["tus-checksum-algorithm"].split(",")


def test_chunks_make_an_attachment_only_when_complete(tus, draft, settings):
    data = pdf_bytes("To khai huy") + os.urandom(300_000)
    doc = document_ids()[0]
    r = tus.create(draft, doc, len(data))
    assert r.status_code == 201 and r.headers["tus-resumable"] == "1.0.0"
    location = r.headers["location"]
    assert location.startswith("/uploads/") and "upload-expires" in r.headers
    pieces = [data[:100_000], data[100_000:200_000], data[200_000:]]
    offset = 0
    for i, piece in enumerate(pieces):
        with db.connection_context():
            assert Attachment.select().count() == 0  # nothing is attached before the end
        r = tus.patch(location, offset, piece, sha256_b64(piece))
        assert r.status_code == 204, r.text
        offset += len(piece)
        assert int(r.headers["upload-offset"]) == offset
        assert tus.head(location).headers["upload-offset"] == str(offset)
        assert ("upload-complete" in r.headers) == (i == 2)
    with db.connection_context():
        att = Attachment.get()
        upload = Upload.get()
    assert (att.original_name, att.size, att.sha256) == (
        "to-khai.pdf", len(data), hashlib.sha256(data).hexdigest())
    assert (settings.uploads / att.stored_name).read_bytes() == data
    assert upload.state == "done" and upload.attachment_id == att.id
    assert partial_dirs(settings) == []  # the chunks are gone once the file is whole
    # The edit page lists the file like one sent through the plain form.
    assert "to-khai.pdf" in tus.s.get(f"/dossiers/{draft}/edit").text


def test_a_chunk_at_the_wrong_offset_is_refused_with_the_right_offset(tus, draft):
    data = pdf_bytes() + b"x" * 3 * K
    location = tus.create(draft, document_ids()[0], len(data)).headers["location"]
    assert tus.patch(location, 0, data[:K]).status_code == 204
    again = tus.patch(location, 0, data[:K])  # a resend of a chunk that got in
    assert again.status_code == 409 and again.headers["upload-offset"] == str(K)
    ahead = tus.patch(location, 2 * K, data[2 * K:])
    assert ahead.status_code == 409 and ahead.headers["upload-offset"] == str(K)
    assert tus.head(location).headers["upload-offset"] == str(K)


def test_a_damaged_chunk_is_not_kept(tus, draft, settings):
    data = pdf_bytes() + b"y" * 2 * K
    location = tus.create(draft, document_ids()[0], len(data)).headers["location"]
    r = tus.patch(location, 0, data[:K], sha256_b64(b"something else"))
    assert r.status_code == 460
    assert tus.head(location).headers["upload-offset"] == "0"
    key = location.rsplit("/", 1)[1]
    assert list((settings.uploads / PARTIAL / key).iterdir()) == []
    sha1 = "sha1 " + base64.b64encode(hashlib.sha1(data).digest()).decode()
    assert tus.patch(location, 0, data, sha1).status_code == 204


def test_a_file_of_a_refused_type_is_refused_when_complete(tus, draft, settings):
    data = b"MZ" + os.urandom(5000)  # an executable, whatever its name says
    location = tus.create(draft, document_ids()[0], len(data), filename="hoa-don.pdf")\
        .headers["location"]
    r = tus.patch(location, 0, data)
    assert r.status_code == 422 and "PDF" in r.text
    with db.connection_context():
        assert Attachment.select().count() == 0
        assert Upload.get().state == "rejected"
    assert partial_dirs(settings) == []


@pytest.mark.parametrize(("length", "status"), [
    ("0", 422), ("-5", 400), ("abc", 400), (str(21 * 1024 * 1024), 413)])
def test_bad_lengths_are_refused_before_any_byte(tus, draft, settings, length, status):
    """An Upload-Length over the maximum (Tus-Max-Size) is 413, as tus 1.0 creation says."""
    assert settings.max_upload_bytes < 21 * 1024 * 1024
    r = tus.s.client.post(f"/dossiers/{draft}/uploads", headers=tus.headers(**{
        "Upload-Length": length, "Upload-Metadata": meta(filename="a.pdf",
                                                         document=str(document_ids()[0]))}))
    assert r.status_code == status
    assert r.headers["tus-resumable"] == "1.0.0"
    with db.connection_context():
        assert Upload.select().count() == 0


def test_more_than_announced_is_refused(tus, draft):
    location = tus.create(draft, document_ids()[0], 100).headers["location"]
    assert tus.patch(location, 0, pdf_bytes() + b"z" * 200).status_code == 413
    assert tus.head(location).headers["upload-offset"] == "0"


def test_protocol_errors(tus, draft):
    location = tus.create(draft, document_ids()[0], 1000).headers["location"]
    s = tus.s.client
    no_version = s.head(location, headers={"X-CSRF-Token": tus.s.token})
    assert no_version.status_code == 412 and no_version.headers["tus-version"] == "1.0.0"
    no_csrf = s.patch(location, content=b"x", headers={
        **TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"})
    assert no_csrf.status_code == 403
    wrong_type = tus.patch(location, 0, b"x", **{"Content-Type": "application/pdf"})
    assert wrong_type.status_code == 415
    assert tus.patch(location, 0, b"x", **{"Upload-Offset": "zero"}).status_code == 400
    assert tus.patch(location, 0, b"x", "md5 AAAA").status_code == 400
    assert tus.head("/uploads/" + "0" * 32).status_code == 404
    assert tus.head("/uploads/../etc").status_code == 404
    unknown_doc = tus.s.client.post(f"/dossiers/{draft}/uploads", headers=tus.headers(**{
        "Upload-Length": "10", "Upload-Metadata": meta(filename="a.pdf", document="999999")}))
    assert unknown_doc.status_code == 404


def test_another_users_upload_is_not_found(sessions, tus, draft):
    location = tus.create(draft, document_ids()[0], 1000).headers["location"]
    stranger = Tus(sessions["stranger"])
    assert stranger.head(location).status_code == 404
    assert stranger.patch(location, 0, b"%PDF-").status_code == 404
    assert stranger.create(draft, document_ids()[0], 10).status_code == 404
    officer = Tus(sessions["officer"])
    assert officer.head(location).status_code == 403  # staff never upload applications


def test_termination_drops_the_upload_and_its_chunks(tus, draft, settings):
    data = pdf_bytes() + b"q" * 2 * K
    location = tus.create(draft, document_ids()[0], len(data)).headers["location"]
    assert tus.patch(location, 0, data[:K]).status_code == 204
    assert partial_dirs(settings) != []
    r = tus.s.client.delete(location, headers=tus.headers())
    assert r.status_code == 204
    assert tus.head(location).status_code == 404
    assert partial_dirs(settings) == []


def test_submitted_dossiers_take_no_upload(tus, draft, sessions):
    with db.connection_context():
        Dossier.update(status=1).where(Dossier.id == draft).execute()
    assert tus.create(draft, document_ids()[0], 10).status_code == 422


def test_expired_uploads_are_cleaned_by_the_job(tus, draft, settings, job_settings):
    data = pdf_bytes() + b"e" * 2 * K
    stale = tus.create(draft, document_ids()[0], len(data)).headers["location"]
    fresh = tus.create(draft, document_ids()[1], len(data)).headers["location"]
    assert tus.patch(stale, 0, data[:K]).status_code == 204
    assert tus.patch(fresh, 0, data[:K]).status_code == 204
    stray = settings.uploads / PARTIAL / ("f" * 32)  # chunks of a row lost in a crash
    stray.mkdir(parents=True)
    (stray / "000000000000000").write_bytes(b"lost")
    os.utime(stray, (0, 0))
    with db.connection_context():
        Upload.update(expires_at=dt.datetime(2000, 1, 1)).where(
            Upload.key == stale.rsplit("/", 1)[1]).execute()
    assert clean_expired_uploads.call_local() == 1
    assert tus.head(stale).status_code == 404
    assert tus.head(fresh).headers["upload-offset"] == str(K)
    assert partial_dirs(settings) == [fresh.rsplit("/", 1)[1]]


def test_completion_twice_attaches_once(tus, draft, settings, people):
    """A crash after the last chunk was kept but before the file was attached: finishing
    again (the next HEAD/PATCH or a retry) attaches it exactly once."""
    data = pdf_bytes() + b"w" * 500
    location = tus.create(draft, document_ids()[0], len(data)).headers["location"]
    key = location.rsplit("/", 1)[1]
    assert tus.patch(location, 0, data).status_code == 204
    ctx = make_ctx(people.enterprise, settings)
    uploads.finish(ctx, key)
    with db.connection_context():
        assert Attachment.select().count() == 1
    assert dossiers.load(draft, people.enterprise).attachments[0].size == len(data)


# --- a 20 MB file over a link that drops -----------------------------------------------------

@pytest.fixture
def live(settings, units, catalogue, forms, people) -> Iterator[LiveServer]:
    server = LiveServer(settings)
    yield server
    server.stop()


def test_20_mb_over_a_dropping_link_arrives_byte_identical(live, settings, people):
    size = 20_000_000
    data = b"%PDF-1.7\n" + os.urandom(size - 9)
    chunk = 2 * 1024 * 1024
    # Cut the link four times, each in the middle of a chunk (counted in bytes sent to the
    # server, which include the requests' headers).
    cuts = [int(size * f) for f in (0.13, 0.38, 0.61, 0.87)]
    direct = TusSession("127.0.0.1", live.port)
    direct.login(people.enterprise.username, PASSWORD)
    r = direct.request("POST", "/dossiers/new", (
        f"procedure={PROCEDURE}&unit={UNIT}&csrf_token={direct.csrf}").encode(),
        {"Content-Type": "application/x-www-form-urlencoded"})
    did = int(r.getheader("Location").split("/")[2])
    location = direct.create(did, document_ids()[0], "to-khai-20MB.pdf", size)

    proxy = CuttingProxy(live.port, cuts)
    try:
        link = TusSession("127.0.0.1", proxy.port, cookie=direct.cookie, csrf=direct.csrf)
        assert link.send(location, data, chunk) == 204
    finally:
        proxy.close()
    assert proxy.cuts == 4

    dropped = [a for a in link.attempts if a.outcome == "dropped"]
    kept = [a for a in link.attempts if a.outcome == "ok"]
    assert len(dropped) == 4
    # Every acknowledged chunk was sent exactly once, in order, and together they are the file.
    assert [a.offset for a in kept] == list(range(0, size, chunk))
    assert sum(a.size for a in kept) == size
    acknowledged_end = 0
    for a in link.attempts:
        assert a.offset == acknowledged_end  # never an acknowledged byte again
        if a.outcome == "ok":
            acknowledged_end = a.offset + a.size
    # After each drop the server reported the end of the last whole chunk.
    assert all(h % chunk == 0 for h in link.heads) and len(link.heads) >= 4

    with db.connection_context():
        att = Attachment.get(Attachment.dossier == did)
    assert att.size == size and att.sha256 == hashlib.sha256(data).hexdigest()
    assert (settings.uploads / att.stored_name).read_bytes() == data
    assert partial_dirs(settings) == []


def test_chunks_lost_on_disk_are_noticed_before_attaching(tus, draft, settings):
    """After a restore from backup (which leaves unfinished uploads out) or a lost disk, the
    offset in the database may promise chunks that are gone: the file is refused, not cut."""
    data = pdf_bytes() + b"r" * 2 * K
    location = tus.create(draft, document_ids()[0], len(data)).headers["location"]
    assert tus.patch(location, 0, data[:K]).status_code == 204
    key = location.rsplit("/", 1)[1]
    for chunk in (settings.uploads / PARTIAL / key).iterdir():
        chunk.unlink()
    r = tus.patch(location, K, data[K:])
    assert r.status_code == 422
    with db.connection_context():
        assert Attachment.select().count() == 0
        assert Upload.get().state == "rejected"


# --- issue 12: chunks of at least 64 KB, tus as its clients expect it ------------------------

def test_a_small_chunk_is_refused_unless_it_ends_the_file(tus, draft, settings):
    """A 1-byte chunk would cost a file, an fsync and the write lock per byte: a chunk under
    64 KB is refused (and not kept) unless it is the last one."""
    data = pdf_bytes() + os.urandom(K + 100)
    location = tus.create(draft, document_ids()[0], len(data)).headers["location"]
    key = location.rsplit("/", 1)[1]
    r = tus.patch(location, 0, data[:1])
    assert r.status_code == 400 and r.headers["tus-resumable"] == "1.0.0"
    assert "64 KB" in r.text
    assert tus.head(location).headers["upload-offset"] == "0"
    assert list((settings.uploads / PARTIAL / key).iterdir()) == []
    assert tus.patch(location, 0, data[:K - 1]).status_code == 400
    assert tus.patch(location, 0, data[:K]).status_code == 204
    last = tus.patch(location, K, data[K:])  # under 64 KB, but it ends the file
    assert last.status_code == 204 and "upload-complete" in last.headers
    with db.connection_context():
        assert Attachment.get().sha256 == hashlib.sha256(data).hexdigest()


def test_a_file_of_one_small_chunk_is_taken(tus, draft):
    data = pdf_bytes() + b"s" * 100
    location = tus.create(draft, document_ids()[0], len(data)).headers["location"]
    assert tus.patch(location, 0, data).status_code == 204


def test_one_patch_may_carry_a_whole_file_over_16_mb(tus, draft, settings):
    """The official clients send the whole file in one PATCH by default: a file the server
    accepts (Tus-Max-Size) is taken in one PATCH, not refused with a bare 413."""
    size = 19 * 1000 * 1000
    assert size <= settings.max_upload_bytes
    data = b"%PDF-1.7\n" + os.urandom(size - 9)
    location = tus.create(draft, document_ids()[0], size).headers["location"]
    r = tus.patch(location, 0, data, sha256_b64(data))
    assert r.status_code == 204, (r.status_code, r.text)
    assert r.headers["upload-offset"] == str(size) and "upload-complete" in r.headers
    with db.connection_context():
        att = Attachment.get()
    assert att.size == size and att.sha256 == hashlib.sha256(data).hexdigest()
    assert (settings.uploads / att.stored_name).read_bytes() == data


def test_a_body_longer_than_the_rest_is_413_with_tus_resumable(tus, draft, settings):
    data = pdf_bytes() + b"l" * 2 * K
    location = tus.create(draft, document_ids()[0], len(data)).headers["location"]
    over = settings.max_upload_bytes + 2 * K  # over the whole maximum, not just the rest
    r = tus.patch(location, 0, b"%PDF-" + b"\0" * (over - 5))
    assert r.status_code == 413 and r.headers["tus-resumable"] == "1.0.0"
    r = tus.patch(location, 0, data + b"!")
    assert r.status_code == 413 and r.headers["tus-resumable"] == "1.0.0"
    assert tus.head(location).headers["upload-offset"] == "0"


def test_every_tus_refusal_carries_tus_resumable(client, sessions, tus, draft):
    location = tus.create(draft, document_ids()[0], 2 * K).headers["location"]
    octets = {"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    answers = {
        "unknown upload": tus.head("/uploads/" + "0" * 32),
        "not the owner": Tus(sessions["stranger"]).head(location),
        "staff": Tus(sessions["officer"]).patch(location, 0, b"%PDF"),
        "anonymous": client.patch(location, content=b"%PDF", headers={**TUS, **octets}),
        "no CSRF token": tus.s.client.patch(location, content=b"%PDF", headers={**TUS, **octets}),
        "unknown document": tus.s.client.post(f"/dossiers/{draft}/uploads", headers=tus.headers(
            **{"Upload-Length": "10", "Upload-Metadata": meta(filename="a", document="999999")})),
        "wrong offset": tus.patch(location, 5, b"%PDF"),
    }
    statuses = {name: r.status_code for name, r in answers.items()}
    assert statuses == {"unknown upload": 404, "not the owner": 404, "staff": 403,
                        "anonymous": 401, "no CSRF token": 403, "unknown document": 404,
                        "wrong offset": 409}
    assert {name: r.headers.get("tus-resumable") for name, r in answers.items()} == {
        name: "1.0.0" for name in answers}


def test_options_answer_on_the_creation_url(client, settings, draft):
    r = client.options(f"/dossiers/{draft}/uploads")
    assert r.status_code == 204
    assert r.headers["tus-resumable"] == r.headers["tus-version"] == "1.0.0"
    assert "creation" in r.headers["tus-extension"].split(",")
    assert int(r.headers["tus-max-size"]) == settings.max_upload_bytes


# --- the official Python client (tuspy) against a real server --------------------------------

def signed_in_draft(live: LiveServer, people) -> tuple[TusSession, int]:
    """A browser-like session of the enterprise (cookie and CSRF token) and a fresh draft."""
    s = TusSession("127.0.0.1", live.port)
    s.login(people.enterprise.username, PASSWORD)
    r = s.request("POST", "/dossiers/new", (
        f"procedure={PROCEDURE}&unit={UNIT}&csrf_token={s.csrf}").encode(),
        {"Content-Type": "application/x-www-form-urlencoded"})
    return s, int(r.getheader("Location").split("/")[2])


class KeptOpen(io.BytesIO):
    """The file as tuspy reads it: its fingerprinting closes the stream it hashes, and given a
    path it leaves files open, so a stream that stays open."""

    def close(self) -> None:
        pass


def tuspy_client(live: LiveServer, s: TusSession, did: int):
    return TusClient(f"{live.url}/dossiers/{did}/uploads",
                     headers={"Cookie": s.cookie, "X-CSRF-Token": s.csrf})


def attached(settings, did: int) -> tuple[str, bytes]:
    with db.connection_context():
        att = Attachment.get(Attachment.dossier == did)
        assert Upload.get(Upload.dossier == did).state == "done"
    return att.sha256, (settings.uploads / att.stored_name).read_bytes()


def test_tuspy_at_its_defaults_sends_19_mb_in_one_patch(live, settings, people):
    s, did = signed_in_draft(live, people)
    size = 19 * 1000 * 1000
    data = b"%PDF-1.7\n" + os.urandom(size - 9)
    uploader = tuspy_client(live, s, did).uploader(
        file_stream=io.BytesIO(data),
        metadata={"filename": "to-khai-19MB.pdf", "document": str(document_ids()[0])})
    uploader.upload()
    assert uploader.offset == size
    assert attached(settings, did) == (hashlib.sha256(data).hexdigest(), data)
    assert partial_dirs(settings) == []


def test_tuspy_in_chunks_stopped_and_resumed_by_a_new_client(live, settings, people, tmp_path):
    s, did = signed_in_draft(live, people)
    size, chunk = 5 * 1024 * 1024 + 12345, 1024 * 1024
    data = b"%PDF-1.7\n" + os.urandom(size - 9)
    metadata = {"filename": "to-khai.pdf", "document": str(document_ids()[0])}
    first_storage = FileStorage(str(tmp_path / "tus-urls.json"))
    first = tuspy_client(live, s, did).uploader(
        file_stream=KeptOpen(data), chunk_size=chunk, metadata=metadata, store_url=True,
        url_storage=first_storage, upload_checksum=True)
    first.upload(stop_at=3 * chunk)  # the client stops (closed, crashed) after 3 chunks
    assert first.offset == 3 * chunk
    first_storage.close()
    with db.connection_context():
        assert Attachment.select().where(Attachment.dossier == did).count() == 0

    # A new client, with only the stored URL, asks the server's offset and goes on.
    second_storage = FileStorage(str(tmp_path / "tus-urls.json"))
    second = tuspy_client(live, s, did).uploader(
        file_stream=KeptOpen(data), chunk_size=chunk, metadata=metadata, store_url=True,
        url_storage=second_storage, upload_checksum=True)
    assert second.url == first.url and second.offset == 3 * chunk
    second.upload()
    second_storage.close()
    assert second.offset == size
    with db.connection_context():
        assert Upload.select().where(Upload.dossier == did).count() == 1
    assert attached(settings, did) == (hashlib.sha256(data).hexdigest(), data)


def test_tuspy_resumes_from_the_offset_a_fresh_client_asks_with_head(live, settings, people):
    s, did = signed_in_draft(live, people)
    size, chunk = 3 * 1024 * 1024 + 7, 512 * 1024
    data = b"%PDF-1.7\n" + os.urandom(size - 9)
    metadata = {"filename": "to-khai.pdf", "document": str(document_ids()[0])}
    first = tuspy_client(live, s, did).uploader(
        file_stream=io.BytesIO(data), chunk_size=chunk, metadata=metadata)
    first.upload(stop_at=chunk)
    assert first.offset == chunk
    second = tuspy_client(live, s, did).uploader(
        file_stream=io.BytesIO(data), url=first.url)  # at its defaults: the rest in one PATCH
    assert second.offset == chunk  # asked with HEAD
    second.upload()
    assert attached(settings, did) == (hashlib.sha256(data).hexdigest(), data)
