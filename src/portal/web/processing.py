"""A submitted dossier: its page (status, deadline, timeline, files, actions), every action of
the state machine, downloads, slips, the officer's inbox and notifications."""

from __future__ import annotations

import functools

import segno
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from portal import storage
from portal.db import reading
from portal.i18n import gettext_ as _
from portal.models import Slip
from portal.services import dossiers, history, inbox, notify, processing
from portal.services.download_links import DownloadLinks, Target
from portal.services.errors import N_, AccessDenied, DomainError, Message, NotFound, ValidationError
from portal.services.inbox import InboxFilters
from portal.services.text import as_int
from portal.services.workflow import STATUS_LABELS, TRANSITIONS, Facts, available
from portal.web.dossiers import ctx_of, dossier_id
from portal.web.forms import error_texts, flash, form_dict
from portal.web.rendering import render
from portal.web.security import guard, read_form
from portal.web.urls import url


async def detail_page(
    request: Request,
    view,
    errors: dict | None = None,
    status_code: int = 200,
    failed: str = "",
    values: dict | None = None,
) -> Response:
    """The dossier page; `failed` names the action whose form is shown again with `errors`
    and the `values` the user typed."""
    user = request.state.user
    extra = await run_in_threadpool(_page_extras, view)
    has_result = any(a.purpose == "result" for a in view.attachments)
    facts = Facts(
        view.dossier.status, view.dossier.approval, has_result, view.procedure.online_level
    )
    return render(
        request,
        "dossiers/detail.html",
        {
            "view": view,
            **extra,
            "actions": available(view.actor, facts),
            "labels": STATUS_LABELS,
            "flag": processing.deadline_flag(view.dossier),
            "errors": errors or {},
            "values": values or {},
            "user_id": user.id,
            "failed": failed,
        },
        status_code=status_code,
    )


@reading
def _slips(did: int) -> list[Slip]:
    return list(Slip.select().where(Slip.dossier == did).order_by(Slip.id))


@functools.lru_cache(maxsize=256)
def _qr(url: str) -> str:
    """The receipt's QR code as a data: URI. Encoding it takes some 6 ms of a core, and the
    code it carries never changes: a receipt seen again is drawn from memory."""
    return segno.make(url, error="m").svg_data_uri(scale=3, border=2)


@reading
def _receipt_extras(did: int, url: str) -> tuple[str, list[Slip]]:
    """The receipt's QR code and the dossier's slips, in one trip to a worker thread (not on
    the event loop, which every request of the process waits on)."""
    return _qr(url), _slips(did)


@reading
def _page_extras(view: dossiers.DossierView) -> dict:
    """What the dossier page shows besides the dossier, read in one go (one trip to a worker
    thread, one connection): the timeline, the slips and, for staff, the forward choices."""
    did, staff = view.dossier.id, view.actor in ("officer", "leader")
    return {
        "timeline": history.timeline(did, for_applicant=view.actor == "owner"),
        "slips": _slips(did),
        "officers": inbox.unit_officers(view.dossier.unit_id) if staff else [],
        "units": inbox.forward_units(view.dossier.unit_id) if staff else [],
    }


@guard("signed_in")
async def dossier_detail(request: Request) -> Response:
    view = await run_in_threadpool(dossiers.load, dossier_id(request), request.state.user)
    if view.dossier.status == 0:
        return RedirectResponse(url(request, "dossier_edit", dossier_id=view.dossier.id), 303)
    return await detail_page(request, view)


@guard("signed_in")
async def dossier_by_code(request: Request) -> Response:
    did = await run_in_threadpool(
        dossiers.find_by_code, request.path_params["code"], request.state.user
    )
    return RedirectResponse(url(request, "dossier_detail", dossier_id=did), 303)


@guard("signed_in")
async def dossier_act(request: Request) -> Response:
    did = dossier_id(request)
    action = request.path_params["action"]
    data = form_dict(await read_form(request), ("note", "confirm", "to_user", "to_unit"))
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise DomainError(N_("This action is not known."), kind="unknown")
    try:
        if transition.destructive and data["confirm"] != "1":
            raise ValidationError({"confirm": Message(N_("Tick the box to confirm."))})
        to_user = as_int(data["to_user"])
        await run_in_threadpool(
            processing.act,
            ctx_of(request),
            did,
            action,
            data["note"],
            to_user=to_user,
            to_unit=data["to_unit"],
        )
    except ValidationError as exc:
        view = await run_in_threadpool(dossiers.load, did, request.state.user)
        return await detail_page(
            request, view, error_texts(exc), status_code=422, failed=action, values=data
        )
    flash(request, _("Done: %(action)s.") % {"action": _(transition.label)})
    return RedirectResponse(url(request, "dossier_detail", dossier_id=did), 303)


