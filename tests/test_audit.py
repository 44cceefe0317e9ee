"""The auditor's search (/audit): each filter narrows on hand-built dossiers and history
events, periods are whole local days (Vietnam, UTC+7) with both ends included, the CSV export
holds the page's rows, and only auditors may use it (their rows are in test_access_matrix)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest

from portal import i18n
from portal.db import db, is_postgres
from portal.models import Dossier, DossierEvent, Enterprise, Procedure, Unit, User
from portal.services import audit, history
from portal.services.deadlines import to_utc
from portal.services.errors import ValidationError
from portal.services.status import NEW, PROCESSING, RECEIVED, RETURNED
from tests.conftest import PASSWORD
from tests.dossier_fixtures import tax_code

YEAR = {"from": "2025-01-01", "to": "2025-12-31"}
TODAY = dt.date(2026, 2, 1)
CODE_RE = re.compile(r'<th scope="row"><a href="/dossiers/\d+">([^<]+)</a>')


def local(*args: int) -> dt.datetime:
    """A Vietnam local time as the UTC datetime the database keeps."""
    return to_utc(dt.datetime(*args))


def search(**raw: str) -> list:
    raw = {**YEAR, **raw}
    with db.connection_context():
        q = audit.clean_query(raw, 1, TODAY)
    return audit.search(q).page.items


def codes(**raw: str) -> set[str]:
    return {d.code for d in search(tab="dossiers", **raw)}


def notes(**raw: str) -> set[str]:
    return {e.note for e in search(tab="events", **raw)}


@pytest.fixture
def world(make_user, catalogue):
    """Dossiers at 02CI, 02AB (department 02, structure 2016), 2025:02CI (the office that
    kept the code, under regional branch KV02) and 01AB; two enterprises; two procedures;
    events by named people."""
    make_user("enterprise")
    with db.connection_context(), db.atomic():
        a = Enterprise.get(Enterprise.tax_code == "0100112437")
        b = Enterprise.create(tax_code=tax_code("030123456"), name="Công ty B", email="b@x.vn")
        owner = User.get(User.role == "enterprise")
        p1 = Procedure.get(Procedure.code == "1.005458")
        p2 = Procedure.select().where(Procedure.code != "1.005458").order_by(Procedure.code).get()
        rows = {
            # code: unit, enterprise, procedure, status, submitted (local)
            "D-CI": ("02CI", a, p1, RECEIVED, local(2025, 3, 3, 9)),
            "D-AB": ("02AB", b, p1, PROCESSING, local(2025, 4, 1, 10)),
            "D-KV": ("2025:02CI", a, p2, NEW, local(2025, 6, 1, 8)),
            "D-01": ("01AB", b, p2, RETURNED, local(2025, 7, 1, 8)),
            # 18:00 UTC on 31/12/2024 is 1/1/2025 01:00 in Vietnam: inside 2025
            "D-NY": ("02CI", a, p1, NEW, dt.datetime(2024, 12, 31, 18, 0)),
            # 31/12/2025 23:59:59 local: the last second of 2025
            "D-END": ("02CI", a, p1, NEW, local(2025, 12, 31, 23, 59, 59)),
            # 1/1/2026 00:00 local (17:00 UTC on 31/12): outside 2025
            "D-OUT": ("02CI", a, p1, NEW, local(2026, 1, 1, 0, 0)),
        }
        made = {}
        for code, (unit, ent, proc, status, when) in rows.items():
            made[code] = Dossier.create(
                code=code, procedure=proc, enterprise=ent, owner=owner, status=status,
                unit=Unit.get(Unit.structure == (unit[:4] if ":" in unit else "2016"),
                              Unit.code == (unit.partition(":")[2] or unit)),
                submitted_at=when,
            )
        Dossier.create(procedure=p1, enterprise=a, owner=owner, status=0)  # a draft: never
        people = {
            # note: actor name, unit, action, dossier, time (UTC)
            "e1": ("Nguyễn Văn An", "02CI", "receive", "D-CI", local(2025, 3, 4, 9)),
            "e2": ("Trần Thị Bình", "02AB", "assign", "D-AB", local(2025, 4, 2, 9)),
            # Events name units by reference; a bare code is the oldest structure's (events
            # written before the codes repeated)
            "e3": ("Lê Văn Cường", "2025:02CI", "receive", "D-KV", local(2025, 6, 2, 9)),
            "e4": ("Nguyễn Văn An", "02CI", "login", None, local(2025, 8, 1, 9)),
            "e5": ("Phạm Dũng", "01AB", "receive", "D-01", dt.datetime(2024, 12, 31, 18, 0)),
            "e6": ("Phạm Dũng", "01AB", "login", None, dt.datetime(2025, 12, 31, 17, 0)),
        }
        for note, (name, unit, action, dossier, when) in people.items():
            actor = history.Actor(None, name, "officer", unit)
            event = history.record(actor, action, dossier=made.get(dossier), note=note)
            # The history is append-only; only this test moves its hand-built events in time.
            DossierEvent.update(created_at=when).where(DossierEvent.id == event.id).execute()
    return made


def test_the_period_is_whole_local_days_both_ends_included(world):
    assert codes() == {"D-CI", "D-AB", "D-KV", "D-01", "D-NY", "D-END"}
    assert codes(**{"from": "2025-12-31", "to": "2025-12-31"}) == {"D-END"}
    assert codes(**{"from": "01/01/2026", "to": "01/01/2026"}) == {"D-OUT"}
    assert codes(**{"from": "2025-01-01", "to": "2025-01-01"}) == {"D-NY"}
    # e5 at 18:00 UTC on 31/12/2024 is 1/1/2025 in Vietnam; e6 at 17:00 UTC on 31/12/2025
    # is 1/1/2026 00:00 in Vietnam
    assert notes(**{"from": "2025-01-01", "to": "2025-01-01"}) == {"e5"}
    assert "e6" not in notes()
    assert notes(**{"from": "2026-01-01", "to": "2026-01-01"}) == {"e6"}


def test_dossier_filters_narrow(world):
    assert codes(unit="02") == {"D-CI", "D-AB", "D-NY", "D-END"}  # with its branches (2016)
    assert codes(unit="KV02") == {"D-KV"}  # a regional branch and its offices (2025)
    assert codes(unit="2016:02AB") == {"D-AB"}
    assert codes(procedure="1.005458") == {"D-CI", "D-AB", "D-NY", "D-END"}
    assert codes(status=str(NEW)) == {"D-KV", "D-NY", "D-END"}
    assert codes(tax_code=tax_code("030123456")) == {"D-AB", "D-01"}
    assert codes(unit="02", status=str(RECEIVED)) == {"D-CI"}


def test_dossier_sorts(world):
    rows = [d.code for d in search(tab="dossiers", sort="submitted")]
    assert rows == ["D-NY", "D-CI", "D-AB", "D-KV", "D-01", "D-END"]
    assert [d.code for d in search(tab="dossiers")] == rows[::-1]  # newest first by default
    assert [d.code for d in search(tab="dossiers", sort="code")] == sorted(rows)


def test_event_filters_narrow_newest_first(world):
    assert [e.note for e in search(tab="events")] == ["e4", "e3", "e2", "e1", "e5"]
    assert notes(unit="02") == {"e1", "e2", "e4"}
    assert notes(unit="KV02") == {"e3"}
    assert notes(user="Văn An") == {"e1", "e4"}
    assert notes(action="receive") == {"e1", "e3", "e5"}
    assert notes(unit="2016:02CI", action="login") == {"e4"}


def test_bad_filters_are_named(settings):
    with db.connection_context(), pytest.raises(ValidationError) as caught:
        audit.clean_query(
            {"from": "31/02/2025", "unit": "NOPE", "status": "0", "action": "x", "procedure": "9"},
            1,
            TODAY,
        )
    assert set(caught.value.errors) == {"from", "unit", "status", "action", "procedure"}


def _login(client, user):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/login",
        data={"username": user.username, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303


@pytest.fixture
def auditor(client, make_user, world):
    _login(client, make_user("auditor"))
    return client


def _csv(client, **params: str) -> list[list[str]]:
    r = client.get("/audit.csv", params={**YEAR, **params})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))


def test_the_export_holds_the_pages_rows(auditor):
    params = {"tab": "dossiers", "unit": "02"}
    page = auditor.get("/audit", params={**YEAR, **params})
    assert page.status_code == 200
    shown = CODE_RE.findall(page.text)
    rows = _csv(auditor, **params)
    assert [r[0] for r in rows[1:]] == shown
    assert set(shown) == {"D-CI", "D-AB", "D-NY", "D-END"}
    r = auditor.get("/audit.csv", params={**YEAR, **params})
    name = r.headers["content-disposition"]
    assert "2025-01-01" in name and "2025-12-31" in name and "unit-2016_02" in name
    events = _csv(auditor, tab="events", action="receive")
    assert [r[-2] for r in events[1:]] == ["e3", "e1", "e5"]
    assert events[0][0] == i18n.translations("vi").gettext("Time")


def test_the_page_links_each_event_to_its_dossier(auditor, world):
    page = auditor.get("/audit", params={**YEAR, "tab": "events", "user": "Cường"})
    assert f'href="/dossiers/{world["D-KV"].id}"' in page.text
    assert auditor.get(f"/dossiers/{world['D-KV'].id}").status_code == 200
    fragment = auditor.get("/audit", params=YEAR, headers={"HX-Request": "true"})
    assert 'id="results"' in fragment.text and "<html" not in fragment.text
    bad = auditor.get("/audit", params={"from": "31/02/2025"})
    assert bad.status_code == 422 and 'id="f-from' in bad.text


@pytest.mark.parametrize("role", ["officer", "leader", "admin", "enterprise"])
def test_others_are_refused(client, make_user, role):
    _login(client, make_user(role))
    assert client.get("/audit").status_code == 403
    assert client.get("/audit.csv").status_code == 403


def _index(table: str, column: str) -> str | None:
    return next((i.name for i in db.get_indexes(table) if i.columns == [column]), None)


def test_a_database_from_before_the_search_indexes_gets_them(settings):
    from playhouse.migrate import migrate as run_operations

    from portal.migrations import LATEST, STEPS, _migrator, current_version, migrate
    from portal.models import SchemaVersion

    step = next(v for v, f in STEPS.items() if f.__name__ == "_v9_audit_indexes")
    with db.connection_context():
        run_operations(
            _migrator().drop_index("dossier", _index("dossier", "submitted_at")),
            _migrator().drop_index("dossier_event", _index("dossier_event", "created_at")),
        )
        assert _index("dossier", "submitted_at") is None
        SchemaVersion.delete().execute()
        SchemaVersion.create(version=step - 1)
    migrate()
    with db.connection_context():
        assert current_version() == LATEST
        assert _index("dossier", "submitted_at") is not None
        assert _index("dossier_event", "created_at") is not None


def test_the_period_is_read_through_an_index(world):
    """On SQLite (PostgreSQL's planner scans small tables whatever the indexes)."""
    if is_postgres():
        pytest.skip("the plan of a small table says nothing on PostgreSQL")
    with db.connection_context():
        for tab, index in (("events", "created_at"), ("dossiers", "submitted_at")):
            q = audit.clean_query({**YEAR, "tab": tab}, 1, TODAY)
            sql, params = audit._query(q).sql()
            plan = " ".join(str(r) for r in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params))
            assert f"_{index}" in plan, plan


def test_the_export_is_read_in_chunks_and_says_where_it_was_cut(auditor, monkeypatch):
    # Small limits stand for the real ones (10,000 rows read 500 at a time).
    monkeypatch.setattr(audit, "CHUNK", 2)
    monkeypatch.setattr(audit, "EXPORT_CAP", 3)
    rows = _csv(auditor, tab="dossiers", sort="submitted")
    assert [r[0] for r in rows[1:4]] == ["D-NY", "D-CI", "D-AB"]
    cut = i18n.translations("vi").gettext("Cut at %(count)s rows: narrow the search.")
    assert rows[4:] == [[cut % {"count": 3}]]
    monkeypatch.setattr(audit, "EXPORT_CAP", 6)  # exactly the rows there are: no cut line
    assert [r[0] for r in _csv(auditor, tab="dossiers")[1:]] == [
        "D-END", "D-01", "D-KV", "D-AB", "D-CI", "D-NY"
    ]
