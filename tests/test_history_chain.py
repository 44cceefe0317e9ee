"""The history's hash chain finds every kind of change made behind the code's back: any hashed
field of an event, its stored previous hash, the head row, and events cut off the end with
the head's count lowered to match. `history.verify_chain` is what `run.py verify-history`
reports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from portal.db import db
from portal.models import DossierEvent, HistoryHead, OutgoingMail
from portal.services import dossiers, history, processing
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import complete_draft

INTACT = "", None


@pytest.fixture
def chain(people, ctx_of) -> dict[str, Any]:
    """Two dossiers and six events: submit, receive, request_supplement on the first, submit
    and receive of the second, then withdraw of the first (the last event)."""
    owner, officer = ctx_of(people.owner), ctx_of(people.officer)
    first = dossiers.submit(owner, complete_draft(owner), "chain-1").id
    processing.act(officer, first, "receive")
    processing.act(officer, first, "request_supplement", "Thiếu chứng từ")
    second = dossiers.submit(owner, complete_draft(owner), "chain-2").id
    processing.act(officer, second, "receive")
    processing.act(owner, first, "withdraw", "Không cần nữa")
    with db.connection_context():
        events = list(DossierEvent.select().order_by(DossierEvent.id))
    assert [e.action for e in events] == ["submit", "receive", "request_supplement", "submit",
                                          "receive", "withdraw"]
    assert history.verify_chain() == (6, None, "")
    return {"first": first, "second": second, "events": events, "people": people}


def edit(event_id: int, **values: Any) -> None:
    with db.connection_context(), db.atomic():
        assert DossierEvent.update(**values).where(DossierEvent.id == event_id).execute() == 1


# Each hashed column of an event, and a value it could be changed to for the third event
# (the officer's supplement request on the first dossier, status 2 to 5).
EDITS: dict[str, Callable[[dict[str, Any], DossierEvent], dict[str, Any]]] = {
    "dossier": lambda c, e: {"dossier": c["second"]},
    "actor": lambda c, e: {"actor": c["people"].leader.id},
    "actor_name": lambda c, e: {"actor_name": "Lãnh đạo"},
    "actor_role": lambda c, e: {"actor_role": "leader"},
    "actor_unit": lambda c, e: {"actor_unit": "01AB"},
    "action": lambda c, e: {"action": "stop_processing"},
    "status_before": lambda c, e: {"status_before": 4},
    "status_after": lambda c, e: {"status_after": 8},
    "note": lambda c, e: {"note": "Không thiếu gì"},
    "public": lambda c, e: {"public": not e.public},
    "client_addr": lambda c, e: {"client_addr": "198.51.100.99"},
    "created_at": lambda c, e: {"created_at": e.created_at - dt.timedelta(seconds=1)},
}


@pytest.mark.parametrize("column", list(EDITS))
def test_an_edited_field_breaks_the_chain_at_its_event(chain, column):
    target = chain["events"][2]
    values = EDITS[column](chain, target)
    assert getattr(target, column if column not in ("dossier", "actor") else f"{column}_id") \
        != next(iter(values.values()))
    edit(target.id, **values)
    checked, broken, problem = history.verify_chain()
    assert (checked, broken) == (3, target.id)
    assert problem == "its content does not match its hash"


def test_an_edited_previous_hash_breaks_the_chain_at_its_event(chain):
    target = chain["events"][4]
    edit(target.id, prev_hash="f" * 64)
    assert history.verify_chain() == (
        5, target.id, "its previous hash does not match the event before it")


@pytest.mark.parametrize("change", ["last_hash", "count_up", "count_down"])
def test_an_edited_head_is_found(chain, change):
    with db.connection_context(), db.atomic():
        head = HistoryHead.select().get()
        values = {
            "last_hash": {"last_hash": chain["events"][-2].hash},
            "count_up": {"count": head.count + 1},
            "count_down": {"count": head.count - 1},
        }[change]
        HistoryHead.update(**values).where(HistoryHead.id == head.id).execute()
    assert history.verify_chain() == (6, None, "events are missing at the end of the chain")


def test_a_deleted_last_event_is_found_even_with_the_count_lowered(chain):
    last = chain["events"][-1]
    with db.connection_context(), db.atomic():
        OutgoingMail.delete().where(OutgoingMail.event == last.id).execute()
        DossierEvent.delete().where(DossierEvent.id == last.id).execute()
        HistoryHead.update(count=HistoryHead.count - 1).execute()
        assert HistoryHead.select().get().count == 5
    assert history.verify_chain() == (5, None, "events are missing at the end of the chain")


def test_a_deleted_last_event_with_the_head_fully_rewound_is_found_by_count(chain):
    """Only the count still tells: the head names the new last event's hash."""
    last = chain["events"][-1]
    with db.connection_context(), db.atomic():
        OutgoingMail.delete().where(OutgoingMail.event == last.id).execute()
        DossierEvent.delete().where(DossierEvent.id == last.id).execute()
        HistoryHead.update(last_hash=chain["events"][-2].hash).execute()
    assert history.verify_chain() == (5, None, "events are missing at the end of the chain")