async def refused(request: Request, did: int, exc: ValidationError) -> Response:
    """The dossier page again, with what was wrong in the form next to its field (422)."""
    view = await run_in_threadpool(dossiers.load, did, request.state.user)
    return await detail_page(request, view, error_texts(exc), status_code=422)


@guard("staff")
async def dossier_assign(request: Request) -> Response:
    did = dossier_id(request)
    data = form_dict(await read_form(request), ("to_user",))
    target = as_int(data["to_user"])
    try:
        await run_in_threadpool(processing.assign, ctx_of(request), did, target)
    except ValidationError as exc:
        return await refused(request, did, exc)
    flash(request, _("The dossier is assigned."))
    return RedirectResponse(url(request, "dossier_detail", dossier_id=did), 303)


@guard("staff")
async def dossier_result_upload(request: Request) -> Response:
    did = dossier_id(request)
    settings = request.app.state.settings
    form = await read_form(request, max_files=1, max_part_size=settings.max_upload_bytes + 1)
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationError({"result": Message(N_("Attach the result as a PDF file."))})
        await run_in_threadpool(
            processing.upload_result,
            ctx_of(request),
            did,
            upload.filename,
            storage.iter_file(upload.file),
        )
    except ValidationError as exc:
        return await refused(request, did, exc)
    finally:
        if isinstance(upload, UploadFile):
            await upload.close()
    flash(request, _("The result document is attached."))
    return RedirectResponse(url(request, "dossier_detail", dossier_id=did), 303)


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
        filename=att.original_name,
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
    track_url = settings.base_url + url(request, "dossier_by_code", code=view.dossier.code)
    qr, slips = await run_in_threadpool(_receipt_extras, view.dossier.id, track_url)
    return render(
        request,
        "dossiers/receipt.html",
        {"view": view, "qr": qr, "track_url": track_url, "slips": slips, "labels": STATUS_LABELS},
    )


@guard("signed_in")
async def dossier_slip(request: Request) -> Response:
    raw = request.path_params["slip_id"]
    slip_id = as_int(raw)
    if slip_id is None:
        raise NotFound("slip")
    check_link(request, "slip", dossier_id(request), slip_id)
    view = await run_in_threadpool(dossiers.load, dossier_id(request), request.state.user)
    slips = await run_in_threadpool(_slips, view.dossier.id)
    slip = next((s for s in slips if str(s.id) == raw), None)
    if slip is None:
        raise NotFound(raw)
    return render(request, "dossiers/slip.html", {"view": view, "slip": slip})


@guard("staff")
async def officer_inbox(request: Request) -> Response:
    user = request.state.user
    if user.role not in ("officer", "leader"):
        raise HTTPException(403)
    filters = InboxFilters.parse(dict(request.query_params))
    page = await run_in_threadpool(inbox.inbox, user, filters)
    counts = await run_in_threadpool(inbox.counts, user)
    flags = {d.id: processing.deadline_flag(d) for d in page.items}
    return render(
        request,
        "officer/inbox.html",
        {
            "filters": filters,
            "page": page,
            "counts": counts,
            "flags": flags,
            "labels": STATUS_LABELS,
            "views": inbox.VIEWS,
            "filters_params": {
                "view": filters.view,
                "procedure": filters.procedure,
                "status": "" if filters.status is None else filters.status,
                "sort": filters.sort,
            },
        },
        fragment="results",
    )


@guard("signed_in")
async def notifications(request: Request) -> Response:
    items = await run_in_threadpool(notify.unread, request.state.user.id, 50)
    return render(request, "notifications.html", {"items": items})


@guard("signed_in")
async def notifications_read(request: Request) -> Response:
    await read_form(request)
    await run_in_threadpool(notify.mark_read, request.state.user.id)
    return RedirectResponse(url(request, "notifications"), 303)
