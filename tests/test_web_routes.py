"""Checks over the whole route table: every route has an access rule, every POST needs the
CSRF token, no GET answers with a server error, static assets are fingerprinted, cached and
compressed, HTML is compressed, and failures never show a traceback."""

from __future__ import annotations

import gc
import gzip
import hashlib
import html
import re

import brotli
import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from portal import i18n
from portal.app import create_app
from portal.config import ROOT
from portal.db import db
from portal.models import ApiClient, NationalMessage, ProcedureForm, RegisteredSigner
from portal.services import api_clients, procedure_forms, signers
from portal.services.access import Ctx
from portal.services.policy import RULES
from portal.web.security import guard
from portal.web.static import IMMUTABLE
from tests.helpers import HX, csrf_from
from tests.pki import self_signed_pem
from tests.sync_fixtures import bare_dossier, failed_messages

PASSWORD = "correct-horse-42"  # the make_user fixture's password
CSS_RE = re.compile(r'<link rel="stylesheet" href="(/static/css/portal\.([0-9a-f]{12})\.css)">')
JS_RE = re.compile(r'<script src="(/static/vendor/htmx-4\.0\.1\.min\.([0-9a-f]{12})\.js)" defer>')


def tr(msgid: str) -> str:
    return i18n.translations("vi").gettext(msgid)


def app_routes(app) -> list[Route]:
    routes = [r for r in app.routes if r.name != "static"]
    assert all(isinstance(r, Route) for r in routes)
    return routes


def real_values(route: Route, user_id: int) -> dict[str, str]:
    """Real values for the parameters this file knows (a user, a unit, a procedure, a
    language); a route with other parameters is missing from the result."""
    values = {}
    for name in route.param_convertors:
        if name == "user_id":
            values[name] = str(user_id)
        elif name == "code" and route.path.startswith("/admin/units"):
            values[name] = "02CI"
        elif name == "code" and route.path.startswith("/lang"):
            values[name] = "en"
        elif name == "code" and "/procedures/" in route.path:
            values[name] = "1.005458"
        elif name in ("form_id", "sha"):
            with db.connection_context():  # a form file of 1.005458, where a test attached one
                form = ProcedureForm.select().order_by(ProcedureForm.id).first()
            if form is not None:
                values[name] = str(form.id) if name == "form_id" else form.sha256[:16]
        elif name == "key_id":
            with db.connection_context():  # an API client, where a test registered one
                client = ApiClient.select().order_by(ApiClient.id).first()
            if client is not None:
                values[name] = client.key_id
        elif name == "signer_id":
            with db.connection_context():  # where a test registered one
                signer = RegisteredSigner.select().order_by(RegisteredSigner.id).first()
            if signer is not None:
                values[name] = str(signer.id)
        elif name == "message_id":
            with db.connection_context():  # a failed status-sync message, where a test made one
                message = NationalMessage.get_or_none(NationalMessage.state == "failed")
            if message is not None:
                values[name] = str(message.id)
    return values


def path_of(route: Route, user_id: int) -> tuple[str, bool]:
    """The route's path with real values where this file knows them, else placeholders
    (an id that does not exist, a word); and whether every value is real."""
    values = real_values(route, user_id)
    complete = len(values) == len(route.param_convertors)
    for name in route.param_convertors:
        values.setdefault(name, "999999" if name.endswith("_id") else "x")
    return route.url_path_for(route.name, **values), complete


def signed_in(client: TestClient) -> bool:
    return 'action="/logout"' in client.get("/").text


# --- access rules ---------------------------------------------------------------------------


def test_every_route_names_an_access_rule(app):
    routes = app_routes(app)
    assert len(routes) >= 25
    missing = [r.path for r in routes if getattr(r.endpoint, "access_rule", None) not in RULES]
    assert missing == [], f"routes without a guard(rule): {missing}"


PUBLIC = {"/", "/healthz", "/robots.txt", "/favicon.ico", "/lang/{code}", "/login", "/logout",
          "/register", "/procedures",
          "/procedures/{code}"}


def test_admin_routes_admit_only_admins_and_the_public_ones_everybody(app):
    paths = {r.path for r in app_routes(app)}
    assert paths >= PUBLIC
    for route in app_routes(app):
        if route.path == "/admin" or route.path.startswith("/admin/"):
            assert route.endpoint.access_rule == "admin", route.path
        elif route.path in PUBLIC:
            assert route.endpoint.access_rule == "public", route.path


def test_route_names_and_methods_are_unique(app):
    routes = app_routes(app)
    names = [r.name for r in routes]
    assert len(names) == len(set(names))
    seen = set()
    for route in routes:
        for method in route.methods:
            assert (route.path, method) not in seen, (route.path, method)
            seen.add((route.path, method))


