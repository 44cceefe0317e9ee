"""Today's units (issue 13 item 4): the 2025 offices in the seed, the structure in force as
data with an effective date an administrator records, new dossiers in today's offices, old
dossiers in their old units and in the statistics of their period, and migration of an older
database (both engines)."""

from __future__ import annotations

import csv
import datetime as dt
import re

import pytest
from playhouse.migrate import migrate as run_operations

from portal.db import db, is_postgres
from portal.migrations import LATEST, STEPS, _migrator, _v15_unit_structures, current_version
from portal.migrations import migrate as migrate_schema
from portal.models import (
    Dossier,
    DossierEvent,
    DossierSequence,
    Enterprise,
    Procedure,
    Unit,
    UnitStructure,
    User,
)
from portal.services import dossiers, stat_facts, stats, structures
from portal.services import units as unit_service
from portal.services.access import Ctx
from portal.services.deadlines import to_utc
from portal.services.errors import ValidationError
from portal.services.seed import SEED_DIR, seed_accounts
from tests.helpers import csrf_from

STEP = next(v for v, fn in STEPS.items() if fn is _v15_unit_structures)


def rows(name: str) -> list[dict[str, str]]:
    with (SEED_DIR / name).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def branch_codes_2016() -> set[str]:
    return {
        item.strip().split(" ")[0]
        for r in rows("customs_departments.csv")
        for item in r["sample_branch_codes"].split(";")
    }


# --- the seed ------------------------------------------------------------------------------


def test_every_branch_code_of_the_35_departments_is_a_2025_office():
    offices = {r["code"]: r for r in rows("customs_units_2025.csv") if r["kind"] == "branch"}
    assert len(rows("customs_departments.csv")) == 35
    assert branch_codes_2016() == set(offices)  # none left out, none invented
    regional = {f"KV{n:02d}" for n in range(1, 21)}
    assert all(o["parent_code"] in regional for o in offices.values())
    assert {o["mapping"] for o in offices.values()} <= {"certain", "province", "uncertain"}
    assert all(o["province"] for o in offices.values())
    codes = [r["code"] for r in rows("customs_units_2025.csv")]
    assert not [c for c in codes if re.fullmatch(r"KV[0-9]{2}[A-Z].*", c)]  # no placeholders
    assert offices["02CI"]["parent_code"] == "KV02" and offices["01AB"]["parent_code"] == "KV01"


def test_both_structures_load_with_their_dates(units):
    assert [(s.code, s.effective_from) for s in structures.all_structures()] == [
        ("2016", dt.date(2016, 1, 1)),
        ("2025", dt.date(2025, 3, 1)),
    ]
    assert structures.structure_in_force(dt.date(2025, 2, 28)) == "2016"
    assert structures.structure_in_force(dt.date(2025, 3, 1)) == "2025"
    old, new = unit_service.find_unit("2016:02CI"), unit_service.find_unit("2025:02CI")
    assert old.id != new.id and (old.ref, new.ref) == ("2016:02CI", "2025:02CI")
    assert unit_service.find_unit("02CI") == new  # a bare code: the structure in force today
    assert unit_service.find_unit("02") == unit_service.find_unit("2016:02")  # only in 2016
    assert unit_service.successor(old) == new
    assert unit_service.successor(unit_service.find_unit("2016:02")).code == "KV02"


def test_demo_staff_live_in_2025_offices(units, catalogue):
    seed_accounts()
    with db.connection_context():
        for name in ("canbo.02ci", "lanhdao.02ci", "canbo.01ab"):
            user = User.get(User.username == name)
            assert user.unit.structure == "2025" and user.unit.code == name[-4:].upper()


# --- dossiers ------------------------------------------------------------------------------


@pytest.fixture
def owner(make_user, catalogue):
    return make_user("enterprise")


def test_a_new_dossier_goes_to_the_2025_office(owner):
    with db.connection_context():
        proc = Procedure.get(Procedure.code == "1.005458")
    offered = dossiers.competent_units(proc)
    assert offered and {u.structure for u in offered} == {"2025"}
    draft = dossiers.start_draft(Ctx(owner), "1.005458", "02CI")
    with db.connection_context():
        assert Dossier.get_by_id(draft.id).unit.ref == "2025:02CI"
    with pytest.raises(ValidationError):  # an abolished unit is not offered any more
        dossiers.start_draft(Ctx(owner), "1.005458", "2016:02CI")


def test_one_code_sequence_per_office_code_across_structures(units):
    when = to_utc(dt.datetime(2025, 5, 5, 9))
    with db.connection_context(), db.atomic():
        first = dossiers.next_code(unit_service.find_unit("2016:02CI"), when)
        second = dossiers.next_code(unit_service.find_unit("2025:02CI"), when)
        assert DossierSequence.select().count() == 1
    assert (first, second) == ("02CI-250505-0001", "02CI-250505-0002")


