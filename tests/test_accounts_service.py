"""Accounts: tax codes, registration, log-in, staff accounts, sessions, the access policy."""

from __future__ import annotations

import datetime as dt

import pytest

from portal.db import db
from portal.models import ROLES, Enterprise, User, UserSession, utcnow
from portal.services import accounts, enrolment
from portal.services.account_links import AccountLinks
from portal.services.accounts import (
    authenticate,
    create_user,
    end_session,
    end_sessions,
    session_user,
    start_session,
    tax_code_problem,
    update_user,
)
from portal.services.errors import NotFound, ValidationError
from portal.services.policy import RULES, allows

PASSWORD = "correct-horse-42"  # the password conftest's make_user gives every account
IDLE = dt.timedelta(minutes=120)
ABSOLUTE = dt.timedelta(hours=12)


# --- tax codes ----------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["0100112437", "0100109106", "0100112437-001", "0100112437001",
                                  "0100 112 437"])
def test_valid_tax_codes(code):
    assert tax_code_problem(code) is None


def test_wrong_check_digit():
    problem = tax_code_problem("0100112438")
    assert problem is not None and "check digit" in problem.text
    assert tax_code_problem("0100109107") is not None


@pytest.mark.parametrize("code", ["01001A2437", "010011243", "01001124370", "0100112437-01",
                                  "0100112437-0001", "", "tax-code"])
def test_badly_formed_tax_codes(code):
    problem = tax_code_problem(code)
    assert problem is not None and "10 digits" in problem.text


# --- registration -------------------------------------------------------------------------

def registration(**changes: str) -> dict[str, str]:
    data = {"tax_code": "0100109106", "enterprise_name": "Công ty Cổ phần Thử Nghiệm",
            "full_name": "Nguyễn Thị Hoa", "email": "Hoa.Nguyen@Example.vn",
            "password": PASSWORD, "password_confirm": PASSWORD}
    data.update(changes)
    return data


def counts() -> tuple[int, int]:
    with db.connection_context():
        return Enterprise.select().count(), User.select().count()


def register_enterprise(data: dict[str, str], addr: str = "192.0.2.10") -> User:
    """Register, follow the e-mailed link, and return the account (pending the customs check)."""
    links = AccountLinks("test-secret", "http://portal.test")
    assert enrolment.register(data, addr, links) is None
    with db.connection_context():
        user = User.get(User.username == data["email"].strip().lower())
    return enrolment.confirm_email(links.token("confirm-email", user), addr, links)


def test_register_enterprise(settings):
    user = register_enterprise(registration(tax_code="0100-109-106"))
    assert user.role == "enterprise" and user.enterprise_status == "pending"
    assert user.username == user.email == "hoa.nguyen@example.vn"
    with db.connection_context():
        enterprise = Enterprise.get(Enterprise.tax_code == "0100109106")
        assert User.get_by_id(user.id).enterprise_id == enterprise.id
    assert enterprise.name == "Công ty Cổ phần Thử Nghiệm"
    assert authenticate("HOA.NGUYEN@example.vn", PASSWORD).id == user.id


@pytest.mark.parametrize(("changes", "field"), [
    ({"tax_code": "0100109107"}, "tax_code"),
    ({"tax_code": "12345"}, "tax_code"),
    ({"password_confirm": PASSWORD + "x"}, "password_confirm"),
    ({"password": "short-1", "password_confirm": "short-1"}, "password"),
    ({"password": "aaaaaaaaaaaa", "password_confirm": "aaaaaaaaaaaa"}, "password"),
    ({"email": "not-an-address"}, "email"),
    ({"enterprise_name": ""}, "enterprise_name"),
])
def test_register_enterprise_refusals(settings, changes, field):
    with pytest.raises(ValidationError) as exc:
        register_enterprise(registration(**changes))
    assert field in exc.value.errors
    assert counts() == (0, 0)


def test_long_email_is_refused_or_can_log_in(settings):
    email = "a" * 60 + "@example.vn"
    try:
        register_enterprise(registration(email=email))
    except ValidationError as exc:
        assert "email" in exc.errors
    else:
        assert authenticate(email, PASSWORD) is not None


def test_admin_can_edit_an_enterprise_user_registered_with_a_plus_address(settings):
    user = register_enterprise(registration(email="hoa+customs@example.vn"))
    changed = update_user(user.id, {"full_name": "Nguyễn Thị Hoa (sửa)", "role": "enterprise",
                                    "tax_code": "0100109106", "email": user.email,
                                    "active": "1"})
    assert changed.full_name == "Nguyễn Thị Hoa (sửa)"


# --- authentication -----------------------------------------------------------------------

def test_authenticate(make_user):
    user = make_user("admin")
    assert authenticate(user.username, PASSWORD).id == user.id
    assert authenticate(f"  {user.username.upper()} ", PASSWORD).id == user.id
    assert authenticate(user.username, PASSWORD + "!") is None
    assert authenticate(user.username, "") is None
    assert authenticate("nobody-here", PASSWORD) is None


