"""Acting on a submitted dossier: every action of the state machine, assigning it, and
attaching the result document. Refusals that are not about a form field reach
`web/errors.py` as DomainErrors of their kind."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal import storage
from portal.i18n import gettext_ as _
from portal.services import processing
from portal.services.errors import N_, DomainError, Message, ValidationError
from portal.services.text import as_int
from portal.services.workflow import TRANSITIONS
from portal.web.dossier_page import page_with_errors
from portal.web.forms import flash, form_dict
from portal.web.requests import ctx_of, dossier_id
from portal.web.security import guard, read_form
from portal.web.urls import url


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
        await run_in_threadpool(
            processing.act,
            ctx_of(request),
            did,
            action,
            data["note"],
            to_user=as_int(data["to_user"]),
            to_unit=data["to_unit"],
        )
    except ValidationError as exc:
        return await page_with_errors(request, did, exc, failed=action, values=data)
    flash(request, _("Done: %(action)s.") % {"action": _(transition.label)})
    return RedirectResponse(url(request, "dossier_detail", dossier_id=did), 303)


@guard("staff")
async def dossier_assign(request: Request) -> Response:
    did = dossier_id(request)
    data = form_dict(await read_form(request), ("to_user",))
    try:
        await run_in_threadpool(processing.assign, ctx_of(request), did, as_int(data["to_user"]))
    except ValidationError as exc:
        return await page_with_errors(request, did, exc)
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
        return await page_with_errors(request, did, exc)
    finally:
        if isinstance(upload, UploadFile):
            await upload.close()
    flash(request, _("The result document is attached."))
    return RedirectResponse(url(request, "dossier_detail", dossier_id=did), 303)
