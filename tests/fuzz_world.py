"""The world the fuzz tests send hostile input into: a signed-in session for each kind of actor
(and an anonymous one with its own CSRF token), and real objects for every path parameter of
the route table: a draft and a received dossier of the enterprise at 02CI with their files and
slip, a holiday, and a spare account, unit and procedure for the administrator to edit; and
`post` / `fuzz_fields`, which send hostile forms into it and check every answer.

A test module binds the fixture by name (`world = fuzz_world.world`)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from portal.db import db
from portal.models import Attachment, Dossier, FormField, Procedure, Slip, Unit
from portal.services import calendar, dossiers, processing
from portal.services.accounts import TAX_WEIGHTS
from portal.services.units import find_unit
from portal.services.workflow import PROCESSING
from tests import dossier_web_fixtures as fx
from tests.dossier_fixtures import complete_draft, make_ctx
from tests.dossier_web_fixtures import Session
from tests.helpers import csrf_from
from tests.hostile_inputs import (
    ACCEPTED,
    ANY_ANSWER,
    CORPUS,
    SCRIPT,
    VIETNAMESE_NFD,
    check_answer,
)

ACTORS = ("anonymous", "enterprise", "officer", "leader", "admin")
# The action each actor's sweep posts to /dossiers/{id}/actions/{action}.
SWEEP_ACTION = {
    "anonymous": "receive",
    "enterprise": "withdraw",
    "officer": "request_supplement",
    "leader": "forward",
    "admin": "receive",
}
# Routes whose {dossier_id} is a draft; every other one gets the received dossier.
DRAFT_ROUTES = {
    "dossier_edit",
    "dossier_save",
    "dossier_file_add",
    "dossier_file_remove",
    "dossier_review",
    "dossier_submit",
    "dossier_delete_confirm",
    "dossier_delete",
    "upload_create",
}


def refresh(s: Session) -> Session:
    """Read the session's CSRF token again (after a login, registration or logout)."""
    s.token = csrf_from(s.client.get("/register").text)
    return s


def tax_codes() -> Iterator[str]:
    """Fresh valid tax codes, never those of the fixtures."""
    for n in itertools.count(1):
        prefix = f"07{n:07d}"
        digit = (10 - sum(int(d) * w for d, w in zip(prefix, TAX_WEIGHTS, strict=True))) % 11
        if digit < 10:
            yield f"{prefix}{digit}"


@dataclass
class World:
    app: Any
    settings: Any
    people: fx.People
    actors: dict[str, Session]
    draft: int
    draft_file: int
    dossier: int  # submitted and received by the officer of 02CI
    dossier_code: str
    dossier_file: int
    slip: int
    holiday: int
    spare_user: int
    spare_unit: str
    spare_procedure: str
    answer_fields: list[str]

    def ctx(self, name: str):
        return make_ctx(getattr(self.people, name), self.settings)

    def new_draft(self) -> int:
        return complete_draft(self.ctx("enterprise"))

    def path_values(self, route: Route, actor: str) -> dict[str, str]:
        """Real values for the route's path parameters (placeholders for unknown ones)."""
        values = {}
        draft = route.name in DRAFT_ROUTES
        for name in route.param_convertors:
            if name == "code":
                values[name] = (
                    "en"
                    if route.path.startswith("/lang")
                    else self.spare_unit
                    if route.path.startswith("/admin/units")
                    else self.spare_procedure
                    if route.path.startswith("/admin/procedures")
                    else self.dossier_code
                    if route.path.startswith("/dossiers/code")
                    else fx.PROCEDURE
                )
            else:
                values[name] = str(
                    {
                        "user_id": self.spare_user,
                        "holiday_id": self.holiday,
                        "dossier_id": self.draft if draft else self.dossier,
                        "attachment_id": self.draft_file if draft else self.dossier_file,
                        "slip_id": self.slip,
                        "action": SWEEP_ACTION[actor],
                    }.get(name, "0")
                )
        return values

    def reset_dossier(self, status: int, approval: str = "") -> None:
        """Put the received dossier back in `status` (the fuzz tests' actions move it on)."""
        with db.connection_context():
            unit = find_unit(fx.UNIT)
            Dossier.update(
                status=status,
                approval=approval,
                resume_status=PROCESSING,
                paused_at=None,
                finished_at=None,
                unit=unit,
                assigned_to=None,
            ).where(Dossier.id == self.dossier).execute()


