"""The public catalogue page, kept as sent while the catalogue stays the same.

Half the portal's visitors are anonymous people browsing the catalogue, and the catalogue
changes a few times a year; yet rendering its page (Jinja, ~30 % of a request's time) and
compressing it (brotli, ~20 %) were done again for every visitor (bench/README.md, "Where the
time goes"). `SharedPages` keeps the response of a listed path as it left the compression
middleware (status, headers with the ETag and the security headers, compressed body) and
answers the next identical request with it, without routing, sessions, database or template.

Only what is the same for everybody is kept: a GET of a listed path by a visitor with no
session cookie, answered 200 without setting a cookie. The key holds the query string and
every request header the page varies by (HX-Request, Cookie: the language, Accept-Encoding).
Kept pages belong to the catalogue's revision (services/catalogue_cache): a change made in
this process drops them at once; one made by another process or server is noticed when the
revision is read again, at most `recheck` seconds after it was last read. Revalidation
(web/conditional.py) stays outside: a kept page still answers `If-None-Match` with a 304.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.services import catalogue_cache

MAX_PAGES = 256  # a page is a few KB compressed: at most about a megabyte per process
MAX_BODY = 256 * 1024
SESSION_COOKIE = b"portal_session="

Key = tuple[str, bytes, bytes, bytes, bytes]
Kept = tuple[Message, bytes]


class SharedPages:
    """Keep and serve the anonymous visitors' pages of `paths` (see the module's docstring)."""

    def __init__(self, app: ASGIApp, paths: frozenset[str], recheck: float = 1.0) -> None:
        self.app = app
        self.paths = paths
        self.recheck = recheck
        self.pages: OrderedDict[Key, Kept] = OrderedDict()
        self.revision: tuple | None = None
        self.changes = -1  # catalogue_cache.local_changes() when the revision was read
        self.read_at = 0.0

    def key(self, scope: Scope) -> Key | None:
        """The request's key, or None when its answer may be the visitor's own."""
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] not in self.paths:
            return None
        headers = Headers(scope=scope)
        cookie = headers.get("cookie", "").encode("latin-1")
        if SESSION_COOKIE in cookie:
            return None
        return (
            scope["path"],
            scope["query_string"],
            headers.get("hx-request", "").encode("latin-1"),
            cookie,
            headers.get("accept-encoding", "").encode("latin-1"),
        )

    async def current(self) -> tuple:
        """The catalogue's revision, read again when this process changed the catalogue or
        `recheck` seconds have passed; kept pages of another revision are dropped."""
        changes = catalogue_cache.local_changes()
        now = time.monotonic()
        if self.revision is None or changes != self.changes or now - self.read_at > self.recheck:
            revision = await run_in_threadpool(catalogue_cache.read_revision)
            if revision != self.revision:
                self.pages.clear()
            self.revision, self.changes, self.read_at = revision, changes, now
        return self.revision

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = self.key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        revision = await self.current()
        kept = self.pages.get(key)
        if kept is not None:
            self.pages.move_to_end(key)
            await send(kept[0])
            await send({"type": "http.response.body", "body": kept[1]})
            return
        start: Message | None = None
        parts: list[bytes] = []
        keep = True

        async def keeping(message: Message) -> None:
            nonlocal start, keep
            if message["type"] == "http.response.start":
                start = message
                keep = message["status"] == 200 and not any(
                    name.lower() == b"set-cookie" for name, _ in message["headers"]
                )
            elif message["type"] == "http.response.body" and keep:
                parts.append(message.get("body", b""))
                keep = sum(map(len, parts)) <= MAX_BODY
                if not message.get("more_body", False) and keep and revision == self.revision:
                    self.pages[key] = (start, b"".join(parts))
                    while len(self.pages) > MAX_PAGES:
                        self.pages.popitem(last=False)
            await send(message)

        await self.app(scope, receive, keeping)
