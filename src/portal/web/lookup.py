"""The public lookup of a dossier by its code and the applicant's tax code, or by the signed
token of its receipt's QR code (`?t=`): a plain GET form; htmx swaps the result."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from portal.models import utcnow
from portal.services import public_lookup
from portal.services.errors import ValidationError
from portal.services.public_lookup import LookupLinks
from portal.web.auth import throttle_text
from portal.web.forms import error_texts
from portal.web.rendering import is_htmx, render
from portal.web.requests import param
from portal.web.security import client_addr, guard

TEMPLATE = "lookup.html"
# The answer names a dossier and a tax code: no cache keeps it.
NO_STORE = {"Cache-Control": "private, no-store"}


def _again(request: Request, values: dict, errors: dict, status: int, headers: dict) -> Response:
    """The form again, the input kept and each error next to its field; htmx gets the form
    with it (#lookup), since the errors sit in the form."""
    ctx = {"values": values, "errors": errors, "found": None}
    headers = {**NO_STORE, **headers}
    if is_htmx(request):
        headers |= {"HX-Retarget": "#lookup", "HX-Reswap": "outerHTML"}
        return render(
            request, TEMPLATE, ctx, fragment="lookup", status_code=status, headers=headers
        )
    return render(request, TEMPLATE, ctx, status_code=status, headers=headers)


@guard("public")
async def dossier_lookup(request: Request) -> Response:
    token = request.query_params.get("t")
    values = {
        "code": param(request, "code", "", 64),
        "tax_code": param(request, "tax_code", "", 32),
    }
    if token is None and "code" not in request.query_params:
        return render(request, TEMPLATE, {"values": values, "errors": {}, "found": None})
    addr = client_addr(request)
    try:
        if token is not None:
            links = LookupLinks.of(request.app.state.settings)
            outcome = await run_in_threadpool(public_lookup.look_up_token, token, links, addr)
        else:
            outcome = await run_in_threadpool(
                public_lookup.look_up, values["code"], values["tax_code"], addr
            )
    except ValidationError as exc:
        return _again(request, values, error_texts(exc), 422, {})
    if outcome.throttle is not None:
        seconds = outcome.throttle.seconds_left(utcnow())
        errors = {"code": throttle_text(-(-seconds // 60))}
        return _again(request, values, errors, 429, {"Retry-After": str(seconds)})
    target = request.headers.get("hx-target", "")
    return render(
        request,
        TEMPLATE,
        {"values": values, "errors": {}, "found": outcome.found},
        fragment="lookup" if target in ("lookup", "div#lookup") else "result",
        headers=NO_STORE,
    )
