"""A submitted dossier's page: status, deadline, what was filed, timeline, slips, files and the
actions its user can take; the page again with a form's errors; a dossier found by its code."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.services import dossier_page, dossiers, processing
from portal.services.dossiers import DossierView
from portal.services.errors import ValidationError
from portal.services.result_check import VerifyLinks
from portal.services.workflow import STATUS_LABELS
from portal.web.forms import error_texts
from portal.web.rendering import is_htmx, render
from portal.web.requests import dossier_id
from portal.web.security import guard
from portal.web.urls import url


def verify_link(request: Request, code: str) -> str:
    """The public check of the dossier's results, by a signed token (its QR codes)."""
    settings = request.app.state.settings
    token = VerifyLinks.of(settings).token(code)
    return settings.base_url + url(request, "result_verify", {"t": token})


async def detail_page(
    request: Request,
    view: DossierView,
    errors: dict | None = None,
    status_code: int = 200,
    failed: str = "",
    values: dict | None = None,
    fragment: str | None = None,
) -> Response:
    """The dossier page (for htmx, its block `fragment` when one is named); `failed` names
    the action whose form is shown again with `errors` and the `values` the user typed."""
    extra = await run_in_threadpool(dossier_page.page_extras, view)
    verify_url = verify_qr = ""
    if view.result_issued and any(a.purpose == "result" and a.id in extra["signatures"]
                                  for a in view.attachments):
        verify_url = verify_link(request, view.dossier.code)
        verify_qr = await run_in_threadpool(dossier_page.qr_code, verify_url)
    return render(
        request,
        "dossiers/detail.html",
        {
            "view": view,
            **extra,
            "actions": view.actions,
            "labels": STATUS_LABELS,
            "flag": processing.deadline_flag(view.dossier),
            "errors": errors or {},
            "values": values or {},
            "user_id": request.state.user.id,
            "failed": failed,
            "verify_url": verify_url,
            "verify_qr": verify_qr,
            "pay_choices": request.app.state.payments.choices,
            # the block sent alone (htmx), which then carries its own error summary
            "swapped": fragment if is_htmx(request) else None,
        },
        status_code=status_code,
        fragment=fragment,
    )


async def page_with_errors(
    request: Request,
    did: int,
    exc: ValidationError,
    failed: str = "",
    values: dict | None = None,
    fragment: str | None = None,
) -> Response:
    """The dossier page again, with what was wrong next to its field (422); `failed` names the
    action whose form is shown again with the `values` typed (for htmx, block `fragment`)."""
    view = await run_in_threadpool(dossiers.load, did, request.state.user)
    return await detail_page(
        request, view, error_texts(exc), status_code=422, failed=failed, values=values,
        fragment=fragment,
    )


@guard("signed_in")
async def dossier_detail(request: Request) -> Response:
    view = await run_in_threadpool(dossiers.load, dossier_id(request), request.state.user)
    if view.is_draft:
        return RedirectResponse(url(request, "dossier_edit", dossier_id=view.dossier.id), 303)
    return await detail_page(request, view)


@guard("signed_in")
async def dossier_by_code(request: Request) -> Response:
    did = await run_in_threadpool(
        dossiers.find_by_code, request.path_params["code"], request.state.user
    )
    return RedirectResponse(url(request, "dossier_detail", dossier_id=did), 303)
