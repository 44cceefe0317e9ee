"""ETag and `304 Not Modified` for HTML pages. A page is stored by the browser but checked with
the server on every use (`Cache-Control: private, no-cache`); when it has not changed, the
answer is a few hundred bytes of headers instead of the page. On a slow link that is most of a
repeat visit's weight."""

from __future__ import annotations

import hashlib

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BUFFERED = 512 * 1024  # pages are small; anything larger passes through untouched


class ConditionalMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        wanted = Headers(scope=scope).get("if-none-match", "")
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
                await send(
                    {
                        "type": "http.response.body",
                        "body": b"".join(parts),
                        "more_body": message.get("more_body", False),
                    }
                )
                return
            if message.get("more_body", False):
                return
            body = b"".join(parts)
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            headers = MutableHeaders(raw=list(start["headers"]))
            headers["ETag"] = etag
            headers["Cache-Control"] = "private, no-cache"
            if etag in (tag.strip().removeprefix("W/") for tag in wanted.split(",")):
                del headers["content-length"]
                del headers["content-type"]
                await send({"type": "http.response.start", "status": 304, "headers": headers.raw})
                await send({"type": "http.response.body", "body": b""})
                return
            await send({**start, "headers": headers.raw})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, wrapped)
