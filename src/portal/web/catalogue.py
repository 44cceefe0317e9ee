"""The public procedure catalogue."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from portal.services import catalogue, procedure_forms
from portal.services.catalogue import Filters
from portal.web.rendering import render
from portal.web.security import guard


@guard("public")
async def procedure_list(request: Request) -> Response:
    filters = Filters.parse(dict(request.query_params))
    page = await run_in_threadpool(catalogue.search_procedures, filters)
    facets = await run_in_threadpool(catalogue.facets)
    return render(
        request,
        "catalogue/list.html",
        {
            "filters": filters,
            "page": page,
            "facets": facets,
            "level_labels": catalogue.LEVEL_LABELS,
            "sorts": catalogue.SORTS,
        },
        fragment="results",
    )


@guard("public")
async def procedure_detail(request: Request) -> Response:
    proc = await run_in_threadpool(catalogue.get_procedure, request.path_params["code"][:16])
    forms = await run_in_threadpool(procedure_forms.forms_of, proc.id)
    _, fields, _ = await run_in_threadpool(catalogue.procedure_parts, proc.id)
    return render(
        request,
        "catalogue/detail.html",
        {
            "proc": proc,
            "forms": forms,
            "level_label": catalogue.level_label(proc.online_level),
            "field_labels": {f.name: f.label for f in fields},
        },
    )
