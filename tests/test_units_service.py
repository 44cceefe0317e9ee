"""The organisational tree: the 2016 and 2025 structures, tree order, edits, unit files."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.db import db
from portal.models import Unit
from portal.services.errors import NotFound, ValidationError
from portal.services.seed import SEED_DIR
from portal.services.units import get_unit, load_units, read_unit_file, save_unit, unit_tree


def children(code: str) -> list[Unit]:
    with db.connection_context():
        parent = Unit.get(Unit.code == code)
        return list(Unit.select().where(Unit.parent == parent).order_by(Unit.code))


def test_2016_structure_has_35_departments_under_tchq(units):
    departments = children("TCHQ")
    assert len(departments) == 35
    assert all(u.kind == "department" and u.structure == "2016" for u in departments)
    assert all(u.name.startswith("Cục Hải quan") for u in departments)
    assert get_unit("TCHQ").name == "Tổng cục Hải quan"
    assert get_unit("TCHQ").parent is None


def test_2016_branches_sit_under_their_department_with_names_spelled_out(units):
    branch = get_unit("2016:02CI")
    assert branch.kind == "branch" and branch.parent.code == "02"
    assert branch.name.startswith("Chi cục Hải quan")
    assert branch.name == "Chi cục Hải quan Cửa khẩu Cảng Sài Gòn khu vực I"
    assert get_unit("2016:01AB").name == "Chi cục Hải quan Cửa khẩu Sân bay quốc tế Nội Bài"
    assert {u.code for u in children("02")} >= {"02CI", "02AB", "02CX"}
    with db.connection_context():
        branches = list(Unit.select().where(Unit.structure == "2016", Unit.kind == "branch"))
    assert branches and all(b.name.startswith("Chi cục Hải quan ") for b in branches)
    assert not any(" CC HQ " in b.name or " KV " in b.name for b in branches)


def test_2025_structure_has_20_regional_branches_under_chq(units):
    regional = children("CHQ")
    assert [u.code for u in regional] == [f"KV{n:02d}" for n in range(1, 21)]
    assert all(u.structure == "2025" and u.name.startswith("Chi cục Hải quan khu vực")
               for u in regional)
    office = get_unit("2025:02CI")  # the office kept its VNACCS code
    assert office.parent.code == "KV02" and office.name.startswith("Hải quan ")
    assert get_unit("2016:02CI").structure == "2016"


def test_loading_twice_changes_nothing(units):
    before = [(d, u.code, u.name, u.parent_id) for d, u in unit_tree()]
    load_units(SEED_DIR / "customs_departments.csv", "2016")
    assert [(d, u.code, u.name, u.parent_id) for d, u in unit_tree()] == before


def test_unit_tree_order_and_depths(units):
    tree = unit_tree("2016")
    with db.connection_context():
        assert len(tree) == Unit.select().where(Unit.structure == "2016").count()
    assert tree[0][0] == 0 and tree[0][1].code == "TCHQ"
    assert [d for d, _ in tree].count(0) == 1
    seen: dict[int, int] = {}
    for depth, unit in tree:
        expected = {"administration": 0, "department": 1, "branch": 2}[unit.kind]
        assert depth == expected
        if unit.parent_id is not None:
            assert seen[unit.parent_id] == depth - 1  # parents come before their children
        seen[unit.id] = depth
    departments = [u.code for d, u in tree if d == 1]
    assert departments == sorted(departments)
    codes = [u.code for _, u in tree]
    assert codes[codes.index("02") + 1] == "02AB"  # the first of 02's branches follows it


def test_unit_tree_of_both_structures_has_two_roots(units):
    roots = [u.code for d, u in unit_tree() if d == 0]
    assert sorted(roots) == ["CHQ", "TCHQ"]
    assert {u.ref for _, u in unit_tree("2025")} & {u.ref for _, u in unit_tree("2016")} == set()
    branches = {u.code for _, u in unit_tree("2016") if u.kind == "branch"}
    assert branches <= {u.code for _, u in unit_tree("2025") if u.kind == "branch"}


def unit_form(**changes: str) -> dict[str, str]:
    data = {"code": "02ZZ", "name": "Chi cục Hải quan Thử nghiệm", "kind": "branch",
            "structure": "2016", "parent_code": "02", "active": "1"}
    data.update(changes)
    return data


def test_save_unit_creates_and_updates(units):
    created = save_unit(unit_form())
    assert get_unit("02ZZ").parent.code == "02" and created.active
    save_unit(unit_form(code="02ZY", parent_code="01", active=""), original_code="02ZZ")
    moved = get_unit("02ZY")
    assert moved.parent.code == "01" and moved.active is False
    with pytest.raises(NotFound):
        get_unit("02ZZ")


@pytest.mark.parametrize(("changes", "field"), [
    ({"code": "a"}, "code"),
    ({"code": "02-ZZ"}, "code"),
    ({"code": "02ci"}, "code"),
    ({"kind": "ministry"}, "kind"),
    ({"structure": "2030"}, "structure"),
    ({"parent_code": "ZZ99"}, "parent_code"),
    ({"parent_code": ""}, "parent_code"),
    ({"code": "02CI"}, "code"),  # taken
])
def test_save_unit_refusals(units, changes, field):
    with pytest.raises(ValidationError) as exc:
        save_unit(unit_form(**changes))
    assert field in exc.value.errors
    with pytest.raises(NotFound):
        get_unit("02ZZ")


@pytest.mark.parametrize("new_parent", ["02", "02CI"])
def test_a_unit_cannot_be_placed_under_itself_or_its_descendant(units, new_parent):
    department = get_unit("02")
    data = unit_form(code="02", name=department.name, kind="department", parent_code=new_parent)
    with pytest.raises(ValidationError) as exc:
        save_unit(data, original_code="02")
    assert "parent_code" in exc.value.errors
    assert get_unit("02").parent.code == "TCHQ"


def test_the_root_needs_no_parent(settings):
    root = save_unit(unit_form(code="ROOT", name="Gốc", kind="administration", parent_code=""))
    assert root.parent is None
    with pytest.raises(NotFound):
        save_unit(unit_form(), original_code="NOPE")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "units.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_generic_unit_file_loads(settings, tmp_path):
    path = write(tmp_path, "code,name,kind,parent_code\n"
                           "HQX,Hải quan thử,administration,\n"
                           "HQX01,Chi cục một,department,HQX\n"
                           "HQX01A,Đội một,branch,HQX01\n")
    assert [r.code for r in read_unit_file(path)] == ["HQX", "HQX01", "HQX01A"]
    assert load_units(path, "2025") == 3
    assert [(d, u.code) for d, u in unit_tree("2025")] == [(0, "HQX"), (1, "HQX01"), (2, "HQX01A")]
    assert get_unit("HQX01A").name == "Đội một"


@pytest.mark.parametrize("text", [
    "code,name,kind,parent_code\nHQX01,Chi cục,department,HQX\nHQX,Gốc,administration,\n",
    "code,name,kind,parent_code\nHQX,Gốc,administration,\nhq-1,Sai mã,branch,HQX\n",
    "code,name,kind,parent_code\nHQX,Gốc,administration,\nHQX1,Sai loại,team,HQX\n",
    "ma,ten\nHQX,Gốc\n",
])
def test_bad_unit_files_load_nothing(settings, tmp_path, text):
    with pytest.raises(ValueError):
        load_units(write(tmp_path, text), "2025")
    assert unit_tree() == []


def test_unknown_structure_is_refused(settings, tmp_path):
    path = write(tmp_path, "code,name,kind,parent_code\nHQX,Gốc,administration,\n")
    with pytest.raises(ValueError):
        load_units(path, "1999")
