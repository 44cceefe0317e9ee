"""The administration pages over HTTP: who may see them, accounts, units, procedure edits,
catalogue import and export."""

from __future__ import annotations

import csv
import gc
import html
import io
import json
import re
import warnings
from html.parser import HTMLParser
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from portal import i18n
from portal.db import db
from portal.models import Procedure, Unit, User, UserSession
from portal.services import catalogue
from portal.services.catalogue_files import COLUMNS
from tests.helpers import HX, csrf_from

PASSWORD = "correct-horse-42"  # the make_user fixture's password
NEW_PASSWORD = "Mat-khau-can-bo-7"
TOTAL = 189

ADMIN_PAGES = ["/admin", "/admin/users", "/admin/users/new", "/admin/users/{id}",
               "/admin/units", "/admin/units?structure=2025", "/admin/units/new",
               "/admin/units/02CI", "/admin/procedures/new", "/admin/procedures/1.005458",
               "/admin/catalogue", "/admin/catalogue/export?format=csv",
               "/admin/catalogue/export?format=json"]


def tr(msgid: str, **params: object) -> str:
    text = i18n.translations("vi").gettext(msgid)
    return text % params if params else text


def trn(singular: str, plural: str, n: int, **params: object) -> str:
    return i18n.translations("vi").ngettext(singular, plural, n) % {"count": n, **params}


def text_of(response) -> str:
    return html.unescape(response.text)


