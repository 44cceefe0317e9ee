"""ETags and `304 Not Modified`, by the book (RFC 9110 §8.8.3, §13.1.2, §15.4.5).

Two layers around the compression middleware:

- `PageTags` (inside it) gives an HTML page an ETag, the hash of the page as rendered, and
  `Cache-Control: private, no-cache`: the browser keeps the page but checks it with the server
  on every use. Other responses (static files, downloads) bring their own ETags.
- `Revalidation` (outside it) sees what is really sent. A representation sent compressed gets
  its own ETag (`"…-br"`, `"…-zstd"`, `"…-gzip"`), so a cache never takes one encoding's bytes
  for another's. It answers a GET or HEAD whose `If-None-Match` matches (weak comparison, lists
  and `*`) with a 304 that keeps the headers a 200 would have carried for caching (`ETag`,
  `Cache-Control`, `Vary`, `Expires`, `Content-Location`, `Date`) and no body. On a slow link a
  repeat visit then costs a few hundred bytes of headers instead of the page.

One place compares validators: endpoints set `ETag` and send the representation; they never
answer 304 themselves."""

from __future__ import annotations

import hashlib

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BUFFERED = 512 * 1024  # pages are small; anything larger passes through untagged
# What describes the body, which a 304 has not; everything else a 200 would carry is kept
# (ETag, Cache-Control, Vary, Expires, Content-Location, Date, and the security headers).
REPRESENTATION = frozenset({
    b"content-type", b"content-length", b"content-encoding", b"content-disposition",
    b"content-language", b"content-range", b"last-modified", b"accept-ranges",
})


def opaque(tag: str) -> str:
    """An entity tag without its weakness indicator: what weak comparison compares."""
    return tag.strip().removeprefix("W/")


def none_match(if_none_match: str, etag: str) -> bool:
    """Whether `If-None-Match: if_none_match` matches `etag` (weak comparison)."""
    wanted = [opaque(t) for t in if_none_match.split(",") if t.strip()]
    return "*" in wanted or opaque(etag) in wanted


def for_encoding(etag: str, encoding: str) -> str:
    """The ETag of the representation sent with `Content-Encoding: encoding`."""
    if not encoding or encoding == "identity" or not etag.endswith('"'):
        return etag
    return f'{etag[:-1]}-{encoding}"'


class PageTags:
    """An ETag (the hash of the rendered page) and `private, no-cache` for successful HTML."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        parts: list[bytes] = []
        size = 0
        passing = False

        async def wrapped(message: Message) -> None:
            nonlocal start, size, passing
            if message["type"] == "http.response.start":
                headers = Headers(raw=message["headers"])
                if (
                    message["status"] != 200
                    or not headers.get("content-type", "").startswith("text/html")
                    or "etag" in headers
                    or "cache-control" in headers
                ):
                    passing = True
                    await send(message)
                else:
                    start = message
                return
            if passing or message["type"] != "http.response.body":
                await send(message)
                return
            assert start is not None
            parts.append(message.get("body", b""))
            size += len(parts[-1])
            if size > MAX_BUFFERED:  # too big to hold: send what we have and go on as is
                passing = True
                await send(start)
                await send({"type": "http.response.body", "body": b"".join(parts),
                            "more_body": message.get("more_body", False)})
                return
            if message.get("more_body", False):
                return
            body = b"".join(parts)
            headers = MutableHeaders(raw=list(start["headers"]))
            headers["ETag"] = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            headers["Cache-Control"] = "private, no-cache"
            await send({**start, "headers": headers.raw})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, wrapped)


class Revalidation:
    """Per-encoding ETags on what is sent, and 304 for a matching `If-None-Match`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conditional = scope["method"] in ("GET", "HEAD")
        wanted = Headers(scope=scope).get("if-none-match", "") if conditional else ""
        not_modified = False

        async def wrapped(message: Message) -> None:
            nonlocal not_modified
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=list(message["headers"]))
                if "vary" in headers:  # the endpoint and the compression may both have said it
                    headers["Vary"] = _once(headers.getlist("vary"))
                etag = headers.get("etag")
                if etag is None:
                    await send({**message, "headers": headers.raw})
                    return
                etag = for_encoding(etag, headers.get("content-encoding", ""))
                headers["ETag"] = etag
                if wanted and 200 <= message["status"] < 300 and none_match(wanted, etag):
                    not_modified = True
                    kept = [(k, v) for k, v in headers.raw if k.lower() not in REPRESENTATION]
                    await send({"type": "http.response.start", "status": 304, "headers": kept})
                    await send({"type": "http.response.body", "body": b""})
                    return
                await send({**message, "headers": headers.raw})
                return
            if not_modified:  # the body of a 304 is not sent
                return
            await send(message)

        await self.app(scope, receive, wrapped)



def _once(values: list[str]) -> str:
    """Vary's field names, each once, in the order first given."""
    names: dict[str, str] = {}
    for value in values:
        for name in value.split(","):
            if name.strip():
                names.setdefault(name.strip().lower(), name.strip())
    return ", ".join(names.values())
