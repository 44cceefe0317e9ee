"""Accounts, roles, passwords (argon2id) and server-side sessions."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import secrets
import threading
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from peewee import JOIN

from portal.db import db, reading, transactional
from portal.models import ROLES, STAFF_ROLES, Enterprise, Unit, User, UserSession, utcnow
from portal.services import common_passwords, units
from portal.services.errors import N_, Message, NotFound, ValidationError
from portal.services.paging import Page, paginate
from portal.services.text import has_forbidden_chars
from portal.services.validation import Field, validate

# argon2id with OWASP's parameters for web logins (Password Storage Cheat Sheet: 19 MiB,
# 2 passes, 1 lane): about 45 ms of one core per hash. RFC 9106's 64 MiB, 3 passes, 4 lanes
# (argon2-cffi's default) cost 0.3 s of CPU each: at the start of a working day, a hundred
# officers and enterprises logging in within half a minute took a whole core of a 2-core
# server. Hashes made with other parameters still verify and are re-made at the next login.
hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Each argon2 computation takes its memory and keeps a core busy: a burst of logins on a
# threadpool of 16 would starve every other request. At most this many run at once; the
# others wait their turn (the web layer also queues logins before they take a thread).
HASH_CONCURRENCY = max(1, min(4, (os.cpu_count() or 2) // 2))
HASH_SLOTS = threading.BoundedSemaphore(HASH_CONCURRENCY)


def use_hasher(new: PasswordHasher) -> None:
    """Swap the hashing parameters (tests use argon2's light test profile to stay fast)."""
    global hasher, _DUMMY_HASH
    hasher = new
    _DUMMY_HASH = hasher.hash(secrets.token_hex(8))


MIN_PASSWORD = 10
TAX_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)
EMAIL_PATTERN = r"[^@\s]+@[^@\s]+\.[^@\s]+"
USERNAME_PATTERN = r"[a-z0-9][a-z0-9._@-]{2,63}"


def email_field(required: bool = True) -> Field:
    """An e-mail address as every form asks it."""
    return Field(
        "email",
        required=required,
        max_length=254,
        pattern=EMAIL_PATTERN,
        pattern_message=N_("Enter an e-mail address like name@example.vn."),
    )

# A hash to verify against when the user does not exist, so timing does not tell.
_DUMMY_HASH = hasher.hash(secrets.token_hex(8))


def normalise_tax_code(value: str) -> str:
    return value.replace("-", "").replace(" ", "")


def tax_code_problem(value: str) -> Message | None:
    """Why `value` is not a Vietnamese tax code (10 digits, or 13 for a dependent unit)."""
    code = normalise_tax_code(value)
    if not re.fullmatch(r"[0-9]{10}|[0-9]{13}", code):
        return Message(N_("A tax code has 10 digits, or 13 for a branch (0101234567-001)."))
    total = sum(int(d) * w for d, w in zip(code[:9], TAX_WEIGHTS, strict=True))
    if (10 - total % 11) % 11 != int(code[9]):
        return Message(N_("This tax code's check digit is wrong: please check it."))
    return None


def password_problem(password: str, username: str = "") -> Message | None:
    """Why `password` may not be used (too short or long, too simple, containing the user
    name, or on the common-password list), or None."""
    if len(password) < MIN_PASSWORD:
        return Message(N_("Use at least %(min)s characters."), min=MIN_PASSWORD)
    if len(password) > 256:
        return Message(N_("Enter at most %(max)s characters."), max=256)
    if len(set(password)) < 4 or (username and username.lower() in password.lower()):
        return Message(N_("This password is too easy to guess."))
    if common_passwords.is_common(password):
        return Message(N_("This password is too common: attackers try such ones first."))
    return None


@transactional
def set_language(user_id: int, code: str) -> None:
    """Keep the user's interface language in their profile."""
    User.update(language=code[:2]).where(User.id == user_id).execute()


def hash_password(password: str) -> str:
    with HASH_SLOTS:
        return hasher.hash(password)


def check_password(user: User | None, password: str) -> bool:
    """Whether `password` is the user's (the same time when `user` is None)."""
    return _check_password(user, password)


def _check_password(user: User | None, password: str) -> bool:
    try:
        with HASH_SLOTS:
            return (
                hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
                and user is not None
            )
    except (VerificationError, InvalidHashError):
        return False


REGISTER_FIELDS = [
    Field("tax_code", max_length=14, check=tax_code_problem),
    Field("enterprise_name", max_length=255),
    Field("full_name", max_length=255),
    email_field(),
    Field("password", max_length=256),
    Field("password_confirm", max_length=256),
]


