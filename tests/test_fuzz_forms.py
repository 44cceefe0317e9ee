"""Hostile input into every form and query parameter of the route table, as every kind of actor:
never a server error, a POST with a valid CSRF token succeeds or is refused as the client's
error (and never succeeds without one), hostile markup never comes back unescaped, and
Vietnamese typed in NFD is kept and shown in NFC.

The sweep sends a few strings (always the markup) to every field of every POST route and to
every query parameter of every GET route that reads any, as each actor; the main forms of the
enterprise and the officer get every field × the whole corpus here, the administrator's in
test_fuzz_admin_forms.py. The fields and parameters come from tests/route_inputs.py, which
reads them from the endpoints' source."""

from __future__ import annotations

import contextlib
import itertools
import unicodedata
from urllib.parse import quote

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from portal.db import db
from portal.models import Attachment, Dossier, DossierEvent, Enterprise
from portal.services import workflow
from tests import dossier_web_fixtures as fx
from tests import fuzz_world
from tests.conftest import PASSWORD
from tests.dossier_fixtures import PDF
from tests.dossier_web_fixtures import Session
from tests.fuzz_world import ACTORS, World, fuzz_fields, post, refresh, tax_codes
from tests.helpers import HX
from tests.hostile_inputs import (
    ANY_ANSWER,
    CORPUS,
    REFUSED_WITHOUT_TOKEN,
    SCRIPT,
    VIETNAMESE,
    VIETNAMESE_NFD,
    check_answer,
    sweep_strings,
)
from tests.route_inputs import ALL, Inputs, route_inputs

forms, people, sessions, world = fx.forms, fx.people, fx.sessions, fuzz_world.world


def fuzz_routes(app) -> list[tuple[Route, Inputs]]:
    """Every POST route, and every GET route that reads query parameters; logout last."""
    out = []
    for route in app.routes:
        if not isinstance(route, Route) or route.name == "static":
            continue
        inputs = route_inputs(route.endpoint)
        if "POST" in route.methods or ("GET" in route.methods and inputs.query):
            out.append((route, inputs))
    return sorted(out, key=lambda pair: pair[0].name == "logout")


# --- the sweep over the route table ---------------------------------------------------------


@pytest.mark.parametrize("actor", ACTORS)
def test_every_form_and_query_parameter_survives_hostile_input(world: World, actor: str):
    s = world.actors[actor]
    routes = fuzz_routes(world.app)
    assert len(routes) >= 35
    for index, (route, inputs) in enumerate(routes):
        path = route.url_path_for(route.name, **world.path_values(route, actor))
        for n, key in enumerate(sweep_strings(index + ACTORS.index(actor))):
            value: object = [CORPUS[key], "1"] if n == 3 else CORPUS[key]  # repeated fields
            headers = HX if n == 1 else {}
            what = (actor, route.path, key)
            if "POST" not in route.methods:  # URLs are cut at 64 KiB (by httpx, and servers)
                longest = 9000 // len(inputs.query)
                cut = [v[:longest] for v in value] if isinstance(value, list) else value[:longest]
                r = s.get(path, params={q: cut for q in inputs.query}, headers=headers)
                check_answer(r, what, allowed=ANY_ANSWER)
                continue
            fields = (inputs.form - {ALL}) | (
                set(world.answer_fields) if ALL in inputs.form else set()
            ) or {"name", "note"}
            files = {f: ("fuzz.pdf", PDF, "application/pdf") for f in inputs.files} or None
            post(s, path, {f: value for f in fields}, what, files=files, headers=headers)
        if "POST" in route.methods:
            for token in (None, "forged-token"):
                data = {f: CORPUS["script"] for f in inputs.form - {ALL}}
                if token:
                    data["csrf_token"] = token
                r = s.post(path, data, csrf=False)
                check_answer(r, (actor, route.path, token), allowed=REFUSED_WITHOUT_TOKEN)


@pytest.mark.parametrize("actor", ["anonymous", "enterprise", "officer", "admin"])
def test_hostile_path_parameters_are_refused_plainly(world: World, actor: str):
    s = world.actors[actor]
    hostile = [
        SCRIPT,
        "../../etc/passwd",
        "-1",
        "9" * 40,
        VIETNAMESE_NFD,
        "📦",
        "' OR 1=1--",
        "%s%n{0}",
        "\x00",
        " ",
        "1.005458\n",
        "٣",
    ]
    routes = [
        r
        for r in world.app.routes
        if isinstance(r, Route) and r.param_convertors and r.methods & {"GET", "POST"}
    ]
    for index, route in enumerate(routes):
        real = world.path_values(route, actor)
        for name in route.param_convertors:
            for n in range(3):
                value = hostile[(index + n * 4 + len(actor)) % len(hostile)]
                path = route.path_format.format(**{**real, name: quote(value, safe="")})
                r = s.post(path, {"note": value}) if "POST" in route.methods else s.get(path)
                check_answer(r, (actor, route.path, name, value), allowed=ANY_ANSWER)


