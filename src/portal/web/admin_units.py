"""Administration of the unit tree (both structures)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.i18n import gettext_ as _
from portal.models import ACTIVE_STRUCTURE, STRUCTURES, UNIT_KINDS
from portal.services import units
from portal.services.errors import ValidationError
from portal.web.forms import error_texts, flash, form_dict, kept_values
from portal.web.rendering import render
from portal.web.requests import param
from portal.web.security import guard, read_form
from portal.web.urls import url

UNIT_NAMES = ("code", "name", "kind", "structure", "parent_code", "active")


def _form(
    request: Request,
    values: dict,
    errors: dict,
    original: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "admin/unit_form.html",
        {
            "values": values,
            "errors": errors,
            "kinds": UNIT_KINDS,
            "structures": STRUCTURES,
            "original": original,
        },
        status_code=status_code,
    )


@guard("admin")
async def admin_units(request: Request) -> Response:
    structure = param(request, "structure", ACTIVE_STRUCTURE, 8)
    structure = structure if structure in STRUCTURES else ACTIVE_STRUCTURE
    tree = await run_in_threadpool(units.unit_tree, structure)
    return render(
        request,
        "admin/units.html",
        {"tree": tree, "structure": structure, "structures": STRUCTURES},
        fragment="results",
    )


@guard("admin")
async def admin_unit_new(request: Request) -> Response:
    values = {
        "active": True,
        "kind": "branch",
        "structure": param(request, "structure", ACTIVE_STRUCTURE, 8),
        "parent_code": param(request, "parent", "", 12),
    }
    return _form(request, values, {})


@guard("admin")
async def admin_unit_create(request: Request) -> Response:
    data = form_dict(await read_form(request), UNIT_NAMES)
    try:
        unit = await run_in_threadpool(units.save_unit, data)
    except ValidationError as exc:
        return _form(request, kept_values(data), error_texts(exc), status_code=422)
    flash(request, _("Unit %(code)s saved.") % {"code": unit.code})
    return RedirectResponse(url(request, "admin_units", {"structure": unit.structure}), 303)


@guard("admin")
async def admin_unit_edit(request: Request) -> Response:
    unit = await run_in_threadpool(units.get_unit, request.path_params["code"][:12])
    values = {
        "code": unit.code,
        "name": unit.name,
        "kind": unit.kind,
        "structure": unit.structure,
        "active": unit.active,
        "parent_code": unit.parent.code if unit.parent_id else "",
    }
    return _form(request, values, {}, original=unit.code)


@guard("admin")
async def admin_unit_update(request: Request) -> Response:
    original = request.path_params["code"][:12]
    data = form_dict(await read_form(request), UNIT_NAMES)
    try:
        unit = await run_in_threadpool(units.save_unit, data, original_code=original)
    except ValidationError as exc:
        return _form(
            request, kept_values(data), error_texts(exc), original=original, status_code=422
        )
    flash(request, _("Unit %(code)s saved.") % {"code": unit.code})
    return RedirectResponse(url(request, "admin_units", {"structure": unit.structure}), 303)
