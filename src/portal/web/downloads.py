"""What a dossier's user downloads or prints: its files and its receipt (its slips:
`web/slips.py`), from the portal or from a signed link in an e-mail."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from portal.services import dossier_page, dossiers, processing
from portal.services.download_links import DownloadLinks, Target
from portal.services.errors import AccessDenied, NotFound
from portal.services.public_lookup import LookupLinks
from portal.services.text import as_int
from portal.services.workflow import STATUS_LABELS
from portal.web.dossier_page import verify_link
from portal.web.rendering import render
from portal.web.requests import ctx_of, dossier_id
from portal.web.security import guard
from portal.web.urls import url


def private_pdf(body: bytes, name: str) -> Response:
    """A PDF made for one user (a slip, a receipt), downloaded as `name` and never cached."""
    return Response(
        body,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


def check_link(request: Request, kind: str, did: int, object_id: int) -> None:
    """A link from an e-mail carries a signed token (`?t=`): it opens `kind` `object_id` of
    dossier `did` only for the signed-in user it names, until it expires. Raises NotFound for
    a forged, altered or expired token, AccessDenied (recorded) for a genuine one naming
    another user or object. Links inside the portal carry no token: the session suffices."""
    token = request.query_params.get("t")
    if token is None:
        return
    target = DownloadLinks.of(request.app.state.settings).read(token[:1000])
    if target is None:
        raise NotFound("link")
    if target != Target(request.state.user.id, did, kind, object_id):
        raise AccessDenied(f"{kind} link", object_id)


@guard("signed_in")
async def dossier_file(request: Request) -> Response:
    did = dossier_id(request)
    attachment_id = as_int(request.path_params["attachment_id"])
    if attachment_id is None:
        raise NotFound("attachment")
    check_link(request, "file", did, attachment_id)
    att = await run_in_threadpool(processing.open_attachment, ctx_of(request), did, attachment_id)
    path = request.app.state.settings.uploads / att.stored_name
    if not path.is_file():
        raise NotFound("attachment")
    return FileResponse(
        path,
        media_type=att.content_type,
        filename=att.served_name,
        content_disposition_type="attachment",
        headers={"Cache-Control": "private, no-store"},
    )


@guard("signed_in")
async def dossier_receipt(request: Request) -> Response:
    check_link(request, "receipt", dossier_id(request), dossier_id(request))
    view = await run_in_threadpool(dossiers.load, dossier_id(request), request.state.user)
    if not view.dossier.code:
        raise NotFound("receipt")
    settings = request.app.state.settings
    # The QR code opens the public lookup with a signed token: no login, nothing to type.
    token = LookupLinks.of(settings).token(view.dossier.code)
    track_url = settings.base_url + url(request, "dossier_lookup", {"t": token})
    qr, slips = await run_in_threadpool(dossier_page.receipt_extras, view.dossier.id, track_url)
    # A second code opens the public check of the result, once one is issued.
    verify_url = verify_link(request, view.dossier.code)
    verify_qr = await run_in_threadpool(dossier_page.qr_code, verify_url)
    return render(
        request,
        "dossiers/receipt.html",
        {"view": view, "qr": qr, "track_url": track_url, "slips": slips, "labels": STATUS_LABELS,
         "verify_url": verify_url, "verify_qr": verify_qr},
    )