def test_static_route_is_the_only_unguarded_one(app):
    unguarded = [r.name for r in app.routes if not hasattr(r.endpoint, "access_rule")]
    assert unguarded == ["static"]


def test_guard_refuses_an_unknown_rule():
    with pytest.raises(ValueError):
        guard("everybody")


# --- CSRF on every POST ---------------------------------------------------------------------


def post_routes(app) -> list[Route]:
    """The POST routes people's browsers use. A payment gateway's notification (rule
    `gateway`) comes from the gateway's server, with no session to hold a token: its
    signature is checked instead (test_payments_web.py); so are the API's requests (rule
    `api_client`: no cookie, every request signed, test_api.py)."""
    routes = [r for r in app_routes(app)
              if "POST" in r.methods and r.endpoint.access_rule not in ("gateway", "api_client")]
    assert len(routes) >= 11
    return routes


def test_only_the_gateways_notifications_go_without_a_csrf_token(app):
    unchecked = [r.name for r in app_routes(app) if r.endpoint.access_rule == "gateway"]
    assert unchecked == ["payment_notify"]


def test_the_api_routes_are_signed_instead_and_answer_problem_details(app, client):
    api_routes = [r for r in app_routes(app) if r.endpoint.access_rule == "api_client"]
    assert len(api_routes) >= 10
    assert all(r.path.startswith("/api/v1/") for r in api_routes)
    for route in api_routes:
        path, _ = path_of(route, 1)
        for method in route.methods - {"HEAD"}:
            r = client.request(method, path, content=b"{}")
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.headers["content-type"] == "application/problem+json", path


@pytest.fixture
def signed_in_clients(app, client, make_user, login):
    """A client signed in for each role a route rule may need: the admin where the rule
    admits admins (so the guard passes), else the first role it admits."""
    clients = {"admin": login(make_user("admin"))}
    extra = []

    def for_rule(rule: str) -> TestClient:
        roles = RULES[rule]
        role = "admin" if roles is None or "admin" in roles else sorted(roles)[0]
        if role not in clients:
            with db.connection_context():  # make_user("enterprise") queries outside one
                user = make_user(role)
            other = TestClient(app)
            token = csrf_from(other.get("/login").text)
            r = other.post("/login", data={"username": user.username, "password": PASSWORD,
                                           "csrf_token": token}, follow_redirects=False)
            assert r.status_code == 303
            clients[role] = other
            extra.append(other)
        return clients[role]

    yield for_rule
    for other in extra:
        other.close()


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_every_post_route_refuses_a_request_without_the_csrf_token(app, client, make_user,
                                                                   signed_in_clients, token):
    officer = make_user("officer")
    refused = 0
    for route in post_routes(app):
        data = {"username": "x", "code": "ZZ99", "name": "x"}
        if token is not None:
            data["csrf_token"] = token
        path, _ = path_of(route, officer.id)
        c = signed_in_clients(route.endpoint.access_rule)
        r = c.post(path, data=data, follow_redirects=False)
        # The token is checked before anything is looked up, also for an object that does
        # not exist.
        assert r.status_code == 403, (path, r.status_code)
        assert tr("Your form expired. Please go back, reload the page and submit it again.") \
            in html.unescape(r.text), path
        refused += 1
    assert refused >= 11
    assert signed_in(client)  # the logout without a token did nothing


def test_every_post_route_refuses_a_multipart_request_without_the_token(app, make_user,
                                                                        signed_in_clients):
    officer = make_user("officer")
    for route in post_routes(app):
        path, _ = path_of(route, officer.id)
        c = signed_in_clients(route.endpoint.access_rule)
        r = c.post(path, files={"confirm": (None, "1")}, follow_redirects=False)
        assert r.status_code == 403, (path, r.status_code)
    admin = signed_in_clients("admin")
    try:
        r = admin.post("/admin/catalogue/import", data={"confirm": "1"},
                       files={"file": ("x.csv", b"code\n", "text/csv")})
    finally:
        gc.collect()  # a refused upload left open would warn here, in this test
    assert r.status_code == 403


def test_csrf_refusal_for_htmx_is_a_fragment(client, make_user, login):
    login(make_user("admin"))
    r = client.post("/admin/units/new", data={"code": "ZZ99"}, headers=HX)
    assert r.status_code == 403
    assert r.headers["hx-retarget"] == "#flash" and "<html" not in r.text


