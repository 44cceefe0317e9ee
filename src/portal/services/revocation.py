"""Revocation information for a signer's certificate chain: the CRLs and OCSP answers named by
each certificate (its CRL distribution points and its authority information access), fetched
over HTTP and kept in the `revocation_info` table until their next update, so a second check
of a certificate within that time asks nobody.

The fetching is done here rather than by the certificate validator so that it is cached in the
portal's database (shared by every process) and happens outside any transaction; the
validator gets the answers and is told not to fetch (`signatures.verify`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import urllib.request

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from peewee import IntegrityError

from portal.db import db
from portal.models import RevocationInfo, utcnow

log = logging.getLogger(__name__)
TIMEOUT = 10  # seconds per request
MAX_BODY = 10 * 1024 * 1024
# An answer that names no next update is kept this long.
DEFAULT_KEEP = dt.timedelta(hours=1)


def _key(kind: str, url: str, serial: int = 0) -> str:
    return hashlib.sha256(f"{kind}\n{url}\n{serial}".encode()).hexdigest()


def _cached(key: str, now: dt.datetime) -> bytes | None:
    with db.connection_context():
        row = RevocationInfo.get_or_none(RevocationInfo.key == key)
    if row is None or row.next_update <= now:
        return None
    return bytes(row.body)


def _keep(key: str, kind: str, url: str, body: bytes, next_update: dt.datetime) -> None:
    with db.connection_context(), db.atomic():
        RevocationInfo.delete().where(RevocationInfo.key == key).execute()
        try:
            with db.atomic():
                RevocationInfo.create(key=key, kind=kind, url=url, body=body,
                                      next_update=next_update)
        except IntegrityError:  # another process kept the same answer first
            pass


def _http(url: str, data: bytes | None = None) -> bytes | None:
    if not url.startswith(("http://", "https://")):
        return None
    headers = {"Content-Type": "application/ocsp-request"} if data is not None else {}
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
            return answer.read(MAX_BODY)
    except OSError as exc:
        log.warning("revocation information not fetched from %s: %s", url, exc)
        return None


def _naive(moment: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    if moment is None:
        return now + DEFAULT_KEEP
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def crl(url: str, now: dt.datetime) -> bytes | None:
    """The CRL at `url`, from the cache while it is current."""
    key = _key("crl", url)
    body = _cached(key, now)
    if body is not None:
        return body
    body = _http(url)
    if body is None:
        return None
    try:
        next_update = x509.load_der_x509_crl(body).next_update_utc
    except ValueError:
        return None
    _keep(key, "crl", url, body, _naive(next_update, now))
    return body


def ocsp_answer(url: str, cert: x509.Certificate, issuer: x509.Certificate,
                now: dt.datetime) -> bytes | None:
    """The OCSP answer of `url` about `cert`, from the cache while it is current."""
    key = _key("ocsp", url, cert.serial_number)
    body = _cached(key, now)
    if body is not None:
        return body
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256()).build()
    body = _http(url, request.public_bytes(Encoding.DER))
    if body is None:
        return None
    try:
        answer = ocsp.load_der_ocsp_response(body)
        if answer.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            return None
        next_update = answer.next_update_utc
    except ValueError:
        return None
    _keep(key, "ocsp", url, body, _naive(next_update, now))
    return body


def gather(chain: list[asn1_x509.Certificate], now: dt.datetime | None = None
           ) -> tuple[list[asn1_crl.CertificateList], list[asn1_ocsp.OCSPResponse]]:
    """The CRLs and OCSP answers about the certificates of `chain` (each certificate's issuer
    must be in `chain` for its OCSP answer to be asked)."""
    now = now or utcnow()
    certs = [x509.load_der_x509_certificate(c.dump()) for c in chain]
    by_subject = {c.subject.public_bytes(): c for c in certs}
    crls: dict[str, bytes] = {}
    answers: list[bytes] = []
    for cert, raw in zip(certs, chain, strict=True):
        if cert.issuer == cert.subject:
            continue  # a root: trusted as configured, nothing to ask
        for url in [dp.url for dp in raw.crl_distribution_points if dp.url]:
            if url not in crls and (body := crl(url, now)) is not None:
                crls[url] = body
        issuer = by_subject.get(cert.issuer.public_bytes())
        for url in raw.ocsp_urls if issuer is not None else []:
            if (body := ocsp_answer(url, cert, issuer, now)) is not None:
                answers.append(body)
    return ([asn1_crl.CertificateList.load(b) for b in crls.values()],
            [asn1_ocsp.OCSPResponse.load(b) for b in answers])
