"""Addresses are built by route name (portal.web.urls), not written: the builder itself, and
rules read from the templates and the web layer's source so that no path is hard-coded again."""

from __future__ import annotations

import ast
import re

import pytest

from portal.config import ROOT
from portal.web.routes import routes
from portal.web.static import StaticAssets
from portal.web.urls import Urls

TEMPLATES = ROOT / "templates"
WEB = ROOT / "src" / "portal" / "web"


@pytest.fixture(scope="module")
def urls() -> Urls:
    return Urls(routes(StaticAssets(ROOT / "static"), 1024))


# --- the builder ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "query", "path"),
    [
        ("home", {}, None, "/"),
        ("procedure_list", {}, None, "/procedures"),
        ("procedure_list", {}, {"level": 4}, "/procedures?level=4"),
        ("procedure_detail", {"code": "1.005458"}, None, "/procedures/1.005458"),
        ("dossier_detail", {"dossier_id": 12}, None, "/dossiers/12"),
        ("dossier_edit", {"dossier_id": 12}, None, "/dossiers/12/edit"),
        ("dossier_save", {"dossier_id": "12"}, None, "/dossiers/12/edit"),
        ("dossier_by_code", {"code": "G02.00.99-251204-0001"}, None,
         "/dossiers/code/G02.00.99-251204-0001"),
        ("dossier_file", {"dossier_id": 3, "attachment_id": 7}, None, "/dossiers/3/files/7"),
        ("dossier_slip", {"dossier_id": 3, "slip_id": 9}, None, "/dossiers/3/slips/9"),
        ("dossier_act", {"dossier_id": 3, "action": "receive"}, None,
         "/dossiers/3/actions/receive"),
        ("admin_user_sessions_end", {"user_id": 5}, None, "/admin/users/5/sessions/end"),
        ("admin_units", {}, {"structure": "2025"}, "/admin/units?structure=2025"),
        ("dossier_new", {}, {"procedure": "1.005458"}, "/dossiers/new?procedure=1.005458"),
        ("officer_inbox", {}, {"view": "all", "q": None, "page": 2},
         "/officer/inbox?view=all&page=2"),
        ("officer_inbox", {}, {"q": None}, "/officer/inbox"),
        ("officer_inbox", {}, {}, "/officer/inbox"),
        ("statistics_csv", {}, {"from": "2025-01-01", "unit": ""},
         "/statistics.csv?from=2025-01-01&unit="),
        ("language_set", {"code": "en"}, {"next": "/dossiers?q=a b&x=1"},
         "/lang/en?next=/dossiers%3Fq%3Da%20b%26x%3D1"),
        ("upload_append", {"key": "abc"}, None, "/uploads/abc"),
    ],
)
def test_the_builder_gives_the_path(urls, name, params, query, path):
    assert urls(name, query, **params) == path


def test_a_query_is_url_encoded_and_can_repeat_a_name(urls):
    assert urls("procedure_list", {"q": "tờ khai & C/O", "x": ["1", "2"]}) == (
        "/procedures?q=t%E1%BB%9D%20khai%20%26%20C/O&x=1&x=2"
    )


def test_a_path_parameter_is_quoted(urls):
    assert urls("procedure_detail", code="a b?c#d") == "/procedures/a%20b%3Fc%23d"


def test_an_unknown_route_name_raises(urls):
    with pytest.raises(LookupError, match="dossier_details"):
        urls("dossier_details", dossier_id=1)


@pytest.mark.parametrize(
    "params",
    [{}, {"id": 1}, {"dossier_id": 1, "attachment_id": 2}],
    ids=["missing", "misnamed", "one too many"],
)
def test_a_missing_or_unknown_path_parameter_raises(urls, params):
    with pytest.raises(TypeError, match="dossier_id"):
        urls("dossier_detail", **params)


@pytest.mark.parametrize("value", ["", "a/b"])
def test_an_empty_path_parameter_or_one_with_a_slash_raises(urls, value):
    with pytest.raises(ValueError):
        urls("procedure_detail", code=value)


def test_every_route_can_be_built_and_the_path_leads_back_to_it(urls):
    table = [r for r in routes(StaticAssets(ROOT / "static"), 1024) if r.name != "static"]
    assert len(table) > 50
    for route in table:
        path = urls(route.name, **{key: "p1" for key in route.param_convertors})
        assert route.path_regex.match(path), (route.name, path)


