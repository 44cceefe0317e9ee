"""Links that leave the session: the e-mails to the applicant (through a real SMTP server)
carry signed, expiring links to the receipt, the slips and the result file; such a link opens
only in a signed-in session of the user it was sent to, and an expired, altered or borrowed
one is answered as missing (404)."""

from __future__ import annotations

import datetime as dt
import re
import time
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from portal.config import ConfigError, Settings
from portal.db import db
from portal.models import Attachment, Dossier, DossierEvent, OutgoingMail, Slip, User, utcnow
from portal.services.download_links import DownloadLinks, Target
from tests import dossier_web_fixtures as fx
from tests import test_mail
from tests.access_world import attach, start_draft, submit
from tests.conftest import PASSWORD
from tests.dossier_web_fixtures import Session, document_ids, pdf_bytes
from tests.helpers import csrf_from

forms, people, sessions, smtp = fx.forms, fx.people, fx.sessions, test_mail.smtp
OWNER_ADDR = "owner@example.vn"
LINK_RE = re.compile(
    r"http://127\.0\.0\.1:8000(/dossiers/\d+/(?:files|slips)/\d+\?t=[\w.-]+"
    r"|/dossiers/\d+/receipt\?t=[\w.-]+)"
)
DAY = 24 * 3600


def acted(s: Session, did: int, action: str) -> None:
    r = s.post(f"/dossiers/{did}/actions/{action}")
    assert r.status_code == 303, (action, r.status_code)


def submitted(sessions) -> int:
    owner = sessions["enterprise"]
    with db.connection_context():  # the owner gets e-mails
        User.update(email=OWNER_ADDR).where(User.id == owner.user.id).execute()
    did = start_draft(owner)
    first, second = document_ids()
    attach(owner, did, first, "don-de-nghi.pdf", pdf_bytes("request"))
    attach(owner, did, second, "chung-tu.pdf", pdf_bytes("proof"))
    submit(owner, did)
    return did


def released(sessions, result: bytes) -> tuple[int, int]:
    """A dossier whose signed result is issued (status 9); its id and the result's id."""
    did = submitted(sessions)
    officer, leader = sessions["officer"], sessions["leader"]
    for action in ("receive", "start_processing", "submit_for_approval"):
        acted(officer, did, action)
    acted(leader, did, "approve")
    r = officer.post(
        f"/dossiers/{did}/result", files={"file": ("quyet-dinh.pdf", result, "application/pdf")}
    )
    assert r.status_code == 303
    acted(officer, did, "issue_result")
    with db.connection_context():
        result = Attachment.get(Attachment.dossier == did, Attachment.purpose == "result")
    return did, result.id


def links_in(body: str) -> list[str]:
    return LINK_RE.findall(body)


def links(settings) -> DownloadLinks:
    return DownloadLinks.of(settings)


@pytest.fixture
def colleague(app, people, make_user):
    """Another user of the owner's enterprise, signed in: they may open the dossier's files."""
    with db.connection_context():
        user = make_user("enterprise")
    with TestClient(app, base_url="http://testserver") as client:
        yield Session(client, user).login()


# --- the e-mails ------------------------------------------------------------------------------


def test_mails_link_the_receipt_the_slip_and_the_result(signed_result, sessions, forms, smtp,
                                                        settings):
    did, result_id = released(sessions, signed_result)
    acted(sessions["officer"], did, "return_result")
    with db.connection_context():
        slip = Slip.get(Slip.dossier == did, Slip.kind == "receipt")
    owner = sessions["enterprise"]
    bodies = [m.get_content() for rcpt, m in smtp.inbox.messages if rcpt == [OWNER_ADDR]]
    assert len(bodies) == 5  # submitted, received, processing, result ready, returned
    found = [links_in(body) for body in bodies]
    assert [[p.split("?")[0] for p in paths] for paths in found] == [
        [f"/dossiers/{did}/receipt"],
        [f"/dossiers/{did}/slips/{slip.id}"],
        [],
        [f"/dossiers/{did}/files/{result_id}"],
        [f"/dossiers/{did}/files/{result_id}"],
    ]
    assert "có hiệu lực trong 7 ngày" in bodies[3]  # in the owner's language (Vietnamese)
    # Each link names the owner and its object, and opens in the owner's session.
    for path in sum(found, []):
        token = path.split("?t=")[1]
        target = links(settings).read(token)
        assert target is not None and target.user_id == owner.user.id
        assert target.path == path.split("?")[0]
        assert owner.get(path).status_code == 200, path
    download = owner.get(found[3][0])
    assert download.content == signed_result
    assert download.headers["content-type"] == "application/pdf"  # the type found in the file
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment") and "quyet-dinh.pdf" in disposition
    assert "no-store" in download.headers["cache-control"]
    with db.connection_context():  # the mails as kept carry the same links
        kept = [m.body for m in OutgoingMail.select().order_by(OutgoingMail.id)]
    assert [links_in(b) for b in kept] == found


