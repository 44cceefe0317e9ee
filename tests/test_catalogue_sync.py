"""Catalogue sync from the national catalogue's export (services/catalogue_sync.py): a dry
run says what would change and changes nothing; the import updates names, levels and time
limits, all or nothing, on the record; the command line does both."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal.db import db
from portal.models import DossierEvent, Procedure, ProcessingTime
from portal.services import catalogue_sync
from portal.services.catalogue_files import CatalogueFileError

ROOT = Path(__file__).resolve().parents[1]
HEADER = ["ma_tthc", "ten", "muc_do", "cap_thuc_hien", "kenh_thoi_han"]
NEW_NAME = "Thủ tục hủy tờ khai hải quan (sửa đổi)"


def export_csv(*rows: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode()


def proc(code: str) -> tuple[Procedure, dict[str, tuple[int | None, str]]]:
    with db.connection_context():
        p = Procedure.get(Procedure.code == code)
        times = {t.channel: (t.amount, t.unit) for t in
                 ProcessingTime.select().where(ProcessingTime.procedure == p)}
    return p, times


EXPORT = export_csv(
    ["1.005458", NEW_NAME, "một phần", "Cấp bộ/ngành",
     "Trực tuyến: 3 ngày làm việc; Trực tiếp: 10 ngày"],
    ["1.007807", "", "", "", ""],
    ["9.999999", "Thủ tục chưa có", "4", "", ""],
)


def test_a_dry_run_lists_the_changes_and_changes_nothing(catalogue):
    before = proc("1.005458")
    plan = catalogue_sync.dry_run(EXPORT, "csv")
    changed = {(c.code, c.what): (c.before, c.after) for c in plan.changes}
    assert changed[("1.005458", "name")][1] == NEW_NAME
    assert changed[("1.005458", "online_level")] == (str(before[0].online_level), "3")
    assert changed[("1.005458", "implementing_level")][1] == "Cấp bộ/ngành"
    assert changed[("1.005458", "time_online")][1] == "3 ngày làm việc"
    assert changed[("1.005458", "time_in_person")][1] == "10 ngày"
    assert {c.code for c in plan.changes} == {"1.005458"}  # an empty cell changes nothing
    assert plan.unknown == ["9.999999"] and plan.records == 3
    assert len(plan.missing) == 189 - 2
    assert proc("1.005458") == before


def test_the_import_applies_the_changes_on_the_record(catalogue):
    plan = catalogue_sync.apply(EXPORT, "csv")
    assert plan.procedures == 1
    p, times = proc("1.005458")
    assert (p.name, p.online_level, p.implementing_level) == (NEW_NAME, 3, "Cấp bộ/ngành")
    assert times["online"] == (3, "working_days") and times["in_person"] == (10, "days")
    with db.connection_context():
        assert not Procedure.select().where(Procedure.code == "9.999999").exists()
        event = DossierEvent.get(DossierEvent.action == "catalogue_synced")
    assert "1.005458" in event.note
    again = catalogue_sync.dry_run(EXPORT, "csv")
    assert again.changes == []  # applied: nothing left to change


def test_the_json_export_shape_is_read_too(catalogue):
    data = {"data": [{"ma_tthc": "1.005458", "muc_do": "toàn trình", "ten": None},
                     {"ma_tthc": "1.007807", "muc_do": 2}]}
    plan = catalogue_sync.apply(json.dumps(data, ensure_ascii=False).encode(), "json")
    assert {(c.code, c.what, c.after) for c in plan.changes} >= {("1.007807", "online_level", "2")}
    assert proc("1.007807")[0].online_level == 2 and proc("1.005458")[0].online_level == 4


@pytest.mark.parametrize(("content", "fmt", "column"), [
    (export_csv(["1.5458", "x", "", "", ""]), "csv", "ma_tthc"),
    (export_csv(["1.005458", "x", "5", "", ""]), "csv", "muc_do"),
    (export_csv(["1.005458", "", "", "", "Qua mạng: 3 ngày"]), "csv", "kenh_thoi_han"),
    (export_csv(["1.005458", "", "", "", ""], ["1.005458", "", "", "", ""]), "csv", "ma_tthc"),
    (b"code,name\n1.005458,x\n", "csv", "file"),
    (b'{"items": []}', "json", "file"),
    (b"\xff\xfe", "csv", "file"),
    (b"[]", "xml", "format"),
])
def test_a_bad_export_changes_nothing_and_says_where(catalogue, content, fmt, column):
    before = proc("1.005458")
    with pytest.raises(CatalogueFileError) as exc:
        catalogue_sync.apply(content, fmt)
    assert column in [problem[1] for problem in exc.value.problems]
    assert proc("1.005458") == before


def run_cli(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PORTAL_DATA_DIR": str(tmp_path / "cli-data"),
           "DATABASE_URL": database_url, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_the_command_line_runs_a_dry_run_then_the_import(catalogue, tmp_path, database_url):
    export = tmp_path / "tthc.csv"
    export.write_bytes(EXPORT)
    dry = run_cli(tmp_path, database_url, "sync-catalogue", str(export), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Would change 1 of 3 procedures (5 changes)" in dry.stdout
    assert "1.005458 name: " in dry.stdout and "9.999999: not in" in dry.stdout
    assert proc("1.005458")[0].name != NEW_NAME
    done = run_cli(tmp_path, database_url, "sync-catalogue", str(export))
    assert done.returncode == 0, done.stderr
    assert "Changed 1 of 3 procedures" in done.stdout
    assert proc("1.005458")[0].name == NEW_NAME
    bad = tmp_path / "bad.csv"
    bad.write_bytes(export_csv(["oops", "", "", "", ""]))
    refused = run_cli(tmp_path, database_url, "sync-catalogue", str(bad))
    assert refused.returncode == 1 and "record 1, ma_tthc" in refused.stderr
