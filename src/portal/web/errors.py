"""Error pages: every failure a client can cause gets a page (or an htmx fragment), never a
traceback; unexpected exceptions are logged and shown as a plain 500 page."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from portal.i18n import translate
from portal.services.errors import N_, AccessDenied, DomainError, NotFound, ValidationError
from portal.services.text import as_int
from portal.web.problems import is_api, problem
from portal.web.rendering import is_htmx, render
from portal.web.security import SecurityMiddleware, record_denial

log = logging.getLogger("portal")

MESSAGES = {
    400: N_("The request could not be understood."),
    401: N_("Please log in to continue."),
    403: N_("You do not have access to this page."),
    404: N_("This page does not exist."),
    405: N_("This action is not available here."),
    409: N_("This action is not possible in the current state."),
    413: N_("What you sent is too large."),
    422: N_("Please correct the errors below."),
    500: N_("Something went wrong on our side. Please try again later."),
}
# The HTTP answer to each kind of refusal a service raises (services.errors.KINDS).
DOMAIN_STATUS = {
    "invalid": 422, "unknown": 422, "forbidden": 403, "conflict": 409, "unavailable": 503
}
CSRF_MESSAGE = N_("Your form expired. Please go back, reload the page and submit it again.")


def error_response(request: Request, status: int, message: str | None = None) -> Response:
    """The error page (an htmx fragment for htmx), or problem details under /api/."""
    text = message or translate(MESSAGES.get(status, MESSAGES[400]))
    if is_api(request.url.path):
        return problem(status, text)
    if is_htmx(request):
        return render(
            request,
            "errors/fragment.html",
            {"message": text, "status": status},
            status_code=status,
            headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"},
        )
    return render(
        request, "errors/error.html", {"message": text, "status": status}, status_code=status
    )


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code if exc.status_code in MESSAGES else 400
    if status == 403 and exc.detail == "csrf":
        return error_response(request, 403, translate(CSRF_MESSAGE))
    if status == 403:
        await record_denial(request)
    return error_response(request, status)


async def not_found(request: Request, exc: Exception) -> Response:
    if isinstance(exc, AccessDenied):
        await record_denial(request, exc.kind, exc.object_id)
    return error_response(request, 404)


async def domain_error(request: Request, exc: Exception) -> Response:
    """A rule refused what was asked: the status its kind calls for, with its message. A
    forbidden action is recorded as a permission denial (of the dossier the path names).
    Under /api/ a validation error lists its fields."""
    assert isinstance(exc, DomainError)
    if is_api(request.url.path):
        errors = exc.errors if isinstance(exc, ValidationError) else None
        return problem(DOMAIN_STATUS[exc.kind], translate(exc.message), errors=errors,
                       kind="validation" if errors else "")
    if exc.kind == "forbidden":
        dossier_id = as_int(str(request.path_params.get("dossier_id", "")))
        await record_denial(request, "dossier" if dossier_id else "", dossier_id)
    return error_response(request, DOMAIN_STATUS[exc.kind], translate(exc.message))


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if request.app.state.settings.debug:
        raise exc
    response = error_response(request, 500)
    # This handler runs outside the middleware that adds the protective headers.
    for name, value in SecurityMiddleware.HEADERS:
        response.headers[name.decode()] = value.decode()
    return response


HANDLERS = {
    HTTPException: http_exception,
    NotFound: not_found,
    DomainError: domain_error,
    Exception: server_error,
}
