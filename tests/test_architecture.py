"""Layering rules read from the source: services and models know nothing of HTTP, templates
or the worker (they reach it through portal.background only), no module imports its way back to
itself, functions stay short, and rows are only deleted where that is the design."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "portal"
CORE = sorted((SRC / "services").glob("*.py")) + [SRC / "models.py"]
FORBIDDEN = (
    "starlette",
    "jinja2",
    "portal.web",
    "portal.app",
    "portal.asgi",
    "portal.jobs",
    "portal.queue",
)


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
                      "def f():\n    import jinja2\n    from portal import jobs\n")
    assert sorted(m for m in imported_modules(sample) if is_forbidden(m)) == [
        "jinja2", "portal.jobs", "starlette.requests", "starlette.requests.Request"]


WEB = sorted((SRC / "web").glob("*.py"))


@pytest.mark.parametrize("path", WEB, ids=lambda p: p.name)
def test_the_web_layer_reads_data_only_through_services(path):
    """Handlers parse, call a service and render: no connection or transaction of their own
    (the models' constants and types they may name)."""
    bad = sorted(m for m in imported_modules(path)
                 if m == "portal.db" or m.startswith(("portal.db.", "peewee", "playhouse")))
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


def module_name(path: Path, src: Path) -> str:
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(src: Path) -> dict[str, set[str]]:
    """Module -> the modules of `src` it imports, at the top or inside functions
    (`from portal import jobs` counts as importing portal.jobs)."""
    paths = {module_name(p, src): p for p in src.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        found = {m for m in imported_modules(path) if m in paths}
        graph[name] = found - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of `graph`: its strongly connected parts of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = []
            while True:
                top = stack.pop()
                part.append(top)
                if top == node:
                    break
            if len(part) > 1:
                out.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_no_module_imports_its_way_back_to_itself():
    graph = import_graph(ROOT / "src")
    assert "portal.jobs" in graph["portal.app"]  # the graph sees imports between our modules
    assert cycles(graph) == []


def test_the_cycle_check_sees_imports_inside_functions(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def later():\n    from pkg import c\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text("import pkg.a\n")
    assert cycles(import_graph(tmp_path)) == [["pkg.a", "pkg.b", "pkg.c"]]


MAX_FUNCTION_LINES = 60


def long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]


def test_functions_are_short():
    """Tables are data at module level; a function longer than this is split."""
    found = [f for p in sorted(SRC.rglob("*.py")) for f in long_functions(p)]
    assert found == []


def test_the_length_check_would_catch_a_long_function(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def long():\n" + "    x = 1\n" * 60 + "\n\ndef short():\n    pass\n")
    assert long_functions(sample) == ["sample.py:long (61 lines)"]


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


def test_importing_a_module_writes_no_file(tmp_path):
    """Configuration is read at the edge (run.py, tasks.py, asgi.py): importing any other
    module of the portal creates no file, not even the queue's."""
    modules = sorted(module_name(p, ROOT / "src") for p in SRC.rglob("*.py"))
    modules = [m for m in modules if m != "portal.asgi"]  # uvicorn's entry point: the edge
    assert "portal.queue" in modules and "portal.jobs" in modules
    work = tmp_path / "work"
    work.mkdir()
    code = "".join(f"import {m}\n" for m in modules)
    result = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True,
                            text=True, env={"PYTHONPATH": str(ROOT / "src"),
                                            "PORTAL_DATA_DIR": str(work / "data")},
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert sorted(p.relative_to(work).as_posix() for p in work.rglob("*")) == []


# A template asks the view or the policy (`view.can_download(a)`, `can("unit_staff")`,
# `Status.DRAFT`); it never restates a rule with a status code, a role list or a level.
RESTATED_RULE = re.compile(
    r"status\s*(?:==|!=|<=|>=|<|>)\s*\d|\d\s*(?:==|!=|<=|>=|<|>)\s*[\w.]*status"
    r"|\.role\s*(?:==|!=|in\b|not\s+in\b)|\.actor\s*(?:==|!=|in\b|not\s+in\b)"
    r"|online_level\s*(?:==|!=|<=|>=|<|>)"
)


def restated_rules(text: str) -> list[str]:
    return [m.group(0) for m in RESTATED_RULE.finditer(text)]


@pytest.mark.parametrize("path", sorted((ROOT / "templates").rglob("*.html")),
                         ids=lambda p: p.relative_to(ROOT / "templates").as_posix())
def test_templates_ask_rules_instead_of_restating_them(path):
    assert restated_rules(path.read_text(encoding="utf-8")) == []


def test_the_template_check_would_catch_restated_rules():
    sample = ('{% if d.status == 4 %}{% if 9 > d.status %}{% if user.role in ("a",) %}'
              '{% if view.actor == "owner" %}{% if proc.online_level >= 4 %}'
              '{% if d.status == Status.DRAFT %}{% if can("admin") %}')
    assert restated_rules(sample) == ["status == 4", "9 > d.status", ".role in",
                                      ".actor ==", "online_level >="]
