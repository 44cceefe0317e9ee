"""Peewee models: units, accounts, sessions and the procedure catalogue."""

from __future__ import annotations

import datetime as dt

from peewee import (
    SQL,
    BigIntegerField,
    BlobField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    SmallIntegerField,
    TextField,
)

from portal import storage
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
# The structures the seed knows ("2016": 35 departments; "2025": 20 regional branches). Which
# one is in force on a day is data: the `org_structure` table's effective dates
# (services/units.py: structure_in_force).
STRUCTURES = ("2016", "2025")


class UnitStructure(BaseModel):
    """An organisation of the customs administration and the day it takes effect; the one in
    force on a day is the one with the latest effective date not after it."""

    code = CharField(max_length=8, unique=True)
    name = CharField(max_length=255, default="")
    effective_from = DateField()
    recorded_by = CharField(max_length=254, default="")  # the administrator, or "seed"
    recorded_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "org_structure"


class Unit(BaseModel):
    # A code is unique within its structure: the customs offices of 2025 kept the VNACCS
    # codes of the branches of 2016 ("2016:02CI" and "2025:02CI" are two units).
    code = CharField(max_length=16)
    name = CharField(max_length=255)
    kind = CharField(max_length=16)
    structure = CharField(max_length=8, index=True)
    parent = ForeignKeyField("self", null=True, backref="children", on_delete="RESTRICT")
    active = BooleanField(default=True)

    class Meta:
        table_name = "unit"
        indexes = ((("structure", "code"), True),)

    @property
    def ref(self) -> str:
        """The stable reference of the unit: "2016:02CI" (units.find_unit reads it)."""
        return f"{self.structure}:{self.code}"


ROLES = ("enterprise", "officer", "leader", "admin", "auditor")
# An enterprise account: its e-mail address not yet confirmed, then waiting for customs to
# check that the enterprise is the registrant's, then active (or refused with a reason).
ENTERPRISE_STATUSES = ("unconfirmed", "pending", "active", "rejected")
STAFF_ROLES = ("officer", "leader", "admin", "auditor")
UNIT_STAFF_ROLES = ("officer", "leader")  # the people of a unit who handle its dossiers


APPLICANT_KINDS = ("enterprise", "person")  # a person (a border resident) has a citizen ID


class Enterprise(BaseModel):
    """An applicant: an enterprise by its tax code, or a person by the 12-digit number of the
    citizen ID card (CCCD), kept in `tax_code` (the national portal's "owner's ID number")."""

    tax_code = CharField(max_length=13, unique=True)
    name = CharField(max_length=255)
    email = CharField(max_length=254)
    created_at = DateTimeField(default=utcnow)
    kind = CharField(max_length=16, default="enterprise")  # APPLICANT_KINDS
    address = CharField(max_length=500, default="")

    @property
    def is_person(self) -> bool:
        return self.kind == "person"

    class Meta:
        table_name = "enterprise"


NO_PASSWORD = "!"  # the start of the password hash of an account that has no password


class User(BaseModel):
    username = CharField(max_length=254, unique=True)  # an e-mail address for enterprises
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
    # Whether an enterprise user may act for its enterprise (ENTERPRISE_STATUSES). A new
    # account is pending until customs staff (or, later, a digital certificate naming the tax
    # code) show that it holds the enterprise; the accounts an administrator creates, and
    # those that existed before this column, are active.
    enterprise_status = CharField(max_length=16, default="pending", index=True)
    given_enterprise_name = CharField(max_length=255, default="")  # as typed at registration
    status_reason = TextField(default="")  # why customs staff refused the account

    class Meta:
        table_name = "app_user"

    @property
    def has_password(self) -> bool:
        """Whether a password may log this account in: an account made by a sign-in with the
        national identity has none (its hash starts with "!", which argon2 never verifies)."""
        return not self.password_hash.startswith(NO_PASSWORD)

    @property
    def may_act_for_enterprise(self) -> bool:
        """Whether this enterprise user's enterprise has been shown to be theirs."""
        return self.enterprise_status == "active"

    @property
    def awaits_enterprise_check(self) -> bool:
        return self.role == "enterprise" and self.enterprise_status == "pending"

    @property
    def enterprise_refused(self) -> bool:
        return self.role == "enterprise" and self.enterprise_status == "rejected"

    @property
    def is_unit_staff(self) -> bool:
        return self.role in UNIT_STAFF_ROLES

    @classmethod
    def unit_staff(cls, unit_id: int):
        """The condition "an active officer or leader of unit `unit_id`", for queries."""
        return (
            (cls.unit == unit_id) & (cls.active == True) & cls.role.in_(UNIT_STAFF_ROLES)  # noqa: E712
        )


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


