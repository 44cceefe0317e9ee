"""Administration of the holiday calendar that deadlines skip."""

from __future__ import annotations

import datetime as dt

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.i18n import gettext_ as _
from portal.services import calendar
from portal.services.errors import NotFound, ValidationError
from portal.services.text import as_int
from portal.web.forms import error_texts, flash, form_dict, kept_values
from portal.web.rendering import render
from portal.web.requests import int_param
from portal.web.security import guard, read_form
from portal.web.urls import url


async def _page(
    request: Request, year: int, values: dict, errors: dict, status_code: int = 200
) -> Response:
    days = await run_in_threadpool(calendar.holidays, year)
    return render(
        request,
        "admin/holidays.html",
        {"year": year, "days": days, "values": values, "errors": errors},
        status_code=status_code,
    )


@guard("admin")
async def admin_holidays(request: Request) -> Response:
    year = int_param(request, "year", dt.date.today().year)
    year = year if 2000 <= year <= 2100 else dt.date.today().year
    return await _page(request, year, {}, {})


@guard("admin")
async def admin_holiday_add(request: Request) -> Response:
    data = form_dict(await read_form(request), ("day", "name"))
    try:
        holiday = await run_in_threadpool(calendar.add_holiday, data)
    except ValidationError as exc:
        return await _page(
            request, dt.date.today().year, kept_values(data), error_texts(exc), status_code=422
        )
    flash(request, _("Holiday added."))
    return RedirectResponse(url(request, "admin_holidays", {"year": holiday.day.year}), 303)


@guard("admin")
async def admin_holiday_remove(request: Request) -> Response:
    await read_form(request)
    holiday_id = as_int(request.path_params["holiday_id"])
    if holiday_id is None:
        raise NotFound("holiday")
    await run_in_threadpool(calendar.remove_holiday, holiday_id)
    flash(request, _("Holiday removed."))
    return RedirectResponse(url(request, "admin_holidays"), 303)
