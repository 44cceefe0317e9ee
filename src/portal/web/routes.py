"""The route table. Every endpoint is wrapped by `guard(rule)`; tests check that none is not."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from portal.web import (
    account,
    admin_calendar,
    admin_catalogue,
    admin_forms,
    admin_signers,
    admin_units,
    admin_users,
    audit,
    auth,
    catalogue,
    counter,
    dossier_actions,
    dossier_page,
    dossiers,
    downloads,
    enterprise_checks,
    inbox,
    lookup,
    notifications,
    pages,
    slips,
    stats,
    uploads,
    verify,
)
from portal.web.static import StaticAssets

GET, POST = ["GET", "HEAD"], ["POST"]
# (path, endpoint, methods): the route's name is its endpoint's name.
TABLE = [
    ("/", pages.home, GET),
    ("/healthz", pages.health, GET),
    ("/lang/{code}", pages.language_set, POST),
    ("/login", auth.login_form, GET),
    ("/login", auth.login_submit, POST),
    ("/logout", auth.logout, POST),
    ("/register", auth.register_form, GET),
    ("/register", auth.register_submit, POST),
    ("/register/confirm", auth.register_confirm_form, GET),
    ("/register/confirm", auth.register_confirm, POST),
    ("/check-email", auth.check_email, GET),
    ("/password/forgot", account.password_forgot_form, GET),
    ("/password/forgot", account.password_forgot_submit, POST),
    ("/password/reset", account.password_reset_form, GET),
    ("/password/reset", account.password_reset_submit, POST),
    ("/account", account.account_page, GET),
    ("/account/password", account.account_password, POST),
    ("/account/sessions/end", account.account_sessions_end, POST),
    ("/lookup", lookup.dossier_lookup, GET),
    ("/verify", verify.result_verify, GET),
    ("/procedures", catalogue.procedure_list, GET),
    ("/procedures/{code}", catalogue.procedure_detail, GET),
    ("/procedures/{code}/forms/{form_id}/{sha}", admin_forms.procedure_form_download, GET),
    ("/admin", admin_users.admin_home, GET),
    ("/admin/users", admin_users.admin_users, GET),
    ("/admin/users/new", admin_users.admin_user_new, GET),
    ("/admin/users/new", admin_users.admin_user_create, POST),
    ("/admin/users/{user_id}", admin_users.admin_user_edit, GET),
    ("/admin/users/{user_id}", admin_users.admin_user_update, POST),
    ("/admin/users/{user_id}/sessions/end", admin_users.admin_user_sessions_end, POST),
    ("/admin/units", admin_units.admin_units, GET),
    ("/admin/units/new", admin_units.admin_unit_new, GET),
    ("/admin/units/new", admin_units.admin_unit_create, POST),
    ("/admin/units/structures", admin_units.admin_structure_record, POST),
    ("/admin/units/{code}", admin_units.admin_unit_edit, GET),
    ("/admin/units/{code}", admin_units.admin_unit_update, POST),
    ("/admin/procedures/new", admin_catalogue.admin_procedure_new, GET),
    ("/admin/procedures/new", admin_catalogue.admin_procedure_create, POST),
    ("/admin/procedures/{code}", admin_catalogue.admin_procedure_edit, GET),
    ("/admin/procedures/{code}", admin_catalogue.admin_procedure_update, POST),
    ("/admin/procedures/{code}/forms", admin_forms.admin_procedure_forms, GET),
    ("/admin/procedures/{code}/forms", admin_forms.admin_procedure_form_add, POST),
    (
        "/admin/procedures/{code}/forms/{form_id}/delete",
        admin_forms.admin_procedure_form_remove_confirm,
        GET,
    ),
    (
        "/admin/procedures/{code}/forms/{form_id}/delete",
        admin_forms.admin_procedure_form_remove,
        POST,
    ),
    ("/admin/catalogue", admin_catalogue.admin_catalogue_transfer, GET),
    ("/admin/catalogue/import", admin_catalogue.admin_catalogue_import, POST),
    ("/admin/catalogue/export", admin_catalogue.admin_catalogue_export, GET),
    ("/admin/signers", admin_signers.admin_signers, GET),
    ("/admin/signers", admin_signers.admin_signer_register, POST),
    ("/admin/signers/{signer_id}/remove", admin_signers.admin_signer_remove_confirm, GET),
    ("/admin/signers/{signer_id}/remove", admin_signers.admin_signer_remove, POST),
    ("/admin/holidays", admin_calendar.admin_holidays, GET),
    ("/admin/holidays", admin_calendar.admin_holiday_add, POST),
    ("/admin/holidays/{holiday_id}/delete", admin_calendar.admin_holiday_remove, POST),
    ("/admin/holidays/years/{year}/confirm", admin_calendar.admin_holiday_confirm, POST),
    ("/dossiers", dossiers.dossier_list, GET),
    ("/dossiers/new", dossiers.dossier_new, GET),
    ("/dossiers/new", dossiers.dossier_create, POST),
    ("/dossiers/code/{code}", dossier_page.dossier_by_code, GET),
    ("/dossiers/{dossier_id}", dossier_page.dossier_detail, GET),
    ("/dossiers/{dossier_id}/edit", dossiers.dossier_edit, GET),
    ("/dossiers/{dossier_id}/edit", dossiers.dossier_save, POST),
    ("/dossiers/{dossier_id}/files", dossiers.dossier_file_add, POST),
    ("/dossiers/{dossier_id}/supplement-files", dossiers.dossier_supplement_file_add, POST),
    ("/dossiers/{dossier_id}/uploads", uploads.upload_create, POST),
    ("/dossiers/{dossier_id}/uploads", uploads.upload_creation_options, ["OPTIONS"]),
    ("/uploads", uploads.upload_options, ["OPTIONS"]),
    ("/uploads/{key}", uploads.upload_offset, ["HEAD"]),
    ("/uploads/{key}", uploads.upload_append, ["PATCH"]),
    ("/uploads/{key}", uploads.upload_cancel, ["DELETE"]),
    ("/dossiers/{dossier_id}/files/{attachment_id}", downloads.dossier_file, GET),
    ("/dossiers/{dossier_id}/files/{attachment_id}/delete", dossiers.dossier_file_remove, POST),
    ("/dossiers/{dossier_id}/review", dossiers.dossier_review, GET),
    ("/dossiers/{dossier_id}/submit", dossiers.dossier_submit, POST),
    ("/dossiers/{dossier_id}/delete", dossiers.dossier_delete_confirm, GET),
    ("/dossiers/{dossier_id}/delete", dossiers.dossier_delete, POST),
    ("/dossiers/{dossier_id}/receipt", downloads.dossier_receipt, GET),
    ("/dossiers/{dossier_id}/slips/{slip_id}", slips.dossier_slip, GET),
    ("/dossiers/{dossier_id}/slips/{slip_id}/pdf", slips.dossier_slip_pdf, GET),
    ("/dossiers/{dossier_id}/apology", slips.dossier_apology_form, GET),
    ("/dossiers/{dossier_id}/apology", slips.dossier_apology_issue, POST),
    ("/dossiers/{dossier_id}/actions/{action}", dossier_actions.dossier_act, POST),
    ("/dossiers/{dossier_id}/assign", dossier_actions.dossier_assign, POST),
    ("/dossiers/{dossier_id}/result", dossier_actions.dossier_result_upload, POST),
    ("/dossiers/{dossier_id}/counter-files", counter.dossier_counter_files, POST),
    ("/officer/inbox", inbox.officer_inbox, GET),
    ("/officer/counter", counter.officer_counter, GET),
    ("/officer/counter", counter.officer_counter_submit, POST),
    ("/officer/enterprises", enterprise_checks.enterprise_queue, GET),
    ("/officer/enterprises/{user_id}/activate", enterprise_checks.enterprise_activate, POST),
    ("/officer/enterprises/{user_id}/reject", enterprise_checks.enterprise_reject, POST),
    ("/notifications", notifications.notifications, GET),
    ("/notifications/read", notifications.notifications_read, POST),
    ("/statistics", stats.statistics_page, GET),
    ("/statistics.csv", stats.statistics_csv, GET),
    ("/audit", audit.audit_page, GET),
    ("/audit.csv", audit.audit_csv, GET),
]


def routes(assets: StaticAssets, max_upload_bytes: int) -> list[BaseRoute]:
    """The app's routes, each with its body limit (None: the endpoint enforces its own), and
    the static files."""
    file_limit = max_upload_bytes + 65536
    body_limits: dict[object, int | None] = {
        dossiers.dossier_file_add: file_limit,
        dossiers.dossier_supplement_file_add: file_limit,
        dossier_actions.dossier_result_upload: file_limit,
        # the scanned documents of a paper dossier or supplement, several in one request
        counter.officer_counter_submit: counter.MAX_SCANS * file_limit,
        counter.dossier_counter_files: counter.MAX_SCANS * file_limit,
        # Up to the whole file in one PATCH: the endpoint streams it to disk and answers
        # 413 itself (with Tus-Resumable) once a body is longer than the upload's rest.
        uploads.upload_append: None,
        admin_catalogue.admin_catalogue_import: 6 * 1024 * 1024,
        admin_forms.admin_procedure_form_add: file_limit,
    }
    out: list[BaseRoute] = [
        Route(
            path,
            endpoint,
            methods=methods,
            name=endpoint.__name__,
            max_body_size=body_limits.get(endpoint, 1024 * 1024),
        )
        for path, endpoint, methods in TABLE
    ]
    out.append(Route("/static/{path:path}", assets.serve, methods=GET, name="static"))
    return out
