"""Defects found in review, written down as tests before the code is fixed (they fail until
then): a draft submitted through the generic action route, which skips the submission's
checks and gives it no code; and a forward to a unit of the other unit structure, which the
form never offers but the service accepts."""

from __future__ import annotations

import pytest

from portal.db import db
from portal.models import Dossier, DossierEvent, Unit
from portal.services import inbox, processing
from portal.services.errors import DomainError, NotFound
from portal.services.structures import structure_in_force
from portal.services.workflow import DRAFT, PROCESSING, RECEIVED
from tests import dossier_fixtures, dossier_web_fixtures
from tests.test_web_dossiers import act, start, submitted

# The web tests' fixtures, found by pytest under these names.
forms, people, sessions = (dossier_web_fixtures.forms, dossier_web_fixtures.people,
                           dossier_web_fixtures.sessions)


def row(did: int) -> tuple:
    with db.connection_context():
        d = Dossier.get_by_id(did)
        n_events = DossierEvent.select().where(DossierEvent.dossier == did).count()
        return d.status, d.code, d.submitted_at, d.unit_id, d.assigned_to_id, n_events


# --- a. submitting a draft only through the submission, with its checks and its code ---------

def test_the_action_route_does_not_submit_a_draft(sessions):
    e = sessions["enterprise"]
    did = start(e)  # a draft with no answers and no files
    before = row(did)
    assert before[:2] == (DRAFT, None)
    r = act(e, did, "submit")
    assert r.status_code != 303 and 400 <= r.status_code < 500, r.status_code
    assert row(did) == before


def test_processing_act_does_not_submit_a_draft(people, forms, settings):
    owner = dossier_fixtures.make_ctx(people.enterprise, settings)
    did = dossier_fixtures.complete_draft(owner)  # complete: only the route is wrong
    before = row(did)
    with pytest.raises((DomainError, NotFound)):  # any refusal
        processing.act(owner, did, "submit")
    assert row(did) == before
    assert before[:2] == (DRAFT, None)


# --- b. forwarding only to the units the form offers ----------------------------------------

OTHER_STRUCTURE_UNIT = "02"  # a department of the 2016 structure, active in the seed


def test_a_forward_to_a_unit_of_the_other_structure_is_refused(sessions):
    e, officer = sessions["enterprise"], sessions["officer"]
    did = submitted(e)
    assert act(officer, did, "receive").status_code == 303
    with db.connection_context():
        unit = Unit.get(Unit.code == OTHER_STRUCTURE_UNIT)
        assert unit.active and unit.kind != "administration"
        assert unit.structure != structure_in_force()
        here = Dossier.get_by_id(did).unit_id
    offered = [code for code, _label in inbox.forward_units(here)]
    assert "01AB" in offered  # the form's choices: units of the structure in force
    assert OTHER_STRUCTURE_UNIT not in offered
    before = row(did)
    assert before[0] == RECEIVED

    r = act(officer, did, "forward", note="Chuyển đơn vị", to_unit=OTHER_STRUCTURE_UNIT)
    assert r.status_code == 422
    assert row(did) == before
    # The same forward to a unit the form offers is done.
    assert act(officer, did, "forward", note="Chuyển đơn vị", to_unit="01AB").status_code == 303
    assert row(did)[0] == PROCESSING
