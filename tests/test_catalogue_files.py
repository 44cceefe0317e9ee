"""Catalogue import and export (CSV and JSON): round trips, formula injection, refusals."""

from __future__ import annotations

import csv
import io
import json
import unicodedata

import pytest

from portal.db import db
from portal.models import Procedure, ProcessingTime, RequiredDocument
from portal.services.catalogue import form_values, get_procedure, save_procedure
from portal.services.catalogue_files import (
    COLUMNS,
    CatalogueFileError,
    export_catalogue,
    export_records,
    import_catalogue,
)
from portal.services.errors import NotFound

# Most tests work on the seeded catalogue (a fresh copy each).
seeded = pytest.mark.usefixtures("catalogue")
SEEDED = 189


def drop_catalogue() -> None:
    with db.connection_context(), db.atomic():
        ProcessingTime.delete().execute()
        RequiredDocument.delete().execute()
        Procedure.delete().execute()


def procedure_count() -> int:
    with db.connection_context():
        return Procedure.select().count()


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def csv_text(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def problem_keys(exc: CatalogueFileError) -> set[tuple[int, str]]:
    return {(number, field) for number, field, _ in exc.problems}


@seeded
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_then_import_into_an_empty_catalogue_round_trips(fmt):
    exported = export_catalogue(fmt)
    drop_catalogue()
    assert procedure_count() == 0
    assert import_catalogue(exported.encode(), fmt) == SEEDED
    assert procedure_count() == SEEDED
    assert export_catalogue(fmt) == exported


@seeded
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_reimporting_updates_in_place(fmt):
    exported = export_catalogue(fmt)
    assert import_catalogue(exported.encode(), fmt) == SEEDED
    assert procedure_count() == SEEDED
    assert export_catalogue(fmt) == exported


@seeded
def test_csv_and_json_hold_the_same_records():
    records = export_records()
    assert len(records) == SEEDED
    as_json = json.loads(export_catalogue("json"))
    assert as_json == records
    rows = csv_rows(export_catalogue("csv"))
    assert [r["code"] for r in rows] == [r["code"] for r in records]
    assert list(rows[0]) == COLUMNS
    cancel = next(r for r in rows if r["code"] == "1.005458")
    assert cancel["name"] == "Thủ tục huỷ tờ khai hải quan"
    assert cancel["documents"].splitlines()[0].startswith("Văn bản đề nghị hủy tờ khai")


@seeded
def test_json_import_from_one_catalogue_into_another_copies_documents_and_times():
    before = get_procedure("1.005458")
    docs_before = [(d.name, d.mandatory, d.file_types, d.multiple) for d in before.documents]
    times_before = {(t.channel, t.amount, t.unit) for t in before.times}
    exported = export_catalogue("json").encode()
    drop_catalogue()
    import_catalogue(exported, "json")
    after = get_procedure("1.005458")
    assert [(d.name, d.mandatory, d.file_types, d.multiple) for d in after.documents] == docs_before
    assert {(t.channel, t.amount, t.unit) for t in after.times} == times_before
    assert after.demo == before.demo


@seeded
def test_csv_formula_injection_is_neutralised_and_reversed():
    targets = {"1.005458": "=", "3.000143": "+", "2.002184": "-", "1.001320": "@"}
    names = {}
    for code, start in targets.items():
        names[code] = f"{start}HYPERLINK(\"http://evil.example\",\"Bấm\") thủ tục {code}"
        save_procedure({**form_values(get_procedure(code)), "name": names[code]},
                       original_code=code)
    exported = export_catalogue("csv")
    rows = {r["code"]: r for r in csv_rows(exported)}
    for code, name in names.items():
        assert rows[code]["name"] == "'" + name
    assert not any(v.startswith(("=", "+", "-", "@")) for r in rows.values() for v in r.values())
    drop_catalogue()
    import_catalogue(exported.encode(), "csv")
    for code, name in names.items():
        assert get_procedure(code).name == name
    assert export_catalogue("csv") == exported


@seeded
def test_json_export_is_not_quoted_against_formulas():
    name = "=1+2 thủ tục"
    save_procedure({**form_values(get_procedure("1.005458")), "name": name},
                   original_code="1.005458")
    record = next(r for r in json.loads(export_catalogue("json")) if r["code"] == "1.005458")
    assert record["name"] == name


@seeded
def test_value_starting_with_a_quote_survives_a_csv_round_trip():
    name = "'=quoted on purpose"
    save_procedure({**form_values(get_procedure("1.005458")), "name": name},
                   original_code="1.005458")
    exported = export_catalogue("csv")
    drop_catalogue()
    import_catalogue(exported.encode(), "csv")
    assert get_procedure("1.005458").name == name


@seeded
def test_one_bad_record_imports_nothing():
    rows = csv_rows(export_catalogue("csv"))[:3]
    rows[0] = {**rows[0], "code": "9.000001", "name": "Thủ tục mới"}  # valid, new
    rows[1] = {**rows[1], "name": "Đổi tên hợp lệ"}  # valid change
    rows[2] = {**rows[2], "national_url": "ftp://example.vn", "online_level": "9"}
    unchanged = get_procedure(rows[1]["code"]).name
    with pytest.raises(CatalogueFileError) as exc:
        import_catalogue(csv_text(rows), "csv")
    assert problem_keys(exc.value) == {(3, "national_url"), (3, "online_level")}
    assert get_procedure(rows[1]["code"]).name == unchanged
    with pytest.raises(NotFound):
        get_procedure("9.000001")
    assert procedure_count() == SEEDED


@seeded
def test_one_bad_json_record_imports_nothing_into_an_empty_catalogue():
    records = json.loads(export_catalogue("json"))[:4]
    records[3]["code"] = "1-23"
    records[3]["documents"] = [{"name": "Đơn", "file_types": "pdf,exe"}]
    drop_catalogue()
    with pytest.raises(CatalogueFileError) as exc:
        import_catalogue(json.dumps(records).encode(), "json")
    assert problem_keys(exc.value) == {(4, "code"), (4, "documents")}
    assert procedure_count() == 0


@seeded
def test_duplicate_codes_are_refused():
    rows = csv_rows(export_catalogue("csv"))[:2]
    rows[1] = {**rows[1], "code": rows[0]["code"]}
    with pytest.raises(CatalogueFileError) as exc:
        import_catalogue(csv_text(rows), "csv")
    [(number, field, message)] = exc.value.problems
    assert (number, field) == (0, "code") and "twice" in message.text


@pytest.mark.usefixtures("settings")
@pytest.mark.parametrize(("content", "fmt", "words"), [
    (b'[{"code": "1.005458",', "json", "not valid"),
    (b'{"code": "1.005458"}', "json", "must be a list"),
    (b'["1.005458"]', "json", "must be a list"),
    ("code,name\n1.005458,Thủ tục\n".encode("utf-16"), "csv", "UTF-8"),
    (unicodedata.normalize("NFD", "code,name\n1.005458,Thủ tục hải quan\n").encode("cp1258"),
     "csv", "UTF-8"),  # Windows' Vietnamese code page
    (b"ma,ten\n1.005458,x\n", "csv", "header row"),
    (b"", "csv", "header row"),
    (b"[]", "xml", "CSV or JSON"),
])
def test_unreadable_files_are_refused_with_a_clear_message(content, fmt, words):
    with pytest.raises(CatalogueFileError) as exc:
        import_catalogue(content, fmt)
    [(number, _field, message)] = exc.value.problems
    assert number == 0
    assert words in message.text
    assert procedure_count() == 0


@pytest.mark.usefixtures("settings")
def test_invalid_json_names_the_line():
    with pytest.raises(CatalogueFileError) as exc:
        import_catalogue(b'[\n{"code": "1.005458",\n', "json")
    assert exc.value.problems[0][2].params["line"] == 3


@seeded
def test_csv_with_a_byte_order_mark_is_read():
    exported = export_catalogue("csv")
    assert import_catalogue(b"\xef\xbb\xbf" + exported.encode(), "csv") == SEEDED
    assert export_catalogue("csv") == exported


@seeded
def test_unknown_demo_fields_are_dropped_on_import():
    rows = csv_rows(export_catalogue("csv"))[:1]
    rows[0] = {**rows[0], "demo_fields": "steps,fee_text,not_a_column"}
    import_catalogue(csv_text(rows), "csv")
    assert get_procedure(rows[0]["code"]).demo == {"steps", "fee_text"}