def test_the_result_is_not_linked_before_it_is_issued(sessions, forms, smtp):
    did = submitted(sessions)
    officer = sessions["officer"]
    acted(officer, did, "receive")
    acted(officer, did, "start_processing")
    paths = [p for _, m in smtp.inbox.messages for p in links_in(m.get_content())]
    assert not any("/files/" in p for p in paths)


def test_the_apology_mail_links_its_slip(sessions, forms, settings):
    did = submitted(sessions)
    officer = sessions["officer"]
    acted(officer, did, "receive")
    with db.connection_context():  # promised an hour ago: late
        Dossier.update(due_at=utcnow() - dt.timedelta(hours=1)).where(Dossier.id == did).execute()
    form = officer.get(f"/dossiers/{did}/apology").text
    new_date = re.search(r'name="new_date" type="text" value="([^"]+)"', form).group(1)
    r = officer.post(f"/dossiers/{did}/apology", {"reason": "Chờ giám định", "new_date": new_date})
    assert r.status_code == 303
    with db.connection_context():
        apology = Slip.get(Slip.dossier == did, Slip.kind == "apology")
        body = OutgoingMail.select().order_by(OutgoingMail.id.desc()).get().body
    [path] = links_in(body)
    assert path.startswith(f"/dossiers/{did}/slips/{apology.id}?t=")
    assert links(settings).read(path.split("?t=")[1]) == Target(
        sessions["enterprise"].user.id, did, "slip", apology.id
    )
    # The link opens the slip, whose PDF link carries the same token.
    page = sessions["enterprise"].get(path)
    assert page.status_code == 200
    pdf = re.search(r'href="(/dossiers/\d+/slips/\d+/pdf\?t=[^"]+)"', page.text).group(1)
    assert sessions["enterprise"].get(pdf.replace("&amp;", "&")).status_code == 200


# --- the download handler ---------------------------------------------------------------------


def test_a_link_opens_only_for_its_user_and_object_until_it_expires(signed_result,
    sessions, forms, settings, colleague
):
    did, result_id = released(sessions, signed_result)
    owner = sessions["enterprise"]
    with db.connection_context():
        application = Attachment.get(Attachment.dossier == did, Attachment.purpose == "application")
    target = Target(owner.user.id, did, "file", result_id)
    url = target.path
    make = links(settings)

    def status(session: Session, token: str, path: str = url) -> int:
        return session.get(f"{path}?t={token}").status_code

    now = int(time.time())
    assert status(owner, make.token(target)) == 200
    assert status(owner, make.token(target, issued_at=now - 6 * DAY)) == 200
    assert status(owner, make.token(target, issued_at=now - 7 * DAY - 60)) == 404  # expired
    fresh = make.token(target)
    payload, _, signature = fresh.rpartition(".")
    # Change the first character: the last one of base64 may carry only padding bits.
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert status(owner, f"{payload}.{flipped}") == 404  # altered signature
    other_payload = make.token(Target(owner.user.id, did, "file", application.id)).split(".")[0]
    assert status(owner, f"{other_payload}.{fresh.split('.', 1)[1]}") == 404  # swapped payload
    assert status(owner, "") == 404 and status(owner, "not-a-token") == 404
    assert status(owner, DownloadLinks("another secret", make.base_url).token(target)) == 404
    # A genuine link for another object of the same dossier does not open this one.
    assert status(owner, make.token(target), f"/dossiers/{did}/files/{application.id}") == 404
    # The colleague may download the result in the portal, but not with the owner's link.
    assert colleague.get(url).status_code == 200
    assert status(colleague, fresh) == 404
    assert status(colleague, make.token(Target(colleague.user.id, did, "file", result_id))) == 200
    # Nor the officer, who also has the file.
    assert status(sessions["officer"], fresh) == 404
    with db.connection_context():
        denied = [
            e.note
            for e in DossierEvent.select().where(
                DossierEvent.action == "access_denied", DossierEvent.actor == colleague.user.id
            )
        ]
    assert denied == [f"GET {url} [file link {result_id}]"]