# --- the enterprise's forms ------------------------------------------------------------------


def test_login_fields(world: World):
    """Each attempt comes from its own address, so that the failed-login throttle (429, also
    an acceptable answer) does not hide what the form does with the input."""
    valid = {"username": world.people.enterprise.username, "password": PASSWORD, "next": "/"}
    addresses = (f"198.51.100.{n}" for n in itertools.cycle(range(1, 255)))
    with contextlib.ExitStack() as stack:

        def session() -> Session:
            client = TestClient(world.app, client=(next(addresses), 40000))
            return refresh(Session(stack.enter_context(client), None))

        fuzz_fields(session, "/login", lambda: valid, ["username", "password", "next"], "login")


def test_registration_fields(world: World):
    s, codes = world.actors["anonymous"], tax_codes()

    def valid() -> dict[str, str]:
        code = next(codes)
        return {
            "tax_code": code,
            "enterprise_name": "Công ty TNHH Thử",
            "full_name": "Trần Văn A",
            "email": f"dn{code}@example.vn",
            "password": "mat-khau-rat-dai-42",
            "password_confirm": "mat-khau-rat-dai-42",
        }

    names = list(valid())
    fuzz_fields(s, "/register", valid, names, "register")


def test_dossier_forms(world: World):
    s = world.actors["enterprise"]
    valid_new = {"procedure": fx.PROCEDURE, "unit": fx.UNIT}
    fuzz_fields(s, "/dossiers/new", lambda: valid_new, list(valid_new), "dossier_create")
    answers = {**fx.ANSWERS, "next": ""}
    fuzz_fields(s, f"/dossiers/{world.draft}/edit", lambda: answers, list(answers), "dossier_save")
    current = {"draft": world.new_draft()}

    def submit_path() -> str:
        with db.connection_context():
            if Dossier.get_by_id(current["draft"]).status != workflow.DRAFT:
                current["draft"] = world.new_draft()  # the last one went through
        return f"/dossiers/{current['draft']}/submit"

    valid_submit = {"submit_key": "fuzz-key", "confirm": "1"}
    fuzz_fields(s, submit_path, lambda: valid_submit, list(valid_submit), "dossier_submit")


def test_uploaded_file_names_and_documents(world: World):
    s = world.actors["enterprise"]
    document = fx.document_ids()[0]
    strings = {k: v for k, v in CORPUS.items() if k != "long_1m"}
    for key, value in strings.items():
        for name, doc in ((value, str(document)), ("don.pdf", value)):
            r = post(
                s,
                f"/dossiers/{world.draft}/files",
                {"document": doc},
                ("upload", key),
                files={"file": (name, PDF, "application/pdf")},
            )
            if r.status_code != 303:
                continue
            with db.connection_context():
                att = (
                    Attachment.select()
                    .where(Attachment.dossier == world.draft)
                    .order_by(Attachment.id.desc())
                    .first()
                )
            kept = att.original_name  # what the download will be called
            assert kept and len(kept) <= 120 and not set(kept) & set("/\\\x00\u202e"), kept
            r = s.get(f"/dossiers/{world.draft}/files/{att.id}")
            check_answer(r, ("download", key), allowed={200})
            assert r.headers["content-disposition"].startswith("attachment"), key
            post(s, f"/dossiers/{world.draft}/files/{att.id}/delete", {}, ("remove", key))


# --- the officer's forms ---------------------------------------------------------------------

ACTION_CASES = [  # action, who, the status it is tried from
    ("request_supplement", "officer", workflow.RECEIVED),
    ("forward", "officer", workflow.PROCESSING),
    ("stop_processing", "leader", workflow.PROCESSING),
    ("withdraw", "enterprise", workflow.RECEIVED),
]


@pytest.mark.parametrize(("action", "who", "status"), ACTION_CASES)
def test_officer_action_fields(world: World, action: str, who: str, status: int):
    valid = {
        "note": "Đề nghị bổ sung hóa đơn.",
        "confirm": "1",
        "to_user": str(world.people.leader.id),
        "to_unit": "",
    }
    fuzz_fields(
        world.actors[who],
        f"/dossiers/{world.dossier}/actions/{action}",
        lambda: valid,
        list(valid),
        action,
        before=lambda: world.reset_dossier(status),
    )


