"""Which form fields and query parameters a route reads, found in its endpoint's source (and in
the helpers of the same module it hands the request to), so that the fuzz tests follow the
route table as it grows instead of a list written by hand.

Recognised: `form_dict(form, NAMES)` (NAMES a module constant or a literal; without it every
submitted key is read: ALL), `form.get("x")`, `param(request, "x")`, `int_param(request, "x")`
(also with a name taken from a loop over a module constant), `request.query_params.get("x")`,
and `SomeFilters.parse(dict(request.query_params))`, whose `params.get("x")` calls are read."""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ALL = "*"


@dataclass
class Inputs:
    form: set[str] = field(default_factory=set)
    query: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)  # form fields read as uploaded files


def _strings(node: ast.AST, module: Any) -> set[str]:
    if isinstance(node, ast.Name):
        value = getattr(module, node.id, None)
        if isinstance(value, list | tuple | set | frozenset):
            return {v for v in value if isinstance(v, str)}
        return set()
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return {
            e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
        }
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    return set()


def _loop_names(tree: ast.AST, module: Any) -> dict[str, set[str]]:
    """Loop variables bound to the strings of a module constant (`for name in FIELDS`)."""
    out: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.For | ast.comprehension) and isinstance(node.target, ast.Name):
            out.setdefault(node.target.id, set()).update(_strings(node.iter, module))
    return out


def route_inputs(endpoint: Callable[..., Any]) -> Inputs:
    found = Inputs()
    seen: set[Any] = set()

    def visit(func: Any) -> None:
        if func in seen:
            return
        seen.add(func)
        module = sys.modules[func.__module__]
        source = textwrap.dedent(inspect.getsource(func))
        tree = ast.parse(source)
        loops = _loop_names(tree, module)
        reads_files = "UploadFile" in source
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            fn, args = node.func, node.args
            if isinstance(fn, ast.Name):
                if fn.id == "form_dict":
                    found.form.update(_strings(args[1], module) if len(args) > 1 else {ALL})
                elif fn.id in ("param", "int_param") and len(args) > 1:
                    name = args[1]
                    found.query.update(
                        loops.get(name.id, set())
                        if isinstance(name, ast.Name)
                        else _strings(name, module)
                    )
                else:
                    helper = getattr(module, fn.id, None)
                    if inspect.isfunction(helper) and helper.__module__ == module.__name__:
                        visit(inspect.unwrap(helper))
            elif isinstance(fn, ast.Attribute) and fn.attr == "get" and args:
                names = _strings(args[0], module)
                owner = ast.unparse(fn.value)
                if owner == "form":
                    found.form.update(names)
                    if reads_files and "file" in names:
                        found.files.add("file")
                elif owner in ("request.query_params", "params"):
                    found.query.update(names)
            elif isinstance(fn, ast.Attribute) and fn.attr == "parse":
                owner_obj = getattr(module, ast.unparse(fn.value), None)
                if owner_obj is not None and hasattr(owner_obj, "parse"):
                    visit(owner_obj.parse)

    visit(inspect.unwrap(endpoint))
    found.form -= found.files
    return found