def test_inactive_user_cannot_log_in(make_user):
    user = make_user("officer", active="")
    assert user.active is False
    assert authenticate(user.username, PASSWORD) is None


def test_passwords_are_stored_as_argon2id_hashes_only(make_user):
    user = make_user("officer")
    with db.connection_context():
        row = User.get_by_id(user.id)
        stored = [str(v) for v in row.__data__.values()]
    assert row.password_hash.startswith("$argon2id$")
    assert not any(PASSWORD in value for value in stored)
    other = make_user("officer")
    with db.connection_context():
        assert User.get_by_id(other.id).password_hash != row.password_hash  # salted


# --- staff accounts -----------------------------------------------------------------------

def staff(**changes: str) -> dict[str, str]:
    data = {"username": "canbo.test", "full_name": "Cán bộ Thử", "email": "", "role": "officer",
            "unit_code": "02CI", "tax_code": "", "clearance": "", "active": "1",
            "password": PASSWORD}
    data.update(changes)
    return data


def test_create_officer(units):
    user = create_user(staff(clearance="1"))
    assert (user.role, user.unit.code) == ("officer", "02CI")
    assert user.clearance is True and user.active is True
    assert user.enterprise is None


@pytest.mark.parametrize(("changes", "field"), [
    ({"unit_code": ""}, "unit_code"),
    ({"role": "leader", "unit_code": ""}, "unit_code"),
    ({"unit_code": "ZZ99"}, "unit_code"),
    ({"role": "enterprise", "unit_code": ""}, "tax_code"),
    ({"role": "enterprise", "unit_code": "", "tax_code": "0100109106"}, "tax_code"),  # unregistered
    ({"role": "superuser"}, "role"),
    ({"username": "X"}, "username"),
    ({"password": "short"}, "password"),
    ({"password": "canbo.test-2024"}, "password"),  # contains the user name
])
def test_create_user_refusals(units, changes, field):
    with pytest.raises(ValidationError) as exc:
        create_user(staff(**changes))
    assert field in exc.value.errors
    with db.connection_context():
        assert not User.select().exists()


def test_enterprise_user_needs_a_registered_tax_code(units):
    with db.connection_context():
        enterprise = Enterprise.create(tax_code="0100109106", name="Công ty B", email="b@ex.vn")
    user = create_user(staff(role="enterprise", unit_code="02CI", tax_code="0100-109-106",
                             username="nhanvien.b"))
    assert user.enterprise.id == enterprise.id
    assert user.unit is None  # enterprise users belong to no unit


def test_duplicate_username_is_refused(make_user):
    user = make_user("admin")
    with pytest.raises(ValidationError) as exc:
        create_user(staff(username=user.username))
    assert set(exc.value.errors) == {"username"}


# --- updates and sessions -----------------------------------------------------------------

def edit_data(user: User, **changes: str) -> dict[str, str]:
    data = {"full_name": user.full_name, "email": user.email, "role": user.role,
            "unit_code": user.unit.code if user.unit_id else "", "tax_code": "",
            "clearance": "1" if user.clearance else "", "active": "1" if user.active else "",
            "password": ""}
    data.update(changes)
    return data


def alive(key: str) -> bool:
    return session_user(key, IDLE, ABSOLUTE) is not None


def test_session_key_is_stored_hashed(make_user):
    user = make_user("officer")
    key = start_session(user.id, "203.0.113.9")
    assert session_user(key, IDLE, ABSOLUTE).id == user.id
    with db.connection_context():
        row = UserSession.get(UserSession.user == user.id)
    assert row.key != key and key not in row.key
    assert row.client_addr == "203.0.113.9"
    assert session_user(key + "x", IDLE, ABSOLUTE) is None


def test_changing_the_role_ends_the_users_sessions(make_user):
    user = make_user("officer")
    other = make_user("officer")
    key, other_key = start_session(user.id), start_session(other.id)
    assert alive(key)
    changed = update_user(user.id, edit_data(user, role="leader"))
    assert changed.role == "leader"
    assert session_user(key, IDLE, ABSOLUTE) is None
    assert alive(other_key)


@pytest.mark.parametrize("changes", [{"unit_code": "01AB"}, {"active": ""}, {"clearance": "1"},
                                     {"password": "another-good-pass-9"}])
def test_privilege_or_password_changes_end_sessions(make_user, changes):
    user = make_user("officer")
    key = start_session(user.id)
    update_user(user.id, edit_data(user, **changes))
    assert not alive(key)


def test_harmless_changes_keep_sessions(make_user):
    user = make_user("officer")
    key = start_session(user.id)
    changed = update_user(user.id, edit_data(user, full_name="Tên mới", email="moi@example.vn"))
    assert (changed.full_name, changed.email) == ("Tên mới", "moi@example.vn")
    assert alive(key)


