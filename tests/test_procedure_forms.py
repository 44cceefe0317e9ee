"""Forms where the catalogue offers them: the administrator attaches a form file to a
procedure (typed by its content, size-limited) and removes it after a confirmation, each
recorded in the history; the procedure's page offers the forms to everybody by a link whose
content never changes (long cache, ETag, 304, the title as the file's name); a procedure that
is not online says what to download and how to do it at the counter, and starting an online
dossier for it is answered 409 with those instructions. The seed's own examples come with a
demo form."""

from __future__ import annotations

import hashlib
import html
import io
import os
import re
import time
import zipfile
from pathlib import Path
from urllib.parse import quote
from xml.parsers import expat

import pytest

from portal import i18n, jobs, storage
from portal.db import db
from portal.migrations import LATEST, STEPS, _v14_procedure_forms, current_version, migrate
from portal.models import Dossier, DossierEvent, Procedure, ProcedureForm, SchemaVersion
from portal.services import procedure_forms
from portal.services.access import Ctx
from portal.services.demo_forms import DEMO_FORMS, seed_form_files
from portal.services.errors import DomainError, NotFound, ValidationError
from portal.web.static import IMMUTABLE
from tests.dossier_fixtures import EXE, PNG
from tests.dossier_web_fixtures import pdf_bytes
from tests.helpers import csrf_from
from tests.real_files import docx, jpeg, odt, ole, xlsx, zip_of

BORDER = "1.008002"  # customs procedure for border residents' goods: level 2
TRADER = "1.008000"  # traders buying up border residents' goods: level 2
DEFENCE = "1.007895"  # goods directly for defence and security (confidential papers): level 2
ONLINE = "1.005458"  # cancelling a declaration: level 4
TITLE = "Tờ khai hàng hóa của cư dân biên giới"
DOCX_TYPE = storage.CONTENT_TYPES["docx"]
LANGUAGES = ("vi", "en")


def tr(msgid: str, language: str = "vi", **params: object) -> str:
    text = i18n.translations(language).gettext(msgid)
    return text % params if params else text


def text_of(response) -> str:
    return html.unescape(response.text)


def error_of(page: str, field: str) -> str:
    match = re.search(rf'id="f-{field}-error">(.*?)</p>', page, re.S)
    assert match, f"no error shown next to {field}"
    return html.unescape(match.group(1).strip())


def events(action: str) -> list[DossierEvent]:
    with db.connection_context():
        return list(DossierEvent.select().where(DossierEvent.action == action))


def forms_in_db() -> list[ProcedureForm]:
    with db.connection_context():
        return list(ProcedureForm.select().order_by(ProcedureForm.id))


def files_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_file()} if folder.exists() else set()


@pytest.fixture
def admin_ctx(settings, units, catalogue, make_user) -> Ctx:
    with db.connection_context():
        admin = make_user("admin")
    return Ctx(user=admin, client_addr="203.0.113.9", uploads=settings.uploads)


@pytest.fixture
def admin(client, make_user, login):
    login(make_user("admin"))
    return client


def speak(client, language: str):
    client.cookies.set("lang", language)
    return client


def post_form(client, code: str, title: str, file: tuple[str, bytes, str] | None):
    token = csrf_from(client.get(f"/admin/procedures/{code}/forms").text)
    files = {"file": file} if file else {"file": ("", b"", "application/octet-stream")}
    return client.post(
        f"/admin/procedures/{code}/forms",
        data={"title": title, "csrf_token": token},
        files=files,
        follow_redirects=False,
    )


def download_link(page: str) -> str:
    match = re.search(r'href="(/procedures/[0-9.]+/forms/\d+/[0-9a-f]{16})"', page)
    assert match, "the page offers no form to download"
    return match.group(1)


# --- the service -------------------------------------------------------------------------