# Online-service levels (Decree 43/2011) and their Decree 42/2022 labels. From level 3 the
# dossier is submitted online; at level 4 the result is also returned online.
ONLINE_LEVELS = (1, 2, 3, 4)
ONLINE_FROM_LEVEL = 3
FORMS_LEVEL = 2  # not online, but forms to download (the counter takes the dossier)
RESULT_ONLINE_FROM_LEVEL = 4
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
    cutoff = CharField(max_length=5, default="")  # "15:00": received later counts from the next day
    # The application documents must be PDFs signed with the enterprise's certificate.
    requires_signature = BooleanField(default=False)
    search_name = TextField(default="")  # name folded (no diacritics, lower case)
    search_text = TextField(default="")  # code, name, agencies folded
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "procedure"

    @property
    def is_online(self) -> bool:
        """Dossiers of this procedure are submitted online (level 3 or 4)."""
        return self.online_level >= ONLINE_FROM_LEVEL

    @property
    def promises_forms(self) -> bool:
        """Level 2: not online, but its page offers the forms to fill in for the counter."""
        return self.online_level == FORMS_LEVEL

    @property
    def returns_result_online(self) -> bool:
        """The applicant receives the result online (level 4)."""
        return self.online_level >= RESULT_ONLINE_FROM_LEVEL

    @classmethod
    def online(cls):
        """The condition "submitted online", for queries."""
        return cls.online_level >= ONLINE_FROM_LEVEL

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


class FormField(BaseModel):
    """One field of a procedure's online form (forms are data, not code)."""

    procedure = ForeignKeyField(Procedure, backref="form_fields", on_delete="CASCADE")
    position = IntegerField(default=0)
    name = CharField(max_length=64)
    label = CharField(max_length=255)
    help = TextField(default="")
    kind = CharField(max_length=16, default="text")  # text textarea number date select email
    required = BooleanField(default=True)
    pattern = CharField(max_length=255, default="")
    # What an answer that does not match `pattern` is told, in Vietnamese and in English
    # ("Số tờ khai gồm 12 chữ số"); empty: a general message.
    pattern_message = CharField(max_length=255, default="")
    pattern_message_en = CharField(max_length=255, default="")
    min_value = BigIntegerField(null=True)
    max_value = BigIntegerField(null=True)
    max_length = IntegerField(default=255)
    choices = TextField(default="")  # one a line
    searchable = BooleanField(default=False)  # the inbox finds dossiers by this answer

    class Meta:
        table_name = "form_field"
        indexes = ((("procedure", "name"), True),)


class ProcedureForm(BaseModel):
    """A blank form a procedure offers for download (a level-2 procedure's promise): stored
    like an attachment (generated name, SHA-256, type by content), shown under `title`."""

    procedure = ForeignKeyField(Procedure, backref="form_files", on_delete="CASCADE")
    title = CharField(max_length=255)
    stored_name = CharField(max_length=64, unique=True)
    size = BigIntegerField()
    sha256 = CharField(max_length=64)
    content_type = CharField(max_length=128)
    uploaded_by = ForeignKeyField(User, null=True, on_delete="SET NULL")  # None: the seed
    uploaded_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "procedure_form"

    @property
    def filename(self) -> str:
        """The name it downloads under: its title with its type's extension."""
        return storage.served_name(storage.safe_filename(self.title), self.content_type)

    @property
    def file_type(self) -> str:
        """Its type as the portal names it (pdf, docx, doc …)."""
        return storage.type_of(self.content_type) or ""


HOLIDAY_KINDS = ("holiday", "working_day")  # a day off, or a weekend day worked in exchange


class Holiday(BaseModel):
    day = DateField(unique=True)
    name = CharField(max_length=255)
    kind = CharField(max_length=16, default="holiday")  # HOLIDAY_KINDS
    source = CharField(max_length=500, default="")  # the legal basis of the date

    class Meta:
        table_name = "holiday"


class HolidayYear(BaseModel):
    """A year whose holidays an administrator has checked against the government's notice."""

    year = IntegerField(unique=True)
    confirmed_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    confirmed_at = DateTimeField()

    class Meta:
        table_name = "holiday_year"


DOSSIER_CHANNELS = ("online", "counter")  # filed online, or received on paper at the counter