def test_an_old_dossier_keeps_its_unit_and_counts_in_its_period(owner, client, make_user, login):
    with db.connection_context():
        old = Dossier.create(
            code="02CI-240610-0001",
            procedure=Procedure.get(Procedure.code == "1.005458"),
            enterprise=Enterprise.get(Enterprise.tax_code == "0100112437"),
            owner=owner,
            unit=unit_service.find_unit("2016:02CI"),
            status=1,
            submitted_at=to_utc(dt.datetime(2024, 6, 10, 9)),
        )
        stat_facts.refresh(old.id)  # as history.record does with every change
    query = stats.clean_query({"from": "2024-01-01", "to": "2024-12-31"}, 1, dt.date(2025, 4, 1))
    assert query.structure == "2016"
    report = stats.build_report(query)
    assert report.figures.received == 1
    assert (report.figures.departments, report.figures.departments_total) == (1, 35)
    assert [(r.code, r.structure) for r in report.units.items] == [("02CI", "2016")]
    later = stats.build_report(
        stats.clean_query({"from": "2025-03-01", "to": "2025-12-31"}, 1, dt.date(2026, 1, 1))
    )
    assert later.figures.received == 0 and later.figures.departments_total == 20
    # The dossier page names the old unit (an auditor reads any submitted dossier).
    login(make_user("auditor"))
    page = client.get(f"/dossiers/{old.id}")
    assert page.status_code == 200
    assert "Chi cục Hải quan Cửa khẩu Cảng Sài Gòn khu vực I" in page.text


# --- the administrator records a structure's date -------------------------------------------


@pytest.fixture
def admin_client(client, make_user, login):
    login(make_user("admin"))
    return client


def post_structure(client, **values: str):
    token = csrf_from(client.get("/admin/units").text)
    return client.post("/admin/units/structures", data={**values, "csrf_token": token},
                       follow_redirects=False)


def test_the_admin_records_a_structure_date_on_the_record(admin_client):
    page = admin_client.get("/admin/units")
    assert 'action="/admin/units/structures"' in page.text
    r = post_structure(admin_client, code="2025", effective_from="2025-06-01", confirm="1")
    assert r.status_code == 303 and r.headers["location"] == "/admin/units?structure=2025"
    assert structures.structure_in_force(dt.date(2025, 4, 1)) == "2016"
    with db.connection_context():
        event = DossierEvent.get(DossierEvent.action == "structure_dated")
        assert event.note == "2025: 2025-03-01 -> 2025-06-01" and event.actor_role == "admin"
    r = post_structure(admin_client, code="2027", name="Cơ cấu thử", effective_from="2027-01-01",
                       confirm="1")
    assert r.status_code == 303
    assert structures.structure_in_force(dt.date(2027, 1, 2)) == "2027"


@pytest.mark.parametrize(("values", "field"), [
    ({"code": "2025", "effective_from": "2025-06-01"}, "confirm"),  # not confirmed
    ({"code": "2025", "effective_from": "2025-02-30", "confirm": "1"}, "effective_from"),
    ({"code": "2025", "effective_from": "2016-01-01", "confirm": "1"}, "effective_from"),
    ({"code": "x y", "effective_from": "2025-06-01", "confirm": "1"}, "code"),
    ({"code": "2030", "effective_from": "2030-01-01", "confirm": "1"}, "name"),  # new: named
])
def test_a_wrong_structure_date_is_refused_with_the_input_kept(admin_client, values, field):
    r = post_structure(admin_client, **values)
    assert r.status_code == 422
    assert f'id="f-{field}-error"' in r.text
    assert f'value="{values["effective_from"]}"' in r.text
    with db.connection_context():
        assert UnitStructure.get(UnitStructure.code == "2025").effective_from == dt.date(2025, 3, 1)
        assert not DossierEvent.select().where(DossierEvent.action == "structure_dated").exists()


def test_only_an_administrator_records_a_structure_date(client, make_user, login, units):
    login(make_user("officer"))
    token = csrf_from(client.get("/officer/inbox").text)
    r = client.post("/admin/units/structures", follow_redirects=False, data={
        "code": "2025", "effective_from": "2030-01-01", "confirm": "1", "csrf_token": token})
    assert r.status_code == 403
    assert structures.structure_in_force(dt.date(2026, 1, 1)) == "2025"


# --- migration of an older database ----------------------------------------------------------


