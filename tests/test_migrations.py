"""Schema versions: a fresh database is created at LATEST; unknown versions are refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.app import create_app
from portal.config import Settings
from portal.db import configure, db
from portal.migrations import LATEST, STEPS, SchemaError, check_schema, current_version, migrate
from portal.models import ALL_MODELS, SchemaVersion


@pytest.fixture
def empty(tmp_path: Path, database_url: str) -> Iterator[Settings]:
    """Settings bound to a database (or PostgreSQL schema) with no tables at all."""
    s = Settings.for_data_dir(tmp_path / "data", database_url=database_url)
    configure(s)
    yield s
    db.close_all()


def tables() -> set[str]:
    with db.connection_context():
        return set(db.get_tables())


def test_every_version_up_to_latest_has_a_step():
    assert LATEST >= 1
    assert set(STEPS) == set(range(2, LATEST + 1))


def test_migrate_creates_the_schema_on_an_empty_database(empty):
    assert tables() == set()
    with db.connection_context():
        assert current_version() is None
    assert migrate() == (None, LATEST)
    assert {m._meta.table_name for m in ALL_MODELS} <= tables()
    with db.connection_context():
        assert current_version() == LATEST
        assert SchemaVersion.select().count() == 1
    check_schema()  # does not raise


def test_migrate_twice_is_a_no_op(settings):
    assert migrate() == (LATEST, LATEST)
    with db.connection_context():
        assert SchemaVersion.select().count() == 1


def test_check_schema_refuses_an_empty_database(empty):
    with pytest.raises(SchemaError, match="no schema"):
        check_schema()


def newer_schema() -> None:
    with db.connection_context():
        SchemaVersion.create(version=LATEST + 1)


def test_check_schema_refuses_a_newer_schema(settings):
    newer_schema()
    with pytest.raises(SchemaError) as exc:
        check_schema()
    assert str(LATEST + 1) in str(exc.value)


def test_migrate_refuses_to_downgrade(settings):
    newer_schema()
    with pytest.raises(SchemaError, match="newer"):
        migrate()
    with db.connection_context():
        assert current_version() == LATEST + 1  # left alone


def test_create_app_refuses_an_unknown_schema_version(settings):
    newer_schema()
    with pytest.raises(SchemaError):
        create_app(settings)


def test_create_app_refuses_an_unmigrated_database(empty):
    with pytest.raises(SchemaError):
        create_app(empty)


def test_create_app_starts_on_the_latest_schema(settings):
    app = create_app(settings)
    assert app.state.settings is settings


def test_a_version_2_database_is_upgraded_to_the_latest(settings):
    """Version 2 had no outgoing_mail.claimed_at: migrating adds it and records the version."""
    from playhouse.migrate import migrate as run_operations

    from portal.migrations import LATEST, _migrator, current_version, migrate
    from portal.models import SchemaVersion

    with db.connection_context():
        run_operations(_migrator().drop_column("outgoing_mail", "claimed_at"))
        SchemaVersion.update(version=2).execute()  # a fresh database records only LATEST
        assert current_version() == 2
    assert migrate() == (2, LATEST)
    with db.connection_context():
        assert "claimed_at" in {c.name for c in db.get_columns("outgoing_mail")}
        assert current_version() == LATEST


def test_a_version_7_database_gets_searchable_form_fields(settings):
    """Version 7 had no form_field.searchable: migrating adds it, no field searchable yet."""
    from playhouse.migrate import migrate as run_operations

    from portal.migrations import LATEST, _migrator, current_version, migrate
    from portal.models import SchemaVersion

    with db.connection_context():
        run_operations(_migrator().drop_column("form_field", "searchable"))
        SchemaVersion.update(version=7).execute()
    assert migrate() == (7, LATEST)
    with db.connection_context():
        assert "searchable" in {c.name for c in db.get_columns("form_field")}
        assert current_version() == LATEST


def test_the_counter_step_adds_channels_and_applicant_kinds(settings):
    """The database before the counter intake had no dossier channel, contact, applicant kind
    or address: the step adds them, existing dossiers online and applicants enterprises."""
    from playhouse.migrate import migrate as run_operations

    from portal.migrations import STEPS, _migrator, _v13_counter_intake, current_version, migrate
    from portal.models import Dossier, Enterprise, SchemaVersion

    version = next(v for v, step in STEPS.items() if step is _v13_counter_intake)
    with db.connection_context():
        run_operations(
            *[_migrator().drop_column("dossier", c)
              for c in ("channel", "contact_name", "contact_phone")],
            *[_migrator().drop_column("enterprise", c) for c in ("kind", "address")],
        )
        db.execute_sql(
            "INSERT INTO enterprise (tax_code, name, email, created_at) "
            "VALUES ('0100112437', 'Công ty A', 'a@example.vn', '2025-01-01 00:00:00')"
        )
        SchemaVersion.update(version=version - 1).execute()
    assert migrate() == (version - 1, LATEST)
    with db.connection_context():
        assert {"channel", "contact_name", "contact_phone"} <= {
            c.name for c in db.get_columns("dossier")}
        old = Enterprise.get(Enterprise.tax_code == "0100112437")
        assert (old.kind, old.address) == ("enterprise", "")
        assert Dossier._meta.fields["channel"].default == "online"
        assert current_version() == LATEST


def test_the_payments_step_adds_fees_and_payments(settings, catalogue):
    """The database before online payment had no fees as data and no payments: the step makes
    the tables and gives the procedures whose fees are still the seed's demo text the demo
    catalogue's fees (the seed's example procedures, the declaration fee of the others)."""
    from portal.migrations import STEPS, _v16_payments, current_version, migrate
    from portal.models import Fee, Payment, PaymentNotice, PaymentOrder, Procedure, SchemaVersion

    version = next(v for v, step in STEPS.items() if step is _v16_payments)
    with db.connection_context():
        db.drop_tables([PaymentNotice, PaymentOrder, Payment, Fee])
        Procedure.update(fee_text="Không thu phí, lệ phí.").where(
            Procedure.code == "1.005458").execute()
        SchemaVersion.update(version=version - 1).execute()
    assert migrate() == (version - 1, LATEST)
    with db.connection_context():
        assert {"payment", "payment_order", "payment_notice", "procedure_fee"} <= set(
            db.get_tables())
        proc = Procedure.get(Procedure.code == "1.005458")
        assert [(f.kind, f.amount) for f in Fee.select().where(Fee.procedure == proc)] == [
            ("fixed", 20000)]
        assert proc.fee_text.startswith("Lệ phí làm thủ tục hải quan")
        assert current_version() == LATEST
