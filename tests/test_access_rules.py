"""Who may have what, through the services: the result document reaches the applicant only for
procedures that return results online (level 4), and a deactivated account plays no role on
any dossier."""

from __future__ import annotations

import pytest

from portal.db import db
from portal.models import Dossier, Procedure, User, utcnow
from portal.services import dossiers, processing
from portal.services.errors import NotFound
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import PROCEDURE, complete_draft


def set_online_level(level: int) -> None:
    """Change the procedure's level as an edit of the catalogue would (its revision moves)."""
    with db.connection_context():
        Procedure.update(online_level=level, updated_at=utcnow()).where(
            Procedure.code == PROCEDURE).execute()


def issued_with_result(people, ctx_of, signed: bytes) -> tuple[int, int]:
    """A dossier whose signed result is attached and issued (status 9); (dossier, result)."""
    owner, officer, leader = ctx_of(people.owner), ctx_of(people.officer), ctx_of(people.leader)
    did = dossiers.submit(owner, complete_draft(owner), "result").id
    for action in ("receive", "start_processing", "submit_for_approval"):
        processing.act(officer, did, action)
    processing.act(leader, did, "approve")
    result = processing.upload_result(officer, did, "ket-qua.pdf", [signed])
    assert processing.act(officer, did, "issue_result").status == 9
    return did, result.id


@pytest.mark.parametrize(("level", "owner_gets_it"), [(4, True), (3, False)])
def test_the_result_reaches_the_owner_only_at_level_4(people, ctx_of, signed_result, level,
                                                     owner_gets_it):
    set_online_level(level)
    did, result = issued_with_result(people, ctx_of, signed_result)
    owner = ctx_of(people.owner)
    for status in ("issued", "returned"):
        if owner_gets_it:
            assert processing.open_attachment(owner, did, result).id == result, status
        else:
            with pytest.raises(NotFound):
                processing.open_attachment(owner, did, result)
        # The handling unit has it either way.
        assert processing.open_attachment(ctx_of(people.officer), did, result).id == result
        if status == "issued":
            assert processing.act(ctx_of(people.officer), did, "return_result").status == 10


def deactivate(user: User) -> User:
    with db.connection_context():
        User.update(active=False).where(User.id == user.id).execute()
        return User.get_by_id(user.id)


def test_a_deactivated_officer_has_no_role_on_the_units_dossiers(people, ctx_of):
    owner = ctx_of(people.owner)
    did = dossiers.submit(owner, complete_draft(owner), "inactive-officer").id
    assert dossiers.load(did, people.officer).actor == "officer"  # while active
    gone = deactivate(people.officer)
    with pytest.raises(NotFound):
        dossiers.load(did, gone)
    with pytest.raises(NotFound):
        processing.act(ctx_of(gone), did, "receive")
    with pytest.raises(NotFound):
        processing.assign(ctx_of(gone), did, None)
    with db.connection_context():
        assert Dossier.get_by_id(did).status == 1


def test_a_deactivated_enterprise_user_loses_the_enterprises_dossiers(people, ctx_of):
    owner = ctx_of(people.owner)
    did = dossiers.submit(owner, complete_draft(owner), "inactive-owner").id
    draft = complete_draft(owner)
    gone = deactivate(people.owner)
    with pytest.raises(NotFound):
        dossiers.load(did, gone)
    with pytest.raises(NotFound):
        processing.act(ctx_of(gone), did, "withdraw", "Không cần nữa")
    with pytest.raises(NotFound):
        dossiers.submit(ctx_of(gone), draft, "late")
    # The colleague, still active, keeps them.
    assert dossiers.load(did, people.colleague).actor == "owner"
    with db.connection_context():
        assert Dossier.get_by_id(did).status == 1
        assert Dossier.get_by_id(draft).status == 0
