"""A PKI built in the test run with `cryptography`: a root, an intermediate, enterprise and
leader certificates with Vietnamese subject identifiers (UID MST:/CCCD:), a revoked one, an
expired one and an untrusted self-signed one; its CRLs and OCSP answers are served by a real
HTTP server on loopback, and PDFs are signed with pyHanko's signers."""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

ENTERPRISE_TAX_CODE = "0101234567"
OTHER_TAX_CODE = "0309999999"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(cn: str, *, uid: str = "", org: str = "", title: str = "") -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if org:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if title:
        parts.append(x509.NameAttribute(NameOID.TITLE, title))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    if uid:
        parts.append(x509.NameAttribute(NameOID.USER_ID, uid))
    return x509.Name(parts)


@dataclass
class Identity:
    """A certificate with its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def fingerprint(self) -> str:
        return self.cert.fingerprint(hashes.SHA256()).hex()


class _Handler(BaseHTTPRequestHandler):
    pki: TestPKI

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, body: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        self.pki.hits[self.path] += 1
        if self.pki.down:
            self.send_error(503)
            return
        issuer = {"/root.crl": self.pki.root, "/intermediate.crl": self.pki.intermediate}.get(
            self.path)
        if issuer is None:
            self.send_error(404)
            return
        self._send(self.pki.crl(issuer), "application/pkix-crl")

    def do_POST(self) -> None:  # noqa: N802
        self.pki.hits[self.path] += 1
        if self.pki.down:
            self.send_error(503)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._send(self.pki.ocsp_answer(body), "application/ocsp-response")


class TestPKI:
    """Start with `TestPKI()`, stop with `.stop()`; everything lives in memory."""

    __test__ = False  # not a test class

    def __init__(self) -> None:
        handler = type("Handler", (_Handler,), {"pki": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.hits: Counter[str] = Counter()
        self.down = False  # answer 503 to everything (an unreachable CA)
        self.revoked: set[int] = set()
        self.issued: list[Identity] = []  # by the intermediate: those its OCSP answers about
        now = _now()
        self.root = self._issue(_name("Root CA kiểm thử", org="Bộ kiểm thử"), None, ca=True,
                                days=3650)
        self.intermediate = self._issue(_name("CA trung gian kiểm thử", org="CA kiểm thử"),
                                        self.root, ca=True, days=1825, crl="/root.crl")
        self.enterprise = self.issue(
            "Công ty TNHH Thương mại ABC", uid=f"MST:{ENTERPRISE_TAX_CODE}",
            org="Công ty TNHH Thương mại ABC")
        self.other_enterprise = self.issue(
            "Công ty Cổ phần XYZ", uid=f"MST:{OTHER_TAX_CODE}", org="Công ty Cổ phần XYZ")
        self.leader = self.issue("Nguyễn Văn Lãnh", uid="CCCD:001080012345",
                                 org="Chi cục Hải quan khu vực I", title="Chi cục trưởng")
        self.officer = self.issue("Trần Thị Cán", uid="CCCD:001090054321",
                                  org="Chi cục Hải quan khu vực I", title="Công chức")
        self.revoked_cert = self.issue("Công ty bị thu hồi", uid=f"MST:{ENTERPRISE_TAX_CODE}")
        self.revoked.add(self.revoked_cert.cert.serial_number)
        # Only an OCSP responder names this one: its revocation is known from OCSP alone.
        self.revoked_ocsp_only = self.issue("Công ty thu hồi OCSP",
                                            uid=f"MST:{ENTERPRISE_TAX_CODE}", crl=None)
        self.revoked.add(self.revoked_ocsp_only.cert.serial_number)
        self.ocsp_only = self.issue("Công ty chỉ OCSP", uid=f"MST:{ENTERPRISE_TAX_CODE}",
                                    crl=None)
        self.crl_only = self.issue("Công ty chỉ CRL", uid=f"MST:{ENTERPRISE_TAX_CODE}",
                                   ocsp_path=None)
        self.expired = self._issue(
            _name("Công ty hết hạn", uid=f"MST:{ENTERPRISE_TAX_CODE}"), self.intermediate,
            start=now - dt.timedelta(days=730), days=365, crl="/intermediate.crl",
            ocsp_path="/ocsp")
        self.untrusted = self._issue(
            _name("Tự ký", uid=f"MST:{ENTERPRISE_TAX_CODE}"), None, days=365)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def issue(self, cn: str, *, uid: str = "", org: str = "", title: str = "",
              crl: str | None = "/intermediate.crl", ocsp_path: str | None = "/ocsp") -> Identity:
        """A signing certificate issued by the intermediate CA."""
        return self._issue(_name(cn, uid=uid, org=org, title=title), self.intermediate,
                           crl=crl, ocsp_path=ocsp_path)

    def _issue(self, subject: x509.Name, issuer: Identity | None, *, ca: bool = False,
               days: int = 365, start: dt.datetime | None = None, crl: str | None = None,
               ocsp_path: str | None = None) -> Identity:
        key = ec.generate_private_key(ec.SECP256R1())
        start = start or _now() - dt.timedelta(days=1)
        signer_key = issuer.key if issuer else key
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.cert.subject if issuer else subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
        )
        if issuer:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                critical=False)
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        else:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        if crl:
            builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier(self.url + crl)], None, None, None)]),
                critical=False)
        if ocsp_path:
            builder = builder.add_extension(x509.AuthorityInformationAccess([
                x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.OCSP,
                                       x509.UniformResourceIdentifier(self.url + ocsp_path))]),
                critical=False)
        made = Identity(builder.sign(signer_key, hashes.SHA256()), key)
        if issuer is not None and issuer is getattr(self, "intermediate", None):
            self.issued.append(made)
        return made

    # --- revocation answers ------------------------------------------------------------------

    def crl(self, issuer: Identity) -> bytes:
        now = _now()
        builder = (x509.CertificateRevocationListBuilder()
                   .issuer_name(issuer.cert.subject)
                   .last_update(now - dt.timedelta(minutes=5))
                   .next_update(now + dt.timedelta(days=1))
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       issuer.key.public_key()), critical=False)
                   .add_extension(x509.CRLNumber(1), critical=False))
        for serial in sorted(self.revoked):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial)
                .revocation_date(now - dt.timedelta(hours=1)).build())
        return builder.sign(issuer.key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER)

    def ocsp_answer(self, request_der: bytes) -> bytes:
        request = ocsp.load_der_ocsp_request(request_der)
        serial = request.serial_number
        subject = next((i for i in self.issued if i.cert.serial_number == serial), None)
        if subject is None:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(serialization.Encoding.DER)
        now = _now()
        revoked = serial in self.revoked
        builder = ocsp.OCSPResponseBuilder().add_response(
            cert=subject.cert, issuer=self.intermediate.cert, algorithm=hashes.SHA256(),
            cert_status=ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
            this_update=now - dt.timedelta(minutes=5), next_update=now + dt.timedelta(hours=2),
            revocation_time=now - dt.timedelta(hours=1) if revoked else None,
            revocation_reason=None,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, self.intermediate.cert)
        for ext in request.extensions:  # echo the nonce
            builder = builder.add_extension(ext.value, ext.critical)
        return builder.sign(self.intermediate.key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER)

    @property
    def anchors_pem(self) -> bytes:
        return self.root.pem


def self_signed_pem(cn: str) -> bytes:
    """A self-signed certificate (PEM) naming `cn`, for registering without a PKI."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


