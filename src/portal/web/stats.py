"""The adoption statistics page for staff, and its per-unit table as CSV."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from portal.i18n import gettext_ as _
from portal.services import stats
from portal.services.errors import ValidationError
from portal.web.forms import error_texts
from portal.web.rendering import is_htmx, render
from portal.web.requests import int_param, param
from portal.web.security import guard

FIELDS = ("from", "to", "unit", "sort")
TEMPLATE = "stats/index.html"


async def _parse(request: Request) -> tuple[dict[str, str], stats.StatsQuery | None, dict]:
    """The raw parameters, the validated query (None if invalid) and the errors' texts."""
    raw = {name: param(request, name, "", 32) for name in FIELDS}
    # An absent page is the first; one that is there but not a whole number is an error (0).
    page = int_param(request, "page", 0 if param(request, "page") else 1)
    try:
        query = await run_in_threadpool(stats.clean_query, raw, page, stats.local_today())
    except ValidationError as exc:
        return raw, None, error_texts(exc)
    return raw, query, {}


def _unit_options(units: list) -> list[tuple[str, str]]:
    # Departments and regional branches have codes of their own in every structure.
    return [(u.code, f"{u.ref} – {u.name}") for u in units]


async def _invalid(request: Request, raw: dict[str, str], errors: dict) -> Response:
    """The page again with each error next to its field and the input kept (422). htmx gets
    the form and the results together (#stats), since the errors sit in the form."""
    units = await run_in_threadpool(stats.top_units)
    ctx = {"values": raw, "errors": errors, "report": None, "units": _unit_options(units)}
    if is_htmx(request):
        headers = {"HX-Retarget": "#stats", "HX-Reswap": "outerHTML"}
        return render(request, TEMPLATE, ctx, fragment="stats", status_code=422, headers=headers)
    return render(request, TEMPLATE, ctx, status_code=422)


@guard("staff")
async def statistics_page(request: Request) -> Response:
    raw, query, errors = await _parse(request)
    if query is None:
        return await _invalid(request, raw, errors)
    report = await run_in_threadpool(stats.build_report, query)
    # The departments or regional branches in force at the period's end come first.
    units = await run_in_threadpool(stats.top_units, query.date_to)
    # After an error the form targets #stats, so that its error messages go away with it.
    target = request.headers.get("hx-target", "")
    return render(
        request,
        TEMPLATE,
        {"values": query.params(), "errors": {}, "report": report, "units": _unit_options(units)},
        fragment="stats" if target in ("stats", "div#stats") else "results",
    )


@guard("staff")
async def statistics_csv(request: Request) -> Response:
    raw, query, errors = await _parse(request)
    if query is None:
        return await _invalid(request, raw, errors)
    rows = await run_in_threadpool(stats.unit_rows, query)
    headers = [_(label) for _key, label in stats.CSV_COLUMNS]
    # A byte-order mark makes spreadsheets read the Vietnamese names as UTF-8.
    text = "\ufeff" + stats.units_csv(rows, headers)
    name = f"statistics-{query.date_from.isoformat()}-{query.date_to.isoformat()}"
    if query.unit is not None:
        name += f"-{query.unit.code}"
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
