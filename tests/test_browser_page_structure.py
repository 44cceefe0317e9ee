"""What keeps the pages light on a slow link, checked on every page in Debian's chromium (it
measures nothing in time): every request goes to the portal itself; scripts in <head> do not
block rendering; no inline script or style; static files have fingerprinted names and are
cached for a year; pages are compressed; no web font; no image but the receipt's QR code; and
every page, as sent, is valid HTML for the Nu HTML Checker (W3C's validator) with a meta
description."""

from __future__ import annotations

import re
import urllib.request

import brotli
import pytest
from playwright.sync_api import Page, Request

from portal.web.static import IMMUTABLE
from tests import dossier_web_fixtures as fx
from tests import page_tour
from tests.conftest import MARKUP_ONLY
from tests.nu_checker import errors_in
from tests.page_tour import PAGES, Tour

pytestmark = [pytest.mark.browser, MARKUP_ONLY]
# The shared fixtures, found by pytest under these names.
forms, people, tour_server = fx.forms, fx.people, page_tour.tour_server

FINGERPRINTED = re.compile(r"^/static/[\w./-]+\.[0-9a-f]{12}\.\w+$")

# Everything a page refers to or contains that the rules below are about.
INVENTORY = """() => ({
  urls: [...document.querySelectorAll('[src], link[href]')]
    .map(el => el.src || el.href)
    .concat(performance.getEntriesByType('resource').map(e => e.name)),
  blocking: [...document.head.querySelectorAll('script')]
    .filter(s => !s.defer && !s.async && s.type !== 'module').map(s => s.outerHTML),
  inline: [...document.querySelectorAll('script:not([src]), style, [style]')]
    .map(el => el.outerHTML.slice(0, 80)),
  images: [...document.querySelectorAll('img, picture, image')]
    .map(el => `${el.className}|${(el.getAttribute('src') || '').slice(0, 30)}`),
})"""


def static_response(url: str) -> tuple[dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "br, gzip"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return {k.lower(): v for k, v in r.headers.items()}, r.read()


def test_pages_are_light_and_self_contained(browser, tour_server, people):
    server, ids = tour_server
    tour = Tour(browser, server, people, ids, "vi")
    requests: list[Request] = []
    watched: set[int] = set()
    problems: dict[str, list[str]] = {}
    static_urls: set[str] = set()
    sent: dict[str, str] = {}  # each page as the portal sent it, for the HTML checker

    def watch(page: Page) -> None:
        if id(page) not in watched:
            page.on("request", lambda request: requests.append(request))
            # Without the HTTP cache every page really asks for what it needs, and a page
            # revalidated with its ETag (a 304, no body) is not mistaken for an uncompressed one.
            cdp = page.context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
            watched.add(id(page))

    try:
        for spec in PAGES:
            watch(tour.page_for(spec.role))
            requests.clear()
            page = tour.visit(spec)
            page.wait_for_load_state("networkidle")
            found: list[str] = []
            seen = page.evaluate(INVENTORY)
            urls = {r.url for r in requests} | set(seen["urls"])
            for url in sorted(urls):
                if url.startswith("data:"):
                    continue
                if not url.startswith(server.url + "/"):
                    found.append(f"a request leaves the portal: {url}")
                path = url[len(server.url) :]
                if path.startswith("/static/"):
                    static_urls.add(path)
                    if not FINGERPRINTED.match(path):
                        found.append(f"not fingerprinted: {path}")
            found += [f"font requested: {r.url}" for r in requests if r.resource_type == "font"]
            found += [f"render-blocking script: {s}" for s in seen["blocking"]]
            found += [f"inline script or style: {s}" for s in seen["inline"]]
            images = seen["images"]
            if spec.name == "receipt":  # the QR codes (tracking, result check) as SVG data URLs
                expected = len(images) == 2 and all(
                    i.startswith("app-qr|data:image/svg") for i in images)
            else:
                expected = images == []
            if not expected:
                found.append(f"images: {images}")
            sent[spec.name] = tour.response.text()
            if not re.search(r'<meta name="description" content="[^"]{20,}">', sent[spec.name]):
                found.append("no meta description")
            encoding = tour.response.all_headers().get("content-encoding")
            if encoding not in ("gzip", "br", "zstd"):
                found.append(f"the HTML is not compressed ({encoding})")
            if found:
                problems[spec.name] = found
    finally:
        tour.close()

    assert any(p.endswith(".css") for p in static_urls), static_urls
    assert len(sent) == len(PAGES)
    for name, errors in errors_in(sent).items():
        problems.setdefault(name, []).extend(errors)
    for path in sorted(static_urls):
        headers, body = static_response(server.url + path)
        if headers.get("cache-control") != IMMUTABLE:
            problems.setdefault(path, []).append(f"Cache-Control: {headers.get('cache-control')}")
        if headers.get("content-encoding") != "br":
            problems.setdefault(path, []).append("not sent with brotli")
        if path.endswith(".css") and b"@font-face" in brotli.decompress(body):
            problems.setdefault(path, []).append("@font-face: a web font")
    assert not problems, "\n".join(f"{name}: {found}" for name, found in problems.items())
