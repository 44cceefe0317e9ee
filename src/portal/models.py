"""Peewee models: units, accounts, sessions and the procedure catalogue."""

from __future__ import annotations

import datetime as dt

from peewee import (
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from portal.db import db


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = db


class SchemaVersion(BaseModel):
    version = IntegerField()
    applied_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "schema_version"


# Unit kinds, top to bottom: the administration, departments (Cục) or regional branches
# (Chi cục khu vực), then branches or customs offices (Chi cục / Hải quan cửa khẩu).
UNIT_KINDS = ("administration", "department", "branch")
STRUCTURES = ("2016", "2025")


class Unit(BaseModel):
    code = CharField(max_length=16, unique=True)
    name = CharField(max_length=255)
    kind = CharField(max_length=16)
    structure = CharField(max_length=8, index=True)
    parent = ForeignKeyField("self", null=True, backref="children", on_delete="RESTRICT")
    active = BooleanField(default=True)

    class Meta:
        table_name = "unit"


ROLES = ("enterprise", "officer", "leader", "admin", "auditor")
STAFF_ROLES = ("officer", "leader", "admin", "auditor")


class Enterprise(BaseModel):
    tax_code = CharField(max_length=13, unique=True)
    name = CharField(max_length=255)
    email = CharField(max_length=254)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "enterprise"


class User(BaseModel):
    username = CharField(max_length=64, unique=True)
    password_hash = CharField(max_length=255)
    full_name = CharField(max_length=255)
    email = CharField(max_length=254, default="")
    role = CharField(max_length=16, index=True)
    unit = ForeignKeyField(Unit, null=True, backref="users", on_delete="RESTRICT")
    enterprise = ForeignKeyField(Enterprise, null=True, backref="users", on_delete="RESTRICT")
    clearance = BooleanField(default=False)
    active = BooleanField(default=True)
    language = CharField(max_length=2, default="")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "app_user"


class UserSession(BaseModel):
    """A signed-in session; the cookie carries only `key`. Revoked by setting `ended_at`."""

    key = CharField(max_length=64, unique=True)
    user = ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    created_at = DateTimeField(default=utcnow)
    last_seen_at = DateTimeField(default=utcnow)
    ended_at = DateTimeField(null=True)
    client_addr = CharField(max_length=64, default="")

    class Meta:
        table_name = "user_session"


# Online-service levels (Decree 43/2011) and their Decree 42/2022 labels.
ONLINE_LEVELS = (1, 2, 3, 4)
CHANNELS = ("online", "in_person", "post")
TIME_UNITS = ("working_days", "days")


class Procedure(BaseModel):
    code = CharField(max_length=16, unique=True)
    name = TextField()
    field = CharField(max_length=128, index=True)
    online_level = IntegerField(index=True)
    issuing_agency = CharField(max_length=255, default="")
    implementing_agency = CharField(max_length=512, default="")
    implementing_level = CharField(max_length=128, default="")
    decision_no = CharField(max_length=64, default="")
    national_url = CharField(max_length=512, default="")
    steps = TextField(default="")  # one step a line
    fee_text = TextField(default="")
    fee_amount = IntegerField(null=True)  # VND; null where none is charged or unknown
    legal_basis = TextField(default="")
    not_online_reason = TextField(default="")
    offline_instructions = TextField(default="")
    demo_fields = CharField(max_length=255, default="")  # comma list of fields filled as demo
    search_name = TextField(default="")  # name folded (no diacritics, lower case)
    search_text = TextField(default="")  # code, name, agencies folded
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "procedure"

    @property
    def is_online(self) -> bool:
        return self.online_level >= 3

    @property
    def demo(self) -> set[str]:
        return {f for f in self.demo_fields.split(",") if f}


class RequiredDocument(BaseModel):
    procedure = ForeignKeyField(Procedure, backref="documents", on_delete="CASCADE")
    position = IntegerField(default=0)
    name = TextField()
    mandatory = BooleanField(default=True)
    file_types = CharField(max_length=64, default="pdf")  # comma list: pdf,jpg,png,xml,docx,xlsx
    multiple = BooleanField(default=False)
    confidential = BooleanField(default=False)

    class Meta:
        table_name = "required_document"


class ProcessingTime(BaseModel):
    procedure = ForeignKeyField(Procedure, backref="times", on_delete="CASCADE")
    channel = CharField(max_length=16)
    amount = IntegerField(null=True)  # null: not stated ("N/A" in the catalogue)
    unit = CharField(max_length=16, default="working_days")

    class Meta:
        table_name = "processing_time"
        indexes = ((("procedure", "channel"), True),)


ALL_MODELS = [
    SchemaVersion,
    Unit,
    Enterprise,
    User,
    UserSession,
    Procedure,
    RequiredDocument,
    ProcessingTime,
]