class Dossier(BaseModel):
    code = CharField(max_length=32, unique=True, null=True)  # given at submission
    procedure = ForeignKeyField(Procedure, backref="dossiers", on_delete="RESTRICT")
    enterprise = ForeignKeyField(Enterprise, backref="dossiers", on_delete="RESTRICT")
    owner = ForeignKeyField(User, backref="dossiers", on_delete="RESTRICT")
    unit = ForeignKeyField(Unit, null=True, backref="dossiers", on_delete="RESTRICT")
    status = IntegerField(default=0, index=True)
    approval = CharField(max_length=16, default="")  # "" | pending | approved
    resume_status = IntegerField(null=True)  # the status a supplement returns to
    form_data = TextField(default="{}")
    assigned_to = ForeignKeyField(User, null=True, backref="assigned", on_delete="SET NULL")
    submit_key = CharField(max_length=64, null=True, unique=True)  # idempotent submission
    submitted_at = DateTimeField(null=True, index=True)  # the audit search's period
    received_at = DateTimeField(null=True)
    due_at = DateTimeField(null=True, index=True)
    paused_at = DateTimeField(null=True)
    finished_at = DateTimeField(null=True)
    apology_due_at = DateTimeField(null=True)  # the new date promised by an apology slip
    reminded_at = DateTimeField(null=True)
    # When the unit was last asked to issue an apology slip for it (it had gone overdue).
    overdue_told_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    channel = CharField(max_length=8, default="online")  # DOSSIER_CHANNELS
    # Who brought a paper dossier to the counter (services/counter.py); online dossiers name
    # the account that filed them instead.
    contact_name = CharField(max_length=255, default="")
    contact_phone = CharField(max_length=32, default="")

    class Meta:
        table_name = "dossier"
        # The inbox and the statistics read a unit's dossiers by status and due date, and by
        # submission (see also dossier_open_due below).
        indexes = ((("unit", "status", "due_at"), False), (("unit", "submitted_at"), False))

    @property
    def at_counter(self) -> bool:
        """Received on paper at the counter (recorded by an officer)."""
        return self.channel == "counter"


# A unit's open dossiers in the inbox's order, whatever it has closed: submitted and not ended
# (services/inbox.OPEN; a test holds them equal). PostgreSQL's planner, estimating few open
# rows, otherwise walks the whole due-date index.
OPEN_STATUSES = (1, 2, 4, 5, 6, 9)
Dossier.add_index(
    Dossier.index(
        Dossier.unit,
        Dossier.due_at,
        Dossier.submitted_at,
        # Literal values: SQLite takes no parameters in an index's definition.
        where=SQL(f"status IN ({', '.join(map(str, OPEN_STATUSES))})"),
        name="dossier_open_due",
    )
)


class DossierSequence(BaseModel):
    # One sequence per office code and day, whatever the structure: the code of a dossier
    # filed to "2016:02CI" and one filed to "2025:02CI" on the same day cannot clash.
    code = CharField(max_length=16)
    day = CharField(max_length=6)  # yyMMdd, local date
    last = IntegerField(default=0)

    class Meta:
        table_name = "dossier_sequence"
        indexes = ((("code", "day"), True),)


class Attachment(BaseModel):
    dossier = ForeignKeyField(Dossier, backref="attachments", on_delete="CASCADE")
    document = ForeignKeyField(RequiredDocument, null=True, on_delete="SET NULL")
    purpose = CharField(max_length=16, default="application")  # application supplement result
    original_name = CharField(max_length=255)
    stored_name = CharField(max_length=64, unique=True)
    size = BigIntegerField()
    sha256 = CharField(max_length=64)
    content_type = CharField(max_length=128)
    confidential = BooleanField(default=False)
    uploaded_by = ForeignKeyField(User, on_delete="RESTRICT")
    uploaded_at = DateTimeField(default=utcnow)
    # Virus scan: "" not scanned (no scanner configured), pending, clean, infected. A pending
    # or infected file is held back: nobody can download it.
    scan = CharField(max_length=8, default="", index=True)

    class Meta:
        table_name = "attachment"

    @property
    def served_name(self) -> str:
        """The name the file is listed and downloaded under: with its type's extension, also
        for a row attached before names took it (its recorded name is left as it was)."""
        return storage.served_name(self.original_name, self.content_type)


