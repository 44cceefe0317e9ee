"""The common-password list: loaded once, compared without regard to case, refused at
registration, by the admin's account form (new accounts and password changes) and the CLI."""

from __future__ import annotations

import html

import pytest

from portal import i18n
from portal.db import db
from portal.models import User
from portal.services import common_passwords
from portal.services.accounts import create_user, password_problem, update_user
from portal.services.errors import ValidationError
from tests.conftest import PASSWORD
from tests.helpers import csrf_from
from tests.test_cli import cli  # noqa: F401  (the fixture running run.py)

MESSAGE = "This password is too common: attackers try such ones first."
REGISTRATION = {"tax_code": "0100109106", "enterprise_name": "Công ty TNHH Thử Nghiệm",
                "full_name": "Nguyễn Thị Hoa", "email": "hoa@example.vn"}


def shown(response) -> str:
    return html.unescape(response.text)


def test_the_list_holds_the_most_common_passwords_and_no_comments():
    passwords = common_passwords.load()
    assert len(passwords) >= 10_000
    assert {"123456", "password", "qwertyuiop", "1q2w3e4r5t", "iloveyou1"} <= passwords
    assert "#1pimp" in passwords  # a password of the list, not a comment
    assert not any(p.startswith("# ") or p != p.strip() or p != p.lower() for p in passwords)
    assert common_passwords.load() is passwords  # read once


@pytest.mark.parametrize("password", ["1234567890", "qwertyuiop", "QwErTyUiOp", "PASSWORD123",
                                      " password123 ", "1qaz2wsx3edc", "Qwerty12345"])
def test_common_passwords_are_refused_whatever_their_case(password):
    problem = password_problem(password)
    assert problem is not None and problem.text == MESSAGE


@pytest.mark.parametrize("password", [PASSWORD, "Mat-khau-rat-manh-9", "password123-kho-doan"])
def test_other_passwords_pass(password):
    assert password_problem(password) is None


def test_registration_refuses_a_common_password(client):
    token = csrf_from(client.get("/register").text)
    r = client.post("/register", data={**REGISTRATION, "password": "Password123",
                                       "password_confirm": "Password123", "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 422
    error = i18n.translations("vi").gettext(MESSAGE)
    assert f'id="f-password-error">{error}</p>' in shown(r)
    assert 'value="Password123"' not in r.text
    with db.connection_context():
        assert not User.select().where(User.username == "hoa@example.vn").exists()


def test_the_admin_form_refuses_a_common_password(client, make_user, login):
    officer = make_user("officer")
    login(make_user("admin"))
    token = csrf_from(client.get("/admin").text)
    new = {"username": "canbo.moi", "full_name": "Trần Văn Mới", "email": "", "role": "officer",
           "unit_code": "02CI", "tax_code": "", "active": "1", "password": "qwertyuiop",
           "csrf_token": token}
    r = client.post("/admin/users/new", data=new, follow_redirects=False)
    assert r.status_code == 422 and 'id="f-password-error"' in r.text
    assert i18n.translations("vi").gettext(MESSAGE) in shown(r)
    edit = {**new, "full_name": officer.full_name, "password": "1234567890"}
    r = client.post(f"/admin/users/{officer.id}", data=edit, follow_redirects=False)
    assert r.status_code == 422 and 'id="f-password-error"' in r.text
    with db.connection_context():
        assert not User.select().where(User.username == "canbo.moi").exists()
        assert User.get_by_id(officer.id).password_hash == officer.password_hash


def test_services_refuse_a_common_password(make_user):
    data = {"username": "canbo.x", "full_name": "X", "email": "", "role": "admin",
            "unit_code": "", "tax_code": "", "clearance": "", "active": "1",
            "password": "Iloveyou123"}
    assert "iloveyou123" in common_passwords.load()
    with pytest.raises(ValidationError) as exc:
        create_user(data)
    assert exc.value.errors["password"].text == MESSAGE
    user = make_user("admin")
    with pytest.raises(ValidationError) as exc:
        update_user(user.id, {**data, "password": "Password123"})
    assert set(exc.value.errors) == {"password"}


def test_the_command_line_refuses_a_common_password(cli, units):  # noqa: F811
    result = cli("create-user", "--username", "quantri", "--password", "Qwerty12345",
                 "--role", "admin")
    assert result.returncode == 1
    shown = i18n.translations("vi").gettext(MESSAGE)  # the command line speaks the default
    assert "--password:" in result.stderr and shown in result.stderr and shown != MESSAGE
    with db.connection_context():
        assert not User.select().exists()
