"""Virus scanning with a real ClamAV daemon (Debian's clamd), started by the tests with a test
signature database (the EICAR test string), so no signature download is needed: new files are
held back until clean, an infected one is quarantined, recorded and blocks submission."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from portal import clamd, jobs
from portal.app import create_app
from portal.db import db
from portal.models import Attachment, DossierEvent, Notification
from portal.services.scanning import QUARANTINE
from tests import dossier_web_fixtures as fx
from tests.dossier_web_fixtures import PROCEDURE, UNIT, Session, document_ids, pdf_bytes, tr

forms, people = fx.forms, fx.people
CLAMD = "/usr/sbin/clamd"
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@pytest.fixture(scope="module")
def clamd_socket() -> Iterator[str]:
    """A clamd of our own, its only signature the EICAR test string anywhere in a file."""
    if not Path(CLAMD).exists():
        pytest.fail(f"{CLAMD} is missing: `python3 run.py test` installs clamav-daemon")
    folder = Path(tempfile.mkdtemp(prefix="clamd-"))
    (folder / "portal-test.ndb").write_text(f"Portal.Test.EICAR:0:*:{EICAR.hex()}\n")
    socket_path = folder / "clamd.sock"
    (folder / "clamd.conf").write_text(
        f"DatabaseDirectory {folder}\nLocalSocket {socket_path}\nForeground yes\n"
        f"LogFile {folder / 'clamd.log'}\nPidFile {folder / 'clamd.pid'}\n"
        f"User {os.environ.get('USER') or 'root'}\n")
    proc = subprocess.Popen([CLAMD, "-c", str(folder / "clamd.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not clamd.ping(str(socket_path)):
        assert proc.poll() is None and time.monotonic() < deadline, (
            (folder / "clamd.log").read_text() if (folder / "clamd.log").exists() else "")
        time.sleep(0.2)
    yield str(socket_path)
    proc.terminate()
    proc.wait(timeout=20)
    shutil.rmtree(folder, ignore_errors=True)


def infected_pdf() -> bytes:
    return pdf_bytes("Hoa don") + b"\n%" + EICAR + b"\n"


def test_the_client_tells_clean_from_infected(clamd_socket, tmp_path):
    clean, bad = tmp_path / "clean.pdf", tmp_path / "bad.pdf"
    clean.write_bytes(pdf_bytes())
    bad.write_bytes(infected_pdf())
    assert clamd.scan_file(clamd_socket, clean) is None
    assert clamd.scan_file(clamd_socket, bad).startswith("Portal.Test.EICAR")
    assert not clamd.ping(str(tmp_path / "nothing.sock"))
    with pytest.raises(clamd.ClamdError):
        clamd.scan_file(str(tmp_path / "nothing.sock"), clean)


@pytest.fixture
def scanning_app(settings, units, catalogue, clamd_socket, job_settings, monkeypatch):
    monkeypatch.setenv("PORTAL_CLAMD", clamd_socket)  # the worker's settings (huey runs inline)
    jobs.settings.cache_clear()
    return create_app(dataclasses.replace(settings, clamd_address=clamd_socket))


@pytest.fixture
def owner(scanning_app, people) -> Iterator[Session]:
    with TestClient(scanning_app, base_url="http://testserver") as client:
        yield Session(client, people.enterprise).login()


def draft_with(owner: Session, content: bytes, name: str = "hoa-don.pdf") -> tuple[int, int]:
    r = owner.post("/dossiers/new", {"procedure": PROCEDURE, "unit": UNIT})
    did = int(r.headers["location"].split("/")[2])
    doc = document_ids()[0]
    r = owner.post(f"/dossiers/{did}/files", {"document": str(doc)},
                   files={"file": (name, content, "application/pdf")})
    assert r.status_code == 303, r.text
    with db.connection_context():
        att = Attachment.get(Attachment.dossier == did)
    return did, att.id


def test_a_clean_file_is_released_after_the_scan(owner, settings):
    did, att_id = draft_with(owner, pdf_bytes("Sach"))
    with db.connection_context():
        assert Attachment.get_by_id(att_id).scan == "clean"
    r = owner.get(f"/dossiers/{did}/files/{att_id}")
    assert r.status_code == 200 and r.content == pdf_bytes("Sach")


def test_an_infected_file_is_quarantined_recorded_and_blocks_submission(owner, settings):
    did, att_id = draft_with(owner, infected_pdf())
    with db.connection_context():
        att = Attachment.get_by_id(att_id)
        event = DossierEvent.get(DossierEvent.action == "virus_found")
        notice = Notification.get(Notification.user == att.uploaded_by_id)
    assert att.scan == "infected"
    assert not (settings.uploads / att.stored_name).exists()
    assert (settings.uploads / QUARANTINE / att.stored_name).read_bytes() == infected_pdf()
    assert "Portal.Test.EICAR" in event.note and "hoa-don.pdf" in event.note
    assert "hoa-don.pdf" in notice.text
    download = owner.get(f"/dossiers/{did}/files/{att_id}")
    assert download.status_code == 422 and infected_pdf() not in download.content
    assert tr("A virus was found in this file. It is held back and cannot be opened.") in (
        download.text)
    assert tr("virus found: held back") in owner.get(f"/dossiers/{did}/edit").text
    review = owner.get(f"/dossiers/{did}/review").text
    assert tr("A virus was found in the file %(name)s. It is held back: remove it and attach a "
              "clean copy.", name="hoa-don.pdf") in review


def test_files_stay_held_back_while_clamd_cannot_answer(owner, settings, clamd_socket,
                                                        monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_CLAMD", str(tmp_path / "down.sock"))
    jobs.settings.cache_clear()
    did, att_id = draft_with(owner, pdf_bytes("Cho"))
    with db.connection_context():
        assert Attachment.get_by_id(att_id).scan == "pending"
    r = owner.get(f"/dossiers/{did}/files/{att_id}")
    assert r.status_code == 422
    assert tr("This file is being checked for viruses. Try again in a minute.") in r.text
    assert tr("checking for viruses") in owner.get(f"/dossiers/{did}/edit").text
    # clamd is back: the periodic job queues the waiting file again and it is released.
    monkeypatch.setenv("PORTAL_CLAMD", clamd_socket)
    jobs.settings.cache_clear()
    assert jobs.rescan_pending.call_local() == 1
    with db.connection_context():
        assert Attachment.get_by_id(att_id).scan == "clean"
    assert owner.get(f"/dossiers/{did}/files/{att_id}").status_code == 200


def test_without_a_scanner_files_are_not_held_and_the_admin_page_says_so(sessions, people):
    s = sessions["enterprise"]
    r = s.post("/dossiers/new", {"procedure": PROCEDURE, "unit": UNIT})
    did = int(r.headers["location"].split("/")[2])
    s.post(f"/dossiers/{did}/files", {"document": str(document_ids()[0])},
           files={"file": ("a.pdf", pdf_bytes(), "application/pdf")})
    with db.connection_context():
        att = Attachment.get(Attachment.dossier == did)
    assert att.scan == ""
    assert s.get(f"/dossiers/{did}/files/{att.id}").status_code == 200
    admin = sessions["admin"].get("/admin").text
    assert tr("Not configured: uploaded files are not scanned for viruses. Install ClamAV "
              "(clamd) and set PORTAL_CLAMD to its socket, e.g. /run/clamav/clamd.ctl.") in admin


def test_the_admin_page_shows_the_scanner_on(scanning_app, people, clamd_socket):
    with TestClient(scanning_app, base_url="http://testserver") as client:
        admin = Session(client, people.admin).login()
        page = admin.get("/admin").text
    assert tr("On: every new file is held back until ClamAV (%(address)s) finds it clean.",
              address=clamd_socket) in page


sessions = fx.sessions
