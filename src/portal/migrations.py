"""Schema versions. A fresh database gets every table of the current models and the latest
version; an older one runs the steps after its version, in order, each in a transaction.

To change the schema: change `models.py`, then append a step here that brings a database of
the previous version to the new one (with `playhouse.migrate`, which speaks SQLite and
PostgreSQL), so both a fresh and an upgraded database end up the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    Field,
    ForeignKeyField,
    TextField,
)
from playhouse.migrate import PostgresqlMigrator, SqliteMigrator
from playhouse.migrate import migrate as run_operations

from portal import models
from portal.db import db, is_postgres
from portal.models import ALL_MODELS, SchemaVersion
from portal.services import stat_facts
from portal.services.calendar import load_holidays
from portal.services.history import ensure_head
from portal.services.seed import seed_pattern_messages


def _migrator():
    return PostgresqlMigrator(db.obj) if is_postgres() else SqliteMigrator(db.obj)


def _v2_dossiers() -> None:
    """Dossiers, their history, forms, holidays, notifications and slips; procedure cut-off."""
    operations = [
        _migrator().add_column("procedure", "cutoff", CharField(max_length=5, default=""))
    ]
    if is_postgres():  # SQLite does not enforce lengths; PostgreSQL needs the wider column
        operations.append(
            _migrator().alter_column_type("app_user", "username", CharField(max_length=254))
        )
    run_operations(*operations)
    db.create_tables(
        [
            models.FormField,
            models.Holiday,
            models.Dossier,
            models.DossierSequence,
            models.Attachment,
            models.DossierEvent,
            models.HistoryHead,
            models.Notification,
            models.OutgoingMail,
            models.Slip,
        ]
    )
    ensure_head()


def _v3_mail_claims() -> None:
    """When a worker claimed an e-mail, so only mails stuck in sending are retried."""
    # A database upgraded from version 1 got the table with this column already.
    if "claimed_at" not in {c.name for c in db.get_columns("outgoing_mail")}:
        run_operations(
            _migrator().add_column("outgoing_mail", "claimed_at", DateTimeField(null=True))
        )


def _v4_uploads() -> None:
    """Resumable uploads in progress."""
    db.create_tables([models.Upload])


def _v5_virus_scan() -> None:
    """The virus-scan state of each attachment."""
    # A database upgraded from version 1 got the table (from today's model) with it already.
    if "scan" not in {c.name for c in db.get_columns("attachment")}:
        run_operations(
            _migrator().add_column("attachment", "scan", CharField(max_length=8, default="")),
            _migrator().add_index("attachment", ("scan",), False),
        )


# The version from which on the history is keyed (backups name the keys it needs).
KEYED_HISTORY = 6


def _v6_keyed_history() -> None:
    """The history keyed (each event's key id, the sealed cut-over in the head) and the
    bounded security log of anonymous clients' security events."""
    operations = []
    if "key_id" not in {c.name for c in db.get_columns("dossier_event")}:
        operations.append(
            _migrator().add_column("dossier_event", "key_id", CharField(max_length=16, default=""))
        )
    if "seal" not in {c.name for c in db.get_columns("history_head")}:
        operations += [
            _migrator().add_column("history_head", "keyed_from", BigIntegerField(default=0)),
            _migrator().add_column("history_head", "seal", CharField(max_length=96, default="")),
        ]
    run_operations(*operations)
    db.create_tables([models.SecurityCount])
    ensure_head()  # seals the cut-over: the events there are now stay plain SHA-256


def _v7_enterprise_status() -> None:
    """Enterprise accounts wait for their e-mail address and the enterprise to be checked;
    the accounts that exist already stay active."""
    # A database upgraded from version 1 got the table (from today's model) with them already.
    have = {c.name for c in db.get_columns("app_user")}
    columns = {
        "enterprise_status": CharField(max_length=16, default="active"),
        "given_enterprise_name": CharField(max_length=255, default=""),
        "status_reason": TextField(default=""),
    }
    operations = [
        _migrator().add_column("app_user", name, field)
        for name, field in columns.items()
        if name not in have
    ]
    if "enterprise_status" not in have:
        operations.append(_migrator().add_index("app_user", ("enterprise_status",), False))
    if operations:
        run_operations(*operations)


def _v8_searchable_fields() -> None:
    """Form fields a procedure marks searchable: the inbox finds dossiers by their answer."""
    if "searchable" not in {c.name for c in db.get_columns("form_field")}:
        run_operations(
            _migrator().add_column("form_field", "searchable", BooleanField(default=False))
        )


def _v9_audit_indexes() -> None:
    """Indexes for the auditor's search by period: dossiers by submission time, history
    events by time."""
    wanted = {"dossier": ("submitted_at",), "dossier_event": ("created_at",)}
    operations = []
    for table, columns in wanted.items():
        # A database upgraded from version 1 got the tables (from today's models) with them.
        have = {tuple(i.columns) for i in db.get_indexes(table)}
        if columns not in have:
            operations.append(_migrator().add_index(table, columns, False))
    if operations:
        run_operations(*operations)


def _v10_holiday_kinds() -> None:
    """Holidays learn swapped working days and their legal source; years are confirmed by an
    administrator; Vietnam's statutory days off 2025-2027 are added (data/seed/holidays_vn.csv,
    the days not listed yet)."""
    have = {c.name for c in db.get_columns("holiday")}
    columns = {
        "kind": CharField(max_length=16, default="holiday"),
        "source": CharField(max_length=500, default=""),
    }
    operations = [
        _migrator().add_column("holiday", name, field)
        for name, field in columns.items()
        if name not in have
    ]
    if operations:
        run_operations(*operations)
    db.create_tables([models.HolidayYear])
    load_holidays()


def _v11_slip_numbers() -> None:
    """Slips become official documents: a number per issuing unit, kind and year, the issuing
    unit and the signer's title; the unit is asked for an apology (`overdue_told_at`). The
    slips issued before are numbered in the order they were issued, by their dossier's unit."""
    have = {c.name for c in db.get_columns("slip")}
    migrator = _migrator()
    operations = []
    if "number" not in have:
        operations += [
            migrator.add_column("slip", "number", CharField(max_length=48, null=True)),
            migrator.add_column(
                "slip",
                "unit_id",
                ForeignKeyField(models.Unit, field=models.Unit.id, null=True, on_delete="RESTRICT"),
            ),
            migrator.add_column("slip", "signer_title", CharField(max_length=255, default="")),
            migrator.add_index("slip", ("number",), True),
        ]
    if "overdue_told_at" not in {c.name for c in db.get_columns("dossier")}:
        operations.append(
            migrator.add_column("dossier", "overdue_told_at", DateTimeField(null=True))
        )
    if operations:
        run_operations(*operations)
    db.create_tables([models.SlipSequence])
    _number_old_slips()


def _number_old_slips() -> None:
    from portal.services.deadlines import to_local
    from portal.services.slips import FORMS

    last: dict[tuple[int, str, int], int] = {}
    rows = (
        models.Slip.select(models.Slip, models.Dossier.unit)
        .join(models.Dossier)
        .where(models.Slip.number.is_null())
        .order_by(models.Slip.id)
    )
    for slip in rows:
        unit = (  # the columns every schema version has (a later step adds others)
            models.Unit.select(models.Unit.id, models.Unit.code)
            .where(models.Unit.id == slip.dossier.unit_id)
            .first()
        )
        if unit is None or slip.kind not in FORMS:
            continue
        key = (unit.id, slip.kind, to_local(slip.issued_at).year)
        if key not in last:
            last[key] = (
                models.SlipSequence.select(models.SlipSequence.last)
                .where(
                    models.SlipSequence.unit == key[0],
                    models.SlipSequence.kind == key[1],
                    models.SlipSequence.year == key[2],
                )
                .scalar()
                or 0
            )
        last[key] += 1
        number = f"{last[key]}/{key[2]}/{FORMS[slip.kind].code}-{unit.code}"
        models.Slip.update(number=number, unit=unit.id).where(
            models.Slip.id == slip.id
        ).execute()
    for (unit_id, kind, year), value in last.items():
        models.SlipSequence.insert(unit=unit_id, kind=kind, year=year, last=value).on_conflict(
            conflict_target=[
                models.SlipSequence.unit, models.SlipSequence.kind, models.SlipSequence.year
            ],
            update={models.SlipSequence.last: value},
        ).execute()


def _add_columns(wanted: dict[str, dict[str, Field]]) -> None:
    """Add the columns of `wanted` ({table: {column: field}}) that a table does not have."""
    operations = []
    for table, columns in wanted.items():
        have = {c.name for c in db.get_columns(table)}
        operations += [
            _migrator().add_column(table, name, field)
            for name, field in columns.items()
            if name not in have
        ]
    if operations:
        run_operations(*operations)


def _v12_messages() -> None:
    """Notifications keep their message id and parameters (shown in the reader's language);
    form fields say what their pattern wants, in both languages (the demo forms' messages
    from data/seed/procedure_forms.json)."""
    _add_columns({
        "notification": {"message": TextField(default=""), "params": TextField(default="")},
        "form_field": {
            "pattern_message": CharField(max_length=255, default=""),
            "pattern_message_en": CharField(max_length=255, default=""),
        },
    })
    seed_pattern_messages()


def _v13_counter_intake() -> None:
    """Dossiers received on paper at the counter: each dossier's channel and the contact who
    brought it; applicants that are persons (a citizen ID instead of a tax code) and their
    address."""
    _add_columns({
        "dossier": {
            "channel": CharField(max_length=8, default="online"),
            "contact_name": CharField(max_length=255, default=""),
            "contact_phone": CharField(max_length=32, default=""),
        },
        "enterprise": {
            "kind": CharField(max_length=16, default="enterprise"),
            "address": CharField(max_length=500, default=""),
        },
    })


def _v14_procedure_forms() -> None:
    """Blank forms that procedures offer for download."""
    db.create_tables([models.ProcedureForm])


# The offices the 2025 seed once invented ("KV02CI" for 02CI): not real office codes.
PLACEHOLDER_OFFICES = r"KV[0-9]{2}[A-Z][A-Z0-9]+"


def _v15_unit_structures() -> None:
    """Units belong to a structure whose effective date is data (`org_structure`); a code is
    unique within its structure (the 2025 offices kept the 2016 branches' codes); dossier
    sequences are kept per office code; the 2025 offices are loaded (every branch code of the
    35 former departments under its regional branch); the invented KVnnXX offices are
    deactivated, their staff and open dossiers moved to the real office. Dossiers filed before
    keep their units."""
    from portal.services.seed import SEED_DIR
    from portal.services.structures import load_structures
    from portal.services.units import load_units

    db.create_tables([models.UnitStructure])
    load_structures()
    indexes = {i.name: tuple(i.columns) for i in db.get_indexes("unit")}
    operations = [
        _migrator().drop_index("unit", name)
        for name, columns in indexes.items()
        if columns == ("code",) and name in ("unit_code",)
    ]
    if ("structure", "code") not in indexes.values():
        operations.append(_migrator().add_index("unit", ("structure", "code"), True))
    if operations:
        run_operations(*operations)
    if "unit_id" in {c.name for c in db.get_columns("dossier_sequence")}:
        rows = db.execute_sql(
            "SELECT u.code, s.day, MAX(s.last) FROM dossier_sequence s "
            "JOIN unit u ON u.id = s.unit_id GROUP BY u.code, s.day"
        ).fetchall()
        db.drop_tables([models.DossierSequence])
        db.create_tables([models.DossierSequence])
        for code, day, last in rows:
            models.DossierSequence.create(code=code, day=day, last=last)
    if models.Unit.select().exists():  # an empty database is seeded by seed-demo, not here
        load_units(SEED_DIR / "customs_units_2025.csv", "2025")
        _retire_placeholders()


def _retire_placeholders() -> None:
    Unit = models.Unit
    for unit in Unit.select().where(Unit.structure == "2025"):
        if not re.fullmatch(PLACEHOLDER_OFFICES, unit.code):
            continue
        real = Unit.get_or_none(Unit.structure == "2025", Unit.code == unit.code[2:])
        if real is not None:
            models.User.update(unit=real).where(models.User.unit == unit).execute()
            models.Dossier.update(unit=real).where(models.Dossier.unit == unit).execute()
        Unit.update(active=False).where(Unit.id == unit.id).execute()


def _v17_signatures() -> None:
    """Signatures (issue 14): procedures that require signed documents, the certificates
    registered to sign a unit's results, the verified signature of each signed file and the
    cache of fetched CRL and OCSP answers."""
    _add_columns({"procedure": {"requires_signature": BooleanField(default=False)}})
    db.create_tables([models.RegisteredSigner, models.DocumentSignature, models.RevocationInfo])


def _v18_sso() -> None:
    """Single sign-on with the national identity: the identities linked to accounts and the
    logins under way (their state, nonce and PKCE verifier)."""
    db.create_tables([models.NationalIdentity, models.SignOnRequest])


def _v16_payments() -> None:
    """Fees as data and online payment: each procedure's fees (`procedure_fee`), the payments
    asked of applicants with their receipts, the orders at the gateways and the gateways'
    notices. The procedures whose fees are still the seed's demo text get the demo catalogue's
    fees (services/demo_catalogue.py), and the catalogue's revision moves on."""
    from portal.services.demo_catalogue import read_catalogue
    from portal.services.fees import write_fees
    from portal.services.seed import SEED_DIR

    db.create_tables([models.Fee, models.Payment, models.PaymentOrder, models.PaymentNotice])
    Procedure = models.Procedure
    # the columns every schema has (a later step may add others)
    columns = (Procedure.id, Procedure.code, Procedure.demo_fields)
    demo = [p for p in Procedure.select(*columns) if "fee_text" in p.demo]
    if not demo or models.Fee.select().exists():
        return
    rows = read_catalogue(SEED_DIR / "customs_procedures.csv")
    seeded = {values["code"]: values for values, _ in rows}
    for proc in demo:
        values = seeded.get(proc.code)
        if values is None:
            continue
        write_fees(proc, values["fees"])
        Procedure.update(fee_text=values["fee_text"], updated_at=models.utcnow()).where(
            Procedure.id == proc.id
        ).execute()


def _v19_api() -> None:
    """The API (issue 15): registered clients, the nonces of signed requests (replay
    protection and rate limits) and the dossiers clients created (Idempotency-Key)."""
    db.create_tables([models.ApiClient, models.ApiNonce, models.ApiDossier])


def _v20_sync() -> None:
    """The status sync's outbox: the messages for the National Public Service Portal."""
    db.create_tables([models.NationalMessage])


def _v21_statistics() -> None:
    """The statistics' maintained counts (a fact per dossier, counts per unit and day), built
    from the dossiers there are, and the indexes the inbox and the statistics read a unit's
    dossiers by."""
    db.create_tables([models.DossierFact, models.StatDay, models.StatFirst])
    models.Dossier._schema.create_indexes(safe=True)  # the ones of the model it lacks
    stat_facts.rebuild()


def _v22_history_checkpoints() -> None:
    """Where `verify-history` records how far it has verified the chain (issue 16)."""
    db.create_tables([models.HistoryCheckpoint])


def _v23_satisfaction() -> None:
    """The applicants' ratings of ended dossiers and the public feedback form (issue 16)."""
    db.create_tables([models.Rating, models.Feedback])


# version -> step that upgrades a database from version-1 to version.
STEPS: dict[int, Callable[[], None]] = {
    2: _v2_dossiers,
    3: _v3_mail_claims,
    4: _v4_uploads,
    5: _v5_virus_scan,
    6: _v6_keyed_history,
    7: _v7_enterprise_status,
    8: _v8_searchable_fields,
    9: _v9_audit_indexes,
    10: _v10_holiday_kinds,
    11: _v11_slip_numbers,
    12: _v12_messages,
    13: _v13_counter_intake,
    14: _v14_procedure_forms,
    15: _v15_unit_structures,
    16: _v16_payments,
    17: _v17_signatures,
    18: _v18_sso,
    19: _v19_api,
    20: _v20_sync,
    21: _v21_statistics,
    22: _v22_history_checkpoints,
    23: _v23_satisfaction,
}
LATEST = 23


class SchemaError(RuntimeError):
    """The database's schema is not the one this code knows."""


def current_version() -> int | None:
    """The schema version recorded in the database, or None for an empty database."""
    if not db.table_exists(SchemaVersion._meta.table_name):
        return None
    row = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    return row.version if row else None


def migrate() -> tuple[int | None, int]:
    """Create or upgrade the schema to LATEST; returns (version before, version after)."""
    with db.connection_context():
        before = current_version()
        if before is not None and before > LATEST:
            raise SchemaError(
                f"The database has schema version {before}, newer than this code ({LATEST})."
            )
        if before is None:
            with db.atomic():
                db.create_tables(ALL_MODELS)
                ensure_head()
                SchemaVersion.create(version=LATEST)
            return None, LATEST
        # In version order; a number may be missing while another branch's step is unmerged.
        for version in sorted(v for v in STEPS if v > before):
            with db.atomic():
                STEPS[version]()
                SchemaVersion.create(version=version)
        return before, LATEST


def check_schema() -> None:
    """Raise SchemaError unless the database is at exactly the version this code knows."""
    with db.connection_context():
        version = current_version()
    if version is None:
        raise SchemaError("The database has no schema: run `python run.py migrate`.")
    if version != LATEST:
        raise SchemaError(
            f"The database has schema version {version}; this code needs {LATEST}. "
            "Run `python run.py migrate` (or upgrade the code if the database is newer)."
        )
