"""What a dossier's unit is told goes only to people who are its staff now: an assigned officer
who has since moved to another unit, been deactivated or changed role is not told; the unit's
active officers and leaders are, in their place."""

from __future__ import annotations

import pytest

from portal.db import db
from portal.i18n import notification_text
from portal.models import Notification, User
from portal.services import accounts, dossiers, processing
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import PDF, complete_draft, documents

CHANGES = {
    "moved to another unit": {"unit_code": "01AB"},
    "deactivated": {"active": ""},
    "now an auditor": {"role": "auditor", "unit_code": ""},
}


def told(dossier_id: int, words: str) -> set[int]:
    """Who got a notification about the dossier whose text contains `words`."""
    with db.connection_context():
        rows = Notification.select().where(Notification.dossier == dossier_id)
        return {n.user_id for n in rows if words in notification_text(n, "en")}


def change_user(user: User, **changes: str) -> None:
    """An administrator's change to the user, through the accounts service."""
    with db.connection_context():
        values = accounts.user_form_values(User.get_by_id(user.id))
    data = {k: ("1" if v is True else "" if v is False else v) for k, v in values.items()}
    accounts.update_user(user.id, {**data, **changes})


def supplement_sent_while(people, ctx_of, change: dict[str, str] | None) -> int:
    """A dossier received and claimed by `people.officer`, waiting for a supplement;
    the officer is changed by `change`, then the applicant sends the supplement."""
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    dossier_id = complete_draft(owner)
    dossiers.submit(owner, dossier_id, f"staff-{id(change)}")
    processing.act(officer, dossier_id, "receive")
    assert processing.assign(officer, dossier_id, None).assigned_to_id == people.officer.id
    processing.act(officer, dossier_id, "request_supplement", "Thiếu hóa đơn.")
    if change:
        change_user(people.officer, **change)
    _, second = documents()
    dossiers.add_attachment(owner, dossier_id, second.id, "hoa-don.pdf", [PDF],
                            purpose="supplement")
    processing.act(owner, dossier_id, "supplement")
    return dossier_id


def test_the_assigned_officer_still_of_the_unit_is_told_alone(people, ctx_of):
    dossier_id = supplement_sent_while(people, ctx_of, None)
    assert told(dossier_id, "the applicant sent the supplement") == {people.officer.id}


@pytest.mark.parametrize("change", list(CHANGES))
def test_an_assignee_no_longer_staff_of_the_unit_is_not_told(people, ctx_of, change):
    dossier_id = supplement_sent_while(people, ctx_of, CHANGES[change])
    # The unit's active officers and leaders are told instead (the far officer of 01AB is not).
    assert told(dossier_id, "the applicant sent the supplement") == {
        people.officer2.id, people.leader.id}


def test_unassigned_news_goes_to_the_active_staff_of_the_unit_only(people, ctx_of, make_user):
    gone = make_user("officer", unit_code="02CI")
    auditor = make_user("officer", unit_code="02CI")
    change_user(gone, active="")
    change_user(auditor, role="auditor", unit_code="")
    owner = ctx_of(people.owner)
    dossier_id = complete_draft(owner)
    dossiers.submit(owner, dossier_id, "unassigned")
    assert told(dossier_id, "New dossier") == {
        people.officer.id, people.officer2.id, people.leader.id}