class Upload(BaseModel):
    """A resumable (tus) upload in progress: the chunks received so far lie on disk under
    `uploads/partial/<key>/`; once complete and checked, the file becomes an Attachment."""

    key = CharField(max_length=32, unique=True)
    owner = ForeignKeyField(User, on_delete="CASCADE")
    dossier = ForeignKeyField(Dossier, backref="uploads", on_delete="CASCADE")
    document = ForeignKeyField(RequiredDocument, on_delete="CASCADE")
    purpose = CharField(max_length=16, default="application")  # application supplement result
    filename = CharField(max_length=255)
    length = BigIntegerField()
    offset = BigIntegerField(default=0)
    state = CharField(max_length=8, default="open")  # open done rejected
    problem = CharField(max_length=255, default="")  # why a complete file was refused
    attachment = ForeignKeyField(Attachment, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField(index=True)

    class Meta:
        table_name = "upload"


class DossierEvent(BaseModel):
    """One row of the official processing history: append-only, hash-chained."""

    dossier = ForeignKeyField(Dossier, null=True, backref="events", on_delete="RESTRICT")
    actor = ForeignKeyField(User, null=True, on_delete="RESTRICT")
    actor_name = CharField(max_length=255, default="")
    actor_role = CharField(max_length=16, default="")
    actor_unit = CharField(max_length=16, default="")
    action = CharField(max_length=32, index=True)
    status_before = IntegerField(null=True)
    status_after = IntegerField(null=True)
    note = TextField(default="")
    public = BooleanField(default=True)  # shown to the applicant
    client_addr = CharField(max_length=64, default="")
    created_at = DateTimeField(default=utcnow, index=True)  # the audit search's period
    prev_hash = CharField(max_length=64)
    hash = CharField(max_length=64, unique=True)
    # The history key that hashed the event (HMAC-SHA256), by its id; "" for the events
    # hashed with plain SHA-256 before the history was keyed.
    key_id = CharField(max_length=16, default="")

    class Meta:
        table_name = "dossier_event"


class HistoryHead(BaseModel):
    """The single row holding the chain's last hash; updating it serialises history writes."""

    last_hash = CharField(max_length=64)
    count = BigIntegerField(default=0)
    # How many events (the first ones) were hashed without a key, sealed with the history key
    # ("key id:HMAC") so that nobody without the key can move the cut-over.
    keyed_from = BigIntegerField(default=0)
    seal = CharField(max_length=96, default="")

    class Meta:
        table_name = "history_head"


class HistoryCheckpoint(BaseModel):
    """How far `run.py verify-history` has verified the chain (one row, replaced as it goes):
    `--resume` starts after `last_id`. MACed with the history key ("key id:HMAC"), like the
    head's seal, so that a checkpoint nobody verified cannot be passed off as one."""

    checked = BigIntegerField()  # events verified, the first of the chain on
    last_id = BigIntegerField()
    last_hash = CharField(max_length=64)
    keyed_from = BigIntegerField()  # the head's cut-over and seal the run verified
    seal = CharField(max_length=96)
    created_at = DateTimeField(default=utcnow)
    mac = CharField(max_length=96)

    class Meta:
        table_name = "history_checkpoint"


class SecurityCount(BaseModel):
    """The bounded security log: how many events of one kind (a failed or throttled login, a
    permission denial) one key (a login name and address, an address, a login name, a user)
    caused in one minute. One row per (action, scope, key, minute), counted up; rows older
    than the longest window are purged by a periodic job. Not part of the official record."""

    action = CharField(max_length=32)
    scope = CharField(max_length=16)
    key = CharField(max_length=320)
    window_start = DateTimeField(index=True)
    count = IntegerField(default=0)

    class Meta:
        table_name = "security_count"
        indexes = ((("action", "scope", "key", "window_start"), True),)


class Notification(BaseModel):
    user = ForeignKeyField(User, backref="notifications", on_delete="CASCADE")
    dossier = ForeignKeyField(Dossier, null=True, on_delete="CASCADE")
    # The message id and its parameters (JSON), shown in the reader's language when read;
    # `text` is the message in the recipient's language when it was written (the only thing
    # rows written before messages were kept have).
    text = TextField()
    message = TextField(default="")
    params = TextField(default="")
    created_at = DateTimeField(default=utcnow)
    read_at = DateTimeField(null=True)

    class Meta:
        table_name = "notification"


class OutgoingMail(BaseModel):
    """An e-mail to send, queued at most once per (event, recipient). It is marked sent as soon
    as the mail server accepts it; only a crash in that instant can send one more copy (with
    the same Message-ID)."""

    event = ForeignKeyField(DossierEvent, null=True, on_delete="RESTRICT")
    key = CharField(max_length=96, unique=True)
    to_addr = CharField(max_length=254)
    subject = CharField(max_length=255)
    body = TextField()
    status = CharField(max_length=8, default="pending", index=True)  # pending sent failed
    attempts = IntegerField(default=0)
    last_error = TextField(default="")
    created_at = DateTimeField(default=utcnow)
    claimed_at = DateTimeField(null=True)  # when a worker started sending it
    sent_at = DateTimeField(null=True)

    class Meta:
        table_name = "outgoing_mail"


class Slip(BaseModel):
    """An official slip (services.slips): its number `{n}/{year}/{TNHS|BSHS|TCHS|XLHS}-{unit}`
    is given at issue by the issuing unit's SlipSequence; the signer's name and title are
    copied at issue, so the slip reads the same after the person changes role or name."""

    dossier = ForeignKeyField(Dossier, backref="slips", on_delete="RESTRICT")
    kind = CharField(max_length=16)  # receipt supplement refusal apology (workflow.SLIP_NAMES)
    issued_at = DateTimeField(default=utcnow)
    due_at = DateTimeField(null=True)
    reason = TextField(default="")
    issued_by = CharField(max_length=255, default="")
    number = CharField(max_length=48, null=True, unique=True)
    unit = ForeignKeyField(Unit, null=True, on_delete="RESTRICT")  # the issuing unit
    signer_title = CharField(max_length=255, default="")

    class Meta:
        table_name = "slip"


class SlipSequence(BaseModel):
    """The last slip number given by a unit for a kind of slip in a year."""

    unit = ForeignKeyField(Unit, on_delete="CASCADE")
    kind = CharField(max_length=16)
    year = IntegerField()
    last = IntegerField(default=0)

    class Meta:
        table_name = "slip_sequence"
        indexes = ((("unit", "kind", "year"), True),)


class RegisteredSigner(BaseModel):
    """A certificate an administrator registered as one that signs a unit's results (its
    leader, or another signer). Removing it sets `removed_at`: results it signed stay signed."""

    unit = ForeignKeyField(Unit, backref="signers", on_delete="RESTRICT")
    name = CharField(max_length=255)
    title = CharField(max_length=255, default="")
    cert_sha256 = CharField(max_length=64, index=True)
    subject = TextField(default="")
    issuer = TextField(default="")
    serial = CharField(max_length=64, default="")
    not_after = DateTimeField(null=True)
    registered_by = ForeignKeyField(User, on_delete="RESTRICT")
    registered_at = DateTimeField(default=utcnow)
    removed_at = DateTimeField(null=True)

    class Meta:
        table_name = "registered_signer"


class DocumentSignature(BaseModel):
    """The verified signature of an attached PDF: who signed it and when, as checked when it
    was attached (the file's fingerprint is its attachment's sha256)."""

    attachment = ForeignKeyField(Attachment, unique=True, backref="signatures",
                                 on_delete="CASCADE")
    signer_name = CharField(max_length=255)
    signer_title = CharField(max_length=255, default="")
    signer_org = CharField(max_length=255, default="")
    signer_uid = CharField(max_length=64, default="")  # "MST:0101234567", "CCCD:…"
    cert_sha256 = CharField(max_length=64)
    issuer = TextField(default="")
    signed_at = DateTimeField(null=True)  # the time the signer reported, UTC
    verified_at = DateTimeField(default=utcnow)
    registered_signer = ForeignKeyField(RegisteredSigner, null=True, on_delete="RESTRICT")

    class Meta:
        table_name = "document_signature"


class RevocationInfo(BaseModel):
    """A fetched CRL or OCSP answer, kept until its next update (the revocation cache)."""

    key = CharField(max_length=64, unique=True)  # sha256 of kind, URL and certificate
    kind = CharField(max_length=4)  # crl ocsp
    url = TextField()
    body = BlobField()
    fetched_at = DateTimeField(default=utcnow)
    next_update = DateTimeField(index=True)

    class Meta:
        table_name = "revocation_info"



FEE_KINDS = ("fixed", "per_item", "computed")


class Fee(BaseModel):
    """One fee or charge of a procedure (services/fees.py): a fixed amount; an amount per item,
    the number of items being a form answer (`field`); or a share of a form answer in basis
    points (`rate_bp`, 1/10,000), kept between `min_amount` and `max_amount`. Amounts in VND."""

    procedure = ForeignKeyField(Procedure, backref="fees", on_delete="CASCADE")
    position = IntegerField(default=0)
    label = CharField(max_length=255)
    kind = CharField(max_length=16, default="fixed")  # FEE_KINDS
    amount = BigIntegerField(default=0)  # fixed: the amount; per_item: the amount of one item
    field = CharField(max_length=64, default="")  # the form answer counted or taken a share of
    rate_bp = IntegerField(default=0)  # computed: basis points of the answer (10 = 0.1 %)
    min_amount = BigIntegerField(null=True)
    max_amount = BigIntegerField(null=True)

    class Meta:
        table_name = "procedure_fee"


# A payment the handling unit asks of the applicant: requested, then paid (online or at the
# counter) or cancelled (the dossier left the payment step without it).
PAYMENT_STATUSES = ("requested", "paid", "cancelled")
# One attempt to pay online at a gateway: pending until the gateway's notification (or the
# reconciliation's query) settles it as paid or failed; expired when the gateway never saw it
# paid in time.
ORDER_STATUSES = ("pending", "paid", "failed", "expired")


class Payment(BaseModel):
    """The fees a dossier's unit asks the applicant to pay: the items and their total (VND, a
    whole number), who asked and why the amounts differ from the procedure's (if they do);
    once paid, the electronic receipt's number, the channel and the gateway's transaction."""

    dossier = ForeignKeyField(Dossier, backref="payments", on_delete="RESTRICT")
    items = TextField(default="[]")  # JSON: [{"label", "quantity", "unit_amount", "amount"}]
    total = BigIntegerField()
    currency = CharField(max_length=3, default="VND")
    reason = TextField(default="")  # why the items differ from the procedure's fees
    requested_by = ForeignKeyField(User, null=True, on_delete="RESTRICT")
    requested_at = DateTimeField(default=utcnow)
    status = CharField(max_length=16, default="requested", index=True)  # PAYMENT_STATUSES
    channel = CharField(max_length=8, default="")  # online | counter, once paid
    gateway = CharField(max_length=16, default="")  # the gateway that took it online
    transaction_id = CharField(max_length=64, default="")
    paid_at = DateTimeField(null=True, index=True)
    number = CharField(max_length=48, null=True, unique=True)  # the electronic receipt's
    unit = ForeignKeyField(Unit, null=True, on_delete="RESTRICT")  # the receipt's issuer
    recorded_by = CharField(max_length=255, default="")  # the officer of a counter payment

    class Meta:
        table_name = "payment"

    @property
    def is_paid(self) -> bool:
        return self.status == "paid"

    @property
    def payable(self) -> bool:
        """The applicant may still pay it."""
        return self.status == "requested"


class PaymentOrder(BaseModel):
    """One attempt to pay a Payment at a gateway, known to the gateway by `ref` (unique)."""

    payment = ForeignKeyField(Payment, backref="orders", on_delete="RESTRICT")
    ref = CharField(max_length=40, unique=True)
    gateway = CharField(max_length=16)
    amount = BigIntegerField()
    currency = CharField(max_length=3, default="VND")
    status = CharField(max_length=16, default="pending", index=True)  # ORDER_STATUSES
    created_at = DateTimeField(default=utcnow, index=True)
    settled_at = DateTimeField(null=True)
    transaction_id = CharField(max_length=64, default="")
    result_code = CharField(max_length=16, default="")  # the gateway's, when it failed
    checked_at = DateTimeField(null=True)  # last asked by the reconciliation

    class Meta:
        table_name = "payment_order"

    @property
    def pending(self) -> bool:
        return self.status == "pending"


class PaymentNotice(BaseModel):
    """Every message a gateway sent about a payment (a notification, the answer to a
    reconciliation's query), as received, and what the portal made of it: the log that makes
    confirmations idempotent and lists for staff what the gateway reports but the portal
    cannot match (an unknown order, a wrong amount or currency, a bad signature)."""

    gateway = CharField(max_length=16)
    source = CharField(max_length=8)  # notify | query
    ref = CharField(max_length=64, default="", index=True)
    order = ForeignKeyField(PaymentOrder, null=True, on_delete="RESTRICT")
    amount = BigIntegerField(null=True)
    currency = CharField(max_length=3, default="")
    transaction_id = CharField(max_length=64, default="")
    paid = BooleanField(default=False)  # the gateway says it was paid
    outcome = CharField(max_length=16)  # confirmed duplicate failed, or payment_notices.LISTED
    raw = TextField(default="")  # the message's fields, JSON
    received_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "payment_notice"

class NationalIdentity(BaseModel):
    """A national identity (an OpenID Connect provider's subject) linked to a local account:
    the account it signs in (services/national_identity.py)."""

    provider = CharField(max_length=255)  # the provider's issuer
    subject = CharField(max_length=255)  # its `sub` claim
    user = ForeignKeyField(User, backref="national_identities", on_delete="CASCADE")
    kind = IntegerField()  # 1 citizen, 2 enterprise, 3 organisation
    identifier = CharField(max_length=32, default="")  # the ID number or the tax code
    assurance_level = IntegerField(default=0)
    id_token = TextField(default="")  # the last one issued: the hint of the provider's logout
    created_at = DateTimeField(default=utcnow)
    last_login_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "national_identity"
        indexes = ((("provider", "subject"), True),)


class SignOnRequest(BaseModel):
    """An OpenID Connect login under way: its state, nonce and PKCE verifier, kept until it
    expires so that a used state or nonce is never accepted again (services/oidc_client.py)."""

    state = CharField(max_length=64, unique=True)
    nonce = CharField(max_length=64, unique=True)
    code_verifier = CharField(max_length=128)
    user = ForeignKeyField(User, null=True, on_delete="CASCADE")  # signed in: link to them
    next_path = CharField(max_length=500, default="")
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField(index=True)
    used_at = DateTimeField(null=True)

    class Meta:
        table_name = "sign_on_request"


class ApiClient(BaseModel):
    """A system an administrator registered to call the API (/api/v1): its public key id, the
    scopes it may use and its secret, sealed (AES-GCM, keyed from the portal's secret key:
    services/api_clients.py), never kept in plain text. Revoked clients keep their row."""

    key_id = CharField(max_length=32, unique=True)  # sent in X-Api-Key
    name = CharField(max_length=255)
    scopes = CharField(max_length=255)  # space-separated, of api_clients.SCOPES
    secret_sealed = TextField()
    rate_limit = IntegerField(default=0)  # requests a minute; 0: the deployment's default
    created_by = CharField(max_length=254, default="")
    created_at = DateTimeField(default=utcnow)
    rotated_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)

    class Meta:
        table_name = "api_client"

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