def test_a_form_is_attached_and_removed_with_its_history(admin_ctx, settings):
    with db.connection_context():
        before = Procedure.get(Procedure.code == BORDER).updated_at
    content = docx()
    form = procedure_forms.attach(admin_ctx, BORDER, TITLE, [content[:100], content[100:]])
    path = settings.uploads / form.stored_name
    assert path.read_bytes() == content
    assert (form.size, form.content_type, form.file_type) == (len(content), DOCX_TYPE, "docx")
    assert form.sha256 == hashlib.sha256(content).hexdigest()
    assert form.filename == f"{TITLE}.docx"
    with db.connection_context():
        proc = Procedure.get(Procedure.code == BORDER)
    assert proc.updated_at > before  # a new revision: the page kept in memory is redone
    assert [f.id for f in procedure_forms.forms_of(proc.id)] == [form.id]
    (attached,) = events("attach_form")
    assert attached.note == f"{BORDER}: {TITLE}" and attached.actor_id == admin_ctx.user.id
    assert attached.client_addr == "203.0.113.9" and attached.dossier_id is None

    removed = procedure_forms.remove(admin_ctx, BORDER, form.id)
    assert removed.id == form.id and not path.exists()
    assert procedure_forms.forms_of(proc.id) == []
    (event,) = events("remove_form")
    assert event.note == f"{BORDER}: {TITLE}"
    with pytest.raises(NotFound):
        procedure_forms.remove(admin_ctx, BORDER, form.id)


def test_a_form_is_found_only_under_its_own_procedure(admin_ctx):
    form = procedure_forms.attach(admin_ctx, BORDER, TITLE, [docx()])
    with pytest.raises(NotFound):
        procedure_forms.get(ONLINE, form.id)
    with pytest.raises(NotFound):
        procedure_forms.remove(admin_ctx, ONLINE, form.id)
    with pytest.raises(NotFound):
        procedure_forms.for_download(BORDER, form.id, "0" * 16)
    assert procedure_forms.for_download(BORDER, form.id, form.sha256[:16]).id == form.id


ACCEPTED = [
    ("PDF", pdf_bytes("Mau don"), "pdf"),
    ("DOCX", docx(), "docx"),
    ("XLSX", xlsx(), "xlsx"),
    ("legacy Word (OLE)", ole("WordDocument"), "doc"),
    ("legacy Excel (OLE)", ole("Workbook"), "xls"),
    ("Excel 5 (OLE)", ole("Book"), "xls"),
    ("ODT", odt(), "odt"),
]
REFUSED = [
    ("PNG", PNG),
    ("JPEG", jpeg()),
    ("XML", b'<?xml version="1.0"?><toKhai/>'),
    ("executable", EXE),
    ("plain ZIP", zip_of({"a.txt": "x"})),
    ("OLE file of neither Word nor Excel", ole("PowerPoint Document")),
    ("cut OLE file", ole("WordDocument")[:700]),
    ("OpenDocument spreadsheet",
     odt().replace(b"opendocument.text", b"opendocument.sheet")),
    ("plain text", "Tờ khai".encode()),
]