def authenticate(username: str, password: str) -> User | None:
    """The active user with these credentials, or None (the same time either way). The
    password is checked with no database connection held (argon2 is slow on purpose: a
    pooled connection, and on SQLite a write lock, would wait for it meanwhile). Logins go
    through services/logins.py, which throttles and records them."""
    username = username.strip().lower()[:254]
    if has_forbidden_chars(username):
        username = ""
    with db.connection_context():
        user = User.get_or_none(User.username == username) if username else None
    if not _check_password(user, password[:256]) or user is None or not user.active:
        return None
    if user.enterprise_status == "unconfirmed":  # the e-mailed link must be followed first
        return None
    if hasher.check_needs_rehash(user.password_hash):
        new_hash = hash_password(password)
        with db.connection_context(), db.atomic():
            User.update(password_hash=new_hash).where(User.id == user.id).execute()
    return user


STAFF_FIELDS = [
    Field(
        "username",
        max_length=64,
        pattern=USERNAME_PATTERN,
        pattern_message=N_("Use 3 to 64 lower-case letters, digits, dots, dashes or @."),
    ),
    Field("full_name", max_length=255),
    email_field(required=False),
    Field("role", choices=ROLES),
    Field("unit_code", required=False, max_length=30),  # a Unit.ref, or a code of today
    Field("tax_code", required=False, max_length=14, check=tax_code_problem),
    Field("clearance", kind="bool"),
    Field("active", kind="bool"),
]


def _resolve_links(cleaned: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Message]]:
    errors: dict[str, Message] = {}
    role = cleaned["role"]
    unit = enterprise = None
    if role in ("officer", "leader") and not cleaned["unit_code"]:
        errors["unit_code"] = Message(N_("Officers and leaders belong to a unit."))
    if cleaned["unit_code"]:
        unit = units.find_unit(cleaned["unit_code"])
        if unit is None:
            errors["unit_code"] = Message(N_("No unit has this code."))
    if role == "enterprise":
        if not cleaned["tax_code"]:
            errors["tax_code"] = Message(N_("Enterprise users need their enterprise's tax code."))
        else:
            enterprise = Enterprise.get_or_none(
                Enterprise.tax_code == normalise_tax_code(cleaned["tax_code"])
            )
            if enterprise is None:
                errors["tax_code"] = Message(N_("No enterprise is registered with this tax code."))
    return {
        "unit": unit if role in STAFF_ROLES else None,
        "enterprise": enterprise if role == "enterprise" else None,
    }, errors


@transactional
def create_user(data: dict[str, Any]) -> User:
    """Create an account (admin only: officers and leaders are never self-registered);
    raises ValidationError."""
    try:
        cleaned = validate(data, STAFF_FIELDS)
        errors: dict[str, Message] = {}
    except ValidationError as exc:
        cleaned, errors = {}, dict(exc.errors)
    password = data.get("password", "") or ""
    problem = password_problem(password, data.get("username", ""))
    if problem:
        errors["password"] = problem
    if errors:
        raise ValidationError(errors)
    links, errors = _resolve_links(cleaned)
    if User.get_or_none(User.username == cleaned["username"]):
        errors["username"] = Message(N_("This user name is taken."))
    if errors:
        raise ValidationError(errors)
    return User.create(
        username=cleaned["username"],
        password_hash=hash_password(password),
        full_name=cleaned["full_name"],
        email=cleaned["email"] or "",
        role=cleaned["role"],
        clearance=cleaned["clearance"],
        active=cleaned["active"],
        enterprise_status="active",  # the administrator vouches for the accounts it makes
        **links,
    )


@transactional
def update_user(user_id: int, data: dict[str, Any]) -> User:
    """Change a user's details, role, unit or password; a role, unit or status change ends
    the user's sessions. Raises ValidationError or NotFound."""
    user = User.get_or_none(User.id == user_id)
    if user is None:
        raise NotFound(user_id)
    cleaned = validate(data, [f for f in STAFF_FIELDS if f.name != "username"])
    links, errors = _resolve_links(cleaned)
    password = data.get("password", "") or ""
    if password:
        problem = password_problem(password, user.username)
        if problem:
            errors["password"] = problem
    if errors:
        raise ValidationError(errors)
    values = {
        "full_name": cleaned["full_name"],
        "email": cleaned["email"] or "",
        "role": cleaned["role"],
        "clearance": cleaned["clearance"],
        "active": cleaned["active"],
        **links,
    }
    if password:
        values["password_hash"] = hash_password(password)
    privilege_changed = (user.role, user.unit_id, user.active, user.clearance) != (
        values["role"],
        links["unit"].id if links["unit"] else None,
        values["active"],
        values["clearance"],
    )
    User.update(**values).where(User.id == user.id).execute()
    if privilege_changed or password:
        end_sessions(user.id)
    return User.get_by_id(user.id)