class ApiNonce(BaseModel):
    """A signed request's nonce, kept until its timestamp is out of the allowed clock skew
    (a replay is refused) and at least a minute (the client's rate is counted from them)."""

    client = ForeignKeyField(ApiClient, on_delete="CASCADE")
    nonce = CharField(max_length=64)
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()

    class Meta:
        table_name = "api_nonce"
        indexes = ((("client", "nonce"), True), (("client", "created_at"), False))


class ApiDossier(BaseModel):
    """A dossier an API client created, with the Idempotency-Key of the request that did it
    and the SHA-256 of that request's body (a retried POST gets the same dossier)."""

    client = ForeignKeyField(ApiClient, on_delete="RESTRICT")
    dossier = ForeignKeyField(Dossier, unique=True, on_delete="CASCADE")
    idempotency_key = CharField(max_length=255, null=True)
    request_hash = CharField(max_length=64, default="")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "api_dossier"
        indexes = ((("client", "idempotency_key"), True),)

# A message for the National Public Service Portal (services/national_outbox.py): pending until
# the portal's receiver accepts it (sent), failed after the configured number of attempts
# (an administrator sends it again from /admin/sync).
NATIONAL_SYNC_STATES = ("pending", "sent", "failed")


class NationalMessage(BaseModel):
    """The transactional outbox of the status sync: one row per status change of a dossier,
    written in the change's transaction with the message as it will be sent (JSON), delivered
    in `id` order per dossier under the idempotency key `key`. A worker holds a message while
    it sends it (`lease_until`), so two workers never send the same one at once."""

    dossier = ForeignKeyField(Dossier, backref="national_messages", on_delete="RESTRICT")
    event = ForeignKeyField(DossierEvent, unique=True, on_delete="RESTRICT")
    key = CharField(max_length=64, unique=True)
    kind = CharField(max_length=16)  # add (the dossier's first message) | progress
    status = IntegerField()  # the national status code the message carries
    payload = TextField()
    state = CharField(max_length=8, default="pending", index=True)  # NATIONAL_SYNC_STATES
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(default=utcnow, index=True)
    lease_until = DateTimeField(null=True)
    error_code = CharField(max_length=64, default="")  # the receiver's, or the portal's own
    error_message = TextField(default="")
    created_at = DateTimeField(default=utcnow)
    sent_at = DateTimeField(null=True)

    class Meta:
        table_name = "national_message"


