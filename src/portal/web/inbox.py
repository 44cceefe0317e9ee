"""The officer's inbox: the unit's dossiers by view, filtered, counted and sorted."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from portal.services import inbox, processing
from portal.services.inbox import InboxFilters
from portal.services.workflow import STATUS_LABELS
from portal.web.rendering import render
from portal.web.security import guard


@guard("unit_staff")
async def officer_inbox(request: Request) -> Response:
    user = request.state.user
    filters = InboxFilters.parse(dict(request.query_params))
    page = await run_in_threadpool(inbox.inbox, user, filters)
    counts = await run_in_threadpool(inbox.counts, user)
    flags = {d.id: processing.deadline_flag(d) for d in page.items}
    return render(
        request,
        "officer/inbox.html",
        {
            "filters": filters,
            "page": page,
            "counts": counts,
            "flags": flags,
            "labels": STATUS_LABELS,
            "views": inbox.VIEWS,
            "filters_params": {
                "view": filters.view,
                "procedure": filters.procedure,
                "q": filters.q,
                "status": "" if filters.status is None else filters.status,
                "sort": filters.sort,
            },
        },
        fragment="results",
    )
