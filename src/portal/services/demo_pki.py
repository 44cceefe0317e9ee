"""The demo's own PKI, so the demo can show signed documents: a root certificate (the demo's
only trust anchor, configured automatically in demo mode, never otherwise), a certificate for
the demo leader of 02CI (registered to sign its results) and one for the demo enterprise
(UID `MST:<tax code>`). It is generated into `<data dir>/demo-pki/` on first use, keys mode
0600; `run.py sign-demo-pdf IN OUT --as USERNAME` signs a PDF with a demo user's certificate.

Its certificates name no CRL or OCSP address: the validator checks revocation where a
certificate declares where to ask (the licensed CAs' certificates all do)."""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from portal.services.seed import DEMO_ENTERPRISE

FOLDER = "demo-pki"
# username -> (common name, UID, title)
HOLDERS = {
    "lanhdao.02ci": ("Lê Minh Châu (demo)", "CCCD:001080000001", "Chi cục trưởng"),
    "doanhnghiep@example.vn": (DEMO_ENTERPRISE[1], f"MST:{DEMO_ENTERPRISE[0]}", ""),
}
LEADER = "lanhdao.02ci"


def folder(data_dir: Path) -> Path:
    return Path(data_dir) / FOLDER


def root_path(data_dir: Path) -> Path:
    return folder(data_dir) / "root.pem"


def _name(cn: str, uid: str = "", title: str = "") -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if title:
        parts.append(x509.NameAttribute(NameOID.TITLE, title))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    if uid:
        parts.append(x509.NameAttribute(NameOID.USER_ID, uid))
    return x509.Name(parts)


def _cert(subject: x509.Name, key, issuer: x509.Name, issuer_key, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=not ca, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
            encipher_only=False, decipher_only=False), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def _write(path: Path, data: bytes, secret: bool = False) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _key_bytes(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ensure(data_dir: Path) -> Path:
    """Make the demo PKI under `data_dir` if it is not there; returns the root's path."""
    where = folder(data_dir)
    if root_path(data_dir).exists():
        return root_path(data_dir)
    where.mkdir(parents=True, exist_ok=True)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("Demo Root CA - Cổng dịch vụ công (không dùng thật)")
    root = _cert(root_name, root_key, root_name, root_key, ca=True)
    for username, (cn, uid, title) in HOLDERS.items():
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(_name(cn, uid, title), key, root_name, root_key, ca=False)
        _write(where / f"{username}.pem", cert.public_bytes(serialization.Encoding.PEM))
        _write(where / f"{username}.key", _key_bytes(key), secret=True)
    _write(where / "root.key", _key_bytes(root_key), secret=True)
    _write(root_path(data_dir), root.public_bytes(serialization.Encoding.PEM))  # last: done
    return root_path(data_dir)


def certificate(data_dir: Path, username: str) -> bytes:
    """The PEM certificate of a demo user; raises KeyError for a user without one."""
    if username not in HOLDERS:
        raise KeyError(username)
    return (folder(data_dir) / f"{username}.pem").read_bytes()


def sign(data_dir: Path, pdf: bytes, username: str) -> bytes:
    """`pdf` signed with the demo certificate of `username` (pyHanko, PAdES baseline B);
    raises KeyError for a user without one."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import pem
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    ensure(data_dir)
    where = folder(data_dir)
    cert = asn1_x509.Certificate.load(pem.unarmor(certificate(data_dir, username))[2])
    root = asn1_x509.Certificate.load(pem.unarmor(root_path(data_dir).read_bytes())[2])
    key = asn1_keys.PrivateKeyInfo.load(pem.unarmor((where / f"{username}.key").read_bytes())[2])
    signer = signers.SimpleSigner(signing_cert=cert, signing_key=key,
                                  cert_registry=SimpleCertificateStore.from_certs([root]))
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False),
                           signers.PdfSignatureMetadata(field_name="ChuKySo"), signer=signer)
    return out.getvalue()
