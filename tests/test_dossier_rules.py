"""Rules of the enterprise's side of a dossier, through the services: which files may be removed
while a supplement is asked for, which documents a submission needs, and the date in the
dossier's code (Vietnam's calendar day, not UTC's)."""

from __future__ import annotations

import datetime as dt

import pytest

from portal.db import db
from portal.models import Attachment, Dossier, Procedure, RequiredDocument, utcnow
from portal.services import dossiers, processing
from portal.services.errors import NotFound, ValidationError
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import (
    GOOD_ANSWERS,
    PDF,
    PNG,
    PROCEDURE,
    UNIT,
    complete_draft,
    documents,
    uploaded_files,
)


def attachments(did: int) -> list[Attachment]:
    with db.connection_context():
        return list(Attachment.select().where(Attachment.dossier == did).order_by(Attachment.id))


def test_during_a_supplement_only_the_supplement_files_can_be_removed(people, ctx_of,
                                                                      settings):
    owner = ctx_of(people.owner)
    did = dossiers.submit(owner, complete_draft(owner), "supplement-files").id
    processing.act(ctx_of(people.officer), did, "request_supplement", "Bổ sung hợp đồng.")
    application = attachments(did)
    assert [a.purpose for a in application] == ["application", "application"]
    _, second = documents()
    extra = dossiers.add_attachment(owner, did, second.id, "hop-dong.png", [PNG],
                                    purpose="supplement")
    # The files already submitted stay, whoever of the enterprise asks.
    for ctx in (owner, ctx_of(people.colleague)):
        for att in application:
            with pytest.raises(NotFound):
                dossiers.remove_attachment(ctx, did, att.id)
    assert [a.id for a in attachments(did)] == [a.id for a in application] + [extra.id]
    assert {a.stored_name for a in application} <= uploaded_files(settings.uploads)
    # The new supplement file may be taken back before it is sent.
    dossiers.remove_attachment(owner, did, extra.id)
    assert [a.id for a in attachments(did)] == [a.id for a in application]
    assert extra.stored_name not in uploaded_files(settings.uploads)


def make_optional(document: RequiredDocument) -> None:
    """Mark a document optional as a catalogue edit would (the catalogue's revision moves)."""
    with db.connection_context():
        RequiredDocument.update(mandatory=False).where(
            RequiredDocument.id == document.id).execute()
        Procedure.update(updated_at=utcnow()).where(Procedure.code == PROCEDURE).execute()


def test_a_missing_optional_document_does_not_stop_the_submission(people, ctx_of):
    ctx = ctx_of(people.owner)
    first, second = documents()
    assert first.mandatory and second.mandatory
    make_optional(second)

    without_optional = dossiers.start_draft(ctx, PROCEDURE, UNIT).id
    assert dossiers.save_answers(ctx, without_optional, GOOD_ANSWERS) == {}
    dossiers.add_attachment(ctx, without_optional, first.id, "don.pdf", [PDF])
    assert dossiers.submit(ctx, without_optional, "optional-left-out").status == 1

    without_mandatory = dossiers.start_draft(ctx, PROCEDURE, UNIT).id
    assert dossiers.save_answers(ctx, without_mandatory, GOOD_ANSWERS) == {}
    dossiers.add_attachment(ctx, without_mandatory, second.id, "chung-tu.png", [PNG])
    with pytest.raises(ValidationError) as caught:
        dossiers.submit(ctx, without_mandatory, "mandatory-left-out")
    assert set(caught.value.errors) == {f"doc-{first.id}"}
    with db.connection_context():
        assert Dossier.get_by_id(without_mandatory).status == 0


def test_the_code_carries_the_day_in_vietnam(people, ctx_of, monkeypatch):
    # 18:30 UTC on 1 March 2026 is 01:30 on 2 March in Vietnam (UTC+7).
    evening_utc = dt.datetime(2026, 3, 1, 18, 30)
    monkeypatch.setattr(dossiers, "utcnow", lambda: evening_utc)
    ctx = ctx_of(people.owner)
    submitted = dossiers.submit(ctx, complete_draft(ctx), "vietnam-day")
    assert submitted.submitted_at == evening_utc
    assert submitted.code == f"{UNIT}-260302-0001"