def test_two_routes_with_one_name_are_refused():
    from starlette.routing import Route

    async def page(request):  # pragma: no cover - never called
        raise AssertionError

    with pytest.raises(ValueError, match="page"):
        Urls([Route("/a", page), Route("/b", page)])


def test_the_app_keeps_one_builder_for_templates_and_handlers(app):
    assert isinstance(app.state.urls, Urls)
    assert app.state.templates.env.globals["url"] is app.state.urls
    page = app.state.templates.env.from_string(
        "{{ url('dossier_edit', dossier_id=7) }}|{{ url('admin_holidays', {'year': 2026}) }}"
    )
    assert page.render() == "/dossiers/7/edit|/admin/holidays?year=2026"


# --- no path written in a template --------------------------------------------------------

# An attribute whose value is an address: it starts with {{ url(...) }}, {{ static(...) }},
# "#..." or an external address, never with a literal "/".
ADDRESS_ATTRIBUTE = re.compile(
    r"""\s((?:href|action|src|formaction|hx-[a-z-]+|data-[a-z-]+)\s*=\s*["']\s*/)""", re.I
)
JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
# A string literal in a Jinja expression that looks like a path ("/admin/users", '/x/' ~ id);
# a lone "/" (as in `split("/")`) is not one.
PATH_STRING = re.compile(r"""(["'])/[\w.~-][^"']*\1""")
JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)


def hard_coded_paths_in_template(text: str) -> list[tuple[int, str]]:
    """(line, what) of each attribute that starts with a literal "/" and of each path-like
    string literal inside a {{ }} or {% %} tag."""
    text = JINJA_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    found = []
    for m in ADDRESS_ATTRIBUTE.finditer(text):
        found.append((text.count("\n", 0, m.start(1)) + 1, m.group(1)))
    for tag in JINJA_TAG.finditer(text):
        for m in PATH_STRING.finditer(tag.group(0)):
            found.append((text.count("\n", 0, tag.start() + m.start()) + 1, m.group(0)))
    return sorted(found)


TEMPLATE_FILES = sorted(TEMPLATES.rglob("*.html"))


def test_the_templates_are_found():
    names = {p.relative_to(TEMPLATES).as_posix() for p in TEMPLATE_FILES}
    assert {"base.html", "dossiers/detail.html", "_macros/forms.html"} <= names


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: p.relative_to(TEMPLATES).as_posix())
def test_templates_build_addresses_with_url(path):
    assert hard_coded_paths_in_template(path.read_text(encoding="utf-8")) == []


def test_the_template_check_would_catch_a_written_path():
    sample = """{# a comment may say href="/x" #}
<a href="/dossiers/{{ d.id }}/edit">x</a> <a href="{{ url('home') }}">home</a>
<form method="post" action='/login' data-hx-post="/login">
<a class="x" data-hx-get="/officer/inbox?view={{ v }}" data-tus="/dossiers/1/uploads">
<link href="{{ static('css/app.css') }}"> <a href="#main"> <a href="https://example.org/">
{% call filter_form("/admin/users") %}{% endcall %} {{ a.content_type.split("/")[-1] }}
<form action="{{ '/admin/units/' ~ original if original else url('admin_unit_create') }}">
"""
    assert hard_coded_paths_in_template(sample) == [
        (2, 'href="/'),
        (3, "action='/"),
        (3, 'data-hx-post="/'),
        (4, 'data-hx-get="/'),
        (4, 'data-tus="/'),
        (6, '"/admin/users"'),
        (7, "'/admin/units/'"),
    ]


# --- no path written in a redirect or a Location header ------------------------------------

LOCATION_HEADERS = {"location", "hx-location", "hx-redirect", "hx-push-url", "hx-replace-url"}