@pytest.mark.parametrize(("what", "content", "file_type"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_form_files_are_typed_by_their_content(admin_ctx, what, content, file_type):
    form = procedure_forms.attach(admin_ctx, BORDER, "Mẫu", [content])
    assert form.file_type == file_type
    assert form.content_type == storage.CONTENT_TYPES[file_type]
    assert form.filename == f"Mẫu.{file_type}"


@pytest.mark.parametrize(("what", "content"), REFUSED, ids=[r[0] for r in REFUSED])
def test_other_files_are_refused_and_nothing_is_kept(admin_ctx, settings, what, content):
    with pytest.raises(ValidationError) as caught:
        procedure_forms.attach(admin_ctx, BORDER, "Mẫu", [content])
    assert caught.value.errors["file"].text == procedure_forms.PROBLEMS["type"]
    assert forms_in_db() == [] and files_in(settings.uploads) == set()
    assert events("attach_form") == []


def test_the_size_limit_and_empty_files(admin_ctx, settings):
    small = Ctx(user=admin_ctx.user, uploads=settings.uploads, max_upload_bytes=1024 * 1024)
    big = pdf_bytes("x") + b"%" * (1024 * 1024)
    with pytest.raises(ValidationError) as caught:
        procedure_forms.attach(small, BORDER, "Mẫu", [big])
    message = caught.value.errors["file"]
    assert (message.text, message.params) == (procedure_forms.PROBLEMS["too_large"], {"mb": 1})
    with pytest.raises(ValidationError) as caught:
        procedure_forms.attach(small, BORDER, "Mẫu", [b""])
    assert caught.value.errors["file"].text == procedure_forms.PROBLEMS["empty"]
    assert procedure_forms.limit(admin_ctx) == procedure_forms.MAX_FORM_BYTES
    assert forms_in_db() == [] and files_in(settings.uploads) == set()


def test_only_administrators_change_forms(admin_ctx, settings, make_user):
    form = procedure_forms.attach(admin_ctx, BORDER, TITLE, [docx()])
    for role in ("officer", "leader", "enterprise", "auditor"):
        with db.connection_context():
            user = make_user(role)
        ctx = Ctx(user=user, uploads=settings.uploads)
        with pytest.raises(DomainError) as caught:
            procedure_forms.attach(ctx, BORDER, TITLE, [docx()])
        assert caught.value.kind == "forbidden"
        with pytest.raises(DomainError):
            procedure_forms.remove(ctx, BORDER, form.id)
    assert [f.id for f in forms_in_db()] == [form.id]
    assert len(files_in(settings.uploads)) == 1


def test_a_procedure_that_does_not_exist_gets_no_form(admin_ctx, settings):
    with pytest.raises(NotFound):
        procedure_forms.attach(admin_ctx, "9.999999", TITLE, [docx()])
    assert files_in(settings.uploads) == set()


def test_the_hourly_cleanup_keeps_form_files(admin_ctx, job_settings):
    form = procedure_forms.attach(admin_ctx, BORDER, TITLE, [docx()])
    path = job_settings.uploads / form.stored_name
    then = time.time() - 7200
    os.utime(path, (then, then))
    assert jobs.clean_orphan_uploads.call_local() == 0
    assert path.is_file()


# --- the administrator's pages -------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_admin_attaches_a_form_and_everybody_downloads_it(app, admin, language):
    speak(admin, language)
    page = admin.get(f"/admin/procedures/{BORDER}/forms")
    assert page.status_code == 200
    assert tr("This procedure offers no form yet.", language) in text_of(page)
    content = docx()
    r = post_form(admin, BORDER, TITLE, ("to-khai.docx", content, "application/octet-stream"))
    assert r.status_code == 303 and r.headers["location"] == f"/admin/procedures/{BORDER}/forms"
    listed = admin.get(r.headers["location"])
    assert tr("The form %(title)s is offered for download.", language, title=TITLE) in text_of(
        listed
    )
    assert TITLE in text_of(listed)

    from starlette.testclient import TestClient

    with TestClient(app) as anonymous:  # the procedure's page and its forms are public
        speak(anonymous, language)
        detail = anonymous.get(f"/procedures/{BORDER}")
        assert detail.status_code == 200
        link = download_link(detail.text)
        assert f">{TITLE}</a>" in text_of(detail)
        got = anonymous.get(link)
        assert got.status_code == 200 and got.content == content
        assert got.headers["content-type"] == DOCX_TYPE
        assert got.headers["cache-control"] == IMMUTABLE
        (form,) = forms_in_db()
        assert got.headers["etag"] == f'"{form.sha256}"'
        assert link.endswith(f"/{form.id}/{form.sha256[:16]}")
        disposition = got.headers["content-disposition"]
        expected_name = quote(f"{TITLE}.docx", safe="")
        assert disposition == (
            'attachment; filename="To khai hang hoa cua cu dan bien gioi.docx"; '
            f"filename*=UTF-8''{expected_name}"
        )
        # Seen before: 304 without the file, and the same headers.
        again = anonymous.get(link, headers={"If-None-Match": got.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == got.headers["etag"]
        assert again.headers["cache-control"] == IMMUTABLE
        other = anonymous.get(link, headers={"If-None-Match": '"0000"'})
        assert other.status_code == 200 and other.content == content
        # Another hash, another id or another procedure in the link: no such file.
        for wrong in (
            link[:-16] + "0" * 16,
            link.replace(f"/{form.id}/", "/999999/"),
            link.replace(BORDER, ONLINE),
            link[:-1],
        ):
            assert anonymous.get(wrong).status_code == 404, wrong


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_file_of_another_type_is_refused_next_to_the_field_with_the_title_kept(
    admin, settings, language
):
    speak(admin, language)
    r = post_form(admin, BORDER, TITLE, ("mau.docx", PNG, DOCX_TYPE))
    assert r.status_code == 422
    page = text_of(r)
    expected = tr(procedure_forms.PROBLEMS["type"], language)
    assert error_of(r.text, "file") == expected
    assert 'class="app-error-summary"' in r.text and expected in page
    assert f'value="{TITLE}"' in page  # what was typed is kept
    assert 'aria-invalid="true"' in r.text
    assert forms_in_db() == [] and files_in(settings.uploads) == set()


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_missing_title_and_file_are_named_next_to_their_fields(admin, language):
    speak(admin, language)
    r = post_form(admin, BORDER, "  ", None)
    assert r.status_code == 422
    assert error_of(r.text, "title") == tr("This field is required.", language)
    assert error_of(r.text, "file") == tr("Choose the form's file.", language)
    r = post_form(admin, BORDER, "", ("mau.pdf", pdf_bytes(), "application/pdf"))
    assert r.status_code == 422 and error_of(r.text, "title")
    assert forms_in_db() == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_removing_a_form_asks_first_then_removes_it(admin, admin_ctx, settings, language):
    form = procedure_forms.attach(admin_ctx, BORDER, TITLE, [docx()])
    speak(admin, language)
    confirm = admin.get(f"/admin/procedures/{BORDER}/forms/{form.id}/delete")
    assert confirm.status_code == 200
    assert tr("Remove this form?", language) in text_of(confirm)
    assert TITLE in text_of(confirm)
    assert forms_in_db() != []  # asking removes nothing
    token = csrf_from(confirm.text)
    r = admin.post(
        f"/admin/procedures/{BORDER}/forms/{form.id}/delete",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    listed = text_of(admin.get(r.headers["location"]))
    assert tr("The form %(title)s was removed.", language, title=TITLE) in listed
    assert forms_in_db() == [] and files_in(settings.uploads) == set()
    assert [e.note for e in events("remove_form")] == [f"{BORDER}: {TITLE}"]
    link = f"/procedures/{BORDER}/forms/{form.id}/{form.sha256[:16]}"
    assert admin.get(link).status_code == 404
    again = admin.post(
        f"/admin/procedures/{BORDER}/forms/{form.id}/delete", data={"csrf_token": token}
    )
    assert again.status_code == 404


def test_people_other_than_the_admin_cannot_attach_or_remove(
    app, admin_ctx, make_user, settings
):
    from starlette.testclient import TestClient

    form = procedure_forms.attach(admin_ctx, BORDER, TITLE, [docx()])
    with TestClient(app) as anonymous:
        r = anonymous.get(f"/admin/procedures/{BORDER}/forms", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    for role in ("enterprise", "officer", "auditor"):
        with db.connection_context():
            user = make_user(role)
        with TestClient(app) as c:
            token = csrf_from(c.get("/login").text)
            c.post("/login", data={"username": user.username, "password": "correct-horse-42",
                                   "csrf_token": token})
            assert c.get(f"/admin/procedures/{BORDER}/forms").status_code == 403
            assert c.get(f"/admin/procedures/{BORDER}/forms/{form.id}/delete").status_code == 403
            token = csrf_from(c.get("/account").text)
            r = c.post(f"/admin/procedures/{BORDER}/forms", data={"title": "X",
                       "csrf_token": token}, files={"file": ("a.docx", docx(), DOCX_TYPE)})
            assert r.status_code == 403
            r = c.post(f"/admin/procedures/{BORDER}/forms/{form.id}/delete",
                       data={"csrf_token": token})
            assert r.status_code == 403
    assert [f.id for f in forms_in_db()] == [form.id]
    assert len(files_in(settings.uploads)) == 1


# --- the procedure page and dossiers --------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_level_2_page_says_what_to_download_and_how_to_do_it_at_the_counter(
    client, admin_ctx, language
):
    speak(client, language)
    with db.connection_context():
        proc = Procedure.get(Procedure.code == BORDER)
    assert proc.promises_forms and not proc.is_online
    before = text_of(client.get(f"/procedures/{BORDER}"))
    assert tr("Doing it at the counter", language) in before
    assert tr("No form is offered for download yet.", language) in before
    assert tr("No form is offered for download here yet: ask for it at the counter.",
              language) in before
    procedure_forms.attach(admin_ctx, BORDER, TITLE, [docx()])
    page = text_of(client.get(f"/procedures/{BORDER}"))
    assert tr("Forms to download", language) in page
    assert tr("Download the forms below, print them and fill them in.", language) in page
    assert tr("Bring the filled-in forms and the documents listed under “Required documents” "
              "(originals or certified copies).", language) in page
    assert tr("Hand them in at: %(agency)s.", language, agency=proc.implementing_agency) in page
    assert proc.not_online_reason in page and proc.offline_instructions in page
    assert f">{TITLE}</a> <span class=\"app-hint\">(DOCX," in page
    # An online procedure promises no forms and shows none.
    online = text_of(client.get(f"/procedures/{ONLINE}"))
    assert tr("Forms to download", language) not in online
    assert tr("Doing it at the counter", language) not in online


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("code", [DEFENCE, BORDER])
def test_starting_an_online_dossier_for_a_procedure_not_online_is_409(
    client, make_user, login, language, code
):
    with db.connection_context():
        login(make_user("enterprise"))
        proc = Procedure.get(Procedure.code == code)
    speak(client, language)
    r = client.get(f"/dossiers/new?procedure={code}")
    assert r.status_code == 409
    page = text_of(r)
    assert tr("This procedure is not available online", language) in page
    assert proc.not_online_reason in page and proc.offline_instructions in page
    assert 'name="unit"' not in r.text
    assert f'href="/procedures/{code}#forms"' in r.text
    token = csrf_from(client.get("/account").text)
    r = client.post("/dossiers/new", data={"procedure": code, "unit": "02CI",
                                           "csrf_token": token})
    assert r.status_code == 409
    assert proc.offline_instructions in text_of(r) and 'name="unit"' not in r.text
    with db.connection_context():
        assert Dossier.select().count() == 0


# --- the seed's examples -------------------------------------------------------------------


def test_the_seeds_examples_are_not_online_say_why_and_offer_a_demo_form(
    client, settings
):
    assert seed_form_files(settings.uploads) == len(DEMO_FORMS) == 3
    assert seed_form_files(settings.uploads) == 0  # idempotent
    with db.connection_context():
        by_code = {p.code: p for p in Procedure.select().where(Procedure.code.in_(
            [BORDER, TRADER, DEFENCE]))}
    assert set(by_code) == {BORDER, TRADER, DEFENCE}
    assert "cư dân biên giới" in by_code[BORDER].name
    assert "cư dân biên giới" in by_code[TRADER].name and "mua gom" in by_code[TRADER].name
    assert "quốc phòng, an ninh" in by_code[DEFENCE].name
    assert "tài liệu mật" in by_code[DEFENCE].not_online_reason
    assert "cư dân biên giới" in by_code[BORDER].not_online_reason.lower()
    assert "mua gom" in by_code[TRADER].not_online_reason
    for code, proc in by_code.items():
        assert proc.online_level == 2 and proc.promises_forms, code
        assert "Mang theo" in proc.offline_instructions, code  # what to bring
        assert "Hải quan" in proc.offline_instructions, code  # where
        assert {"not_online_reason", "offline_instructions"} <= proc.demo, code
    with db.connection_context():
        seeded = [(f, f.procedure.code) for f in ProcedureForm.select().order_by(ProcedureForm.id)]
    for form, code in seeded:
        content = (settings.uploads / form.stored_name).read_bytes()
        assert storage.sniff(settings.uploads / form.stored_name) == "docx"
        with zipfile.ZipFile(io.BytesIO(content)) as z:
            assert z.testzip() is None
            names = set(z.namelist())
            document = z.read("word/document.xml")
        assert {"[Content_Types].xml", "_rels/.rels", "word/document.xml"} <= names
        parser = expat.ParserCreate()
        parser.Parse(document, True)  # well-formed
        title, heading, _ = DEMO_FORMS[code]
        assert form.title == title and heading.encode() in document
        page = client.get(f"/procedures/{code}")
        link = download_link(page.text)
        assert client.get(link).content == content
    assert len(events("attach_form")) == 3


# --- the schema ----------------------------------------------------------------------------


def test_a_database_before_forms_gets_their_table(settings):
    version = next(v for v, step in STEPS.items() if step is _v14_procedure_forms)
    with db.connection_context():
        db.drop_tables([ProcedureForm])
        SchemaVersion.update(version=version - 1).execute()
        assert "procedure_form" not in db.get_tables()
    assert migrate() == (version - 1, LATEST)
    with db.connection_context():
        assert "procedure_form" in db.get_tables()
        assert current_version() == LATEST
