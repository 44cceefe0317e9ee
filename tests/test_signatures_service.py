"""Verifying signed PDFs against the test run's PKI (tests/pki.py): each reason a signature
is refused, CRL and OCSP answers fetched from the loopback server and kept in the cache."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from portal.db import db
from portal.models import RevocationInfo
from portal.services import signatures
from portal.services.signatures import Trust, verify
from tests.pki import ENTERPRISE_TAX_CODE, OTHER_TAX_CODE, change_after_signing, make_pdf, sign_pdf


@pytest.fixture
def trust(settings) -> Trust:
    return Trust.load(settings.trust_anchors)


@pytest.fixture(scope="module")
def blank() -> bytes:
    return make_pdf("Tờ khai đề nghị")


def test_a_valid_enterprise_signature_names_its_tax_code(settings, pki, trust, blank):
    signed = sign_pdf(blank, pki.enterprise, pki)
    verdict = verify(signed, trust)
    assert verdict.ok, verdict.problem
    assert verdict.signer_name == "Công ty TNHH Thương mại ABC"
    assert verdict.tax_code == ENTERPRISE_TAX_CODE
    assert verdict.fingerprint == signatures.fingerprint(signed) != signatures.fingerprint(blank)
    assert verdict.cert_sha256 == pki.enterprise.fingerprint
    assert abs(verdict.signed_at - dt.datetime.now(dt.UTC).replace(tzinfo=None)) < dt.timedelta(
        minutes=2)
    assert verdict.names_enterprise(ENTERPRISE_TAX_CODE) is None
    wrong = verdict.names_enterprise(OTHER_TAX_CODE)
    assert wrong.text == signatures.WRONG_TAX_CODE
    assert wrong.params == {"found": ENTERPRISE_TAX_CODE, "expected": OTHER_TAX_CODE}


def test_a_leader_certificate_names_no_tax_code(settings, pki, trust, blank):
    verdict = verify(sign_pdf(blank, pki.leader, pki), trust)
    assert verdict.ok and verdict.signer_title == "Chi cục trưởng"
    assert verdict.signer_uid == "CCCD:001080012345" and verdict.tax_code == ""
    assert verdict.names_enterprise(ENTERPRISE_TAX_CODE).text == signatures.NO_TAX_CODE


@pytest.mark.parametrize("who, reason", [
    ("revoked_cert", signatures.REVOKED),  # in the CRL and the OCSP answer
    ("revoked_ocsp_only", signatures.REVOKED),  # only an OCSP responder knows
    ("expired", signatures.EXPIRED),
    ("untrusted", signatures.UNTRUSTED),
])
def test_each_certificate_problem_has_its_reason(settings, pki, trust, blank, who, reason):
    verdict = verify(sign_pdf(blank, getattr(pki, who), pki), trust)
    assert not verdict.ok
    assert verdict.problem.text == reason
    assert verdict.signer_name  # who signed is still said


def test_an_unsigned_or_unreadable_file_is_refused(settings, trust, blank):
    assert verify(blank, trust).problem.text == signatures.NO_SIGNATURE
    assert verify(b"%PDF-1.4 not really", trust).problem.text in (
        signatures.UNREADABLE, signatures.NO_SIGNATURE)
    assert verify(b"\x89PNG\r\n", trust).problem.text == signatures.UNREADABLE


def test_a_document_changed_after_signing_is_refused(settings, pki, trust, blank):
    changed = change_after_signing(sign_pdf(blank, pki.enterprise, pki))
    assert verify(changed, trust).problem.text == signatures.CHANGED


def test_a_byte_changed_inside_the_signed_range_is_refused(settings, pki, trust, blank):
    signed = bytearray(sign_pdf(blank, pki.enterprise, pki))
    at = signed.index(b"/MediaBox")
    signed[at + 1:at + 2] = b"N"  # /NediaBox: same length, other bytes
    assert verify(bytes(signed), trust).problem.text == signatures.CHANGED


def test_a_signature_that_covers_part_of_the_file_is_refused(settings, pki, trust, blank):
    signed = sign_pdf(blank, pki.enterprise, pki)
    assert verify(signed + b"\n% appended after signing\n", trust).problem.text == (
        signatures.PARTIAL)


def test_without_trust_anchors_nothing_is_trusted(settings, pki, blank):
    verdict = verify(sign_pdf(blank, pki.enterprise, pki), Trust())
    assert verdict.problem.text == signatures.UNTRUSTED


def test_crl_and_ocsp_answers_are_cached_until_their_next_update(settings, pki, trust, blank):
    crl_only = sign_pdf(blank, pki.crl_only, pki)
    ocsp_only = sign_pdf(blank, pki.ocsp_only, pki)
    before = pki.hits.copy()
    assert verify(crl_only, trust).ok
    assert verify(ocsp_only, trust).ok
    fetched = pki.hits - before
    assert fetched["/intermediate.crl"] == 1 and fetched["/root.crl"] == 1
    assert fetched["/ocsp"] == 1
    with db.connection_context():
        kinds = sorted(r.kind for r in RevocationInfo.select())
    assert kinds == ["crl", "crl", "ocsp"]
    again = pki.hits.copy()
    assert verify(crl_only, trust).ok and verify(ocsp_only, trust).ok
    assert pki.hits - again == {}  # answered from the cache
    # Once past their next update, they are fetched again.
    past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=1)
    with db.connection_context():
        RevocationInfo.update(next_update=past).execute()
    assert verify(crl_only, trust).ok
    assert (pki.hits - again)["/intermediate.crl"] == 1


def test_an_unreachable_responder_makes_the_status_unchecked(settings, pki, trust, blank):
    signed = sign_pdf(blank, pki.enterprise, pki)
    pki.down = True
    try:
        verdict = verify(signed, trust)
    finally:
        pki.down = False
    assert verdict.problem.text == signatures.UNCHECKED


def test_trust_anchors_load_from_a_bundle_or_a_folder(tmp_path, pki):
    folder = tmp_path / "anchors"
    folder.mkdir()
    (folder / "root.pem").write_bytes(pki.root.pem)
    (folder / "other.der").write_bytes(pki.untrusted.cert.public_bytes(Encoding.DER))
    assert len(Trust.load(folder).roots) == 2
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki.root.pem + pki.intermediate.pem)
    assert len(Trust.load(bundle).roots) == 2
    assert Trust.load(None).roots == ()
