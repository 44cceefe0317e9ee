"""The paths made cheaper for many users at once give the same answers: the inbox's counts in
one query and its rows with only the columns it shows, the session's user with its unit and
enterprise in one query, the unit told of a new dossier in one insert, the forward choices as
plain pairs, and the catalogue (procedure forms included) answered from memory until it
changes (also when another process changes it)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import anyio.to_thread
import pytest
from starlette.testclient import TestClient

from portal import i18n
from portal.app import create_app
from portal.config import Settings
from portal.db import db
from portal.models import (
    Dossier,
    FormField,
    Notification,
    Procedure,
    RequiredDocument,
    Unit,
    User,
    UserSession,
    utcnow,
)
from portal.services import accounts, dossiers, inbox, processing
from portal.services import catalogue as catalogue_service
from portal.services.catalogue import Filters
from portal.services.inbox import VIEWS, InboxFilters
from portal.services.seed import seed_forms
from portal.web.rendering import make_templates
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import GOOD_ANSWERS, PROCEDURE, complete_draft


def _submitted(ctx, count: int) -> list[int]:
    ids = [complete_draft(ctx) for _ in range(count)]
    for i in ids:
        dossiers.submit(ctx, i, f"key-{i}")
    return ids


def test_inbox_counts_match_what_each_view_lists(people, ctx_of):
    ids = _submitted(ctx_of(people.owner), 7)
    now = utcnow()
    # One dossier per situation the views tell apart (statuses from workflow.py).
    situations = [
        {"status": 1},  # new
        {"status": 2, "due_at": now + dt.timedelta(hours=3)},  # received, due today
        {"status": 4, "due_at": now - dt.timedelta(days=1), "assigned_to": people.officer.id},
        {"status": 4, "due_at": now + dt.timedelta(days=5), "assigned_to": people.officer.id},
        {"status": 5, "due_at": now - dt.timedelta(days=2)},  # supplement: clock stopped
        {"status": 10, "assigned_to": people.officer.id},  # returned: final
        {"status": 3},  # refused: final
    ]
    with db.connection_context():
        for dossier_id, values in zip(ids, situations, strict=True):
            Dossier.update(**values).where(Dossier.id == dossier_id).execute()
    counts = inbox.counts(people.officer, now)
    listed = {
        view: inbox.inbox(people.officer, InboxFilters(view=view), now).total for view in VIEWS
    }
    assert counts == listed
    assert counts == {"open": 5, "new": 1, "mine": 2, "due_today": 1, "overdue": 1, "all": 7}
    assert inbox.counts(people.far_officer, now) == dict.fromkeys(VIEWS, 0)


def test_an_inbox_row_carries_everything_the_inbox_shows(people, ctx_of):
    first, second = _submitted(ctx_of(people.owner), 2)
    now = utcnow()
    with db.connection_context():
        Dossier.update(status=4, due_at=now + dt.timedelta(hours=2),
                       assigned_to=people.officer2.id).where(Dossier.id == first).execute()
        stored = {d.id: d for d in Dossier.select().where(Dossier.id.in_((first, second)))}
        enterprise = people.owner.enterprise
        proc = Procedure.get(Procedure.code == PROCEDURE)
    rows = {d.id: d for d in inbox.inbox(people.officer, InboxFilters(view="all"), now).items}
    assert set(rows) == {first, second}
    for did, row in rows.items():
        assert row.code == stored[did].code and row.code.startswith("02CI")
        assert (row.status, row.due_at) == (stored[did].status, stored[did].due_at)
        assert (row.procedure.code, row.procedure.name) == (PROCEDURE, proc.name)
        assert (row.enterprise.name, row.enterprise.tax_code) == (enterprise.name,
                                                                  enterprise.tax_code)
    assert rows[first].assigned_to.full_name == "Cán bộ Hai"
    assert rows[second].assigned_to_id is None
    assert processing.deadline_flag(rows[first], now) == "due_soon"


def test_the_forward_choices_are_the_units_officers_and_the_other_units(people):
    officers = inbox.unit_officers(people.officer.unit_id)
    assert officers == sorted(officers, key=lambda choice: choice[1])
    ids = {i for i, _ in officers}
    assert {people.officer.id, people.officer2.id, people.leader.id} <= ids
    assert people.far_officer.id not in ids and people.owner.id not in ids
    assert (people.officer2.id, "Cán bộ Hai") in officers
    units = inbox.forward_units(people.officer.unit_id)
    codes = [code for code, _ in units]
    assert codes == sorted(codes) and "02CI" not in codes
    with db.connection_context():
        far = Unit.get(Unit.code == "01AB", Unit.structure == "2025")
        expected = {u.code for u in Unit.select().where(  # the structure in force today
            Unit.structure == "2025", Unit.kind != "administration", Unit.active == True,  # noqa: E712
            Unit.code != "02CI")}
    assert set(codes) == expected and len(codes) > 90
    assert ("01AB", f"01AB — {far.name}") in units


def test_a_dossier_shows_its_procedures_form_as_it_is_now(people, ctx_of, tmp_path):
    did = complete_draft(ctx_of(people.owner))
    view = dossiers.load(did, people.owner)
    assert [f.name for f in view.fields] == list(GOOD_ANSWERS)
    assert dossiers.load(did, people.owner).fields is view.fields  # kept in memory
    # The seed writes a new form (as `run.py seed-demo` does in another process) ...
    forms = tmp_path / "forms.json"
    forms.write_text(json.dumps({PROCEDURE: [
        {"name": "ly_do", "label": "Lý do", "kind": "textarea", "max_length": 500}]}))
    seed_forms(forms)
    assert [f.name for f in dossiers.load(did, people.owner).fields] == ["ly_do"]
    # ... and the admin renames a required document.
    proc = catalogue_service.get_procedure(PROCEDURE)
    values = catalogue_service.form_values(proc)
    names = [line.split("|")[0].strip() for line in values["documents"].splitlines()]
    values["documents"] = values["documents"].replace(names[0], "Văn bản đề nghị (mẫu mới)", 1)
    catalogue_service.save_procedure(values, original_code=PROCEDURE)
    view = dossiers.load(did, people.owner)
    assert view.documents[0].name == "Văn bản đề nghị (mẫu mới)"
    with db.connection_context():
        assert FormField.select().where(FormField.procedure == view.procedure).count() == 1
        assert RequiredDocument.get_by_id(view.documents[0].id).name == view.documents[0].name


def test_the_session_user_comes_with_unit_and_enterprise(people):
    for user in (people.officer, people.owner):
        key = accounts.start_session(user.id)
        found = accounts.session_user(key, dt.timedelta(hours=1), dt.timedelta(hours=8))
        assert found is not None and found.id == user.id
        if user.unit_id:
            assert found.unit.code == "02CI"
        else:
            assert found.enterprise.id == user.enterprise_id
    with db.connection_context():
        UserSession.update(ended_at=utcnow()).execute()
    assert accounts.session_user(key, dt.timedelta(hours=1), dt.timedelta(hours=8)) is None


def test_every_officer_and_leader_of_the_unit_is_told_of_a_new_dossier(people, ctx_of):
    (dossier_id,) = _submitted(ctx_of(people.owner), 1)
    with db.connection_context():
        told = {n.user_id for n in Notification.select().where(Notification.dossier == dossier_id)
                if n.user_id != people.owner.id}
        staff = {u.id for u in User.select().where(User.unit == people.officer.unit_id,
                                                   User.role.in_(("officer", "leader")))}
        assert told == staff and len(staff) == 3
        assert all(n.created_at is not None for n in Notification.select())


def _rename_elsewhere(code: str, name: str) -> None:
    """An edit as another process makes it: straight to the database, stamping updated_at
    as catalogue.write_procedure does."""
    with db.connection_context(), db.atomic():
        Procedure.update(name=name, updated_at=utcnow()).where(Procedure.code == code).execute()


@pytest.mark.usefixtures("catalogue")
def test_the_catalogue_is_answered_again_after_another_process_edits_it():
    first = catalogue_service.get_procedure(PROCEDURE)
    catalogue_page = catalogue_service.search_procedures(Filters.parse({"q": first.code}))
    assert catalogue_service.get_procedure(PROCEDURE) is first  # kept
    assert [p.code for p in catalogue_page.items] == [PROCEDURE]

    _rename_elsewhere(PROCEDURE, "Thủ tục đổi tên ở tiến trình khác")
    again = catalogue_service.get_procedure(PROCEDURE)
    assert again is not first and again.name == "Thủ tục đổi tên ở tiến trình khác"
    page = catalogue_service.search_procedures(Filters.parse({"q": "doi ten o tien trinh"}))
    assert page.total == 0  # the search columns were not re-folded by this raw edit...
    page = catalogue_service.search_procedures(Filters.parse({"q": PROCEDURE}))
    assert page.items[0].name == "Thủ tục đổi tên ở tiến trình khác"  # ...but rows are fresh


@pytest.mark.usefixtures("catalogue")
def test_an_edit_through_the_admin_path_is_seen_at_once():
    summary = catalogue_service.level_summary()
    proc = catalogue_service.get_procedure(PROCEDURE)
    values = catalogue_service.form_values(proc)
    values.update(online_level="3", name="Hủy tờ khai hải quan (bản sửa Zqxw)")
    catalogue_service.save_procedure(values, original_code=PROCEDURE)
    after = catalogue_service.level_summary()
    assert after["level4"] == summary["level4"] - 1 and after["level3"] == summary["level3"] + 1
    page = catalogue_service.search_procedures(Filters.parse({"q": "zqxw"}))
    assert [p.code for p in page.items] == [PROCEDURE]
    assert catalogue_service.get_procedure(PROCEDURE).online_level == 3



def test_messages_kept_in_memory_are_those_of_the_language_asked_for(settings):
    env = make_templates(settings, lambda name: name).env
    page = env.from_string(
        '{{ _("Log in") }}|{{ _("Use at least %(min)s characters.", min=10) }}|'
        '{{ _("100%% sure") }}'
    )
    shown = {}
    for language in ("vi", "en", "vi", "en"):
        token = i18n.current_language.set(language)
        try:
            shown.setdefault(language, set()).add(page.render())
        finally:
            i18n.current_language.reset(token)
    assert shown == {
        "vi": {"Đăng nhập|Sử dụng tối thiểu 10 ký tự.|100% sure"},
        "en": {"Log in|Use at least 10 characters.|100% sure"},
    }


@pytest.mark.usefixtures("units")
def test_a_web_process_runs_blocking_work_on_the_threads_it_is_given(settings):
    assert Settings.from_env({"PORTAL_WEB_THREADS": "5"}).web_threads == 5
    assert Settings.from_env({}).web_threads == 16
    app = create_app(dataclasses.replace(settings, web_threads=5))
    with TestClient(app) as client:
        limiter = client.portal.call(anyio.to_thread.current_default_thread_limiter)
        assert limiter.total_tokens == 5
        assert client.get("/healthz").text == "ok"
