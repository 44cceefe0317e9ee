"""ETag and 304 Not Modified for HTML pages, and htmx sent only to pages that use it."""

from __future__ import annotations

from tests.helpers import HX


def test_an_unchanged_page_answers_304_with_no_body(client):
    first = client.get("/procedures/1.005458")
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, no-cache"
    again = client.get("/procedures/1.005458", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert "content-type" not in again.headers
    # The protective headers are on the 304 too.
    assert again.headers["x-content-type-options"] == "nosniff"


def test_a_changed_page_or_another_variant_answers_in_full(client):
    etag = client.get("/procedures?q=huy").headers["etag"]
    other = client.get("/procedures?q=bo+sung", headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag
    fragment = client.get("/procedures?q=huy", headers={**HX, "If-None-Match": etag})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    client.cookies.set("lang", "en")
    english = client.get("/procedures?q=huy", headers={"If-None-Match": etag})
    assert english.status_code == 200
    client.cookies.delete("lang")
    assert client.get("/procedures?q=huy", headers={"If-None-Match": f'W/{etag}, "x"'}
                      ).status_code == 304


def test_only_successful_html_gets_an_etag(client):
    missing = client.get("/procedures/9.999999")
    assert missing.status_code == 404 and "etag" not in missing.headers
    static = client.get("/healthz")
    assert "private" not in static.headers.get("cache-control", "")
    login = client.get("/login")
    refused = client.post("/login", data={"username": "x", "password": "y"})  # no CSRF token
    assert refused.status_code == 403 and "etag" not in refused.headers
    assert "etag" in login.headers


def test_htmx_is_sent_only_to_pages_that_use_it(client):
    assert "/static/vendor/htmx-" in client.get("/procedures").text
    for path in ("/", "/login", "/register", "/procedures/1.005458"):
        assert "/static/vendor/htmx-" not in client.get(path).text, path
