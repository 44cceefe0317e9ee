"""The route table. Every endpoint is wrapped by `guard(rule)`; tests check that none is not."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from portal.services.uploads import MAX_CHUNK
from portal.web import (
    admin_calendar,
    admin_catalogue,
    admin_units,
    admin_users,
    auth,
    catalogue,
    dossiers,
    pages,
    processing,
    stats,
    uploads,
)
from portal.web.static import StaticAssets


def routes(assets: StaticAssets, max_upload_bytes: int) -> list[BaseRoute]:
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
        ("/admin/holidays", admin_calendar.admin_holidays, get),
        ("/admin/holidays", admin_calendar.admin_holiday_add, post),
        ("/admin/holidays/{holiday_id}/delete", admin_calendar.admin_holiday_remove, post),
        ("/dossiers", dossiers.dossier_list, get),
        ("/dossiers/new", dossiers.dossier_new, get),
        ("/dossiers/new", dossiers.dossier_create, post),
        ("/dossiers/code/{code}", processing.dossier_by_code, get),
        ("/dossiers/{dossier_id}", processing.dossier_detail, get),
        ("/dossiers/{dossier_id}/edit", dossiers.dossier_edit, get),
        ("/dossiers/{dossier_id}/edit", dossiers.dossier_save, post),
        ("/dossiers/{dossier_id}/files", dossiers.dossier_file_add, post),
        ("/dossiers/{dossier_id}/supplement-files", dossiers.dossier_supplement_file_add, post),
        ("/dossiers/{dossier_id}/uploads", uploads.upload_create, post),
        ("/uploads", uploads.upload_options, ["OPTIONS"]),
        ("/uploads/{key}", uploads.upload_offset, ["HEAD"]),
        ("/uploads/{key}", uploads.upload_append, ["PATCH"]),
        ("/uploads/{key}", uploads.upload_cancel, ["DELETE"]),
        ("/dossiers/{dossier_id}/files/{attachment_id}", processing.dossier_file, get),
        ("/dossiers/{dossier_id}/files/{attachment_id}/delete", dossiers.dossier_file_remove, post),
        ("/dossiers/{dossier_id}/review", dossiers.dossier_review, get),
        ("/dossiers/{dossier_id}/submit", dossiers.dossier_submit, post),
        ("/dossiers/{dossier_id}/delete", dossiers.dossier_delete_confirm, get),
        ("/dossiers/{dossier_id}/delete", dossiers.dossier_delete, post),
        ("/dossiers/{dossier_id}/receipt", processing.dossier_receipt, get),
        ("/dossiers/{dossier_id}/slips/{slip_id}", processing.dossier_slip, get),
        ("/dossiers/{dossier_id}/actions/{action}", processing.dossier_act, post),
        ("/dossiers/{dossier_id}/assign", processing.dossier_assign, post),
        ("/dossiers/{dossier_id}/result", processing.dossier_result_upload, post),
        ("/officer/inbox", processing.officer_inbox, get),
        ("/notifications", processing.notifications, get),
        ("/notifications/read", processing.notifications_read, post),
        ("/statistics", stats.statistics_page, get),
        ("/statistics.csv", stats.statistics_csv, get),
    ]
    file_limit = max_upload_bytes + 65536
    body_limits = {
        dossiers.dossier_file_add: file_limit,
        dossiers.dossier_supplement_file_add: file_limit,
        processing.dossier_result_upload: file_limit,
        uploads.upload_append: MAX_CHUNK + 1,
        admin_catalogue.admin_catalogue_import: 6 * 1024 * 1024,
    }
    out: list[BaseRoute] = [
        Route(
            path,
            endpoint,
            methods=methods,
            name=endpoint.__name__,
            max_body_size=body_limits.get(endpoint, 1024 * 1024),
        )
        for path, endpoint, methods in table
    ]
    out.append(Route("/static/{path:path}", assets.serve, methods=get, name="static"))
    return out
