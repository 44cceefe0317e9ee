"""The statistics page, public (figures, charts and their tables; staff also see the per-unit
table), and its tables as CSV or XLSX files."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from portal.models import utcnow
from portal.services import satisfaction, stats, stats_export, stats_trend
from portal.services.deadlines import to_local
from portal.services.errors import ValidationError
from portal.services.policy import allows
from portal.web.forms import error_texts
from portal.web.rendering import is_htmx, render
from portal.web.requests import int_param, param
from portal.web.security import guard, refusal

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


def _figures(query: stats.StatsQuery) -> dict[str, Any]:
    """Everything the page shows for `query`, read in one worker thread."""
    report = stats.build_report(query)
    unit_ids = stats.scope_unit_ids(query)
    return {
        "report": report,
        "timeliness": stats_trend.timeliness(report.figures),
        "trend": stats_trend.monthly_trend(query),
        "reach": stats_trend.procedure_reach(query),
        # The units the form offers: those in force at the period's end first.
        "units": _unit_options(stats.top_units(query.date_to)),
        # The applicants' ratings given in the period, in all and per department or regional
        # branch and quarter (Decision 766 publishes them per agency each quarter).
        "satisfaction": satisfaction.summary(*query.bounds(), unit_ids),
        "criteria": satisfaction.CRITERIA,
        "quarters": satisfaction.by_unit_quarter(*query.bounds(), unit_ids),
    }


@guard("public")
async def statistics_page(request: Request) -> Response:
    """The figures of a period and unit for everybody; staff also get the per-unit table.
    No personal data: counts only, no enterprise or person is named."""
    raw, query, errors = await _parse(request)
    if query is None:
        return await _invalid(request, raw, errors)
    ctx = await run_in_threadpool(_figures, query)
    # After an error the form targets #stats, so that its error messages go away with it.
    target = request.headers.get("hx-target", "")
    return render(
        request,
        TEMPLATE,
        {"values": query.params(), "errors": {}, **ctx},
        fragment="stats" if target in ("stats", "div#stats") else "results",
    )


async def _export(request: Request, fmt: str) -> Response:
    """One of the page's tables (`table`: units, trend or procedures; units by default, the
    old address of the per-unit CSV) as a file; 404 for another table; the per-unit table
    for staff only; bad parameters get the page with its errors (422)."""
    name = param(request, "table", "units", 16)
    if name not in stats_export.TABLES:
        raise HTTPException(404)
    user = request.state.user
    if name in stats_export.STAFF_TABLES and not allows("staff", user):
        return refusal(request, user)
    raw, query, errors = await _parse(request)
    if query is None:
        return await _invalid(request, raw, errors)
    table = await run_in_threadpool(stats_export.build_table, name, query)
    if fmt == "csv":
        body = stats_export.to_csv(table)
    else:
        body = await run_in_threadpool(stats_export.to_xlsx, table, query, to_local(utcnow()))
    filename = stats_export.file_name(table, query, fmt)
    return Response(
        body,
        media_type=stats_export.FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@guard("public")
async def statistics_csv(request: Request) -> Response:
    return await _export(request, "csv")


@guard("public")
async def statistics_xlsx(request: Request) -> Response:
    return await _export(request, "xlsx")
