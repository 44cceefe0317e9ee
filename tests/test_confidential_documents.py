"""Marking a required document confidential makes the files already attached to it
confidential, in the same transaction, with an event in the history of each dossier that has
such a file: whether the administrator edits the procedure or imports the catalogue."""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from portal.db import db, is_postgres
from portal.models import Attachment, DossierEvent, Upload, utcnow
from portal.services import catalogue, catalogue_files, dossiers, history, processing
from portal.services.errors import NotFound
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import PDF, PROCEDURE, complete_draft, documents
from tests.test_web_admin import admin, csv_of, export, form_of, upload  # noqa: F401

EDIT = f"/admin/procedures/{PROCEDURE}"


def files_of(dossier_id: int) -> dict[str, bool]:
    """The dossier's files: name -> confidential."""
    with db.connection_context():
        rows = Attachment.select().where(Attachment.dossier == dossier_id)
        return {a.original_name: a.confidential for a in rows}


def marked(dossier_id: int) -> list[DossierEvent]:
    return [e for e in history.timeline(dossier_id, for_applicant=False)
            if e.action == "make_confidential"]


def first_confidential(documents_text: str) -> str:
    lines = documents_text.splitlines()
    return "\n".join([lines[0] + " | confidential", *lines[1:]])


@pytest.fixture
def two_dossiers(people, ctx_of) -> tuple[int, int]:
    """A draft and a submitted dossier, each with both documents' files."""
    owner = ctx_of(people.owner)
    draft = complete_draft(owner)
    submitted = complete_draft(owner)
    dossiers.submit(owner, submitted, "sent")
    return draft, submitted


def check_made_confidential(two_dossiers, by, role: str) -> None:
    for dossier_id in two_dossiers:
        assert files_of(dossier_id) == {"don-de-nghi.pdf": True, "chung-tu.png": False}
        events = marked(dossier_id)
        assert [(e.actor_id, e.actor_role, e.note, e.public) for e in events] == [
            (by, role, "don-de-nghi.pdf", False)]
        assert events[0].status_before == events[0].status_after
    assert history.verify_chain()[2] == ""


def test_an_admin_marking_a_document_confidential_makes_its_files_confidential(
        client, admin, people, ctx_of, two_dossiers):  # noqa: F811
    _, submitted = two_dossiers
    with db.connection_context():
        secret = Attachment.get(Attachment.dossier == submitted,
                                Attachment.original_name == "don-de-nghi.pdf")
    # Before: every officer of the unit opens the file, unrecorded.
    assert processing.open_attachment(ctx_of(people.officer), submitted, secret.id)

    values = form_of(client.get(EDIT).text, EDIT)
    values["documents"] = first_confidential(values["documents"])
    assert client.post(EDIT, data=values, follow_redirects=False).status_code == 303
    check_made_confidential(two_dossiers, admin.id, "admin")
    # Now an officer without clearance does not open it; a cleared one does, recorded.
    with pytest.raises(NotFound):
        processing.open_attachment(ctx_of(people.officer), submitted, secret.id)
    assert processing.open_attachment(ctx_of(people.officer2), submitted, secret.id)
    assert [e.action for e in history.timeline(submitted, for_applicant=False)][-1] == \
        "view_confidential"
    # Saving again changes nothing more and records nothing more.
    values = form_of(client.get(EDIT).text, EDIT)
    assert client.post(EDIT, data=values, follow_redirects=False).status_code == 303
    for dossier_id in two_dossiers:
        assert len(marked(dossier_id)) == 1


def test_an_import_marking_a_document_confidential_makes_its_files_confidential(
        client, admin, two_dossiers):  # noqa: F811
    rows = list(csv.DictReader(io.StringIO(export(client, "csv"))))
    row = next(x for x in rows if x["code"] == PROCEDURE)
    row["documents"] = first_confidential(row["documents"])
    assert upload(client, csv_of([row])).status_code == 303
    check_made_confidential(two_dossiers, admin.id, "admin")


def test_the_command_line_import_is_recorded_as_the_system(client, admin, two_dossiers):  # noqa: F811
    rows = list(csv.DictReader(io.StringIO(export(client, "csv"))))
    row = next(x for x in rows if x["code"] == PROCEDURE)
    row["documents"] = first_confidential(row["documents"])
    assert catalogue_files.import_catalogue(csv_of([row]), "csv") == 1
    check_made_confidential(two_dossiers, None, "system")