class DossierFact(BaseModel):
    """What the statistics count of one submitted dossier (services/stat_facts.py keeps it as
    the dossier changes): its days in Vietnam's calendar, not UTC times. `prev_any` and
    `prev_top` are the enterprise's previous day of submission (anywhere, and to the same
    department or regional branch), so that the enterprises taking part in a period are
    counted without COUNT(DISTINCT)."""

    dossier = ForeignKeyField(Dossier, primary_key=True, on_delete="CASCADE")
    unit_id = IntegerField(default=0)  # 0: no unit
    top_id = IntegerField(default=0)  # its department or regional branch; 0: none
    procedure_id = IntegerField()
    enterprise_id = IntegerField()
    received_on = DateField()
    counter = BooleanField(default=False)
    done_on = DateField(null=True)  # completed (a result issued or returned) on
    on_time = BooleanField(default=False)
    closed_on = DateField(null=True)  # withdrawn, refused or stopped on
    closed_status = IntegerField(null=True)
    prev_any = DateField(null=True)
    prev_top = DateField(null=True)

    class Meta:
        table_name = "dossier_fact"
        indexes = (
            (("prev_any", "received_on"), False),
            (("top_id", "prev_top", "received_on"), False),
            (("enterprise_id", "received_on"), False),
            (("procedure_id", "received_on"), False),
            (("procedure_id", "top_id", "received_on"), False),
        )


