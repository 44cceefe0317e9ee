"""Administration of the unit tree (every structure) and of the structures' effective dates."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.i18n import gettext_ as _
from portal.models import UNIT_KINDS
from portal.services import structures, units
from portal.services.errors import ValidationError
from portal.web.forms import error_texts, flash, form_dict, kept_values
from portal.web.rendering import render
from portal.web.requests import ctx_of, param
from portal.web.security import guard, read_form
from portal.web.urls import url

UNIT_NAMES = ("code", "name", "kind", "structure", "parent_code", "active")
STRUCTURE_NAMES = ("code", "name", "effective_from", "confirm")


def _structures() -> tuple[list, str]:
    return structures.all_structures(), structures.structure_in_force()


async def _form(
    request: Request,
    values: dict,
    errors: dict,
    original: str | None = None,
    status_code: int = 200,
) -> Response:
    known, _in_force = await run_in_threadpool(_structures)
    return render(
        request,
        "admin/unit_form.html",
        {
            "values": values,
            "errors": errors,
            "kinds": UNIT_KINDS,
            "structures": known,
            "original": original,
        },
        status_code=status_code,
    )


async def _page(
    request: Request, structure: str, values: dict, errors: dict, status_code: int = 200
) -> Response:
    known, in_force = await run_in_threadpool(_structures)
    codes = [s.code for s in known]
    structure = structure if structure in codes else in_force
    tree = await run_in_threadpool(units.unit_tree, structure)
    return render(
        request,
        "admin/units.html",
        {
            "tree": tree,
            "structure": structure,
            "structures": known,
            "in_force": in_force,
            "values": values,
            "errors": errors,
        },
        fragment=None if errors else "results",
        status_code=status_code,
    )


@guard("admin")
async def admin_units(request: Request) -> Response:
    return await _page(request, param(request, "structure", "", 8), {}, {})


@guard("admin")
async def admin_structure_record(request: Request) -> Response:
    data = form_dict(await read_form(request), STRUCTURE_NAMES)
    try:
        saved = await run_in_threadpool(structures.record_structure, data, ctx_of(request))
    except ValidationError as exc:
        return await _page(request, "", kept_values(data), error_texts(exc), status_code=422)
    flash(
        request,
        _("Structure %(code)s takes effect on %(date)s.")
        % {"code": saved.code, "date": saved.effective_from.strftime("%d/%m/%Y")},
    )
    return RedirectResponse(url(request, "admin_units", {"structure": saved.code}), 303)


@guard("admin")
async def admin_unit_new(request: Request) -> Response:
    values = {
        "active": True,
        "kind": "branch",
        "structure": param(request, "structure", "", 8)
        or await run_in_threadpool(structures.structure_in_force),
        "parent_code": param(request, "parent", "", 12),
    }
    return await _form(request, values, {})


@guard("admin")
async def admin_unit_create(request: Request) -> Response:
    data = form_dict(await read_form(request), UNIT_NAMES)
    try:
        unit = await run_in_threadpool(units.save_unit, data)
    except ValidationError as exc:
        return await _form(request, kept_values(data), error_texts(exc), status_code=422)
    flash(request, _("Unit %(code)s saved.") % {"code": unit.code})
    return RedirectResponse(url(request, "admin_units", {"structure": unit.structure}), 303)


@guard("admin")
async def admin_unit_edit(request: Request) -> Response:
    unit = await run_in_threadpool(units.get_unit, request.path_params["code"][:30])
    values = {
        "code": unit.code,
        "name": unit.name,
        "kind": unit.kind,
        "structure": unit.structure,
        "active": unit.active,
        "parent_code": unit.parent.code if unit.parent_id else "",
    }
    return await _form(request, values, {}, original=unit.ref)


@guard("admin")
async def admin_unit_update(request: Request) -> Response:
    original = request.path_params["code"][:30]
    data = form_dict(await read_form(request), UNIT_NAMES)
    try:
        unit = await run_in_threadpool(units.save_unit, data, original_code=original)
    except ValidationError as exc:
        return await _form(
            request, kept_values(data), error_texts(exc), original=original, status_code=422
        )
    flash(request, _("Unit %(code)s saved.") % {"code": unit.code})
    return RedirectResponse(url(request, "admin_units", {"structure": unit.structure}), 303)
