"""The people and objects of the access-matrix test, built once for a whole test module through
the real app: enterprise A's dossier submitted to branch 02CI and received there (two files,
one of them confidential; a receipt; a receipt slip; its history), a draft of A with a file and
a resumable upload in progress, notifications, a holiday and a spare account for the admin
pages, and one signed-in session per actor.

The database is the suite's: a SQLite file, or a fresh PostgreSQL schema when DATABASE_URL
names a PostgreSQL database (as in conftest.py, but for the module rather than one test)."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from starlette.testclient import TestClient

from portal.app import create_app
from portal.config import Settings
from portal.db import configure, db
from portal.migrations import migrate
from portal.models import (
    Attachment,
    Dossier,
    Enterprise,
    Holiday,
    Payment,
    RequiredDocument,
    Slip,
)
from portal.queue import huey
from portal.services import accounts, api_clients, feedback, procedure_forms, signers
from portal.services.access import Ctx
from portal.services.seed import SEED_DIR, seed_catalogue, seed_forms
from portal.services.units import load_units
from tests.conftest import PASSWORD, fresh_database
from tests.dossier_web_fixtures import ANSWERS, PROCEDURE, Session, code_of, document_ids, pdf_bytes
from tests.helpers import csrf_from
from tests.payment_fixtures import gateway_settings
from tests.pki import self_signed_pem
from tests.sync_fixtures import failed_messages

TAX_A, TAX_B = "0100112437", "0100109106"
TUS = {"Tus-Resumable": "1.0.0"}
SUBMIT_KEY_RE = re.compile(r'name="submit_key" value="([^"]+)"')
# The actors, in the order the matrix test sends their requests: the ones that may change an
# object (the owner ends an upload, the admin removes a holiday) come after the ones that may
# not, so that a refusal is never explained by the object being gone already.
ACTORS = (
    "anonymous",
    "stranger",
    "branch_officer",
    "far_officer",
    "admin",
    "auditor",
    "officer",
    "leader",
    "colleague",
    "owner",
)
# Who each actor is: role, unit, enterprise, clearance.
PEOPLE = {
    "owner": dict(role="enterprise", tax_code=TAX_A, email="owner@example.vn"),
    "colleague": dict(role="enterprise", tax_code=TAX_A),  # another user of enterprise A
    "stranger": dict(role="enterprise", tax_code=TAX_B),  # a user of enterprise B
    "officer": dict(role="officer", unit_code="02CI"),  # handling branch, no clearance
    "leader": dict(role="leader", unit_code="02CI", clearance="1"),  # handling branch
    "branch_officer": dict(role="officer", unit_code="02AB", clearance="1"),  # same department
    "far_officer": dict(role="officer", unit_code="01AB", clearance="1"),  # other department
    "admin": dict(role="admin"),
    "auditor": dict(role="auditor"),
    "spare": dict(role="officer", unit_code="02CI"),  # the account the admin pages act on
}


@dataclass
class World:
    app: object
    settings: Settings
    sessions: dict[str, Session]  # by actor; "anonymous" has a session and a token, no login
    users: dict[str, object]
    dossier: int = 0  # A's dossier, submitted to 02CI and received
    code: str = ""
    plain: int = 0  # its ordinary attachment
    secret: int = 0  # its confidential attachment
    slip: int = 0  # its receipt slip
    draft: int = 0  # A's draft
    draft_file: int = 0  # the draft's attachment
    upload: str = ""  # the owner's upload in progress on the draft (half sent)
    spare_upload: str = ""  # another one, for termination
    holiday: int = 0
    procedure_form: int = 0  # a form file the procedure offers for download
    form_sha: str = ""  # the start of its SHA-256, as its download link carries it
    spare_form: int = 0  # another one, for the admin to remove
    signer: int = 0  # a certificate registered to sign 02CI's results
    spare_signer: int = 0  # another one, for the admin to remove
    api_key: str = ""  # a registered API client's key id
    spare_api_key: str = ""  # another one, for the admin to revoke
    paid_dossier: int = 0  # another dossier of A at 02CI, its fees paid at the counter
    payment: int = 0  # that payment (with its receipt)
    sync_message: int = 0  # a status-sync message of the dossier that failed
    spare_sync_message: int = 0  # another one, for the admin to send again
    feedback: int = 0  # a question sent through the public form
    secrets: list[str] = field(default_factory=list)  # texts only the dossier's viewers see


def _make_people() -> dict[str, object]:
    with db.connection_context():
        Enterprise.create(tax_code=TAX_A, name="Công ty A", email="a@example.vn")
        Enterprise.create(tax_code=TAX_B, name="Công ty B", email="b@example.vn")
    users = {}
    for name, extra in PEOPLE.items():
        data = {
            "username": name.replace("_", "."),
            "full_name": f"Người {name}",
            "unit_code": "",
            "tax_code": "",
            "email": "",
            "clearance": "",
            "active": "1",
            "password": PASSWORD,
            **extra,
        }
        users[name] = accounts.create_user(data)
    return users


def _sessions(app, users: dict[str, object]) -> tuple[dict[str, Session], list[TestClient]]:
    sessions, clients = {}, []
    for name in ACTORS:
        client = TestClient(app, base_url="http://testserver")
        client.__enter__()
        clients.append(client)
        session = Session(client, users.get(name))
        if name == "anonymous":
            session.token = csrf_from(client.get("/login").text)
        else:
            session.login()
        sessions[name] = session
    return sessions, clients


def _ok(response, status: int = 303):
    assert response.status_code == status, (response.status_code, response.text[-2000:])
    return response


def start_draft(owner: Session) -> int:
    r = _ok(owner.post("/dossiers/new", {"procedure": PROCEDURE, "unit": "02CI"}))
    did = int(r.headers["location"].split("/")[2])
    _ok(owner.post(f"/dossiers/{did}/edit", ANSWERS))
    return did


def attach(owner: Session, did: int, doc: int, name: str, content: bytes) -> None:
    _ok(
        owner.post(
            f"/dossiers/{did}/files",
            {"document": str(doc)},
            files={"file": (name, content, "application/octet-stream")},
        )
    )


def submit(owner: Session, did: int) -> None:
    """Submit the draft from its review page, as the browser does."""
    key = SUBMIT_KEY_RE.search(_ok(owner.get(f"/dossiers/{did}/review"), 200).text).group(1)
    _ok(owner.post(f"/dossiers/{did}/submit", {"submit_key": key, "confirm": "1"}))


def tus_headers(session: Session, **extra: str) -> dict[str, str]:
    return {**TUS, "X-CSRF-Token": session.token, **extra}


def tus_create(session: Session, did: int, doc: int, length: int):
    meta = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in {
            "filename": "to-khai.pdf",
            "document": str(doc),
            "purpose": "application",
        }.items()
    )
    return session.client.post(
        f"/dossiers/{did}/uploads",
        headers=tus_headers(session, **{"Upload-Length": str(length), "Upload-Metadata": meta}),
        follow_redirects=False,
    )


def _build(world: World) -> None:
    owner, officer = world.sessions["owner"], world.sessions["officer"]
    first, second = document_ids()
    with db.connection_context():  # the first document of the procedure is confidential
        RequiredDocument.update(confidential=True).where(RequiredDocument.id == first).execute()

    did = world.dossier = start_draft(owner)
    attach(owner, did, first, "mat-hop-dong.pdf", pdf_bytes("secret contract"))
    attach(owner, did, second, "chung-tu-thuong.pdf", pdf_bytes("ordinary proof"))
    submit(owner, did)
    _ok(officer.post(f"/dossiers/{did}/actions/receive"))
    world.code = code_of(did)

    world.draft = start_draft(owner)
    attach(owner, world.draft, second, "ban-nhap.pdf", pdf_bytes("draft proof"))
    data = pdf_bytes("upload in progress") + b"%" * 128 * 1024
    location = _ok(tus_create(owner, world.draft, first, len(data)), 201).headers["location"]
    _ok(
        owner.client.patch(
            location,
            content=data[: 64 * 1024],
            headers=tus_headers(
                owner, **{"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
            ),
        ),
        204,
    )
    world.upload = location.rsplit("/", 1)[1]
    spare = _ok(tus_create(owner, world.draft, first, len(data)), 201).headers["location"]
    world.spare_upload = spare.rsplit("/", 1)[1]

    with db.connection_context():
        files = {a.original_name: a.id for a in Attachment.select()}
        world.slip = Slip.get(Slip.dossier == did, Slip.kind == "receipt").id
        world.holiday = Holiday.create(day=dt.date(2031, 1, 2), name="Ngày nghỉ thử").id
    admin = Ctx(user=world.users["admin"], uploads=world.settings.uploads)
    form = procedure_forms.attach(admin, PROCEDURE, "Mẫu đơn đề nghị", [pdf_bytes("form")])
    world.procedure_form, world.form_sha = form.id, form.sha256[:16]
    world.spare_form = procedure_forms.attach(admin, PROCEDURE, "Mẫu cũ", [pdf_bytes("old")]).id
    world.signer = signers.register(admin, "02CI", self_signed_pem("Lãnh đạo")).id
    world.spare_signer = signers.register(admin, "02CI", self_signed_pem("Phó")).id
    secret_key = world.settings.secret_key
    world.api_key = api_clients.register(secret_key, "Hệ thống A", ["procedures:read"], None)[
        0].key_id
    world.spare_api_key = api_clients.register(secret_key, "Hệ thống B", ["dossiers:read"],
                                               None)[0].key_id
    world.sync_message, world.spare_sync_message = failed_messages(did, 2)
    question = {"name": "Người hỏi", "email": "hoi@example.vn", "subject": "Câu hỏi",
                "content": "Nội dung câu hỏi."}
    world.feedback = feedback.submit(question, "198.51.100.7", "vi")[0].id
    world.plain, world.secret = files["chung-tu-thuong.pdf"], files["mat-hop-dong.pdf"]
    world.draft_file = files["ban-nhap.pdf"]
    world.secrets = [world.code, "mat-hop-dong.pdf", "chung-tu-thuong.pdf", "ban-nhap.pdf"]
    _paid(world, first, second)


def _paid(world: World, first: int, second: int) -> None:
    """A second dossier, received, asked for the procedure's fee and paid at the counter."""
    owner, officer = world.sessions["owner"], world.sessions["officer"]
    did = world.paid_dossier = start_draft(owner)
    attach(owner, did, first, "to-khai.pdf", pdf_bytes("declaration"))
    attach(owner, did, second, "chung-tu-2.pdf", pdf_bytes("proof"))
    submit(owner, did)
    _ok(officer.post(f"/dossiers/{did}/actions/receive"))
    fee = {"label-0": "Lệ phí làm thủ tục hải quan", "amount-0": "20000"}
    _ok(officer.post(f"/dossiers/{did}/payment/request", fee))
    _ok(officer.post(f"/dossiers/{did}/payment/counter", {"note": ""}))
    with db.connection_context():
        world.payment = Payment.get(Payment.dossier == did).id
        world.secrets.append(Dossier.get_by_id(did).code)


@contextmanager
def access_world(folder: Path) -> Iterator[World]:
    """Build the world under `folder` (its own database and files) and take it down after."""
    immediate = huey.immediate
    huey.immediate = True  # mails are "sent" (kept pending: no SMTP server) in the same thread
    clients: list[TestClient] = []
    try:
        with fresh_database(folder) as url:
            settings = Settings.for_data_dir(
                folder / "data", database_url=url, payment_gateways=gateway_settings()
            )
            configure(settings)
            migrate()
            load_units(SEED_DIR / "customs_departments.csv", "2016")
            load_units(SEED_DIR / "customs_units_2025.csv", "2025")
            seed_catalogue()
            seed_forms()
            users = _make_people()
            app = create_app(settings)
            sessions, clients = _sessions(app, users)
            world = World(app, settings, sessions, users)
            _build(world)
            yield world
            for client in clients:
                with suppress(Exception):
                    client.__exit__(None, None, None)
            clients = []
            db.close_all()
    finally:
        for client in clients:
            with suppress(Exception):
                client.__exit__(None, None, None)
        huey.immediate = immediate