class StatDay(BaseModel):
    """The statistics' counts of one unit on one day (Vietnam's calendar), maintained with
    every change of a dossier: a period's figures are sums over its days."""

    unit_id = IntegerField()  # 0: dossiers with no unit
    day = DateField()
    received = IntegerField(default=0)
    counter = IntegerField(default=0)
    completed = IntegerField(default=0)
    on_time = IntegerField(default=0)
    withdrawn = IntegerField(default=0)
    refused = IntegerField(default=0)
    stopped = IntegerField(default=0)

    class Meta:
        table_name = "stat_day"
        indexes = ((("day", "unit_id"), True), (("unit_id", "day"), False))


class StatFirst(BaseModel):
    """How many submissions on `day` to a scope (0: every unit; else a department or regional
    branch) came after the enterprise's previous one in `prev_month` (year * 12 + month - 1;
    0: none): services/stat_enterprises.py."""

    scope = IntegerField()
    day = DateField()
    prev_month = IntegerField()
    n = IntegerField(default=0)

    class Meta:
        table_name = "stat_first"
        indexes = ((("scope", "day", "prev_month"), True),)
# The three answers of the national portal's survey, as stored (services/satisfaction.py).
RATING_LEVELS = (3, 2, 1)  # very satisfied, satisfied, dissatisfied


