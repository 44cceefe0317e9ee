"""The auditor's search over dossiers and the history, and its result as CSV."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from portal.i18n import current_language, translations
from portal.i18n import gettext_ as _
from portal.services import audit
from portal.services.errors import ValidationError
from portal.web.forms import error_texts
from portal.web.rendering import is_htmx, render
from portal.web.requests import int_param, param
from portal.web.security import guard

TEMPLATE = "audit/index.html"


async def _parse(request: Request) -> tuple[dict[str, str], audit.AuditQuery | None, dict]:
    """The raw parameters, the validated query (None if invalid) and the errors' texts."""
    raw = {name: param(request, name, "", 100) for name in audit.FIELDS}
    page = int_param(request, "page", 0 if param(request, "page") else 1)
    try:
        query = await run_in_threadpool(audit.clean_query, raw, page)
    except ValidationError as exc:
        return raw, None, error_texts(exc)
    return raw, query, {}


async def _options() -> dict:
    units = await run_in_threadpool(audit.unit_options)
    return {
        "units": [(u.ref, f"{u.ref} – {u.name}") for u in units],
        "statuses": [(str(s), _(audit.STATUS_LABELS[s])) for s in audit.STATUSES],
        "actions": [(key, _(label)) for key, label in audit.action_options()],
        "action_names": audit.ACTION_NAMES,
        "status_labels": audit.STATUS_LABELS,
        "count_cap": audit.COUNT_CAP,
        "export_cap": audit.EXPORT_CAP,
    }


@guard("audit")
async def audit_page(request: Request) -> Response:
    raw, query, errors = await _parse(request)
    ctx = {**(await _options()), "values": raw, "errors": errors, "result": None}
    if query is None:
        ctx["tab"] = raw["tab"] if raw["tab"] in audit.TABS else audit.TABS[0]
        if is_htmx(request):
            headers = {"HX-Retarget": "#audit", "HX-Reswap": "outerHTML"}
            return render(
                request, TEMPLATE, ctx, fragment="audit", status_code=422, headers=headers
            )
        return render(request, TEMPLATE, ctx, status_code=422)
    ctx["result"] = await run_in_threadpool(audit.search, query)
    ctx["values"], ctx["tab"] = query.params(), query.tab
    # After an error the form targets #audit, so that its error messages go away with it.
    target = request.headers.get("hx-target", "")
    return render(
        request, TEMPLATE, ctx, fragment="audit" if target in ("audit", "div#audit") else "results"
    )


@guard("audit")
async def audit_csv(request: Request) -> Response:
    raw, query, errors = await _parse(request)
    if query is None:
        ctx = {**(await _options()), "values": raw, "errors": errors, "result": None}
        ctx["tab"] = raw["tab"] if raw["tab"] in audit.TABS else audit.TABS[0]
        return render(request, TEMPLATE, ctx, status_code=422)
    # Each chunk is read by its own call (starlette runs each step in its thread pool), in
    # the language of this request.
    gettext = translations(current_language.get()).gettext
    body = (part.encode("utf-8") for part in audit.export_csv(query, gettext))
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{query.file_name()}.csv"'},
    )