OLD_2025 = (
    "code,name,kind,parent_code\nCHQ,Cục Hải quan,administration,\n"
    "KV02,Chi cục Hải quan khu vực II,department,CHQ\n"
    "KV02CI,Hải quan cửa khẩu cảng Sài Gòn khu vực I,branch,KV02\n"
)


def make_old_database(tmp_path) -> dict[str, int]:
    """A database as version STEP-1 left it: unique unit codes, the 2016 tree and the old
    2025 file with its invented KV02CI, sequences per unit id, no structure table; an officer
    and an open dossier at KV02CI, an old dossier at 02CI."""
    path = tmp_path / "old_2025.csv"
    path.write_text(OLD_2025, encoding="utf-8")
    unit_service.load_units(SEED_DIR / "customs_departments.csv", "2016")
    unit_service.load_units(path, "2025")
    with db.connection_context(), db.atomic():
        run_operations(
            _migrator().drop_index("unit", "unit_structure_code"),
            _migrator().add_index("unit", ("code",), True),
        )
        db.drop_tables([UnitStructure, DossierSequence])
        key = "SERIAL PRIMARY KEY" if is_postgres() else "INTEGER PRIMARY KEY"
        db.execute_sql(
            f"CREATE TABLE dossier_sequence (id {key}, unit_id INTEGER NOT NULL, "
            "day VARCHAR(6) NOT NULL, last INTEGER NOT NULL)"
        )
        old_unit = Unit.get(Unit.code == "02CI")
        placeholder = Unit.get(Unit.code == "KV02CI")
        db.execute_sql(
            "INSERT INTO dossier_sequence (unit_id, day, last) "
            f"VALUES ({int(old_unit.id)}, '240610', 3)"
        )
        from portal.models import SchemaVersion

        SchemaVersion.update(version=STEP - 1).execute()
        return {"old_unit": old_unit.id, "placeholder": placeholder.id}


def test_an_older_database_is_upgraded(settings, tmp_path, catalogue):
    made = make_old_database(tmp_path)
    with db.connection_context():
        officer = User.create(username="canbo", password_hash="x", full_name="Cán bộ",
                              role="officer", unit=made["placeholder"])
        enterprise = Enterprise.create(tax_code="0100112437", name="Công ty A", email="a@x.vn")
        owner = User.create(username="a@x.vn", password_hash="x", full_name="A",
                            role="enterprise", enterprise=enterprise)
        proc = Procedure.get(Procedure.code == "1.005458")
        old = Dossier.create(code="02CI-240610-0003", procedure=proc, enterprise=enterprise,
                             owner=owner, unit=made["old_unit"], status=1)
        open_ = Dossier.create(code="KV02CI-250601-0001", procedure=proc, enterprise=enterprise,
                               owner=owner, unit=made["placeholder"], status=1)
    assert migrate_schema() == (STEP - 1, LATEST)
    with db.connection_context():
        assert current_version() == LATEST
        assert {s.code for s in UnitStructure.select()} == {"2016", "2025"}
        codes_2025 = {u.code for u in Unit.select().where(Unit.structure == "2025")}
        assert branch_codes_2016() <= codes_2025
        assert Dossier.get_by_id(old.id).unit_id == made["old_unit"]  # keeps its old unit
        office = Unit.get(Unit.structure == "2025", Unit.code == "02CI")
        assert Dossier.get_by_id(open_.id).unit_id == office.id
        assert User.get_by_id(officer.id).unit_id == office.id
        assert not Unit.get_by_id(made["placeholder"]).active
        assert DossierSequence.get(DossierSequence.code == "02CI").last == 3
    when = to_utc(dt.datetime(2024, 6, 10, 9))
    with db.connection_context(), db.atomic():
        assert dossiers.next_code(office, when) == "02CI-240610-0004"
    assert migrate_schema() == (LATEST, LATEST)


def test_a_draft_begun_before_the_change_is_filed_to_the_office_that_took_over(owner):
    with db.connection_context():
        made = {
            ref: Dossier.create(
                procedure=Procedure.get(Procedure.code == "1.005458"),
                enterprise=owner.enterprise_id,
                owner=owner,
                unit=unit_service.find_unit(ref),
            )
            for ref in ("2016:02CI", "2016:02", "2016:TCHQ")
        }
    with db.connection_context(), db.atomic():
        assert dossiers._unit_today(made["2016:02CI"]).ref == "2025:02CI"
        assert dossiers._unit_today(made["2016:02"]).ref == "2025:KV02"  # its offices' branch
        with pytest.raises(ValidationError):  # nothing took over the General Department
            dossiers._unit_today(made["2016:TCHQ"])
    with db.connection_context():
        assert Dossier.get_by_id(made["2016:02CI"].id).unit.ref == "2025:02CI"
