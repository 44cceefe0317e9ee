"""Shared by the dossier web and browser tests: the seeded forms, small real PDF files, the
people who take part in a dossier's life, and reading the pages they see.

A test module that uses the fixtures binds them to their names (`forms = fx.forms`); pytest
then finds them there."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from portal import i18n
from portal.db import db
from portal.models import Dossier, Enterprise, Procedure, RequiredDocument, Unit
from portal.services.deadlines import to_local
from portal.services.seed import seed_forms
from tests.conftest import PASSWORD
from tests.helpers import csrf_from

PROCEDURE = "1.005458"  # Thủ tục huỷ tờ khai hải quan: online, two mandatory documents
NOT_ONLINE = "1.008002"
UNIT = "02CI"
OTHER_UNIT = "01AB"
OTHER_TAX_CODE = "0100109106"
ANSWERS = {"declaration_no": "105123456789", "declaration_date": "2026-03-02",
           "declaration_type": "Nhập khẩu",
           "reason": "Hàng hóa không xuất khẩu được do đối tác hủy hợp đồng."}


def tr(msgid: str, **params: object) -> str:
    """`msgid` as the portal shows it in its default language (Vietnamese)."""
    text = i18n.translations("vi").gettext(msgid)
    return text % params if params else text


def text_of(response) -> str:
    return html.unescape(response.text)


def pdf_bytes(text: str = "Portal test") -> bytes:
    """A small, well-formed one-page PDF (header, objects, cross-reference table, trailer)."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def code_of(did: int, n: int = 1) -> str:
    """The code dossier `did` should have got as the n-th submitted at its unit that day
    (Vietnam time), e.g. 02CI-260302-0001."""
    with db.connection_context():
        dossier = Dossier.select(Dossier, Unit).join(Unit).where(Dossier.id == did).get()
    day = to_local(dossier.submitted_at).strftime("%y%m%d")
    return f"{dossier.unit.code}-{day}-{n:04d}"


def document_ids(code: str = PROCEDURE) -> list[int]:
    with db.connection_context():
        proc = Procedure.get(Procedure.code == code)
        return [d.id for d in RequiredDocument.select().where(RequiredDocument.procedure == proc)
                .order_by(RequiredDocument.position)]


_TIMELINE = re.compile(r'<ol class="app-timeline">(.*?)</ol>', re.S)
_STRONG = re.compile(r"<strong>(.*?)</strong>", re.S)


def timeline_labels(page: str) -> list[str]:
    """The action names of the processing history on a dossier page, oldest first."""
    match = _TIMELINE.search(page)
    assert match, "the page has no processing history"
    return [html.unescape(s).strip() for s in _STRONG.findall(match.group(1))]


# --- fixtures ------------------------------------------------------------------------------

@pytest.fixture
def forms(catalogue) -> int:
    """The online forms of the demo catalogue (the `catalogue` fixture loads only procedures)."""
    return seed_forms()


@dataclass
class People:
    enterprise: object
    officer: object
    leader: object
    other_officer: object  # an officer of 01AB, another branch
    stranger: object  # a user of another enterprise
    admin: object
    auditor: object


@pytest.fixture
def people(make_user) -> People:
    # The second enterprise, whose user must not see the first one's dossiers.
    with db.connection_context():
        if Enterprise.get_or_none(Enterprise.tax_code == OTHER_TAX_CODE) is None:
            Enterprise.create(tax_code=OTHER_TAX_CODE, name="Công ty B", email="b@example.vn")
        return People(
            enterprise=make_user("enterprise"),
            officer=make_user("officer", clearance="1"),
            leader=make_user("leader", clearance="1"),
            other_officer=make_user("officer", unit_code=OTHER_UNIT),
            stranger=make_user("enterprise", tax_code=OTHER_TAX_CODE),
            admin=make_user("admin"),
            auditor=make_user("auditor"),
        )


class Session:
    """One user's browser-like session: its own cookies, its own CSRF token."""

    def __init__(self, client: TestClient, user) -> None:
        self.client = client
        self.user = user
        self.token = ""

    def login(self) -> Session:
        token = csrf_from(self.client.get("/login").text)
        r = self.client.post("/login", data={"username": self.user.username,
                                             "password": PASSWORD, "csrf_token": token},
                             follow_redirects=False)
        assert r.status_code == 303, r.text
        self.token = csrf_from(self.client.get("/notifications").text)
        return self

    def get(self, url: str, **kw):
        return self.client.get(url, follow_redirects=False, **kw)

    def post(self, url: str, data: dict | None = None, *, csrf: bool = True, **kw):
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.token)
        return self.client.post(url, data=data, follow_redirects=False, **kw)


@pytest.fixture
def sessions(app, people) -> Iterator[dict[str, Session]]:
    """A logged-in session per person, each on its own TestClient of the same app."""
    opened: dict[str, Session] = {}
    clients: list[TestClient] = []
    try:
        for name in ("enterprise", "officer", "leader", "other_officer", "stranger", "admin"):
            client = TestClient(app, base_url="http://testserver")
            client.__enter__()
            clients.append(client)
            opened[name] = Session(client, getattr(people, name)).login()
        yield opened
    finally:
        for client in clients:
            client.__exit__(None, None, None)
