"""The route table. Every endpoint is wrapped by `guard(rule)`; tests check that none is not."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from portal.web import admin_catalogue, admin_units, admin_users, auth, catalogue, pages
from portal.web.static import StaticAssets


def routes(assets: StaticAssets) -> list[BaseRoute]:
    get, post = ["GET", "HEAD"], ["POST"]
    table = [
        ("/", pages.home, get),
        ("/healthz", pages.health, get),
        ("/lang/{code}", pages.language_set, get),
        ("/login", auth.login_form, get),
        ("/login", auth.login_submit, post),
        ("/logout", auth.logout, post),
        ("/register", auth.register_form, get),
        ("/register", auth.register_submit, post),
        ("/procedures", catalogue.procedure_list, get),
        ("/procedures/{code}", catalogue.procedure_detail, get),
        ("/admin", admin_users.admin_home, get),
        ("/admin/users", admin_users.admin_users, get),
        ("/admin/users/new", admin_users.admin_user_new, get),
        ("/admin/users/new", admin_users.admin_user_create, post),
        ("/admin/users/{user_id}", admin_users.admin_user_edit, get),
        ("/admin/users/{user_id}", admin_users.admin_user_update, post),
        ("/admin/users/{user_id}/sessions/end", admin_users.admin_user_sessions_end, post),
        ("/admin/units", admin_units.admin_units, get),
        ("/admin/units/new", admin_units.admin_unit_new, get),
        ("/admin/units/new", admin_units.admin_unit_create, post),
        ("/admin/units/{code}", admin_units.admin_unit_edit, get),
        ("/admin/units/{code}", admin_units.admin_unit_update, post),
        ("/admin/procedures/new", admin_catalogue.admin_procedure_new, get),
        ("/admin/procedures/new", admin_catalogue.admin_procedure_create, post),
        ("/admin/procedures/{code}", admin_catalogue.admin_procedure_edit, get),
        ("/admin/procedures/{code}", admin_catalogue.admin_procedure_update, post),
        ("/admin/catalogue", admin_catalogue.admin_catalogue_transfer, get),
        ("/admin/catalogue/import", admin_catalogue.admin_catalogue_import, post),
        ("/admin/catalogue/export", admin_catalogue.admin_catalogue_export, get),
    ]
    out: list[BaseRoute] = [
        Route(path, endpoint, methods=methods, name=endpoint.__name__)
        for path, endpoint, methods in table
    ]
    out.append(Route("/static/{path:path}", assets.serve, methods=get, name="static"))
    return out
