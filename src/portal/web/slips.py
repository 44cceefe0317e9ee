"""A dossier's slips as official documents: the page (printable on A4), its PDF, and the
apology slip an officer or leader of the unit issues with the reason and a new date."""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.i18n import gettext_ as _
from portal.services import apologies, slip_pdf, slips
from portal.services.errors import NotFound, ValidationError
from portal.services.text import as_int
from portal.web.downloads import check_link, private_pdf
from portal.web.forms import error_texts, flash, form_dict, kept_values
from portal.web.rendering import render
from portal.web.requests import ctx_of, dossier_id
from portal.web.security import guard, read_form
from portal.web.urls import url

FIELDS = ("new_date", "reason")


async def _open(request: Request) -> slips.SlipPage:
    """The slip of the path if the user may see it; a signed link from an e-mail opens the
    page and its PDF alike. Raises NotFound."""
    slip_id = as_int(request.path_params["slip_id"])
    if slip_id is None:
        raise NotFound("slip")
    did = dossier_id(request)
    check_link(request, "slip", did, slip_id)
    place = request.app.state.settings.slip_place
    return await run_in_threadpool(slips.open_slip, did, slip_id, request.state.user, place)


@guard("signed_in")
async def dossier_slip(request: Request) -> Response:
    page = await _open(request)
    token = request.query_params.get("t")
    pdf_url = url(request, "dossier_slip_pdf", dossier_id=page.view.dossier.id,
                  slip_id=page.slip.id)
    if token:
        pdf_url += "?t=" + quote(token[:1000], safe="")
    return render(
        request,
        "dossiers/slip.html",
        {
            "page": page,
            "view": page.view,
            "slip": page.slip,
            "pdf_url": pdf_url,
            "heading": slips.HEADING,
            "motto": slips.MOTTO,
            "declared_title": slips.DECLARED,
            "declarant_title": slips.DECLARANT,
        },
    )


@guard("signed_in")
async def dossier_slip_pdf(request: Request) -> Response:
    page = await _open(request)
    body = await run_in_threadpool(slip_pdf.render, page.sheet)
    name = f"{page.slip.kind}-{page.view.dossier.code or page.view.dossier.id}.pdf"
    return private_pdf(body, name)


async def _form(
    request: Request, values: dict, errors: dict, status_code: int = 200
) -> Response:
    draft = await run_in_threadpool(apologies.draft, ctx_of(request), dossier_id(request))
    if "new_date" not in values:
        values = {**values, "new_date": draft.proposed.strftime("%d/%m/%Y")}
    return render(
        request,
        "dossiers/apology.html",
        {"draft": draft, "d": draft.dossier, "values": values, "errors": errors},
        status_code=status_code,
    )


@guard("unit_staff")
async def dossier_apology_form(request: Request) -> Response:
    return await _form(request, {}, {})


@guard("unit_staff")
async def dossier_apology_issue(request: Request) -> Response:
    did = dossier_id(request)
    data = form_dict(await read_form(request), FIELDS)
    try:
        slip = await run_in_threadpool(apologies.issue, ctx_of(request), did, data)
    except ValidationError as exc:
        return await _form(request, kept_values(data), error_texts(exc), status_code=422)
    flash(request, _("The apology slip is issued and the enterprise is told."))
    return RedirectResponse(url(request, "dossier_slip", dossier_id=did, slip_id=slip.id), 303)
