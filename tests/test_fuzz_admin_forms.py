"""The administrator's forms, every field × the whole hostile corpus (see test_fuzz_forms.py for
the rules every answer follows): accounts, units, procedures, holidays and the catalogue
import, whose files are fuzzed too (JSON escapes of lone surrogates, bytes that are not UTF-8,
hostile cells); and the export keeps a formula typed as a name from running in a
spreadsheet."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json

from portal.db import db
from portal.models import Procedure, Unit
from portal.services import catalogue
from portal.services.units import find_unit
from tests import dossier_web_fixtures as fx
from tests import fuzz_world
from tests.fuzz_world import World, fuzz_fields, post
from tests.hostile_inputs import ACCEPTED, CORPUS, REFUSED, check_answer

forms, people, sessions, world = fx.forms, fx.people, fx.sessions, fuzz_world.world
FEW = {k: CORPUS[k] for k in ("script", "img", "long_10k", "nfd_vietnamese", "controls", "empty")}


def test_account_forms(world: World):
    s, numbers = world.actors["admin"], itertools.count(1)

    def valid() -> dict[str, str]:
        n = next(numbers)
        return {
            "username": f"fuzz{n}",
            "full_name": "Lê Thị Kiểm Thử",
            "email": f"f{n}@example.vn",
            "role": "officer",
            "unit_code": fx.UNIT,
            "tax_code": "",
            "clearance": "",
            "active": "1",
            "password": "mat-khau-rat-dai-42",
        }

    fuzz_fields(s, "/admin/users/new", valid, list(valid()), "user_create")
    fuzz_fields(s, f"/admin/users/{world.spare_user}", valid, list(valid()), "user_update")


def test_unit_forms(world: World):
    s, numbers = world.actors["admin"], itertools.count(1)
    with db.connection_context():
        spare = find_unit(world.spare_unit)
        parent = Unit.get_by_id(spare.parent_id).code if spare.parent_id else ""
        current = {
            "code": spare.code,
            "name": spare.name,
            "kind": spare.kind,
            "structure": spare.structure,
            "parent_code": parent,
            "active": "1",
        }
    fuzz_fields(
        s, f"/admin/units/{world.spare_unit}", lambda: dict(current), list(current), "unit_update"
    )
    new = lambda: {**current, "code": f"ZF{next(numbers):04d}", "name": "Chi cục thử"}  # noqa: E731
    fuzz_fields(s, "/admin/units/new", new, list(current), "unit_create")


def test_procedure_forms(world: World):
    s = world.actors["admin"]
    with db.connection_context():
        current = catalogue.form_values(Procedure.get(Procedure.code == world.spare_procedure))
    path = f"/admin/procedures/{world.spare_procedure}"
    fuzz_fields(s, path, lambda: dict(current), list(current), "procedure_update")
    numbers = itertools.count(900001)
    fuzz_fields(
        s,
        "/admin/procedures/new",
        lambda: {**current, "code": f"9.{next(numbers)}"},
        list(current),
        "procedure_create",
        strings=FEW,
    )

    # A name that a spreadsheet would run as a formula is exported as text.
    r = post(s, path, {**current, "name": CORPUS["csv_formula"]}, "formula name")
    assert r.status_code == 303
    export = s.get("/admin/catalogue/export", params={"format": "csv"})
    check_answer(export, "export", allowed={200})
    rows = {row["code"]: row for row in csv.DictReader(io.StringIO(export.text))}
    assert rows[world.spare_procedure]["name"] == "'" + CORPUS["csv_formula"]


def test_holiday_form(world: World):
    s, days = world.actors["admin"], itertools.count(1)

    def valid() -> dict[str, str]:
        return {
            "day": (dt.date(2033, 1, 1) + dt.timedelta(days=next(days))).isoformat(),
            "name": "Ngày nghỉ bù",
        }

    fuzz_fields(s, "/admin/holidays", valid, ["day", "name"], "holiday_add")


def catalogue_files(code: str) -> dict[str, tuple[str, bytes]]:
    """Hostile catalogue files: a cell of every kind of hostile string, lone surrogates as JSON
    escapes, bytes that are not UTF-8, broken CSV and JSON."""
    files = {}
    for key, value in CORPUS.items():
        if key == "long_1m":
            continue
        record = {
            "code": code,
            "name": value,
            "field": value,
            "online_level": value,
            "documents": [{"name": value, "file_types": value}],
            "steps": value,
        }
        files[f"json-{key}"] = (f"{key}.json", json.dumps([record]).encode())
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=["code", "name", "field", "online_level"])
        writer.writeheader()
        writer.writerow({"code": code, "name": value, "field": "Hải quan", "online_level": "4"})
        files[f"csv-{key}"] = (f"{key}.csv", out.getvalue().encode())
    files.update(
        {
            "json-surrogates": (
                "s.json",
                b'[{"code": "%s", "name": "\\ud800 \\udfff", '
                b'"field": "H\\udc80", "online_level": "4"}]' % code.encode(),
            ),
            "json-surrogate-key": ("k.json", b'[{"\\ud800": "x", "code": "%s"}]' % code.encode()),
            "not-utf8": ("x.csv", b"code,name\n" + code.encode() + b",\xff\xfe\xed\xa0\x80\n"),
            "nul-bytes": ("n.csv", b"code,name\x00\n" + code.encode() + b",a\x00b\n"),
            "deep-json": ("d.json", b"[" * 100_000 + b"]" * 100_000),
            "not-a-list": ("o.json", b'{"code": "1"}'),
            "broken-csv": ("b.csv", b'code,name\n"1.000001,"unclosed\n'),
            "no-header": ("h.csv", b"\n\n"),
            "huge-cell": (
                "u.csv",
                b"code,name\n" + code.encode() + b"," + b"y" * 3_000_000 + b"\n",
            ),
            "wrong-types": (
                "t.json",
                b'[{"code": 1.5, "name": null, "online_level": [4], '
                b'"documents": "x", "time_online": {"a": 1}}]',
            ),
        }
    )
    return files


def test_catalogue_import_form_and_files(world: World):
    s = world.actors["admin"]
    good = ("ok.json", b"[]")
    for key, value in CORPUS.items():  # the confirmation box, and the file's name
        r = s.post(
            "/admin/catalogue/import",
            {"confirm": value},
            files={"file": (value[:200] or "x.json", good[1], "application/json")},
        )
        check_answer(r, ("import confirm", key), allowed=ACCEPTED | REFUSED)
    for key, (name, content) in catalogue_files(world.spare_procedure).items():
        r = s.post(
            "/admin/catalogue/import",
            {"confirm": "1"},
            files={"file": (name, content, "application/octet-stream")},
        )
        check_answer(r, ("import", key), allowed=ACCEPTED | REFUSED)
        if key in ("json-surrogates", "json-surrogate-key", "not-utf8", "deep-json"):
            assert r.status_code == 422, (key, r.status_code)
    with db.connection_context():  # what was refused changed nothing
        assert "\ud800" not in Procedure.get(Procedure.code == world.spare_procedure).name