# --- PDFs -----------------------------------------------------------------------------------


def make_pdf(text: str = "Quyết định cấp phép") -> bytes:
    """A one-page PDF written with fpdf2."""
    from fpdf import FPDF

    from portal.services.pdf_document import FONTS

    pdf = FPDF()
    pdf.add_font("DejaVu", fname=str(FONTS / "DejaVuSerif.ttf"))
    pdf.add_page()
    pdf.set_font("DejaVu", size=14)
    pdf.multi_cell(0, 10, text)
    return bytes(pdf.output())


def sign_pdf(pdf: bytes, who: Identity, pki: TestPKI) -> bytes:
    """`pdf` signed by `who` with pyHanko (PAdES baseline B), its chain embedded. In a thread
    of its own: pyHanko's synchronous API runs an event loop, which playwright's sync API
    already runs in the test's thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_sign_pdf, pdf, who, pki).result()


def _sign_pdf(pdf: bytes, who: Identity, pki: TestPKI) -> bytes:
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    def asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    key = asn1_keys.PrivateKeyInfo.load(who.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    chain = [asn1(pki.intermediate.cert), asn1(pki.root.cert)]
    signer = signers.SimpleSigner(signing_cert=asn1(who.cert), signing_key=key,
                                  cert_registry=SimpleCertificateStore.from_certs(chain))
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)),
                           signers.PdfSignatureMetadata(field_name="Signature1"),
                           signer=signer)
    return out.getvalue()


def change_after_signing(signed: bytes) -> bytes:
    """`signed` with an incremental update that adds text to its page (a changed document)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    stream = generic.StreamObject(stream_data=b"0 0 1 rg 10 10 200 200 re f")
    writer.add_stream_to_page(0, writer.add_object(stream))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