def _first_attachment(did: int) -> int:
    with db.connection_context():
        return (
            Attachment.select().where(Attachment.dossier == did).order_by(Attachment.id).first().id
        )


@pytest.fixture
def world(app, settings, forms, people, sessions, make_user) -> Iterator[World]:
    owner = make_ctx(people.enterprise, settings)
    draft = complete_draft(owner)
    dossier = complete_draft(owner)
    dossiers.submit(owner, dossier, "fuzz-world")
    processing.act(make_ctx(people.officer, settings), dossier, "receive")
    holiday = calendar.add_holiday(
        {"day": "2031-01-02", "name": "Ngày nghỉ thử"}, make_ctx(make_user("admin"), settings)
    )
    spare_user = make_user("officer", unit_code=fx.OTHER_UNIT, full_name="Người dùng dự phòng")
    with db.connection_context():
        code = Dossier.get_by_id(dossier).code
        slip = Slip.get(Slip.dossier == dossier).id
        spare_unit = (
            Unit.select()
            .where(Unit.code.not_in([fx.UNIT, fx.OTHER_UNIT]), Unit.kind == "branch")
            .order_by(Unit.code, Unit.structure)
            .first()
            .ref  # codes repeat across structures: "2016:01PJ"
        )
        spare_procedure = (
            Procedure.select()
            .where(Procedure.code != fx.PROCEDURE)
            .order_by(Procedure.code)
            .first()
            .code
        )
        proc = Procedure.get(Procedure.code == fx.PROCEDURE)
        fields = [f.name for f in FormField.select().where(FormField.procedure == proc)]
    anonymous = TestClient(app, base_url="http://testserver")
    anonymous.__enter__()
    actors = {"anonymous": refresh(Session(anonymous, None))}
    actors.update({name: sessions[name] for name in ACTORS if name != "anonymous"})
    try:
        yield World(
            app=app,
            settings=settings,
            people=people,
            actors=actors,
            draft=draft,
            draft_file=_first_attachment(draft),
            dossier=dossier,
            dossier_code=code,
            dossier_file=_first_attachment(dossier),
            slip=slip,
            holiday=holiday.id,
            spare_user=spare_user.id,
            spare_unit=spare_unit,
            spare_procedure=spare_procedure,
            answer_fields=fields,
        )
    finally:
        anonymous.__exit__(None, None, None)


# --- sending hostile forms ---------------------------------------------------------------


def post(s, path: str, data: dict, what: object, **kw):
    """POST with the session's token; checks the answer (a refused whole-page form comes back
    with its token, to be corrected and sent again) and re-reads the token after a redirect
    (a login or registration that went through starts a new session)."""
    r = s.post(path, data, **kw)
    check_answer(r, what, allowed=ANY_ANSWER)
    if r.status_code == 422 and not kw.get("headers"):
        assert 'name="csrf_token"' in r.text, (what, r.text[:300])
    if r.status_code == 303:
        refresh(s)
    return r


def fuzz_fields(
    s, path, valid, fields, what: str, *, before=None, strings=None, expect=ACCEPTED
) -> None:
    """First the valid values (answered with a status in `expect`), then each field of
    `fields` gets each string while the others keep their valid values (a fresh dict from
    `valid()` each time), then two values at once. `s` and `path` may be functions giving
    the session and the path for each request."""

    def send(data: dict, label: object):
        if before:
            before()
        return post(s() if callable(s) else s, path() if callable(path) else path, data, label)

    baseline = send(valid(), (what, "valid values"))
    assert baseline.status_code in expect, (what, baseline.status_code, baseline.text[:300])
    for name in fields:
        for key, value in (strings or CORPUS).items():
            send({**valid(), name: value}, (what, name, key))
        send({**valid(), name: [SCRIPT, VIETNAMESE_NFD]}, (what, name, "repeated"))
