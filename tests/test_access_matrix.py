"""The access policy over the whole route table: every route × every actor, on real objects.

`MATRIX` below says, for each route (by name; a `:case` names one more object it is tried
on, or `:owners_link` the signed link of the owner's e-mail, which opens for nobody else),
the rule its guard must carry and the status each actor must get. A route of the app
without a row, or a row whose rule differs from the route's guard, fails the test, so a new
route must come with its rule and its expectations.

Statuses: `L` is the login page (303 to /login?next=<this address>); 200, 201, 204 and a 303
elsewhere mean admitted; 409 and 422 mean admitted but refused by the object's state or the
form (the requests are chosen so that nothing the later rows need is changed), 410 that an
e-mailed link is used or expired; 401 and 403 mean refused by the route's rule or the actor's
role; 404 means the object is not the actor's to see (never a 403 that would tell it exists).
Besides the statuses, nothing an actor may not see (the dossier's code, its files' names, the
draft's file) appears in any answer it gets.

Columns: anonymous; owner = user of enterprise A who filed; colleague = another user of A;
entB = a user of enterprise B; officer = officer of 02CI (the handling branch, no clearance);
leader = leader of 02CI (cleared); branch = officer of 02AB (same department); far = officer of
01AB (another department); admin; auditor."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from starlette.routing import Route

from portal.db import db
from portal.models import User
from portal.services.download_links import DownloadLinks, Target
from tests.access_world import ACTORS, World, access_world, tus_create, tus_headers
from tests.dossier_web_fixtures import ANSWERS, PROCEDURE, document_ids, pdf_bytes
from tests.helpers import csrf_from

COLUMNS = (
    "anonymous",
    "owner",
    "colleague",
    "stranger",
    "officer",
    "leader",
    "branch_officer",
    "far_officer",
    "admin",
    "auditor",
)
MATRIX = """
route[:case]                 rule        anon owner coll entB offi lead brch far  admn audt
home                         public      200  200  200  200  200  200  200  200  200  200
health                       public      200  200  200  200  200  200  200  200  200  200
robots                       public      200  200  200  200  200  200  200  200  200  200
favicon                      public      200  200  200  200  200  200  200  200  200  200
language_set                 public      303  303  303  303  303  303  303  303  303  303
login_form                   public      200  303  303  303  303  303  303  303  303  303
login_submit                 public      422  422  422  422  422  422  422  422  422  422
logout                       public      303  303  303  303  303  303  303  303  303  303
national_login_start         public      404  404  404  404  404  404  404  404  404  404
national_login_callback      public      404  404  404  404  404  404  404  404  404  404
dossier_lookup               public      200  200  200  200  200  200  200  200  200  200
result_verify                public      200  200  200  200  200  200  200  200  200  200
result_verify_file           public      422  422  422  422  422  422  422  422  422  422
register_form                public      200  200  200  200  200  200  200  200  200  200
register_submit              public      422  422  422  422  422  422  422  422  422  422
register_confirm_form        public      410  410  410  410  410  410  410  410  410  410
register_confirm             public      422  422  422  422  422  422  422  422  422  422
check_email                  public      200  200  200  200  200  200  200  200  200  200
password_forgot_form         public      200  200  200  200  200  200  200  200  200  200
password_forgot_submit       public      422  422  422  422  422  422  422  422  422  422
password_reset_form          public      410  410  410  410  410  410  410  410  410  410
password_reset_submit        public      422  422  422  422  422  422  422  422  422  422
account_page                 signed_in   L    200  200  200  200  200  200  200  200  200
account_password             signed_in   401  422  422  422  422  422  422  422  422  422
account_certificate          signed_in   401  422  422  422  422  422  422  422  422  422
account_sessions_end         signed_in   401  303  303  303  303  303  303  303  303  303
procedure_list               public      200  200  200  200  200  200  200  200  200  200
procedure_detail             public      200  200  200  200  200  200  200  200  200  200
procedure_form_download      public      200  200  200  200  200  200  200  200  200  200
admin_home                   admin       L    403  403  403  403  403  403  403  200  403
admin_users                  admin       L    403  403  403  403  403  403  403  200  403
admin_user_new               admin       L    403  403  403  403  403  403  403  200  403
admin_user_create            admin       401  403  403  403  403  403  403  403  422  403
admin_user_edit              admin       L    403  403  403  403  403  403  403  200  403
admin_user_update            admin       401  403  403  403  403  403  403  403  422  403
admin_user_sessions_end      admin       401  403  403  403  403  403  403  403  303  403
admin_units                  admin       L    403  403  403  403  403  403  403  200  403
admin_unit_new               admin       L    403  403  403  403  403  403  403  200  403
admin_unit_create            admin       401  403  403  403  403  403  403  403  422  403
admin_structure_record       admin       401  403  403  403  403  403  403  403  422  403
admin_unit_edit              admin       L    403  403  403  403  403  403  403  200  403
admin_unit_update            admin       401  403  403  403  403  403  403  403  422  403
admin_procedure_new          admin       L    403  403  403  403  403  403  403  200  403
admin_procedure_create       admin       401  403  403  403  403  403  403  403  422  403
admin_procedure_edit         admin       L    403  403  403  403  403  403  403  200  403
admin_procedure_update       admin       401  403  403  403  403  403  403  403  422  403
admin_procedure_forms        admin       L    403  403  403  403  403  403  403  200  403
admin_procedure_form_add     admin       401  403  403  403  403  403  403  403  422  403
admin_procedure_form_remove_confirm admin L 403 403  403  403  403  403  403  200  403
admin_procedure_form_remove  admin       401  403  403  403  403  403  403  403  303  403
admin_catalogue_transfer     admin       L    403  403  403  403  403  403  403  200  403
admin_catalogue_import       admin       401  403  403  403  403  403  403  403  422  403
admin_catalogue_export       admin       L    403  403  403  403  403  403  403  200  403
admin_signers                admin       L    403  403  403  403  403  403  403  200  403
admin_signer_register        admin       401  403  403  403  403  403  403  403  422  403
admin_signer_remove_confirm  admin       L    403  403  403  403  403  403  403  200  403
admin_signer_remove          admin       401  403  403  403  403  403  403  403  303  403
admin_api_clients            admin       L    403  403  403  403  403  403  403  200  403
admin_api_client_register    admin       401  403  403  403  403  403  403  403  422  403
admin_api_client_rotate_confirm admin    L    403  403  403  403  403  403  403  200  403
admin_api_client_rotate      admin       401  403  403  403  403  403  403  403  200  403
admin_api_client_revoke_confirm admin    L    403  403  403  403  403  403  403  200  403
admin_api_client_revoke      admin       401  403  403  403  403  403  403  403  303  403
admin_sync                   admin       L    403  403  403  403  403  403  403  200  403
admin_sync_retry_confirm     admin       L    403  403  403  403  403  403  403  200  403
admin_sync_retry             admin       401  403  403  403  403  403  403  403  303  403
admin_catalogue_sync         admin       L    403  403  403  403  403  403  403  200  403
admin_catalogue_sync_check   admin       401  403  403  403  403  403  403  403  422  403
admin_catalogue_sync_apply   admin       401  403  403  403  403  403  403  403  422  403
admin_holidays               admin       L    403  403  403  403  403  403  403  200  403
admin_holiday_add            admin       401  403  403  403  403  403  403  403  422  403
admin_holiday_remove         admin       401  403  403  403  403  403  403  403  303  403
admin_holiday_confirm        admin       401  403  403  403  403  403  403  403  422  403
dossier_list                 enterprise  L    200  200  200  403  403  403  403  403  403
dossier_new                  enterprise  L    200  200  200  403  403  403  403  403  403
dossier_create               enterprise  401  422  422  422  403  403  403  403  403  403
dossier_by_code              signed_in   L    303  303  404  303  303  404  404  404  303
dossier_detail               signed_in   L    200  200  404  200  200  404  404  404  200
dossier_detail:draft         signed_in   L    303  303  404  404  404  404  404  404  404
dossier_edit:draft           enterprise  L    200  200  404  403  403  403  403  403  403
dossier_save:draft           enterprise  401  303  303  404  403  403  403  403  403  403
dossier_file_add:draft       enterprise  401  422  422  404  403  403  403  403  403  403
dossier_supplement_file_add  enterprise  401  422  422  404  403  403  403  403  403  403
upload_create:draft          enterprise  401  201  201  404  403  403  403  403  403  403
upload_options               public      204  204  204  204  204  204  204  204  204  204
upload_creation_options      public      204  204  204  204  204  204  204  204  204  204
upload_offset                enterprise  L    200  404  404  403  403  403  403  403  403
upload_append                enterprise  401  409  404  404  403  403  403  403  403  403
upload_cancel                enterprise  401  204  404  404  403  403  403  403  403  403
dossier_file                 signed_in   L    200  200  404  200  200  404  404  404  200
dossier_file:confidential    signed_in   L    200  200  404  404  200  404  404  404  404
dossier_file:draft           signed_in   L    200  200  404  404  404  404  404  404  404
dossier_file:other_dossier   signed_in   L    404  404  404  404  404  404  404  404  404
dossier_file:owners_link     signed_in   L    200  404  404  404  404  404  404  404  404
dossier_slip:owners_link     signed_in   L    200  404  404  404  404  404  404  404  404
dossier_receipt:owners_link  signed_in   L    200  404  404  404  404  404  404  404  404
dossier_file_remove          enterprise  401  422  422  404  403  403  403  403  403  403
dossier_review:draft         enterprise  L    200  200  404  403  403  403  403  403  403
dossier_submit:draft         enterprise  401  422  422  404  403  403  403  403  403  403
dossier_delete_confirm:draft enterprise  L    200  200  404  403  403  403  403  403  403
dossier_delete               enterprise  401  422  422  404  403  403  403  403  403  403
dossier_receipt              signed_in   L    200  200  404  200  200  404  404  404  200
dossier_slip                 signed_in   L    200  200  404  200  200  404  404  404  200
dossier_slip_pdf             signed_in   L    200  200  404  200  200  404  404  404  200
dossier_slip_pdf:owners_link signed_in   L    200  404  404  404  404  404  404  404  404
dossier_apology_form         unit_staff  L    403  403  403  200  200  404  404  403  403
dossier_apology_issue        unit_staff  401  403  403  403  422  422  404  404  403  403
dossier_act                  signed_in   401  403  403  404  422  422  404  404  404  403
dossier_rate                 enterprise  401  422  422  404  403  403  403  403  403  403
dossier_assign               staff       401  403  403  403  422  422  404  404  404  403
dossier_result_upload        staff       401  403  403  403  409  409  404  404  404  403
officer_inbox                unit_staff  L    403  403  403  200  200  200  200  403  403
officer_counter              counter_intake L 403 403  403  200  200  200  200  403  403
officer_counter_submit       counter_intake 401 403 403 403 422 422  422  422  403  403
dossier_payment_request      unit_staff  401  403  403  403  422  422  404  404  403  403
dossier_payment_counter      unit_staff  401  403  403  403  409  409  404  404  403  403
payment_pay:paid             enterprise  401  409  409  404  403  403  403  403  403  403
payment_receipt:paid         signed_in   L    200  200  404  200  200  404  404  404  200
payment_receipt_pdf:paid     signed_in   L    200  200  404  200  200  404  404  404  200
payment_return               signed_in   L    404  404  404  404  404  404  404  404  404
payment_notify               gateway     200  200  200  200  200  200  200  200  200  200
api_openapi                  public      200  200  200  200  200  200  200  200  200  200
api_procedure_list           api_client  401  401  401  401  401  401  401  401  401  401
api_procedure_detail         api_client  401  401  401  401  401  401  401  401  401  401
api_dossier_create           api_client  401  401  401  401  401  401  401  401  401  401
api_dossier_detail           api_client  401  401  401  401  401  401  401  401  401  401
api_dossier_submit           api_client  401  401  401  401  401  401  401  401  401  401
api_upload_create            api_client  401  401  401  401  401  401  401  401  401  401
api_upload_creation_options  public      204  204  204  204  204  204  204  204  204  204
api_upload_options           public      204  204  204  204  204  204  204  204  204  204
api_upload_offset            api_client  401  401  401  401  401  401  401  401  401  401
api_upload_append            api_client  401  401  401  401  401  401  401  401  401  401
api_upload_cancel            api_client  401  401  401  401  401  401  401  401  401  401
api_status_changes           api_client  401  401  401  401  401  401  401  401  401  401
payments_unmatched           staff       L    403  403  403  200  200  200  200  200  200
dossier_counter_files        counter_intake 401 403 403 403 409 409  404  404  403  403
enterprise_queue             enterprise_checks L 403 403 403  200  200  200  200  200  403
enterprise_activate          enterprise_checks 401 403 403 403 404  404  404  404  404  403
enterprise_reject            enterprise_checks 401 403 403 403 404  404  404  404  404  403
notifications                signed_in   L    200  200  200  200  200  200  200  200  200
notifications_read           signed_in   401  303  303  303  303  303  303  303  303  303
statistics_page              public      200  200  200  200  200  200  200  200  200  200
statistics_csv               public      L    403  403  403  200  200  200  200  200  200
statistics_xlsx              public      L    403  403  403  200  200  200  200  200  200
feedback_new                 public      200  200  200  200  200  200  200  200  200  200
feedback_create              public      422  422  422  422  422  422  422  422  422  422
feedback_answers             public      200  200  200  200  200  200  200  200  200  200
feedback_list                feedback_staff L 403 403 403  200  200  200  200  200  403
feedback_detail              feedback_staff L 403 403 403  200  200  200  200  200  403
feedback_answer              feedback_staff 401 403 403 403 422 422  422  422  422  403
audit_page                   audit       L    403  403  403  403  403  403  403  403  200
audit_csv                    audit       L    403  403  403  403  403  403  403  403  200
"""


def parse(table: str) -> dict[str, tuple[str, dict[str, str]]]:
    rows: dict[str, tuple[str, dict[str, str]]] = {}
    for line in table.strip().splitlines()[1:]:
        key, rule, *statuses = line.split()
        assert len(statuses) == len(COLUMNS), key
        assert key not in rows, f"{key} is in the table twice"
        rows[key] = (rule, dict(zip(COLUMNS, statuses, strict=True)))
    return rows


EXPECTED = parse(MATRIX)
ADMITTED = {"200", "201", "204", "303", "409", "410", "422"}
# Pages that name the dossier (its code) to exactly these actors when they answer 200.
SHOWS_CODE = {
    "dossier_detail": {"owner", "colleague", "officer", "leader", "auditor"},
    "dossier_list": {"owner", "colleague"},
    "officer_inbox": {"officer", "leader"},
    "notifications": {"owner", "officer", "leader"},  # each user sees only their own
}
# The parameters of each route: the world's object (an attribute name) or a fixed value.
PARAMS = {
    "dossier_id": "dossier",
    "attachment_id": "plain",
    "slip_id": "slip",
    "key": "upload",
    "holiday_id": "holiday",
    "form_id": "procedure_form",
    "signer_id": "signer",
    "sha": "form_sha",
    "payment_id": "payment",
    "key_id": "api_key",
    "message_id": "sync_message",
    "feedback_id": "feedback",
}
CASES = {
    "draft": {"dossier_id": "draft"},
    "confidential": {"attachment_id": "secret"},
    "other_dossier": {"attachment_id": "draft_file"},  # a file of the draft through the dossier
    "owners_link": {},  # with the signed token of the owner's e-mail link (?t=)
    "paid": {"dossier_id": "paid_dossier"},  # its payment, paid at the counter
}
OVERRIDES = {
    "dossier_file:draft": {"dossier_id": "draft", "attachment_id": "draft_file"},
    "upload_cancel": {"key": "spare_upload"},
    "admin_procedure_form_remove": {"form_id": "spare_form"},
    "admin_signer_remove": {"signer_id": "spare_signer"},
    "admin_api_client_revoke": {"key_id": "spare_api_key"},
    "admin_sync_retry": {"message_id": "spare_sync_message"},
}
FORMS = {
    "login_submit": {"password": "not-the-password-1"},
    "dossier_create": {"procedure": PROCEDURE, "unit": "ZZ99"},
    "dossier_save": ANSWERS,
    "dossier_file_add": {"document": ""},
    "dossier_submit": {"submit_key": "matrix", "confirm": ""},
    "dossier_act": {"note": ""},
    "dossier_assign": {"to_user": "999999"},
    "enterprise_reject": {"reason": ""},
    "dossier_apology_issue": {"reason": "", "new_date": ""},
    "payment_pay": {"gateway": "vnpay"},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    with access_world(tmp_path_factory.mktemp("access")) as w:
        yield w


def routes_of(world: World) -> dict[str, Route]:
    routes = {r.name: r for r in world.app.routes if r.name != "static"}
    assert all(isinstance(r, Route) for r in routes.values())
    return routes


def path_for(world: World, route: Route, key: str) -> str:
    case = key.partition(":")[2]
    chosen = {**PARAMS, **CASES.get(case, {}), **OVERRIDES.get(key, {})}
    values = {}
    for name in route.param_convertors:
        if name == "code":
            values[name] = {
                "/lang/{code}": "vi",
                "/dossiers/code/{code}": world.code,
                "/admin/units/{code}": "02CI",
            }.get(route.path, PROCEDURE)
        elif name == "user_id":
            values[name] = str(world.users["spare"].id)
        elif name == "action":
            values[name] = "request_supplement"
        elif name == "gateway":
            values[name] = "vnpay"
        elif name == "year":
            values[name] = "2040"  # a year with no holiday: the admin's confirmation is refused
        else:
            values[name] = str(getattr(world, chosen[name]))
    return route.url_path_for(route.name, **values)


def send(world: World, actor: str, route: Route, key: str):
    """One request of `actor` to the row's route (with the CSRF token of its session)."""
    s = world.sessions[actor]
    name, path = route.name, path_for(world, route, key)
    if route.path.startswith("/api/") and name != "api_openapi":
        # a session's cookie and CSRF token count for nothing there: requests are signed
        method = sorted(route.methods - {"HEAD"} or {"HEAD"})[0]
        headers = {"X-CSRF-Token": s.token, "Tus-Resumable": "1.0.0"}
        return s.client.request(method, path, content=b"{}", headers=headers), path
    if "GET" in route.methods:
        query = f"?procedure={PROCEDURE}" if name == "dossier_new" else ""
        if key.endswith(":owners_link"):
            query = f"?t={owners_token(world, name)}"
        return s.get(path + query), path + query
    if name == "upload_create":
        return tus_create(s, world.draft, document_ids()[0], 5000), path
    if name in ("upload_options", "upload_creation_options"):
        return s.client.options(path, follow_redirects=False), path
    if name == "upload_offset":
        return s.client.head(path, headers=tus_headers(s), follow_redirects=False), path
    if name == "upload_append":
        headers = tus_headers(
            s, **{"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
        )
        return s.client.patch(path, content=b"%PDF", headers=headers, follow_redirects=False), path
    if name == "upload_cancel":
        return s.client.delete(path, headers=tus_headers(s), follow_redirects=False), path
    files = None
    if name == "dossier_result_upload":
        files = {"file": ("ket-qua.pdf", pdf_bytes("result"), "application/pdf")}
    form = FORMS.get(name, {})
    if name == "login_submit":  # failures are counted per account: one account per actor
        form = {**form, "username": f"nobody.{actor}"}
    return s.post(path, form, files=files), path


def owners_token(world: World, name: str) -> str:
    """The token of the link an e-mail to the owner carries to the route's object."""
    kind, object_id = {
        "dossier_file": ("file", world.plain),
        "dossier_slip": ("slip", world.slip),
        "dossier_slip_pdf": ("slip", world.slip),
        "dossier_receipt": ("receipt", world.dossier),
    }[name]
    owner = world.users["owner"].id
    return DownloadLinks.of(world.settings).token(Target(owner, world.dossier, kind, object_id))


def after(world: World, actor: str, route: Route) -> None:
    """Undo what a row did to the actor's own session (the logout, here or everywhere)."""
    if route.name not in ("logout", "account_sessions_end"):
        return
    s = world.sessions[actor]
    if actor == "anonymous":
        s.token = csrf_from(s.get("/login").text)
    else:
        s.login()


def hidden_from(world: World, actor: str) -> list[str]:
    """What `actor` may never read in an answer: the dossier's code and files' names unless
    it sees the dossier; the draft's file unless it is of enterprise A."""
    if actor in ("owner", "colleague"):
        return []
    if actor in ("officer", "leader", "auditor"):
        return ["ban-nhap.pdf"]
    return world.secrets


def problems_of(world: World, actor: str, key: str, expected: str, r, path: str) -> list[str]:
    name = key.partition(":")[0]
    got = str(r.status_code)
    problems = []
    if expected == "L":
        location = r.headers.get("location", "")
        if got != "303" or location != f"/login?next={quote(path)}":
            problems.append(f"{actor}: expected the login page, got {got} {location}")
        return problems
    if got != expected:
        problems.append(f"{actor}: expected {expected}, got {got}")
    if got == "303" and r.headers.get("location", "").startswith("/login"):
        problems.append(f"{actor}: sent to the login page")
    body = r.text if r.request.method != "HEAD" else ""
    leaked = [s for s in hidden_from(world, actor) if s in body and s not in path]
    if leaked:
        problems.append(f"{actor}: the answer shows {leaked}")
    shows = actor in SHOWS_CODE.get(name, ())
    if got == "200" and name in SHOWS_CODE and (world.code in body) != shows:
        problems.append(f"{actor}: the dossier's code is {'missing' if shows else 'shown'}")
    if got == "200" and name == "dossier_detail" and 'class="app-timeline"' not in body:
        problems.append(f"{actor}: the dossier page shows no history")
    if got == "200" and name in ("dossier_file", "dossier_slip_pdf", "payment_receipt_pdf"):
        disposition = r.headers.get("content-disposition", "")
        if not disposition.startswith("attachment") or not r.content.startswith(b"%PDF-"):
            problems.append(f"{actor}: not a PDF download ({disposition})")
        if r.headers.get("content-type") != "application/pdf":
            problems.append(f"{actor}: type {r.headers.get('content-type')}")
    return problems


# --- the table matches the app --------------------------------------------------------------


def test_every_route_has_its_rule_and_expectations_in_the_table(world):
    routes = routes_of(world)
    names = {key.partition(":")[0] for key in EXPECTED}
    missing = sorted(set(routes) - names)
    assert missing == [], f"routes without a row in MATRIX: {missing}"
    assert sorted(names - set(routes)) == [], "rows for routes the app does not have"
    guards = {
        key: getattr(routes[key.partition(":")[0]].endpoint, "access_rule", None)
        for key in EXPECTED
    }
    wrong = {key: (rule, guards[key]) for key, (rule, _) in EXPECTED.items() if guards[key] != rule}
    assert wrong == {}, f"rule in MATRIX vs the route's guard: {wrong}"
    assert set(COLUMNS) == set(ACTORS)
    for key, (_, statuses) in EXPECTED.items():
        assert set(statuses.values()) <= ADMITTED | {"L", "401", "403", "404"}, key
        case = key.partition(":")[2]
        assert not case or case in CASES or key in OVERRIDES, key


def test_the_actors_are_who_the_table_says(world):
    with db.connection_context():
        u = {name: User.get_by_id(user.id) for name, user in world.users.items()}
        units = {
            name: (u[name].unit.code, u[name].unit.parent_id)
            for name in ("officer", "leader", "branch_officer", "far_officer")
        }
    assert u["owner"].enterprise_id == u["colleague"].enterprise_id != u["stranger"].enterprise_id
    assert {name: code for name, (code, _) in units.items()} == {
        "officer": "02CI",
        "leader": "02CI",
        "branch_officer": "02AB",
        "far_officer": "01AB",
    }
    assert units["branch_officer"][1] == units["officer"][1] != units["far_officer"][1]
    assert not u["officer"].clearance and u["leader"].clearance


# --- every route × every actor --------------------------------------------------------------


@pytest.mark.parametrize("key", list(EXPECTED))
def test_route_answers_each_actor_as_the_table_says(world, key):
    routes = routes_of(world)
    name = key.partition(":")[0]
    if name not in routes:
        pytest.fail(f"MATRIX names {name}, which the app does not have")
    route = routes[name]
    _, statuses = EXPECTED[key]
    problems = []
    for actor in ACTORS:
        r, path = send(world, actor, route, key)
        try:
            problems += problems_of(world, actor, key, statuses[actor], r, path)
        finally:
            after(world, actor, route)
    assert problems == [], f"{key} ({path}): " + "; ".join(problems)