def test_update_refusals(make_user):
    user = make_user("officer")
    with pytest.raises(ValidationError) as exc:
        update_user(user.id, edit_data(user, unit_code="ZZ99", password="short"))
    assert set(exc.value.errors) == {"unit_code", "password"}
    with pytest.raises(NotFound):
        update_user(999_999, edit_data(user))


def age_session(key: str, *, created: dt.timedelta | None = None,
                last_seen: dt.timedelta | None = None) -> None:
    now = utcnow()
    values = {}
    if created is not None:
        values["created_at"] = now - created
    if last_seen is not None:
        values["last_seen_at"] = now - last_seen
    with db.connection_context():
        UserSession.update(**values).where(
            UserSession.key == accounts._digest(key)).execute()


def session_row(key: str) -> UserSession:
    with db.connection_context():
        return UserSession.get(UserSession.key == accounts._digest(key))


def test_session_idle_expiry(make_user):
    user = make_user("officer")
    key = start_session(user.id)
    age_session(key, last_seen=dt.timedelta(minutes=119))
    assert alive(key)
    age_session(key, last_seen=dt.timedelta(minutes=121))
    assert session_user(key, IDLE, ABSOLUTE) is None
    assert session_row(key).ended_at is not None
    age_session(key, last_seen=dt.timedelta(0))
    assert not alive(key)  # once ended, it stays ended


def test_session_absolute_expiry_despite_activity(make_user):
    user = make_user("officer")
    key = start_session(user.id)
    age_session(key, created=dt.timedelta(hours=11, minutes=59), last_seen=dt.timedelta(0))
    assert alive(key)
    age_session(key, created=dt.timedelta(hours=12, minutes=1), last_seen=dt.timedelta(0))
    assert not alive(key)
    assert session_row(key).ended_at is not None


def test_session_activity_refreshes_last_seen(make_user):
    user = make_user("officer")
    key = start_session(user.id)
    age_session(key, last_seen=dt.timedelta(minutes=90))
    before = session_row(key).last_seen_at
    assert alive(key)
    after = session_row(key).last_seen_at
    assert after - before > dt.timedelta(minutes=89)
    age_session(key, last_seen=dt.timedelta(minutes=119))
    assert alive(key)  # refreshed again: the idle clock restarts


def test_session_loads_unit_and_enterprise(make_user):
    officer = make_user("officer")
    with db.connection_context():  # conftest's make_user reads Enterprise before connecting
        trader = make_user("enterprise")
    assert session_user(start_session(officer.id), IDLE, ABSOLUTE).unit.code == "02CI"
    assert session_user(start_session(trader.id), IDLE, ABSOLUTE).enterprise.tax_code == (
        "0100112437")


def test_deactivated_user_loses_sessions_even_without_update_user(make_user):
    user = make_user("officer")
    key = start_session(user.id)
    with db.connection_context():
        User.update(active=False).where(User.id == user.id).execute()
    assert not alive(key)
    assert session_row(key).ended_at is not None


def test_end_sessions_and_end_session(make_user):
    user, other = make_user("officer"), make_user("admin")
    keys = [start_session(user.id), start_session(user.id)]
    other_key = start_session(other.id)
    assert end_sessions(user.id) == 2
    assert not any(alive(k) for k in keys)
    assert end_sessions(user.id) == 0
    assert alive(other_key)
    end_session(other_key)
    assert not alive(other_key)


# --- policy -------------------------------------------------------------------------------

EXPECTED = {
    "public": {None, *ROLES},
    # a gateway's notification: admitted without a session (its signature is checked)
    "gateway": {None, *ROLES},
    # a system calling the API: admitted without a session (its signature and scopes are
    # checked by web/api_auth.py)
    "api_client": {None, *ROLES},
    "signed_in": set(ROLES),
    "enterprise": {"enterprise"},
    "unit_staff": {"officer", "leader"},
    "staff": {"officer", "leader", "admin", "auditor"},
    "admin": {"admin"},
    "enterprise_checks": {"officer", "leader", "admin"},
    "audit": {"auditor"},
    "calendar_warning": {"officer", "leader", "admin"},
    "counter_intake": {"officer", "leader"},
    "feedback_staff": {"officer", "leader", "admin"},
}


def test_every_rule_is_covered():
    assert set(RULES) == set(EXPECTED)


@pytest.mark.parametrize("rule", sorted(EXPECTED))
@pytest.mark.parametrize("role", [None, *ROLES])
def test_policy(rule, role):
    user = None if role is None else User(username="x", role=role, active=True)
    assert allows(rule, user) is (role in EXPECTED[rule])


@pytest.mark.parametrize("rule", sorted(EXPECTED))
def test_inactive_users_are_only_allowed_public_routes(rule):
    user = User(username="x", role="admin", active=False)
    assert allows(rule, user) is (rule in ("public", "gateway", "api_client"))


def test_unknown_rule_is_an_error():
    with pytest.raises(KeyError):
        allows("nobody-knows", None)
