"""Administration of the calendar that deadlines follow: days off, swapped working days, and
the confirmation of each year."""

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
from portal.web.requests import ctx_of, int_param
from portal.web.security import guard, read_form
from portal.web.urls import url

FIELDS = ("day", "kind", "name", "source")


def _year(value: int | None) -> int:
    this_year = dt.date.today().year
    return value if value is not None and 2000 <= value <= 2100 else this_year


async def _page(
    request: Request, year: int, values: dict, errors: dict, status_code: int = 200
) -> Response:
    view = await run_in_threadpool(calendar.year_view, year)
    return render(
        request,
        "admin/holidays.html",
        {"view": view, "year": year, "values": values, "errors": errors},
        status_code=status_code,
    )


@guard("admin")
async def admin_holidays(request: Request) -> Response:
    return await _page(request, _year(int_param(request, "year", dt.date.today().year)), {}, {})


@guard("admin")
async def admin_holiday_add(request: Request) -> Response:
    data = form_dict(await read_form(request), FIELDS)
    try:
        holiday = await run_in_threadpool(calendar.add_holiday, data, ctx_of(request))
    except ValidationError as exc:
        year = _year(as_int(data.get("day", "")[:4]))
        return await _page(request, year, kept_values(data), error_texts(exc), status_code=422)
    flash(request, _("Day added to the calendar."))
    return RedirectResponse(url(request, "admin_holidays", {"year": holiday.day.year}), 303)


@guard("admin")
async def admin_holiday_remove(request: Request) -> Response:
    form = await read_form(request)
    holiday_id = as_int(request.path_params["holiday_id"])
    if holiday_id is None:
        raise NotFound("holiday")
    await run_in_threadpool(calendar.remove_holiday, holiday_id, ctx_of(request))
    flash(request, _("Day removed from the calendar."))
    year = _year(as_int(str(form.get("year", ""))))
    return RedirectResponse(url(request, "admin_holidays", {"year": year}), 303)


@guard("admin")
async def admin_holiday_confirm(request: Request) -> Response:
    await read_form(request)
    year = as_int(request.path_params["year"])
    if year is None:
        raise NotFound("year")
    await run_in_threadpool(calendar.confirm_year, year, ctx_of(request))
    flash(request, _("The holidays of %(year)s are confirmed.") % {"year": year})
    return RedirectResponse(url(request, "admin_holidays", {"year": year}), 303)