def _path_literals(node: ast.AST, assigned: dict[str, list[ast.expr]], seen=()) -> list[str]:
    """The string literals starting with "/" in the expression `node` (an f-string by its
    first part), following the names assigned in the same function."""
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) and node.value.startswith("/") else []
    if isinstance(node, ast.JoinedStr):
        first = node.values[0] if node.values else None
        is_path = isinstance(first, ast.Constant) and str(first.value).startswith("/")
        return [ast.unparse(node)] if is_path else []
    if isinstance(node, ast.Name) and node.id in assigned and node.id not in seen:
        return [found for value in assigned[node.id]
                for found in _path_literals(value, assigned, (*seen, node.id))]
    return [found for child in ast.iter_child_nodes(node)
            for found in _path_literals(child, assigned, seen)]


def _assignments(scope: ast.AST) -> dict[str, list[ast.expr]]:
    names: dict[str, list[ast.expr]] = {}
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names.setdefault(target.id, []).append(node.value)
        elif (isinstance(node, ast.AnnAssign | ast.AugAssign) and node.value is not None
              and isinstance(node.target, ast.Name)):
            names.setdefault(node.target.id, []).append(node.value)
    return names


def _is_location(key: ast.AST | None) -> bool:
    return (isinstance(key, ast.Constant) and isinstance(key.value, str)
            and key.value.lower() in LOCATION_HEADERS)


def hard_coded_redirects(source: str) -> list[tuple[int, str]]:
    """(line, literal) of each path written in a RedirectResponse's address or in a
    Location-like header (a dict entry or a `headers[...] =` assignment)."""
    tree = ast.parse(source)
    functions = [n for n in ast.walk(tree)
                 if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    scopes = [(tree, {})] + [(f, _assignments(f)) for f in functions]
    found: set[tuple[int, str]] = set()
    for scope, assigned in scopes:
        for node in ast.walk(scope):
            targets: list[ast.AST] = []
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if name == "RedirectResponse":
                    targets += node.args[:1] + [k.value for k in node.keywords if k.arg == "url"]
            elif isinstance(node, ast.Dict):
                pairs = zip(node.keys, node.values, strict=True)
                targets += [value for key, value in pairs if _is_location(key)]
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Subscript) and _is_location(t.slice) for t in node.targets
            ):
                targets.append(node.value)
            for target in targets:
                for literal in _path_literals(target, assigned):
                    found.add((target.lineno, literal))
    return sorted(found)


WEB_FILES = sorted(WEB.glob("*.py"))


def test_the_web_modules_and_their_redirects_are_found():
    names = {p.name for p in WEB_FILES}
    assert {"dossiers.py", "dossier_actions.py", "auth.py", "security.py", "urls.py"} <= names
    calls = sum(p.read_text(encoding="utf-8").count("RedirectResponse(") for p in WEB_FILES)
    assert calls > 20


@pytest.mark.parametrize("path", WEB_FILES, ids=lambda p: p.name)
def test_handlers_redirect_with_url(path):
    assert hard_coded_redirects(path.read_text(encoding="utf-8")) == []


def test_the_redirect_check_would_catch_a_written_path():
    sample = '''
async def a(request):
    return RedirectResponse("/dossiers", 303)

async def b(request, did):
    if did:
        return responses.RedirectResponse(f"/dossiers/{did}/edit", status_code=303)
    return RedirectResponse(url=f"/login?next={did}")

async def c(request, did, admin):
    back = f"/dossiers/{did}" if did else url(request, "home")
    default = "/admin" if admin else "/"
    if admin:
        return RedirectResponse(back + "#doc-1", 303)
    return RedirectResponse(safe_next(request.query_params.get("next"), default), 303)

async def d(request, upload, response):
    response.headers["HX-Location"] = "/officer/inbox"
    return _tus(201, {"Location": f"/uploads/{upload.key}", "Upload-Offset": "0"})

async def fine(request, did):
    response = RedirectResponse(url(request, "dossier_detail", dossier_id=did) + "#doc-2", 303)
    response.headers["Location"] = url(request, "home")
    return {"Location": url(request, "upload_append", key="k"), "Other": "/x"}
'''
    assert hard_coded_redirects(sample) == [
        (3, "/dossiers"),
        (7, "f'/dossiers/{did}/edit'"),
        (8, "f'/login?next={did}'"),
        (14, "f'/dossiers/{did}'"),
        (15, "/"),
        (15, "/admin"),
        (18, "/officer/inbox"),
        (19, "f'/uploads/{upload.key}'"),
    ]
