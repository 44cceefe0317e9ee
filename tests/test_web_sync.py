"""The national portal link in the browser: the dossier page shows its sync state to the unit's
staff (not to the applicant); the administrator lists failed deliveries with the receiver's
error and sends one again after confirming; the catalogue sync is uploaded, checked (nothing
changes) and confirmed. Against a real loopback receiver; forms work without JavaScript."""

from __future__ import annotations

import html

import pytest

from portal import jobs, sync_switch
from portal.db import db
from portal.models import NationalMessage, Procedure
from tests import dossier_web_fixtures as fx
from tests.dossier_web_fixtures import text_of, tr
from tests.helpers import HX
from tests.national_receiver import CLIENT_ID, SECRET, NationalReceiver
from tests.test_catalogue_sync import EXPORT, NEW_NAME, export_csv
from tests.test_web_dossiers import acted, submitted

forms, people, sessions = fx.forms, fx.people, fx.sessions


@pytest.fixture
def receiver(settings, monkeypatch):
    """The sync on, the worker (immediate here) sending to a loopback receiver."""
    with NationalReceiver() as r:
        monkeypatch.setenv("PORTAL_DATA_DIR", str(settings.data_dir))
        monkeypatch.setenv("PORTAL_NATIONAL_SYNC_URL", r.url)
        monkeypatch.setenv("PORTAL_NATIONAL_SYNC_CLIENT", CLIENT_ID)
        monkeypatch.setenv("PORTAL_NATIONAL_SYNC_SECRET", SECRET)
        monkeypatch.setenv("PORTAL_NATIONAL_SYNC_TIMEOUT", "1")
        monkeypatch.setenv("PORTAL_NATIONAL_SYNC_MAX_ATTEMPTS", "1")
        jobs.settings.cache_clear()
        sync_switch.bind(True)
        yield r
        sync_switch.bind(False)
        jobs.settings.cache_clear()


def sync_text(page: str) -> str:
    start = page.find('id="national-sync"')
    return html.unescape(page[start:page.find("</dd>", start)]) if start >= 0 else ""


def test_the_unit_sees_the_sync_state_and_the_applicant_does_not(sessions, receiver):
    receiver.plan("refuse")  # one attempt only: the first message fails at once
    did = submitted(sessions["enterprise"])
    officer = sessions["officer"].get(f"/dossiers/{did}").text
    assert tr("Delivery failed: an administrator must send it again") in sync_text(officer)
    assert "91 Mã TTHC không tồn tại" in sync_text(officer)
    assert 'id="national-sync"' not in sessions["enterprise"].get(f"/dossiers/{did}").text
    acted(sessions["officer"], did, "receive")  # waits behind the failed one
    assert receiver.applied == []

    admin = sessions["admin"]
    listing = admin.get("/admin/sync").text
    with db.connection_context():
        first = NationalMessage.select().order_by(NationalMessage.id).first()
    assert first.key in listing and "Mã TTHC không tồn tại" in html.unescape(listing)
    page = admin.get(f"/admin/sync/{first.id}/retry")
    assert page.status_code == 200 and 'method="post"' in page.text
    r = admin.post(f"/admin/sync/{first.id}/retry")
    assert r.status_code == 303 and r.headers["location"] == "/admin/sync"
    assert [m["TrangThaiHoSo"] for m in receiver.applied] == [1, 2]  # in order
    assert first.key in admin.get("/admin/sync").text  # the flash: it will be sent again
    assert first.key not in admin.get("/admin/sync").text  # no longer failed
    after = sessions["officer"].get(f"/dossiers/{did}").text
    assert tr("Up to date") in sync_text(after)
    assert admin.post(f"/admin/sync/{first.id}/retry").status_code == 409  # not failed now
    assert admin.get("/admin/sync/999999/retry").status_code == 404


def test_with_the_sync_off_the_pages_say_so(sessions):
    did = submitted(sessions["enterprise"])
    assert tr("Not synced: the link to the National Public Service Portal is not configured") \
        in sync_text(sessions["officer"].get(f"/dossiers/{did}").text)
    assert "PORTAL_NATIONAL_SYNC_URL" in sessions["admin"].get("/admin/sync").text


def test_the_catalogue_is_checked_then_updated_in_the_browser(sessions):
    admin = sessions["admin"]
    assert admin.get("/admin/catalogue/sync").status_code == 200
    files = {"file": ("tthc.csv", EXPORT, "text/csv")}
    checked = admin.post("/admin/catalogue/sync", files=files)
    assert checked.status_code == 200
    page = html.unescape(checked.text)
    assert NEW_NAME in page and "9.999999" in page and 'name="content"' in page
    with db.connection_context():
        assert Procedure.get(Procedure.code == "1.005458").name != NEW_NAME
    content = html.unescape(checked.text.split('name="content" value="')[1].split('"')[0])
    r = admin.post("/admin/catalogue/sync/apply", {"format": "csv", "content": content})
    assert r.status_code == 303
    with db.connection_context():
        assert Procedure.get(Procedure.code == "1.005458").name == NEW_NAME
    assert tr("%(count)s procedures updated from the national catalogue.") % {"count": 1} \
        in html.unescape(admin.get(r.headers["location"]).text)


@pytest.mark.parametrize("headers", [{}, HX])
def test_a_bad_export_is_shown_again_with_its_problems(sessions, headers):
    admin = sessions["admin"]
    bad = {"file": ("tthc.csv", export_csv(["oops", "", "9", "", ""]), "text/csv")}
    r = admin.post("/admin/catalogue/sync", files=bad, headers=headers)
    assert r.status_code == 422
    text = text_of(r)
    assert "ma_tthc" in text and "muc_do" in text and 'id="f-file-error"' in r.text
    assert admin.post("/admin/catalogue/sync", files={}).status_code == 422
    tampered = admin.post("/admin/catalogue/sync/apply", {"format": "xml", "content": "x"})
    assert tampered.status_code == 422
