"""Layering rules read from the source: services and models know nothing of HTTP or templates,
and rows are only deleted where that is the design."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "portal"
CORE = sorted((SRC / "services").glob("*.py")) + [SRC / "models.py"]
FORBIDDEN = ("starlette", "jinja2", "portal.web", "portal.app", "portal.asgi")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def is_forbidden(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FORBIDDEN)


def test_the_core_modules_are_found():
    names = {p.name for p in CORE}
    assert {"accounts.py", "catalogue.py", "units.py", "policy.py", "models.py"} <= names


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_services_and_models_do_not_import_the_web_layer(path):
    bad = sorted(m for m in imported_modules(path) if is_forbidden(m))
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


def test_the_check_would_catch_an_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom starlette.requests import Request\n"
                      "def f():\n    import jinja2\n")
    assert sorted(m for m in imported_modules(sample) if is_forbidden(m)) == [
        "jinja2", "starlette.requests", "starlette.requests.Request"]


def test_importing_every_service_loads_neither_starlette_nor_jinja2(tmp_path):
    modules = [f"portal.services.{p.stem}" for p in CORE if p.parent.name == "services"]
    code = ("import sys\n"
            + "".join(f"import {m}\n" for m in modules)
            + "import portal.models\n"
            + "print(sorted(m for m in sys.modules if m.split('.')[0] in "
              "('starlette', 'jinja2') or m.startswith('portal.web')))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, env={"PYTHONPATH": str(ROOT / "src"),
                                            "PORTAL_DATA_DIR": str(tmp_path)},
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# Rows that are never deleted: accounts, units, enterprises and procedures are deactivated or
# kept (other rows point at them with ON DELETE RESTRICT), and the official history is
# append-only (its events are never updated either). `x.delete_instance()` gives no model
# name to check, so it is allowed only in the modules that own short-lived rows.
NEVER_DELETED = {"SchemaVersion", "Unit", "User", "Enterprise", "Procedure", "DossierEvent",
                 "HistoryHead"}
NEVER_UPDATED = {"DossierEvent"}
INSTANCE_DELETES_ALLOWED_IN = {"services/dossiers.py"}  # drafts and their attachments


def writes(path: Path) -> set[tuple[str, str, str]]:
    """(file, receiver, method) of every `.delete()`, `.delete_instance()` and `.update()`
    call in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(SRC).as_posix() if SRC in path.parents else path.name
    return {(rel, ast.unparse(node.func.value), node.func.attr) for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("delete", "delete_instance", "update")}


def test_rows_are_deleted_only_where_intended():
    paths = sorted(SRC.rglob("*.py")) + [ROOT / "run.py", ROOT / "tasks.py"]
    found = set().union(*(writes(p) for p in paths))
    assert ("services/accounts.py", "UserSession", "delete") in found  # the check sees calls
    bad = sorted(
        (rel, receiver, method) for rel, receiver, method in found
        if (method == "delete" and receiver in NEVER_DELETED)
        or (method == "update" and receiver in NEVER_UPDATED)
        or (method == "delete_instance" and rel not in INSTANCE_DELETES_ALLOWED_IN))
    assert bad == []


def test_history_events_have_no_update_or_delete_path():
    """The processing history is append-only: no code updates or deletes DossierEvent rows."""
    offending = []
    for path in sorted(SRC.rglob("*.py")) + [ROOT / "run.py", ROOT / "tasks.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("update", "delete", "delete_instance", "replace",
                                           "insert_many", "save")
                    and "DossierEvent" in ast.unparse(node.func.value)):
                offending.append(f"{path.name}:{node.lineno}")
    assert offending == []


def test_the_write_check_sees_model_and_instance_calls(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("User.delete().where(User.id == 1).execute()\n"
                      "DossierEvent.update(kind='x').execute()\nrow.delete_instance()\n")
    assert writes(sample) == {("sample.py", "User", "delete"),
                              ("sample.py", "DossierEvent", "update"),
                              ("sample.py", "row", "delete_instance")}