@reading
def list_users(role: str = "", q: str = "", page: int = 1) -> Page:
    query = (
        User.select(User, Unit, Enterprise)
        .join(Unit, on=(User.unit == Unit.id), join_type=JOIN.LEFT_OUTER)
        .switch(User)
        .join(Enterprise, on=(User.enterprise == Enterprise.id), join_type=JOIN.LEFT_OUTER)
        .order_by(User.username)
    )
    if role in ROLES:
        query = query.where(User.role == role)
    if q:
        needle = q.strip().lower()[:64]
        query = query.where(
            User.username.contains(needle) | User.full_name.contains(q.strip()[:64])
        )
    return paginate(query, page, 30)


@reading
def get_user(user_id: int) -> User:
    user = (
        User.select(User, Unit, Enterprise)
        .join(Unit, on=(User.unit == Unit.id), join_type=JOIN.LEFT_OUTER)
        .switch(User)
        .join(Enterprise, on=(User.enterprise == Enterprise.id), join_type=JOIN.LEFT_OUTER)
        .where(User.id == user_id)
        .first()
    )
    if user is None:
        raise NotFound(user_id)
    return user


def user_form_values(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "full_name": user.full_name,
        "email": user.email,
        "role": user.role,
        "unit_code": user.unit.ref if user.unit_id else "",
        "tax_code": user.enterprise.tax_code if user.enterprise_id else "",
        "clearance": user.clearance,
        "active": user.active,
    }


# --- sessions ------------------------------------------------------------------------------


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transactional
def start_session(user_id: int, client_addr: str = "") -> str:
    """Open a new session for the user and return its key (only its hash is stored)."""
    key = secrets.token_urlsafe(32)
    UserSession.create(key=_digest(key), user=user_id, client_addr=client_addr[:64])
    return key


@reading
def session_user(key: str, idle: dt.timedelta, absolute: dt.timedelta) -> User | None:
    """The user of a live session, refreshing its last-seen time; None once it has expired,
    been ended, or its user was deactivated. A read only, on almost every request: it writes
    (and on SQLite takes the write lock) only to end a session or once a minute to note it."""
    now = utcnow()
    row = (
        UserSession.select(UserSession, User, Unit, Enterprise)
        .join(User)
        .join(Unit, JOIN.LEFT_OUTER)
        .switch(User)
        .join(Enterprise, JOIN.LEFT_OUTER)
        .where(UserSession.key == _digest(key), UserSession.ended_at.is_null())
        .first()
    )
    if row is None:
        return None
    if not row.user.active or row.last_seen_at + idle < now or row.created_at + absolute < now:
        with db.atomic():
            UserSession.update(ended_at=now).where(UserSession.id == row.id).execute()
        return None
    if (now - row.last_seen_at).total_seconds() > 60:
        with db.atomic():
            UserSession.update(last_seen_at=now).where(UserSession.id == row.id).execute()
    return row.user


@transactional
def end_session(key: str) -> None:
    UserSession.update(ended_at=utcnow()).where(
        UserSession.key == _digest(key), UserSession.ended_at.is_null()
    ).execute()


@transactional
def end_sessions(user_id: int, keep: str = "") -> int:
    """End every open session of a user (logout everywhere), but the one whose key is `keep`
    when given; returns how many."""
    query = UserSession.update(ended_at=utcnow()).where(
        UserSession.user == user_id, UserSession.ended_at.is_null()
    )
    if keep:
        query = query.where(UserSession.key != _digest(keep))
    return query.execute()


@transactional
def purge_sessions(older_than: dt.timedelta) -> int:
    """Delete session rows that ended or started before `older_than` ago."""
    cutoff = utcnow() - older_than
    return (
        UserSession.delete()
        .where((UserSession.created_at < cutoff) | (UserSession.ended_at < cutoff))
        .execute()
    )


ROLE_LABELS = {
    "enterprise": N_("Enterprise user"),
    "officer": N_("Officer"),
    "leader": N_("Leader"),
    "admin": N_("Administrator"),
    "auditor": N_("Auditor"),
}