def test_every_action_and_the_assignment_take_hostile_notes(world: World):
    strings = {
        k: CORPUS[k]
        for k in (
            "script",
            "img",
            "long_10k",
            "controls",
            "bidi",
            "nfd_vietnamese",
            "format",
            "empty",
        )
    }
    for action, transition in workflow.TRANSITIONS.items():
        who = (
            "enterprise"
            if workflow.OWNER in transition.actors
            else "leader"
            if workflow.LEADER in transition.actors
            else "officer"
        )
        approval = (
            "pending"
            if action in ("approve", "refuse_approval")
            else "approved"
            if action == "issue_result"
            else ""
        )
        status = min(transition.sources)
        valid = {"confirm": "1", "note": "Ghi chú", "to_user": str(world.people.leader.id)}
        fuzz_fields(
            world.actors[who],
            f"/dossiers/{world.dossier}/actions/{action}",
            lambda valid=valid: valid,
            ["note"],
            action,
            strings=strings,
            expect=ANY_ANSWER,  # some need a file first (the result, the supplement)
            before=lambda status=status, approval=approval: world.reset_dossier(status, approval),
        )
    world.reset_dossier(workflow.RECEIVED)
    fuzz_fields(
        world.actors["officer"],
        f"/dossiers/{world.dossier}/assign",
        lambda: {"to_user": str(world.people.officer.id)},
        ["to_user"],
        "assign",
    )


# --- bodies that are not even text, and NFC ---------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/register", "/admin/users/new", "/admin/holidays"])
def test_bodies_that_are_not_utf8_are_refused_plainly(world: World, path: str):
    s = world.actors["admin"]
    token = s.token.encode()
    for body in (
        b"username=%ED%A0%80&name=%ED%B0%80&csrf_token=" + token,  # lone surrogates
        b"username=%FF%FE%C0&day=%E0%80%AF&csrf_token=" + token,  # invalid UTF-8
        b"csrf_token=" + token + b"&" + b"&".join([b"a=1"] * 5000),  # many fields
        b"csrf_token=" + token + b"&name=\xff\xfe%00",
    ):
        r = s.client.post(
            path,
            content=body,
            follow_redirects=False,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        check_answer(r, (path, body[:40]), allowed=ANY_ANSWER)
    r = s.client.post(
        path,
        content=b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n\xed\xa0\x80\r\n--b--\r\n',
        follow_redirects=False,
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    check_answer(r, (path, "multipart"), allowed=ANY_ANSWER)


def test_vietnamese_typed_in_nfd_is_kept_and_shown_in_nfc(world: World):
    anonymous = world.actors["anonymous"]
    r = anonymous.post("/register", {"enterprise_name": VIETNAMESE_NFD, "tax_code": "1"})
    assert r.status_code == 422
    assert VIETNAMESE in r.text and VIETNAMESE_NFD not in r.text  # echoed composed

    code = next(tax_codes())
    r = anonymous.post(
        "/register",
        {
            "tax_code": code,
            "enterprise_name": VIETNAMESE_NFD,
            "full_name": VIETNAMESE_NFD,
            "email": "nfd@example.vn",
            "password": "mat-khau-rat-dai-42",
            "password_confirm": "mat-khau-rat-dai-42",
        },
    )
    assert r.status_code == 303, r.text
    with db.connection_context():
        assert Enterprise.get(Enterprise.tax_code == code).name == VIETNAMESE  # stored composed

    enterprise = world.actors["enterprise"]
    r = enterprise.post(f"/dossiers/{world.draft}/edit", {**fx.ANSWERS, "reason": VIETNAMESE_NFD})
    assert r.status_code == 303
    page = enterprise.get(f"/dossiers/{world.draft}/edit").text
    assert VIETNAMESE in page and VIETNAMESE_NFD not in page

    officer = world.actors["officer"]
    r = officer.post(
        f"/dossiers/{world.dossier}/actions/request_supplement", {"note": "\x00" + VIETNAMESE_NFD}
    )  # NUL is dropped, the note kept
    assert r.status_code == 303, r.text
    with db.connection_context():
        event = DossierEvent.select().order_by(DossierEvent.id.desc()).first()
    assert event.note == VIETNAMESE

    admin = world.actors["admin"]  # a search typed in NFD finds the name kept in NFC
    r = admin.get("/admin/users", params={"q": unicodedata.normalize("NFD", "dùng dự phòng")})
    assert r.status_code == 200 and f'href="/admin/users/{world.spare_user}"' in r.text
