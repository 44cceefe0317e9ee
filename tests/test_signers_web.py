"""The administrator registers and removes the certificates that sign a unit's results: each
change is on the record, errors come back next to their field with the input kept, removal is
confirmed first, and only a current registration lets a result in."""

from __future__ import annotations

import pytest

from portal.db import db
from portal.models import DossierEvent, RegisteredSigner
from portal.services import signers
from portal.services.access import Ctx
from portal.services.errors import DomainError
from tests.dossier_web_fixtures import text_of, tr
from tests.helpers import csrf_from


@pytest.fixture
def admin_client(client, make_user, login):
    login(make_user("admin"))
    return client


def register(client, unit: str, cert: bytes, title: str = ""):
    token = csrf_from(client.get("/admin/signers").text)
    return client.post("/admin/signers", data={"unit": unit, "title": title, "csrf_token": token},
                       files={"certificate": ("lanh-dao.cer", cert, "application/x-x509-ca-cert")},
                       follow_redirects=False)


def test_register_list_and_remove_a_signer(admin_client, pki):
    r = register(admin_client, "02CI", pki.leader.pem)
    assert r.status_code == 303 and r.headers["location"] == "/admin/signers"
    page = text_of(admin_client.get("/admin/signers"))
    assert "Nguyễn Văn Lãnh, Chi cục trưởng" in page  # the title from the certificate
    assert pki.leader.fingerprint[:16] in page
    with db.connection_context():
        signer = RegisteredSigner.get()
        assert signer.unit.ref == "2025:02CI" and signer.cert_sha256 == pki.leader.fingerprint
        events = [e.action for e in DossierEvent.select().order_by(DossierEvent.id)]
    assert events[-1] == "signer_registered"
    # The same certificate twice for the unit: refused next to the field.
    r = register(admin_client, "02CI", pki.leader.pem)
    assert r.status_code == 422
    assert tr("This certificate is already registered for this unit.") in text_of(r)
    # Removing asks first, then keeps the row with the time it was removed.
    confirm = admin_client.get(f"/admin/signers/{signer.id}/remove")
    assert confirm.status_code == 200 and tr("Remove this signer?") in text_of(confirm)
    r = admin_client.post(f"/admin/signers/{signer.id}/remove",
                          data={"csrf_token": csrf_from(confirm.text)}, follow_redirects=False)
    assert r.status_code == 303
    with db.connection_context():
        assert RegisteredSigner.get_by_id(signer.id).removed_at is not None
        assert DossierEvent.select().order_by(DossierEvent.id.desc()).first().action == (
            "signer_removed")
    assert admin_client.get(f"/admin/signers/{signer.id}/remove").status_code == 404


def test_a_bad_file_or_unit_is_refused_next_to_its_field(admin_client, pki):
    r = register(admin_client, "ZZ99", b"not a certificate", title="Phó Chi cục trưởng")
    assert r.status_code == 422
    page = text_of(r)
    assert tr("Choose a unit by its code.") in page
    assert 'value="ZZ99"' in r.text and 'value="Phó Chi cục trưởng"' in r.text
    r = register(admin_client, "02CI", b"not a certificate")
    assert tr("Attach the signer's certificate (a .pem, .cer or .crt file).") in text_of(r)
    assert 'id="f-certificate-error"' in r.text
    with db.connection_context():
        assert not RegisteredSigner.select().exists()


def test_only_an_administrator_registers(settings, units, make_user, pki):
    officer = make_user("officer")
    with pytest.raises(DomainError) as caught:
        signers.register(Ctx(user=officer), "02CI", pki.leader.pem)
    assert caught.value.kind == "forbidden"
