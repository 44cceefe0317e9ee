"""Signed results on the web: the officer's upload is refused with the reason when the result
is not signed by a registered signer, the dossier page shows who signed and when, and anyone
checks a result at /verify by code and fingerprint or by the QR code's signed link (full
page, htmx fragment, throttled), without ever being given the document."""

from __future__ import annotations

import hashlib
import re

import pytest
from starlette.testclient import TestClient

from portal.services import signatures
from portal.services.result_check import NOT_ISSUED, VerifyLinks
from tests import dossier_web_fixtures as fx
from tests.access_world import attach, start_draft, submit
from tests.dossier_web_fixtures import Session, document_ids, pdf_bytes, text_of, tr
from tests.helpers import HX, csrf_from
from tests.pki import change_after_signing, make_pdf, sign_pdf

forms, people, sessions = fx.forms, fx.people, fx.sessions


def acted(s: Session, did: int, action: str) -> None:
    r = s.post(f"/dossiers/{did}/actions/{action}")
    assert r.status_code == 303, (action, r.status_code)


def approved(sessions) -> int:
    owner = sessions["enterprise"]
    did = start_draft(owner)
    first, second = document_ids()
    attach(owner, did, first, "don-de-nghi.pdf", pdf_bytes("request"))
    attach(owner, did, second, "chung-tu.pdf", pdf_bytes("proof"))
    submit(owner, did)
    for action in ("receive", "start_processing", "submit_for_approval"):
        acted(sessions["officer"], did, action)
    acted(sessions["leader"], did, "approve")
    return did


def upload(s: Session, did: int, data: bytes, **kw):
    return s.post(f"/dossiers/{did}/result",
                  files={"file": ("quyet-dinh.pdf", data, "application/pdf")}, **kw)


def error_next_to_result(page: str) -> str:
    found = re.search(r'id="f-result-error"[^>]*>(.*?)</', page, re.S)
    return re.sub(r"<[^>]+>|\s+", " ", found.group(1)).strip() if found else ""


def code_of(did: int) -> str:
    from portal.db import db
    from portal.models import Dossier

    with db.connection_context():
        return Dossier.get_by_id(did).code


@pytest.fixture
def returned(sessions, signed_result) -> tuple[int, str]:
    """A dossier whose signed result was returned; (its id, its code)."""
    did = approved(sessions)
    assert upload(sessions["officer"], did, signed_result).status_code == 303
    acted(sessions["officer"], did, "issue_result")
    acted(sessions["officer"], did, "return_result")
    return did, code_of(did)


@pytest.mark.parametrize("who, reason", [
    ("officer", None),  # valid, but the officer's certificate is not registered for the unit
    ("revoked_cert", signatures.REVOKED),
    ("expired", signatures.EXPIRED),
    ("untrusted", signatures.UNTRUSTED),
])
def test_a_result_not_signed_by_a_registered_signer_is_refused_with_why(
        sessions, signed_result, pki, who, reason):
    did = approved(sessions)
    signed = sign_pdf(make_pdf("Quyết định"), getattr(pki, who), pki)
    r = upload(sessions["officer"], did, signed)
    assert r.status_code == 422
    shown = error_next_to_result(text_of(r))
    if reason is None:
        assert "Trần Thị Cán" in shown and shown.startswith(tr(
            "The result is signed by %(name)s, whose certificate is not registered to sign "
            "this unit's results. Ask an administrator to register it.",
            name="Trần Thị Cán")[:20])
    else:
        assert shown == tr(reason)
    # Nothing was kept, and the result cannot be issued.
    assert sessions["officer"].post(f"/dossiers/{did}/actions/issue_result").status_code == 409


def test_a_changed_or_unsigned_result_is_refused(sessions, signed_result):
    did = approved(sessions)
    r = upload(sessions["officer"], did, change_after_signing(signed_result))
    assert r.status_code == 422
    assert error_next_to_result(text_of(r)) == tr(signatures.CHANGED)
    r = upload(sessions["officer"], did, make_pdf("Chưa ký"))
    assert error_next_to_result(text_of(r)) == tr(signatures.NO_SIGNATURE)


def test_the_page_shows_who_signed_the_result_and_offers_its_check(sessions, returned,
                                                                   signed_result):
    did, code = returned
    for who in ("enterprise", "officer"):
        page = text_of(sessions[who].get(f"/dossiers/{did}"))
        assert tr("Digital signature verified") in page
        assert "Nguyễn Văn Lãnh, Chi cục trưởng" in page
        assert hashlib.sha256(signed_result).hexdigest() in page
        assert 'src="data:image/svg+xml' in page and "/verify?t=" in page
    # The applicant downloads exactly the signed file.
    link = re.search(rf'href="(/dossiers/{did}/files/\d+)"[^>]*>quyet-dinh', sessions[
        "enterprise"].get(f"/dossiers/{did}").text)
    assert sessions["enterprise"].get(link.group(1)).content == signed_result