class Rating(BaseModel):
    """The applicant's one rating of a dossier that has ended (services/satisfaction.py): an
    answer per criterion (RATING_LEVELS) and overall, and an optional comment. The rater is
    recorded in the processing history, not here."""

    dossier = ForeignKeyField(Dossier, unique=True, backref="ratings", on_delete="RESTRICT")
    unit = ForeignKeyField(Unit, null=True, on_delete="RESTRICT")  # the dossier's, when rated
    rated_at = DateTimeField(default=utcnow, index=True)
    information = SmallIntegerField()
    timeliness = SmallIntegerField()
    conduct = SmallIntegerField()
    result = SmallIntegerField()
    online_service = SmallIntegerField()
    overall = SmallIntegerField()
    comment = TextField(default="")

    class Meta:
        table_name = "rating"


class Feedback(BaseModel):
    """A question or complaint (phản ánh, kiến nghị) sent through the public form, and the
    staff's answer (services/feedback.py). `publish`: the asker agreed that the question and
    the answer appear on the public page, without their name, e-mail or phone."""

    name = CharField(max_length=255)
    email = CharField(max_length=254)
    phone = CharField(max_length=32, default="")
    about = CharField(max_length=64, default="")  # a dossier code or a procedure, as typed
    subject = CharField(max_length=255)
    content = TextField()
    publish = BooleanField(default=False)
    language = CharField(max_length=2, default="vi")  # the asker's, for the mails
    created_at = DateTimeField(default=utcnow, index=True)
    answer = TextField(default="")
    answered_at = DateTimeField(null=True, index=True)
    answered_by = ForeignKeyField(User, null=True, on_delete="RESTRICT")

    class Meta:
        table_name = "feedback"

    @property
    def reference(self) -> str:
        """The number the asker is given: "PAKN-2026-000042"."""
        return f"PAKN-{self.created_at:%Y}-{self.id:06d}"

    @property
    def answered(self) -> bool:
        return self.answered_at is not None


ALL_MODELS = [
    SchemaVersion,
    UnitStructure,
    Unit,
    Enterprise,
    User,
    UserSession,
    Procedure,
    RequiredDocument,
    ProcessingTime,
    FormField,
    ProcedureForm,
    Holiday,
    HolidayYear,
    Dossier,
    DossierSequence,
    Attachment,
    Upload,
    DossierEvent,
    HistoryHead,
    HistoryCheckpoint,
    SecurityCount,
    Notification,
    OutgoingMail,
    Slip,
    SlipSequence,
    RegisteredSigner,
    DocumentSignature,
    RevocationInfo,
    Fee,
    Payment,
    PaymentOrder,
    PaymentNotice,
    NationalIdentity,
    SignOnRequest,
    ApiClient,
    ApiNonce,
    ApiDossier,
    NationalMessage,
    DossierFact,
    StatDay,
    StatFirst,
    Rating,
    Feedback,
]