class FormReader(HTMLParser):
    """The values a browser would submit for the form posting to `action`."""

    def __init__(self, action: str) -> None:
        super().__init__(convert_charrefs=True)
        self.action = action
        self.inside = self.found = False
        self.values: dict[str, str] = {}
        self._select: str | None = None
        self._selected: set[str] = set()
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("action") == self.action
            self.found = self.found or self.inside
            return
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind == "checkbox":
                if "checked" in a:
                    self.values[name] = a.get("value") or "on"
            elif kind not in ("submit", "button", "file", "password"):
                self.values[name] = a.get("value") or ""
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select:
            if "selected" in a:
                self.values[self._select] = a.get("value") or ""
                self._selected.add(self._select)
            elif self._select not in self.values:
                self.values[self._select] = a.get("value") or ""
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.values[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def form_of(page: str, action: str) -> dict[str, str]:
    reader = FormReader(action)
    reader.feed(page)
    assert reader.found, f"no form posting to {action}"
    return reader.values


@pytest.fixture
def admin(make_user, login, client):
    user = make_user("admin")
    login(user)
    return user


@pytest.fixture
def quiet_admin(app, client, admin):
    """The admin's session in a client that answers a server error with the 500 page (so a
    test of a bad file checks the status instead of stopping at the exception)."""
    with TestClient(app, raise_server_exceptions=False,
                    cookies={"portal_session": client.cookies.get("portal_session")}) as quiet:
        yield quiet


def token_of(client: TestClient) -> str:
    return csrf_from(client.get("/admin").text)


def login_other(app, user) -> TestClient:
    other = TestClient(app)
    token = csrf_from(other.get("/login").text)
    r = other.post("/login", data={"username": user.username, "password": PASSWORD,
                                   "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    return other


def signed_in(client: TestClient) -> bool:
    return 'action="/logout"' in client.get("/").text


def get_proc(code: str) -> Procedure:
    with db.connection_context():
        return catalogue.get_procedure(code)


def export(client: TestClient, fmt: str) -> str:
    r = client.get("/admin/catalogue/export", params={"format": fmt})
    assert r.status_code == 200
    return r.text


def upload(client: TestClient, content: bytes, filename: str = "procedures.csv", *,
           confirm: bool = True, with_file: bool = True):
    data = {"csrf_token": token_of(client)}
    if confirm:
        data["confirm"] = "1"
    files = {"file": (filename, content, "text/csv")} if with_file else None
    try:
        return client.post("/admin/catalogue/import", data=data, files=files,
                           follow_redirects=False)
    finally:
        gc.collect()  # an upload the app forgot to close warns here, in this test


def csv_of(records: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue().encode()


# --- who may use the administration ---------------------------------------------------------


def test_anonymous_visitor_is_sent_to_login(client, make_user):
    user = make_user("officer")
    for page in ADMIN_PAGES:
        path = page.format(id=user.id)
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"] == "/login?next=" + quote(path)


@pytest.mark.parametrize("role", ["officer", "leader", "auditor", "enterprise"])
def test_other_roles_are_refused(client, make_user, login, role):
    with db.connection_context():  # make_user("enterprise") queries outside a connection
        user = make_user(role)
    login(user)
    for page in ADMIN_PAGES:
        r = client.get(page.format(id=user.id), follow_redirects=False)
        assert r.status_code == 403, page
        assert "<html" in r.text
        assert tr("You do not have access to this page.") in text_of(r)


def test_admin_sees_every_page(client, admin):
    for page in ADMIN_PAGES:
        assert client.get(page.format(id=admin.id)).status_code == 200, page


def test_officer_cannot_create_an_account_even_with_a_token(client, make_user, login):
    login(make_user("officer"))
    token = csrf_from(client.get("/").text)
    r = client.post("/admin/users/new", data={
        "csrf_token": token, "username": "sneaky", "full_name": "Sneaky", "role": "admin",
        "active": "1", "password": NEW_PASSWORD}, follow_redirects=False)
    assert r.status_code == 403
    with db.connection_context():
        assert not User.select().where(User.username == "sneaky").exists()


def test_anonymous_post_to_admin_is_refused(client):
    token = csrf_from(client.get("/login").text)
    r = client.post("/admin/units/new", data={"csrf_token": token, "code": "ZZ01"},
                    follow_redirects=False)
    assert r.status_code == 401
    with db.connection_context():
        assert not Unit.select().where(Unit.code == "ZZ01").exists()


def test_deactivated_admin_loses_access_at_once(app, client, admin, make_user):
    other_admin = make_user("admin")
    other = login_other(app, other_admin)
    assert other.get("/admin").status_code == 200
    with db.connection_context():
        User.update(active=False).where(User.id == other_admin.id).execute()
    assert other.get("/admin", follow_redirects=False).status_code == 303
    other.close()


# --- accounts -------------------------------------------------------------------------------


def test_user_list_and_role_filter(client, admin, make_user):
    officer, leader = make_user("officer"), make_user("leader")
    r = client.get("/admin/users")
    assert r.status_code == 200
    for u in (admin, officer, leader):
        assert f'<a href="/admin/users/{u.id}">{u.username}</a>' in r.text
    only = client.get("/admin/users", params={"role": "officer"})
    assert f">{officer.username}</a>" in only.text
    assert f">{leader.username}</a>" not in only.text and f">{admin.username}</a>" not in only.text
    assert '<option value="officer" selected>' in only.text
    fragment = client.get("/admin/users", params={"role": "leader"}, headers=HX)
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section id="results"')
    assert "<html" not in fragment.text and "HX-Request" in fragment.headers["vary"]
    assert f">{leader.username}</a>" in fragment.text
    assert f">{officer.username}</a>" not in fragment.text


def test_user_list_search_and_unknown_role(client, admin, make_user):
    officer = make_user("officer", full_name="Đỗ Thị Lan")
    r = client.get("/admin/users", params={"q": "Lan"})
    assert f">{officer.username}</a>" in r.text and f">{admin.username}</a>" not in r.text
    r = client.get("/admin/users", params={"role": "emperor"})
    assert r.status_code == 200 and f">{officer.username}</a>" in r.text
    r = client.get("/admin/users", params={"q": "nobody-has-this"})
    assert tr("No account matches.") in text_of(r)


def officer_form(**changes: str) -> dict[str, str]:
    return {"username": "canbo.moi", "full_name": "Trần Văn Mới", "email": "moi@example.vn",
            "role": "officer", "unit_code": "02CI", "tax_code": "", "active": "1",
            "password": NEW_PASSWORD, **changes}


def test_admin_creates_an_officer(app, client, admin):
    form = client.get("/admin/users/new")
    assert form.status_code == 200
    assert form_of(form.text, "/admin/users/new")["role"] == "officer"
    r = client.post("/admin/users/new", data={**officer_form(), "csrf_token": token_of(client)},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/users"
    listing = client.get("/admin/users")
    assert tr("Account %(name)s created.", name="canbo.moi") in text_of(listing)
    assert ">canbo.moi</a>" in listing.text
    with db.connection_context():
        user = User.get(User.username == "canbo.moi")
        assert user.role == "officer" and user.unit.code == "02CI" and user.active
    officer = TestClient(app)
    token = csrf_from(officer.get("/login").text)
    assert officer.post("/login", data={"username": "canbo.moi", "password": NEW_PASSWORD,
                                        "csrf_token": token},
                        follow_redirects=False).status_code == 303
    officer.close()


def test_officer_without_a_unit_is_refused_and_the_input_kept(client, admin):
    r = client.post("/admin/users/new",
                    data={**officer_form(unit_code=""), "csrf_token": token_of(client)},
                    follow_redirects=False)
    assert r.status_code == 422
    assert 'id="f-unit_code-error"' in r.text and 'href="#f-unit_code"' in r.text
    assert tr("Officers and leaders belong to a unit.") in text_of(r)
    values = form_of(r.text, "/admin/users/new")
    assert values["username"] == "canbo.moi"
    assert values["full_name"] == "Trần Văn Mới"
    assert values["email"] == "moi@example.vn"
    assert values["role"] == "officer" and values["active"] == "1"
    assert NEW_PASSWORD not in r.text
    with db.connection_context():
        assert not User.select().where(User.username == "canbo.moi").exists()


ACCOUNT_ERRORS = [
    ({"unit_code": "NOPE"}, "unit_code"),
    ({"username": "Bad Name"}, "username"),
    ({"role": "emperor"}, "role"),
    ({"password": "short"}, "password"),
    ({"role": "enterprise", "unit_code": "", "tax_code": ""}, "tax_code"),
]


def test_account_form_errors_are_shown_at_the_field(client, admin):
    for changes, field in ACCOUNT_ERRORS:
        r = client.post("/admin/users/new",
                        data={**officer_form(**changes), "csrf_token": token_of(client)},
                        follow_redirects=False)
        assert r.status_code == 422, changes
        assert f'id="f-{field}-error"' in r.text, changes
        assert form_of(r.text, "/admin/users/new")["full_name"] == "Trần Văn Mới"


def test_taken_user_name_is_refused(client, admin, make_user):
    taken = make_user("officer")
    r = client.post("/admin/users/new",
                    data={**officer_form(username=taken.username), "csrf_token": token_of(client)},
                    follow_redirects=False)
    assert r.status_code == 422 and 'id="f-username-error"' in r.text


def test_admin_changes_a_role_and_the_user_is_logged_out(app, client, admin, make_user):
    officer = make_user("officer")
    other = login_other(app, officer)
    assert signed_in(other)
    page = client.get(f"/admin/users/{officer.id}")
    assert page.status_code == 200
    values = form_of(page.text, f"/admin/users/{officer.id}")
    assert values["role"] == "officer" and values["unit_code"] == "2025:02CI"  # today's office
    assert values["full_name"] == officer.full_name and "username" not in values
    r = client.post(f"/admin/users/{officer.id}", data={**values, "role": "leader"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/users"
    with db.connection_context():
        assert User.get_by_id(officer.id).role == "leader"
    listing = client.get("/admin/users", params={"role": "leader"})
    assert f">{officer.username}</a>" in listing.text
    assert not signed_in(other)  # a privilege change ends the user's sessions
    other.close()


def test_saving_a_user_unchanged_keeps_the_sessions(app, client, admin, make_user):
    officer = make_user("officer")
    other = login_other(app, officer)
    values = form_of(client.get(f"/admin/users/{officer.id}").text, f"/admin/users/{officer.id}")
    r = client.post(f"/admin/users/{officer.id}", data={**values, "full_name": "Tên Mới"},
                    follow_redirects=False)
    assert r.status_code == 303
    with db.connection_context():
        assert User.get_by_id(officer.id).full_name == "Tên Mới"
    assert signed_in(other)
    other.close()


def test_bad_user_edit_keeps_the_input(client, admin, make_user):
    officer = make_user("officer")
    values = form_of(client.get(f"/admin/users/{officer.id}").text, f"/admin/users/{officer.id}")
    r = client.post(f"/admin/users/{officer.id}",
                    data={**values, "unit_code": "", "full_name": "Tên Đã Sửa"},
                    follow_redirects=False)
    assert r.status_code == 422
    assert 'id="f-unit_code-error"' in r.text
    kept = form_of(r.text, f"/admin/users/{officer.id}")
    assert kept["full_name"] == "Tên Đã Sửa"
    assert f"/admin/users/{officer.id}/sessions/end" in r.text
    with db.connection_context():
        assert User.get_by_id(officer.id).full_name == officer.full_name


def test_log_out_everywhere(app, client, admin, make_user):
    officer = make_user("officer")
    phone, laptop = login_other(app, officer), login_other(app, officer)
    assert signed_in(phone) and signed_in(laptop)
    page = client.get(f"/admin/users/{officer.id}")
    token = csrf_from(page.text)
    assert f'action="/admin/users/{officer.id}/sessions/end"' in page.text
    r = client.post(f"/admin/users/{officer.id}/sessions/end", data={"csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/admin/users/{officer.id}"
    after = client.get(r.headers["location"])
    assert trn("%(count)s session of %(name)s was ended.",
               "%(count)s sessions of %(name)s were ended.", 2,
               name=officer.username) in text_of(after)
    assert not signed_in(phone) and not signed_in(laptop)
    assert phone.get("/").status_code == 200
    assert signed_in(client)  # the admin's own session is untouched
    with db.connection_context():
        assert not UserSession.select().where(UserSession.user == officer.id,
                                              UserSession.ended_at.is_null()).exists()
    phone.close()
    laptop.close()


def test_unknown_user_is_a_404(client, admin):
    token = token_of(client)
    for user_id in ["abc", "999999", "0", "-1", "1.5", "9" * 40]:
        r = client.get(f"/admin/users/{user_id}")
        assert r.status_code == 404 and "<html" in r.text, user_id
        assert tr("This page does not exist.") in text_of(r)
        r = client.post(f"/admin/users/{user_id}", data={"csrf_token": token})
        assert r.status_code == 404, user_id
        r = client.post(f"/admin/users/{user_id}/sessions/end", data={"csrf_token": token})
        assert r.status_code == 404, user_id


def test_unicode_digits_in_user_ids_and_pages_are_not_a_server_error(client, admin):
    assert client.get("/admin/users/²").status_code == 404
    assert client.get("/admin/users", params={"page": "²"}).status_code == 200


def test_nul_characters_in_admin_urls_are_refused_not_a_server_error(client, admin):
    assert client.get("/admin/users", params={"q": "a\x00b"}).status_code == 400
    assert client.get("/admin/units/02%00").status_code == 400
    assert client.get("/admin/procedures/1.00545%00").status_code == 400


def test_nul_characters_in_admin_forms_are_not_a_server_error(client, admin):
    r = client.post("/admin/units/new", data={**unit_form(name="Chi cục\x00 Thử"),
                                              "csrf_token": token_of(client)},
                    follow_redirects=False)
    assert r.status_code == 303  # the NUL is dropped from the name
    with db.connection_context():
        assert Unit.get(Unit.code == "02ZZ").name == "Chi cục Thử"
    r = client.post("/admin/users/new", data={**officer_form(username="canbo\x00x"),
                                              "csrf_token": token_of(client)},
                    follow_redirects=False)
    assert r.status_code == 303  # the NUL is dropped from the login name
    with db.connection_context():
        assert User.select().where(User.username.contains("canbo")).get().username == "canbox"


# --- units ----------------------------------------------------------------------------------


def tree_codes(page: str) -> list[tuple[int, str]]:
    return [(int(d), c) for d, c in re.findall(
        r'app-tree__item--d(\d+)"><a href="/admin/units/[^"]+">'
        r'<span class="app-code">([^<]+)</span>',
        page)]


def test_unit_tree_of_both_structures(client, admin):
    default = client.get("/admin/units")  # the structure in force today
    assert re.search(r'structure=2025"[^>]*aria-current="page"', default.text)
    old = client.get("/admin/units", params={"structure": "2016"})
    assert old.status_code == 200
    tree = tree_codes(old.text)
    assert tree[0] == (0, "TCHQ")
    assert (1, "02") in tree and (2, "02CI") in tree
    assert tree.index((1, "02")) < tree.index((2, "02CI"))
    assert 'href="/admin/units?structure=2016"' in old.text
    assert re.search(r'structure=2016"[^>]*aria-current="page"', old.text)
    new = client.get("/admin/units", params={"structure": "2025"})
    tree25 = tree_codes(new.text)
    assert tree25[0] == (0, "CHQ") and (1, "KV01") in tree25
    assert (1, "KV02") in tree25 and (2, "02CI") in tree25  # the office kept its code
    with db.connection_context():
        assert len(tree25) == Unit.select().where(Unit.structure == "2025").count()
        assert len(tree) == Unit.select().where(Unit.structure == "2016").count()
    fragment = client.get("/admin/units", params={"structure": "2025"}, headers=HX)
    assert fragment.text.lstrip().startswith('<section id="results"')
    assert "<html" not in fragment.text and tree_codes(fragment.text) == tree25
    odd = client.get("/admin/units", params={"structure": "1999"})
    assert odd.status_code == 200 and tree_codes(odd.text) == tree25


def unit_form(**changes: str) -> dict[str, str]:
    return {"code": "02ZZ", "name": "Chi cục Hải quan Thử nghiệm", "kind": "branch",
            "structure": "2016", "parent_code": "02", "active": "1", **changes}


def test_admin_creates_a_unit_under_02_and_edits_it(client, admin):
    form = client.get("/admin/units/new", params={"structure": "2016", "parent": "02"})
    values = form_of(form.text, "/admin/units/new")
    assert values["parent_code"] == "02" and values["structure"] == "2016"
    r = client.post("/admin/units/new", data={**unit_form(), "csrf_token": token_of(client)},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/units?structure=2016"
    page = client.get(r.headers["location"])
    assert tr("Unit %(code)s saved.", code="02ZZ") in text_of(page)
    tree = tree_codes(page.text)
    assert (2, "02ZZ") in tree and tree.index((1, "02")) < tree.index((2, "02ZZ"))

    edit = client.get("/admin/units/02ZZ")
    values = form_of(edit.text, "/admin/units/2016%3A02ZZ")  # the form names the unit by ref
    assert values == {**unit_form(), "csrf_token": values["csrf_token"]}
    r = client.post("/admin/units/02ZZ", data={**values, "name": "Chi cục Hải quan Đã Đổi Tên"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert "Chi cục Hải quan Đã Đổi Tên" in text_of(client.get("/admin/units?structure=2016"))
    with db.connection_context():
        unit = Unit.get(Unit.code == "02ZZ")
        assert unit.name == "Chi cục Hải quan Đã Đổi Tên" and unit.parent.code == "02"


UNIT_ERRORS = [
    ({"parent_code": "NOPE99"}, "parent_code"),
    ({"parent_code": ""}, "parent_code"),
    ({"code": "02ci"}, "code"),
    ({"code": "02CI"}, "code"),
    ({"kind": "empire"}, "kind"),
    ({"name": ""}, "name"),
]


def test_bad_unit_is_refused_with_the_input_kept(client, admin):
    for changes, field in UNIT_ERRORS:
        r = client.post("/admin/units/new",
                        data={**unit_form(**changes), "csrf_token": token_of(client)},
                        follow_redirects=False)
        assert r.status_code == 422, changes
        assert f'id="f-{field}-error"' in r.text and f'href="#f-{field}"' in r.text, changes
        kept = form_of(r.text, "/admin/units/new")
        for name, value in unit_form(**changes).items():
            if name != "kind":  # a select cannot show a value it does not offer
                assert kept.get(name, "") == value, (changes, name)
    with db.connection_context():
        assert not Unit.select().where(Unit.code == "02ZZ").exists()


def test_unit_cannot_be_placed_under_its_own_branch(client, admin):
    values = form_of(client.get("/admin/units/02").text, "/admin/units/2016%3A02")
    r = client.post("/admin/units/02", data={**values, "parent_code": "02CI"},
                    follow_redirects=False)
    assert r.status_code == 422 and 'id="f-parent_code-error"' in r.text
    assert tr("A unit cannot be placed under itself.") in text_of(r)
    with db.connection_context():
        assert Unit.get(Unit.code == "02").parent.code == "TCHQ"


def test_unit_parent_must_be_in_the_same_structure(client, admin):
    r = client.post("/admin/units/new",
                    data={**unit_form(code="KVZZ", structure="2025", parent_code="02"),
                          "csrf_token": token_of(client)},
                    follow_redirects=False)
    assert r.status_code == 422 and 'id="f-parent_code-error"' in r.text
    with db.connection_context():
        assert not Unit.select().where(Unit.code == "KVZZ").exists()


def test_unit_kind_must_fit_under_its_parent(client, admin):
    r = client.post("/admin/units/new",
                    data={**unit_form(code="ZZ02", kind="department", parent_code="02CI"),
                          "csrf_token": token_of(client)},
                    follow_redirects=False)
    assert r.status_code == 422
    assert 'id="f-parent_code-error"' in r.text or 'id="f-kind-error"' in r.text


def test_unknown_unit_is_a_404(client, admin):
    assert client.get("/admin/units/NOPE").status_code == 404
    r = client.post("/admin/units/NOPE", data={**unit_form(code="NOPE"),
                                               "csrf_token": token_of(client)})
    assert r.status_code == 404


# --- procedures -----------------------------------------------------------------------------


def test_admin_edits_a_procedure_name(client, admin):
    page = client.get("/admin/procedures/1.005458")
    assert page.status_code == 200
    values = form_of(page.text, "/admin/procedures/1.005458")
    before = get_proc("1.005458")
    assert values["name"] == before.name and values["online_level"] == "4"
    new_name = "Thủ tục huỷ tờ khai hải quan (đã sửa)"
    r = client.post("/admin/procedures/1.005458", data={**values, "name": new_name},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/procedures/1.005458"
    detail = client.get("/procedures/1.005458")
    assert f"<h1>{new_name}</h1>" in text_of(detail)
    assert tr("Procedure %(code)s saved.", code="1.005458") in text_of(detail)
    assert 'href="/admin/procedures/1.005458"' in detail.text
    # everything else survived the round trip through the form
    again = form_of(client.get("/admin/procedures/1.005458").text, "/admin/procedures/1.005458")
    assert {k: v for k, v in again.items() if k not in ("name", "csrf_token")} == {
        k: v for k, v in values.items() if k not in ("name", "csrf_token")}
    after = get_proc("1.005458")
    assert [d.name for d in after.documents] == [d.name for d in before.documents]
    assert after.demo_fields == before.demo_fields
    assert "1.005458" in client.get("/procedures", params={"q": "da sua"}).text


def test_admin_requires_signed_documents_for_a_procedure(client, admin):
    values = form_of(client.get("/admin/procedures/1.005458").text, "/admin/procedures/1.005458")
    assert "requires_signature" not in values  # an unticked box sends nothing
    r = client.post("/admin/procedures/1.005458", data={**values, "requires_signature": "1"},
                    follow_redirects=False)
    assert r.status_code == 303 and get_proc("1.005458").requires_signature
    again = form_of(client.get("/admin/procedures/1.005458").text, "/admin/procedures/1.005458")
    assert again["requires_signature"] == "1"
    again.pop("requires_signature")
    client.post("/admin/procedures/1.005458", data=again, follow_redirects=False)
    assert not get_proc("1.005458").requires_signature


def test_bad_procedure_edit_keeps_the_input(client, admin):
    values = form_of(client.get("/admin/procedures/1.005458").text, "/admin/procedures/1.005458")
    typed = {**values, "name": "Tên mới chưa lưu", "online_level": "2", "not_online_reason": ""}
    r = client.post("/admin/procedures/1.005458", data=typed, follow_redirects=False)
    assert r.status_code == 422
    assert 'id="f-not_online_reason-error"' in r.text and 'href="#f-not_online_reason"' in r.text
    assert tr("Say why this procedure is not online.") in text_of(r)
    kept = form_of(r.text, "/admin/procedures/1.005458")
    assert kept["name"] == "Tên mới chưa lưu" and kept["online_level"] == "2"
    assert kept["documents"] == values["documents"]
    proc = get_proc("1.005458")
    assert proc.name != "Tên mới chưa lưu" and proc.online_level == 4


PROCEDURE_ERRORS = [
    ({"code": "1.5458"}, "code"),
    ({"code": "1.008002"}, "code"),
    ({"online_level": "9"}, "online_level"),
    ({"national_url": "http://insecure.example"}, "national_url"),
    ({"fee_amount": "-5"}, "fee_amount"),
    ({"time_online": "abc"}, "time_online"),
    ({"documents": "Tờ khai | mandatory | pdf,exe"}, "documents"),
    ({"documents": " | mandatory | pdf"}, "documents"),
]


def test_procedure_form_errors_are_shown_at_the_field(client, admin):
    values = form_of(client.get("/admin/procedures/1.005458").text, "/admin/procedures/1.005458")
    for changes, field in PROCEDURE_ERRORS:
        r = client.post("/admin/procedures/1.005458",
                        data={**values, **changes, "name": "Không được lưu"},
                        follow_redirects=False)
        assert r.status_code == 422, changes
        assert f'id="f-{field}-error"' in r.text, changes
    assert get_proc("1.005458").name == values["name"]


def test_unknown_single_file_type_is_refused(client, admin):
    values = form_of(client.get("/admin/procedures/1.005458").text, "/admin/procedures/1.005458")
    r = client.post("/admin/procedures/1.005458",
                    data={**values, "documents": "Tờ khai | mandatory | exe"},
                    follow_redirects=False)
    assert r.status_code == 422 and 'id="f-documents-error"' in r.text


def test_procedure_form_names_every_bad_field_at_once(client, admin):
    values = form_of(client.get("/admin/procedures/1.005458").text, "/admin/procedures/1.005458")
    r = client.post("/admin/procedures/1.005458",
                    data={**values, "code": "bad", "online_level": "2", "not_online_reason": ""},
                    follow_redirects=False)
    assert r.status_code == 422
    assert 'id="f-code-error"' in r.text and 'id="f-not_online_reason-error"' in r.text


def test_admin_adds_a_procedure(client, admin):
    form = client.get("/admin/procedures/new")
    values = form_of(form.text, "/admin/procedures/new")
    data = {**values, "code": "1.999999", "name": "Thủ tục thử nghiệm mới",
            "online_level": "3", "time_online": "2", "time_online_unit": "working_days",
            "documents": "Đơn đề nghị | mandatory | pdf,docx\nẢnh | optional | jpg | multiple"}
    r = client.post("/admin/procedures/new", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/procedures/1.999999"
    page = client.get("/procedures/1.999999")
    assert "Thủ tục thử nghiệm mới" in text_of(page) and "PDF, DOCX" in page.text
    assert "1.999999" in client.get("/procedures", params={"q": "thu nghiem moi"}).text


def test_adding_a_procedure_with_a_taken_code_is_refused(client, admin):
    existing = get_proc("1.008002")
    values = form_of(client.get("/admin/procedures/new").text, "/admin/procedures/new")
    data = {**values, "code": "1.008002", "name": "Thủ tục trùng mã", "online_level": "4"}
    r = client.post("/admin/procedures/new", data=data, follow_redirects=False)
    assert r.status_code == 422 and 'id="f-code-error"' in r.text
    assert get_proc("1.008002").name == existing.name


def test_unknown_procedure_edit_is_a_404(client, admin):
    assert client.get("/admin/procedures/9.999999").status_code == 404
    values = form_of(client.get("/admin/procedures/1.005458").text, "/admin/procedures/1.005458")
    r = client.post("/admin/procedures/9.999999", data={**values, "code": "9.999999"})
    assert r.status_code == 404
    with db.connection_context():
        assert not Procedure.select().where(Procedure.code == "9.999999").exists()


def test_a_fee_too_large_for_the_column_is_refused(client, admin):
    # the column is a 32-bit integer on PostgreSQL: a larger fee must be refused, not a 500
    values = form_of(client.get("/admin/procedures/1.005458").text, "/admin/procedures/1.005458")
    r = client.post("/admin/procedures/1.005458", data={**values, "fee_amount": "3000000000"},
                    follow_redirects=False)
    assert r.status_code == 422
    assert get_proc("1.005458").fee_amount != 3_000_000_000


def test_a_file_type_repeated_many_times_is_kept_once(client, admin):
    # required_document.file_types holds 64 characters (enforced by PostgreSQL)
    values = form_of(client.get("/admin/procedures/1.005458").text, "/admin/procedures/1.005458")
    docs = "Tờ khai | mandatory | " + ",".join(["pdf"] * 20)
    r = client.post("/admin/procedures/1.005458", data={**values, "documents": docs},
                    follow_redirects=False)
    assert r.status_code == 303  # the repeated type is kept once
    assert [(d.name, d.file_types) for d in get_proc("1.005458").documents] == [("Tờ khai", "pdf")]


# --- export and import ----------------------------------------------------------------------


def test_export_csv_is_an_attachment_of_every_procedure(client, admin):
    r = client.get("/admin/catalogue/export", params={"format": "csv"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="procedures.csv"'
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == TOTAL
    assert list(rows[0].keys()) == COLUMNS
    row = next(x for x in rows if x["code"] == "1.005458")
    assert row["name"] == get_proc("1.005458").name and row["online_level"] == "4"


def test_export_json_is_an_attachment_of_every_procedure(client, admin):
    r = client.get("/admin/catalogue/export", params={"format": "json"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="procedures.json"'
    records = json.loads(r.text)
    assert len(records) == TOTAL
    rec = next(x for x in records if x["code"] == "1.008002")
    assert rec["online_level"] == 2 and rec["not_online_reason"]
    assert isinstance(rec["documents"], list) and rec["documents"][0]["name"]


def test_export_with_an_unknown_format_gives_csv(client, admin):
    r = client.get("/admin/catalogue/export", params={"format": "xlsx"})
    assert r.headers["content-disposition"] == 'attachment; filename="procedures.csv"'
    assert r.text.startswith("code,name,")


def test_transfer_page_offers_both_downloads(client, admin):
    r = client.get("/admin/catalogue")
    assert 'href="/admin/catalogue/export?format=csv"' in r.text
    assert 'href="/admin/catalogue/export?format=json"' in r.text
    assert 'enctype="multipart/form-data"' in r.text


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_importing_the_export_back_changes_nothing(client, admin, fmt):
    before = export(client, fmt)
    r = upload(client, before.encode(), f"procedures.{fmt}")
    assert r.status_code == 303 and r.headers["location"] == "/procedures"
    page = client.get("/procedures")
    assert trn("%(count)s procedure imported.", "%(count)s procedures imported.",
               TOTAL) in text_of(page)
    assert export(client, fmt) == before


def test_import_replaces_a_procedure(client, admin):
    rows = list(csv.DictReader(io.StringIO(export(client, "csv"))))
    row = next(x for x in rows if x["code"] == "1.005458")
    row["name"] = "Tên nhập từ tệp"
    r = upload(client, csv_of([row]))
    assert r.status_code == 303
    assert trn("%(count)s procedure imported.", "%(count)s procedures imported.",
               1) in text_of(client.get("/procedures"))
    assert "<h1>Tên nhập từ tệp</h1>" in text_of(client.get("/procedures/1.005458"))
    with db.connection_context():
        assert Procedure.select().count() == TOTAL


@pytest.mark.parametrize("confirm, with_file, fields", [
    (False, True, ["confirm"]),
    (True, False, ["file"]),
    (False, False, ["confirm", "file"]),
])
def test_import_needs_the_confirm_box_and_a_file(client, admin, confirm, with_file, fields):
    rows = list(csv.DictReader(io.StringIO(export(client, "csv"))))
    rows[0]["name"] = "Không được nhập"
    r = upload(client, csv_of(rows[:1]), confirm=confirm, with_file=with_file)
    assert r.status_code == 422
    for field in fields:
        assert f'id="f-{field}-error"' in r.text and f'href="#f-{field}"' in r.text
    with db.connection_context():
        assert not Procedure.select().where(Procedure.name == "Không được nhập").exists()


def test_bad_csv_lists_the_problems_and_changes_nothing(client, admin):
    before = export(client, "csv")
    rows = list(csv.DictReader(io.StringIO(before)))
    good = next(x for x in rows if x["code"] == "1.005458")
    good["name"] = "Không được lưu"
    bad = dict(good, code="abc")
    worse = dict(good, code="1.000002", online_level="2", not_online_reason="")
    r = upload(client, csv_of([good, bad, worse]))
    assert r.status_code == 422
    page = text_of(r)
    assert tr("The file was not imported: nothing was changed.") in page
    assert "<caption>" in r.text
    assert "<tr><td>2</td><td>code</td>" in page
    assert "<tr><td>3</td><td>not_online_reason</td>" in page
    assert "<td>1</td>" not in page
    assert get_proc("1.005458").name != "Không được lưu"
    assert export(client, "csv") == before


UNREADABLE_FILES = [
    (b"name,level\nx,4\n", "procedures.csv"),
    (b"\xff\xfe\x00bad", "procedures.csv"),
    (b"{not json", "procedures.json"),
    (b'{"code": "1.005458"}', "procedures.json"),
    (b"", "procedures.csv"),
]


def test_unreadable_files_are_refused(client, admin):
    before = export(client, "csv")
    for content, filename in UNREADABLE_FILES:
        r = upload(client, content, filename)
        assert r.status_code == 422, content
        assert 'id="f-file-error"' in r.text, content
    assert export(client, "csv") == before


def test_file_listing_a_code_twice_is_refused(client, admin):
    rows = list(csv.DictReader(io.StringIO(export(client, "csv"))))
    row = next(x for x in rows if x["code"] == "1.005458")
    r = upload(client, csv_of([row, dict(row, name="Bản sao")]))
    assert r.status_code == 422
    assert "<tr><td>—</td><td>code</td>" in text_of(r)


def test_formula_cells_survive_the_round_trip(client, admin):
    rows = list(csv.DictReader(io.StringIO(export(client, "csv"))))
    row = next(x for x in rows if x["code"] == "1.005458")
    row["fee_text"] = "=HYPERLINK(\"http://evil.example\")"
    assert upload(client, csv_of([row])).status_code == 303
    assert get_proc("1.005458").fee_text == row["fee_text"]
    exported = next(x for x in csv.DictReader(io.StringIO(export(client, "csv")))
                    if x["code"] == "1.005458")
    assert exported["fee_text"] == "'" + row["fee_text"]


def post_and_collect_leaks(client: TestClient, data: dict, content: bytes):
    """POST an import; the status and the unclosed-file warnings it left behind."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        r = client.post("/admin/catalogue/import", data=data,
                        files={"file": ("procedures.csv", content, "text/csv")},
                        follow_redirects=False)
        gc.collect()
    return r.status_code, [str(w.message) for w in caught
                           if issubclass(w.category, ResourceWarning)]


def test_uploaded_files_are_closed(client, admin):
    content = export(client, "csv").encode()
    token = token_of(client)
    assert post_and_collect_leaks(client, {"csrf_token": token, "confirm": "1"},
                                  content) == (303, [])
    assert post_and_collect_leaks(client, {"csrf_token": token}, content) == (422, [])
    assert post_and_collect_leaks(client, {"csrf_token": token, "confirm": "1"},
                                  b"not,a,catalogue\n") == (422, [])


def test_upload_refused_by_the_csrf_check_is_closed(client, admin):
    content = export(client, "csv").encode()
    assert post_and_collect_leaks(client, {"csrf_token": "forged", "confirm": "1"},
                                  content) == (403, [])


def test_csv_with_a_huge_field_is_refused(quiet_admin):
    r = upload(quiet_admin, ("code,name\n1.000001,\"" + "a" * 200_000 + "\"\n").encode())
    assert r.status_code == 422 and 'id="f-file-error"' in r.text


def test_deeply_nested_json_is_refused(quiet_admin):
    r = upload(quiet_admin, b"[" * 100_000 + b"]" * 100_000, "procedures.json")
    assert r.status_code == 422 and 'id="f-file-error"' in r.text


def test_repeated_demo_fields_do_not_break_the_import(quiet_admin):
    # procedure.demo_fields holds 255 characters (enforced by PostgreSQL)
    rows = list(csv.DictReader(io.StringIO(export(quiet_admin, "csv"))))
    row = next(x for x in rows if x["code"] == "1.005458")
    row["demo_fields"] = ",".join(["times"] * 60)
    r = upload(quiet_admin, csv_of([row]))
    assert r.status_code == 303  # the repeated field is kept once
    assert get_proc("1.005458").demo_fields == "times"