def test_csrf_header_is_accepted_instead_of_the_field(client, make_user, login):
    login(make_user("admin"))
    token = csrf_from(client.get("/admin").text)
    r = client.post("/admin/units/new", data={"code": "ZZ99"},
                    headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert r.status_code == 422  # past the CSRF check, refused by validation


def test_anonymous_post_without_a_session_is_refused(client):
    for path in ("/login", "/register", "/logout"):
        assert client.post(path, data={"username": "a", "password": "b"}).status_code == 403


# --- no server errors on GET ----------------------------------------------------------------


def get_routes(app) -> list[Route]:
    return [r for r in app_routes(app) if "GET" in r.methods]


INLINE = [re.compile(r"<script(?![^>]*\bsrc=)[^>]*>"), re.compile(r"\sstyle=\""),
          re.compile(r"\son[a-z]+=\"")]


def check_gets(app, client: TestClient, user_id: int) -> list[int]:
    statuses = []
    for route in get_routes(app):
        path, _ = path_of(route, user_id)
        for headers in ({}, HX):
            r = client.get(path, headers=headers, follow_redirects=False)
            assert r.status_code < 500, (path, headers, r.status_code)
            statuses.append(r.status_code)
            if r.headers.get("content-type", "").startswith("text/html"):
                for pattern in INLINE:  # the CSP forbids inline scripts and styles
                    assert not pattern.search(r.text), (path, pattern.pattern)
        head = client.head(path, follow_redirects=False)
        assert head.status_code < 500 and head.content == b"", path
    return statuses


def test_no_get_route_fails_for_anonymous_visitors(app, client, make_user):
    officer = make_user("officer")
    statuses = check_gets(app, client, officer.id)
    assert 200 in statuses and 303 in statuses


def test_no_get_route_fails_for_admins(app, client, make_user, login, settings):
    admin = make_user("admin")
    login(admin)
    ctx = Ctx(user=admin, uploads=settings.uploads)
    procedure_forms.attach(ctx, "1.005458", "Mẫu đơn", [b"%PDF-1.4\n%%EOF\n"])
    signers.register(ctx, "02CI", self_signed_pem("Lãnh đạo"))
    api_clients.register(settings.secret_key, "Hệ thống A", ["procedures:read"], None, admin)
    failed_messages(bare_dossier(make_user("enterprise")))
    statuses = check_gets(app, client, make_user("officer").id)
    assert 200 in statuses
    for route in get_routes(app):
        if route.path.startswith("/admin"):
            path, _ = path_of(route, admin.id)
            assert client.get(path).status_code == 200, path


def test_no_get_route_fails_for_officers(app, client, make_user, login):
    officer = make_user("officer")
    login(officer)
    statuses = check_gets(app, client, officer.id)
    assert 403 in statuses and 200 in statuses


def test_wrong_method_is_a_405_page(client):
    r = client.post("/procedures", data={})
    assert r.status_code == 405 and "<html" in r.text
    r = client.request("DELETE", "/procedures/1.005458")
    assert r.status_code == 405


# --- unexpected failures --------------------------------------------------------------------


@pytest.fixture
def failing_app(settings, units, catalogue):
    """A second app with one more route that fails, as a bug would."""
    app = create_app(settings)

    @guard("public")
    async def boom(request):
        raise RuntimeError("secret detail of the failure")

    app.router.routes.append(Route("/boom", boom, name="boom"))
    return app


def test_unexpected_error_is_a_plain_500_page(failing_app, caplog):
    with TestClient(failing_app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
        assert r.status_code == 500 and "<html" in r.text
        message = tr("Something went wrong on our side. Please try again later.")
        assert message in html.unescape(r.text)
        assert "secret detail" not in r.text and "Traceback" not in r.text
        fragment = c.get("/boom", headers=HX)
        assert fragment.status_code == 500 and "<html" not in fragment.text
        assert fragment.headers["hx-retarget"] == "#flash"
    assert any("secret detail" in str(rec.exc_info[1]) for rec in caplog.records if rec.exc_info)


def test_unexpected_error_page_has_the_protective_headers(failing_app):
    with TestClient(failing_app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
    assert r.status_code == 500
    assert "content-security-policy" in r.headers
    assert r.headers.get("x-frame-options") == "DENY"
    assert r.headers.get("x-content-type-options") == "nosniff"


# --- static assets --------------------------------------------------------------------------


def asset_urls(client: TestClient) -> dict[str, tuple[str, str]]:
    page = client.get("/procedures").text  # a page that uses htmx (not every page loads it)
    css, js = CSS_RE.search(page), JS_RE.search(page)
    assert css and js, "the page does not link fingerprinted CSS and htmx"
    return {"css/portal.css": (css.group(1), css.group(2)),
            "vendor/htmx-4.0.1.min.js": (js.group(1), js.group(2))}


def raw_get(client: TestClient, url: str, headers: dict[str, str]):
    """The response and its body as sent (before any decoding)."""
    with client.stream("GET", url, headers=headers) as r:
        return r, b"".join(r.iter_raw())


def test_asset_urls_carry_the_content_hash(client):
    for name, (_url, digest) in asset_urls(client).items():
        data = (ROOT / "static" / name).read_bytes()
        assert digest == hashlib.sha256(data).hexdigest()[:12], name


@pytest.mark.parametrize("name", ["css/portal.css", "vendor/htmx-4.0.1.min.js"])
def test_asset_is_immutable_and_brotli_compressed(client, name):
    url, digest = asset_urls(client)[name]
    data = (ROOT / "static" / name).read_bytes()
    r, raw = raw_get(client, url, {"Accept-Encoding": "br"})
    assert r.status_code == 200
    assert r.headers["cache-control"] == IMMUTABLE == "public, max-age=31536000, immutable"
    assert r.headers["content-encoding"] == "br"
    assert r.headers["etag"] == f'"{digest}-br"'  # each encoding its own ETag
    assert "Accept-Encoding" in r.headers["vary"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert brotli.decompress(raw) == data and len(raw) < len(data)
    expected_type = "text/css" if name.endswith(".css") else "javascript"
    assert expected_type in r.headers["content-type"]


@pytest.mark.parametrize("name", ["css/portal.css", "vendor/htmx-4.0.1.min.js"])
def test_asset_is_gzip_compressed_without_brotli(client, name):
    url, _ = asset_urls(client)[name]
    data = (ROOT / "static" / name).read_bytes()
    r, raw = raw_get(client, url, {"Accept-Encoding": "gzip, deflate"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert r.headers["cache-control"] == IMMUTABLE
    assert gzip.decompress(raw) == data


def test_asset_prefers_brotli_and_is_compressed_once(client):
    url, _ = asset_urls(client)["css/portal.css"]
    data = (ROOT / "static" / "css/portal.css").read_bytes()
    r, raw = raw_get(client, url, {"Accept-Encoding": "gzip, deflate, br"})
    assert r.headers["content-encoding"] == "br"
    assert brotli.decompress(raw) == data


def test_asset_without_compression(client):
    url, _ = asset_urls(client)["css/portal.css"]
    data = (ROOT / "static" / "css/portal.css").read_bytes()
    r, raw = raw_get(client, url, {"Accept-Encoding": "identity"})
    assert "content-encoding" not in r.headers and raw == data


def test_asset_revalidation_gives_304(client):
    url, digest = asset_urls(client)["vendor/htmx-4.0.1.min.js"]
    plain = {"Accept-Encoding": "identity"}
    r = client.get(url, headers={**plain, "If-None-Match": f'"{digest}"'})
    assert r.status_code == 304 and r.content == b""
    assert r.headers["etag"] == f'"{digest}"'
    assert r.headers["cache-control"] == IMMUTABLE and r.headers["vary"] == "Accept-Encoding"
    # the brotli copy's tag does not validate the plain one, nor the plain one the brotli copy
    assert client.get(url, headers={**plain, "If-None-Match": f'"{digest}-br"'}
                      ).status_code == 200
    br = {"Accept-Encoding": "br"}
    assert client.get(url, headers={**br, "If-None-Match": f'"{digest}"'}).status_code == 200
    assert client.get(url, headers={**br, "If-None-Match": f'W/"{digest}-br"'}
                      ).status_code == 304
    other = client.get(url, headers={"If-None-Match": '"000000000000"'})
    assert other.status_code == 200 and other.content


def test_unknown_assets_are_404(client):
    for path in ["/static/css/portal.css", "/static/css/portal.000000000000.css",
                 "/static/vendor/htmx-4.0.1.LICENSE", "/static/",
                 "/static/..%2F..%2Fsrc%2Fportal%2Fapp.py"]:
        r = client.get(path)
        assert r.status_code == 404, path
        assert "immutable" not in r.headers.get("cache-control", ""), path


def test_asset_head_has_no_body(client):
    url, _ = asset_urls(client)["css/portal.css"]
    r = client.head(url)
    assert r.status_code == 200 and r.content == b""


# --- compression of pages -------------------------------------------------------------------


def test_html_is_gzip_compressed_when_asked(client):
    for path in ["/", "/procedures", "/procedures/1.005458"]:
        r, raw = raw_get(client, path, {"Accept-Encoding": "gzip"})
        assert r.status_code == 200, path
        assert r.headers["content-encoding"] == "gzip", path
        body = gzip.decompress(raw).decode()
        assert "<html" in body and len(raw) < len(body.encode())
        vary = r.headers["vary"]
        assert "Accept-Encoding" in vary and "HX-Request" in vary, path


def test_html_is_plain_when_compression_is_not_asked_for(client):
    r, raw = raw_get(client, "/procedures", {"Accept-Encoding": "identity"})
    assert "content-encoding" not in r.headers
    assert b"<html" in raw


def test_htmx_fragment_is_compressed_too(client):
    r, raw = raw_get(client, "/procedures", {**HX, "Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw).decode().lstrip().startswith('<section id="results"')
