"""Reading a request: its query parameters, the dossier its path names, and the context a
service call needs (who acts, from where, with the deployment's limits)."""

from __future__ import annotations

import unicodedata

from starlette.requests import Request

from portal.services.access import Ctx
from portal.services.download_links import DownloadLinks
from portal.services.errors import NotFound
from portal.services.text import as_int
from portal.web.security import client_addr


def param(request: Request, name: str, default: str = "", max_length: int = 200) -> str:
    """A query parameter as text, cut to a sane length, NFC-normalised like form fields."""
    value = request.query_params.get(name, default)
    return unicodedata.normalize("NFC", value[:max_length])


def int_param(request: Request, name: str, default: int = 1) -> int:
    """A positive whole-number query parameter (a page number), else `default`."""
    value = as_int(request.query_params.get(name, ""))
    return value if value is not None and value < 1_000_000 else default


def dossier_id(request: Request) -> int:
    """The dossier id of the path; raises NotFound when it is not a number."""
    value = as_int(request.path_params["dossier_id"])
    if value is None:
        raise NotFound("dossier")
    return value


def ctx_of(request: Request) -> Ctx:
    """The signed-in user's context for a service call that changes something."""
    s = request.app.state.settings
    return Ctx(
        user=request.state.user,
        client_addr=client_addr(request),
        uploads=s.uploads,
        max_upload_bytes=s.max_upload_bytes,
        max_files=s.max_files_per_dossier,
        max_reserved_bytes=s.max_reserved_bytes,
        office_hours=s.office_hours,
        scan_files=bool(s.clamd_address),
        links=DownloadLinks.of(s),
        trust_anchors=s.trust_anchors,
    )
