"""The applicant's rating of a dossier that has ended, sent from the dossier's page."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.i18n import gettext_ as _
from portal.services import dossiers, satisfaction
from portal.services.errors import DomainError, ValidationError
from portal.web.dossier_page import detail_page, page_with_errors
from portal.web.forms import flash, form_dict, kept_values
from portal.web.rendering import is_htmx
from portal.web.requests import ctx_of, dossier_id
from portal.web.security import guard, read_form
from portal.web.urls import url

RATING_NAMES = (*satisfaction.QUESTIONS, "comment")


@guard("enterprise")
async def dossier_rate(request: Request) -> Response:
    """Record the rating; the dossier's rating section again (422) when an answer is missing,
    the dossier has not ended or is rated already; 404 for somebody else's dossier."""
    did = dossier_id(request)
    data = form_dict(await read_form(request), RATING_NAMES)
    try:
        await run_in_threadpool(satisfaction.rate, ctx_of(request), did, data)
    except ValidationError as exc:
        return await page_with_errors(
            request, did, exc, failed="rate", values=kept_values(data), fragment="rating"
        )
    except DomainError as exc:  # not ended, rated already: said at the top of the section
        refused = ValidationError({"rating": exc.message})
        return await page_with_errors(request, did, refused, failed="rate", fragment="rating")
    if is_htmx(request):  # the section now thanks and shows the answers
        view = await run_in_threadpool(dossiers.load, did, request.state.user)
        return await detail_page(request, view, fragment="rating")
    flash(request, _("Thank you: your rating is recorded."))
    return RedirectResponse(url(request, "dossier_detail", dossier_id=did) + "#rating", 303)