def test_a_stranger_verifies_by_code_and_fingerprint(app, returned, signed_result):
    did, code = returned
    fingerprint = hashlib.sha256(signed_result).hexdigest()
    with TestClient(app) as stranger:
        r = stranger.get("/verify", params={"code": code, "fingerprint": fingerprint.upper()})
        assert r.status_code == 200 and r.headers["cache-control"] == "private, no-store"
        page = text_of(r)
        assert tr("This document is the result the portal issued, unchanged since it was "
                  "signed.") in page
        assert "Nguyễn Văn Lãnh" in page and code in page
        assert f"/dossiers/{did}/files" not in page  # never the document
        # A changed copy, another dossier's code: answered alike, next to the fingerprint.
        other = hashlib.sha256(signed_result + b"x").hexdigest()
        for params in ({"code": code, "fingerprint": other},
                       {"code": "02CI-000000-0001", "fingerprint": fingerprint}):
            r = stranger.get("/verify", params=params)
            assert r.status_code == 422
            assert tr(NOT_ISSUED) in text_of(r) and "Nguyễn Văn Lãnh" not in text_of(r)
        r = stranger.get("/verify", params={"code": code, "fingerprint": "abc"})
        assert r.status_code == 422
        assert 'value="abc"' in r.text  # the input kept
        # htmx: the answer alone, into its region.
        r = stranger.get("/verify", params={"code": code, "fingerprint": fingerprint},
                         headers={**HX, "HX-Target": "verify-result"})
        assert r.status_code == 200 and "<html" not in r.text
        assert r.text.lstrip().startswith('<section id="verify-result"')
        assert "HX-Request" in r.headers["vary"]


def test_the_qr_link_lists_the_result_and_a_forged_one_nothing(app, returned, signed_result):
    did, code = returned
    token = VerifyLinks.of(app.state.settings).token(code)
    with TestClient(app) as stranger:
        page = text_of(stranger.get("/verify", params={"t": token}))
        assert hashlib.sha256(signed_result).hexdigest() in page
        assert "Nguyễn Văn Lãnh" in page
        forged = text_of(stranger.get("/verify", params={"t": token[:-2] + "xx"}))
        assert tr("No result issued by the portal was found for this code.") in forged
        assert "Nguyễn Văn Lãnh" not in forged


def test_a_result_not_issued_yet_is_not_confirmed(app, sessions, signed_result):
    did = approved(sessions)
    assert upload(sessions["officer"], did, signed_result).status_code == 303
    fingerprint = hashlib.sha256(signed_result).hexdigest()
    with TestClient(app) as stranger:
        r = stranger.get("/verify", params={"code": code_of(did), "fingerprint": fingerprint})
        assert r.status_code == 422


def test_verify_is_throttled_per_address(app, returned):
    did, code = returned
    with TestClient(app) as stranger:
        statuses = [stranger.get("/verify", params={"code": code, "fingerprint": "0" * 64})
                    .status_code for _ in range(21)]
    assert statuses[:20] == [422] * 20 and statuses[20] == 429


def test_a_result_without_a_verified_signature_is_not_returned(sessions, signed_result):
    """A result attached before signatures were checked (its signature row missing) is
    neither offered for return nor returned."""
    from portal.db import db
    from portal.models import Attachment, DocumentSignature
    from portal.services.workflow import UNSIGNED_RESULT

    did = approved(sessions)
    assert upload(sessions["officer"], did, signed_result).status_code == 303
    acted(sessions["officer"], did, "issue_result")
    with db.connection_context():
        result = Attachment.get(Attachment.dossier == did, Attachment.purpose == "result")
        DocumentSignature.delete().where(DocumentSignature.attachment == result.id).execute()
    page = sessions["officer"].get(f"/dossiers/{did}").text
    assert f'action="/dossiers/{did}/actions/return_result"' not in page
    r = sessions["officer"].post(f"/dossiers/{did}/actions/return_result")
    assert r.status_code == 409 and tr(UNSIGNED_RESULT) in text_of(r)


def test_a_stranger_verifies_by_choosing_the_file(app, returned, signed_result, settings):
    did, code = returned
    with TestClient(app) as stranger:
        token = csrf_from(stranger.get("/verify").text)

        def check(data: bytes | None, code: str = code):
            files = {"file": ("ket-qua.pdf", data, "application/pdf")} if data else None
            return stranger.post("/verify", data={"code": code, "csrf_token": token},
                                 files=files)

        before = sorted(p.name for p in settings.uploads.rglob("*")) if (
            settings.uploads.exists()) else []
        r = check(signed_result)
        assert r.status_code == 200
        assert tr("This document is the result the portal issued, unchanged since it was "
                  "signed.") in text_of(r)
        after = sorted(p.name for p in settings.uploads.rglob("*"))
        assert after == before  # the visitor's file is not kept
        r = check(signed_result + b"\n%changed")
        assert r.status_code == 422 and tr(NOT_ISSUED) in text_of(r)
        r = check(None)
        assert r.status_code == 422 and 'id="f-file-error"' in r.text
        assert f'value="{code}"' in r.text