def test_a_file_arriving_while_its_document_is_marked_confidential_is_confidential(
        people, ctx_of, make_user):
    """The file is read from the network while the administrator saves the procedure: the
    document the upload checked at its start is no longer what it is when the file is
    attached."""
    owner, admin_ctx = ctx_of(people.owner), ctx_of(make_user("admin"))
    draft = dossiers.start_draft(owner, PROCEDURE, "02CI")
    first, _ = documents()

    def arriving() -> Any:
        with db.connection_context():
            values = catalogue.form_values(catalogue.get_procedure(PROCEDURE))
        values["documents"] = first_confidential(values["documents"])
        catalogue.save_procedure(values, original_code=PROCEDURE, ctx=admin_ctx)
        yield PDF

    dossiers.add_attachment(owner, draft, first.id, "mat.pdf", arriving())
    assert files_of(draft) == {"mat.pdf": True}


def test_a_file_attached_while_the_administrator_saves_ends_confidential(
        people, ctx_of, make_user, settings):
    """The two transactions overlap: the attaching one has read the document and written the
    file's row, and waits (for a lock the test holds on its upload) while the administrator's
    saves the procedure. Whichever commits first, the file ends confidential. On PostgreSQL the
    order is the one above, for sure: the attach waits, then the save runs (and waits for the
    attach, since it read the document); SQLite's writers take turns in some order."""
    owner, admin_ctx = ctx_of(people.owner), ctx_of(make_user("admin"))
    draft = dossiers.start_draft(owner, PROCEDURE, "02CI")
    first, _ = documents()
    with db.connection_context():
        values = catalogue.form_values(catalogue.get_procedure(PROCEDURE))
        Upload.create(key="held", owner=people.owner.id, dossier=draft, document=first.id,
                      filename="mat.pdf", length=len(PDF), expires_at=utcnow())
    values["documents"] = first_confidential(values["documents"])
    errors: list[BaseException] = []

    def run(call, *args, **kwargs) -> threading.Thread:
        def target() -> None:
            try:
                call(*args, **kwargs)
            except BaseException as exc:  # reported by the test below
                errors.append(exc)
        thread = threading.Thread(target=target)
        thread.start()
        return thread

    with holding_upload("held", settings.database_url) as waiting:
        attach = run(dossiers.add_attachment, owner, draft, first.id, "mat.pdf", [PDF],
                     upload_key="held")
        waiting(1)  # the attach has written its row and waits for the upload's lock
        save = run(catalogue.save_procedure, values, original_code=PROCEDURE, ctx=admin_ctx)
        waiting(2, done=save)  # the save waits too, or has finished
    attach.join(timeout=60)
    save.join(timeout=60)
    assert not errors and not attach.is_alive() and not save.is_alive(), errors
    assert files_of(draft) == {"mat.pdf": True}
    # Made confidential by the save (recorded), or attached after it (confidential already).
    expected = [["mat.pdf"]] if is_postgres() else [["mat.pdf"], []]
    assert [e.note for e in marked(draft)] in expected


@contextmanager
def holding_upload(key: str, url: str) -> Iterator[Callable[..., None]]:
    """Hold a lock the attaching transaction needs at its end: the upload's row on PostgreSQL,
    the writer's turn on SQLite. Yields `waiting(n, done=None)`: on PostgreSQL, returns once
    `n` transactions of the portal wait for a lock (or the thread `done` has finished)."""
    if not is_postgres():
        with db.connection_context(), db.atomic():
            Upload.update(filename=Upload.filename).where(Upload.key == key).execute()
            yield lambda n, done=None: None
        return
    import psycopg2
    from playhouse.db_url import parse

    conn = psycopg2.connect(**parse(url))
    watch = psycopg2.connect(**parse(url))
    watch.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM upload WHERE key = %s FOR UPDATE", (key,))

            cur.execute("SELECT pg_backend_pid()")
            holder = cur.fetchone()[0]

        def behind_holder() -> int:
            """How many transactions wait, directly or not, for the test's lock (other
            tests' transactions on the same database do not count)."""
            with watch.cursor() as cur:
                cur.execute("SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity")
                blocked_by = {pid: set(pids) for pid, pids in cur.fetchall() if pids}
            behind, grew = {holder}, True
            while grew:
                more = {pid for pid, pids in blocked_by.items() if pids & behind} - behind
                behind, grew = behind | more, bool(more)
            return len(behind) - 1

        def waiting(n: int, done: threading.Thread | None = None) -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if behind_holder() >= n or (done is not None and not done.is_alive()):
                    return
                time.sleep(0.02)
            raise AssertionError(f"{n} transactions never waited for the test's lock")

        yield waiting
    finally:
        conn.rollback()
        conn.close()
        watch.close()
