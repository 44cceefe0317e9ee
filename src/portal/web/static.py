"""Static files with content-hashed names, precompressed once at start-up (brotli and gzip),
served with `Cache-Control: immutable`. The compression middleware leaves a response that is
already encoded alone; web/conditional.py gives each encoding its ETag and answers 304s."""

from __future__ import annotations

import functools
import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

import brotli
from starlette.requests import Request
from starlette.responses import Response

IMMUTABLE = "public, max-age=31536000, immutable"
COMPRESSIBLE = (".css", ".js", ".svg", ".txt", ".json")


@dataclass(frozen=True)
class Asset:
    content_type: str
    plain: bytes
    br: bytes | None
    gz: bytes | None
    etag: str


@functools.cache
def _build(
    root: Path, stamp: tuple[tuple[str, float], ...]
) -> tuple[dict[str, str], dict[str, Asset]]:
    """Hash and compress the files once per process (and again only when they change)."""
    urls: dict[str, str] = {}
    assets: dict[str, Asset] = {}
    for path in sorted(root.rglob("*")):
        if not _served(path):
            continue
        rel = path.relative_to(root).as_posix()
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:12]
        stem, dot, ext = rel.rpartition(".")
        hashed = f"{stem}.{digest}.{ext}" if dot else f"{rel}.{digest}"
        compress = path.suffix in COMPRESSIBLE
        assets[hashed] = Asset(
            content_type=mimetypes.guess_type(rel)[0] or "application/octet-stream",
            plain=data,
            br=brotli.compress(data, quality=11) if compress else None,
            gz=gzip.compress(data, 9, mtime=0) if compress else None,
            etag=f'"{digest}"',
        )
        urls[rel] = f"/static/{hashed}"
    return urls, assets


def _served(path: Path) -> bool:
    return (
        path.is_file() and not path.name.startswith(".") and path.suffix not in (".md", ".LICENSE")
    )


class StaticAssets:
    """The files under `root`, each reachable as `name.<hash>.ext`."""

    def __init__(self, root: Path) -> None:
        stamp = tuple(
            (p.as_posix(), p.stat().st_mtime) for p in sorted(root.rglob("*")) if _served(p)
        )
        self.urls, self.assets = _build(root, stamp)

    def url(self, name: str) -> str:
        """The fingerprinted URL of `name` (a path under static/); KeyError if missing."""
        return self.urls[name]

    async def serve(self, request: Request) -> Response:
        asset = self.assets.get(request.path_params["path"])
        if asset is None:
            return Response("Not found", 404, media_type="text/plain")
        headers = {"Cache-Control": IMMUTABLE, "ETag": asset.etag, "Vary": "Accept-Encoding"}
        accepted = accepted_codings(request.headers.get("accept-encoding", ""))
        body = asset.plain
        if asset.br is not None and "br" in accepted:
            body, headers["Content-Encoding"] = asset.br, "br"
        elif asset.gz is not None and "gzip" in accepted:
            body, headers["Content-Encoding"] = asset.gz, "gzip"
        return Response(body, headers=headers, media_type=asset.content_type)


def accepted_codings(accept_encoding: str) -> set[str]:
    """The content codings an `Accept-Encoding` value accepts (RFC 9110 §12.5.3): listed with
    a quality above 0, or covered by `*`; `q=0` refuses."""
    accepted: set[str] = set()
    refused: set[str] = set()
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.partition(";")
        coding, quality = coding.strip(), 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if coding:
            (accepted if quality > 0 else refused).add(coding)
    if "*" in accepted:
        accepted |= {"br", "gzip", "zstd"} - refused
    return accepted - refused