def test_a_link_to_a_slip_or_receipt_checks_its_object_too(sessions, forms, settings):
    did = submitted(sessions)
    acted(sessions["officer"], did, "receive")
    owner, make = sessions["enterprise"], links(settings)
    with db.connection_context():
        slip = Slip.get(Slip.dossier == did)
    receipt = Target(owner.user.id, did, "receipt", did)
    slip_target = Target(owner.user.id, did, "slip", slip.id)
    assert owner.get(f"{receipt.path}?t={make.token(receipt)}").status_code == 200
    assert owner.get(f"{slip_target.path}?t={make.token(slip_target)}").status_code == 200
    assert owner.get(f"{slip_target.path}?t={make.token(receipt)}").status_code == 404
    expired = make.token(slip_target, issued_at=int(time.time()) - 8 * DAY)
    assert owner.get(f"{slip_target.path}?t={expired}").status_code == 404
    assert (
        sessions["stranger"].get(f"{slip_target.path}?t={make.token(slip_target)}").status_code
        == 404
    )


def test_an_anonymous_visitor_logs_in_and_comes_back_to_the_link(signed_result, app, sessions,
                                                                 forms, settings):
    did, result_id = released(sessions, signed_result)
    owner = sessions["enterprise"]
    target = Target(owner.user.id, did, "file", result_id)
    link = f"{target.path}?t={links(settings).token(target)}"
    with TestClient(app, base_url="http://testserver") as browser:
        r = browser.get(link, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/login?next={quote(link)}"
        page = browser.get(r.headers["location"]).text
        assert f'name="next" value="{link}"' in page
        token = csrf_from(page)
        r = browser.post(
            "/login",
            data={
                "username": owner.user.username,
                "password": PASSWORD,
                "csrf_token": token,
                "next": link,
            },
            follow_redirects=False,
        )
        assert (r.status_code, r.headers["location"]) == (303, link)
        download = browser.get(link, follow_redirects=False)
        assert download.status_code == 200 and download.content == signed_result


# --- the setting ------------------------------------------------------------------------------


def test_the_link_lifetime_is_one_setting(tmp_path):
    env = {"PORTAL_DATA_DIR": str(tmp_path), "PORTAL_DOWNLOAD_LINK_DAYS": "3"}
    settings = Settings.from_env(env)
    assert settings.download_link_days == 3
    assert Settings.from_env({"PORTAL_DATA_DIR": str(tmp_path)}).download_link_days == 7
    with pytest.raises(ConfigError):
        Settings.from_env({**env, "PORTAL_DOWNLOAD_LINK_DAYS": "0"})
    make = DownloadLinks.of(settings)
    target = Target(1, 2, "file", 3)
    now = int(time.time())
    assert make.read(make.token(target, issued_at=now - 2 * DAY)) == target
    assert make.read(make.token(target, issued_at=now - 4 * DAY)) is None


@pytest.mark.parametrize(("kind", "route", "params"), [
    ("file", "dossier_file", {"dossier_id": 12, "attachment_id": 34}),
    ("slip", "dossier_slip", {"dossier_id": 12, "slip_id": 34}),
    ("receipt", "dossier_receipt", {"dossier_id": 12}),
])
def test_an_e_mail_link_opens_the_route_that_serves_it(app, kind, route, params):
    """The services write e-mail links without the web layer's URL builder: each link's path
    must be the one the route table gives its download route, so a path changed in
    routes.py is caught here."""
    target = Target(1, 12, kind, params.get("attachment_id") or params.get("slip_id") or 12)
    assert target.path == app.state.urls(route, **params)
