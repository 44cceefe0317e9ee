"""ETag and 304 Not Modified for HTML pages, and htmx sent only to pages that use it."""

from __future__ import annotations

import gzip
import re

import brotli
import pytest
import zstandard

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


# --- compression and validators by the book (issue 16, item 8) ------------------------------

PAGE = "/procedures?q=huy"


def sent(client, path: str, **headers: str):
    """The response and its body as sent, before any decoding."""
    with client.stream("GET", path, headers=headers) as r:
        return r, b"".join(r.iter_raw())


@pytest.mark.parametrize("accept, encoding", [
    ("gzip", "gzip"), ("br", "br"), ("zstd", "zstd"), ("gzip, br, zstd", "zstd"),
    ("gzip;q=0", None), ("gzip;q=0, br;q=0.5", "br"), ("*", "zstd"), ("*, zstd;q=0", "br"),
    ("identity", None), ("", None), ("gzip;q=nonsense, deflate", None),
])
def test_pages_are_compressed_as_the_client_accepts(client, accept, encoding):
    plain = client.get(PAGE, headers={"Accept-Encoding": "identity"}).content
    r, raw = sent(client, PAGE, **{"Accept-Encoding": accept})
    assert r.status_code == 200 and r.headers.get("content-encoding") == encoding
    decode = {"gzip": gzip.decompress, "br": brotli.decompress, None: bytes,
              "zstd": lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b)}
    assert decode[encoding](raw) == plain
    assert "Accept-Encoding" in r.headers["vary"]


def test_each_encoding_has_its_own_etag_and_a_304_keeps_vary(client):
    tags, vary = {}, {}
    for coding in ("identity", "gzip", "br", "zstd"):
        full = client.get(PAGE, headers={"Accept-Encoding": coding})
        tags[coding], vary[coding] = full.headers["etag"], full.headers["vary"]
        assert "Accept-Encoding" in vary[coding].split(", "), vary
    assert len(set(tags.values())) == 4, tags
    assert tags["br"] == tags["identity"][:-1] + '-br"'
    for coding, etag in tags.items():
        r = client.get(PAGE, headers={"Accept-Encoding": coding, "If-None-Match": etag})
        assert r.status_code == 304 and r.content == b"", coding
        assert r.headers["etag"] == etag and r.headers["vary"] == vary[coding]
        assert r.headers["cache-control"] == "private, no-cache"
        assert "content-encoding" not in r.headers and "content-length" not in r.headers
    # another encoding's tag does not validate this one
    assert client.get(PAGE, headers={"Accept-Encoding": "br", "If-None-Match": tags["gzip"]}
                      ).status_code == 200


def test_weak_etags_compare_weakly_and_star_matches(client):
    etag = client.get(PAGE, headers={"Accept-Encoding": "br"}).headers["etag"]
    for wanted in (f"W/{etag}", f'"x", W/{etag}', "*", f" {etag} "):
        r = client.get(PAGE, headers={"Accept-Encoding": "br", "If-None-Match": wanted})
        assert r.status_code == 304, wanted
    for wanted in ('"x"', 'W/"x"', etag[:-2] + '"'):
        r = client.get(PAGE, headers={"Accept-Encoding": "br", "If-None-Match": wanted})
        assert r.status_code == 200, wanted
    # a POST is never answered 304, whatever it sends
    r = client.post("/lang/en", headers={"If-None-Match": "*"}, follow_redirects=False)
    assert r.status_code != 304


def test_robots_txt_and_the_favicon(client):
    robots = client.get("/robots.txt")
    assert robots.status_code == 200 and robots.headers["content-type"].startswith("text/plain")
    lines = robots.text.splitlines()
    assert lines[0] == "User-agent: *" and "Disallow: /admin/" in lines
    assert "Disallow: /procedures" not in robots.text  # the catalogue is public
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    linked = re.search(r'<link rel="icon" href="([^"]+)"', client.get("/").text).group(1)
    assert re.fullmatch(r"/static/favicon\.[0-9a-f]{12}\.svg", linked), linked
    assert client.get(linked).content == icon.content and icon.content.startswith(b"<svg")


def test_every_page_has_a_meta_description(client):
    home = client.get("/").text
    assert re.search(r'<meta name="description" content="[^"]{40,}">', home)
    page = client.get("/procedures/1.005458").text
    described = re.search(r'<meta name="description" content="([^"]+)">', page).group(1)
    assert described.startswith("Thủ tục 1.005458: ") and "huỷ tờ khai hải quan" in described
