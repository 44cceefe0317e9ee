"""Dossiers received on paper at the counter (services/counter.py): recorded by an officer with
their scanned documents, for a known or a new applicant (an enterprise, or a person with a
citizen ID), received at once with a code from the same sequence, a receipt slip and a history
event; the same life afterwards; supplements brought to the counter; nothing kept when a
request fails, also in the middle of the write."""

from __future__ import annotations

import re

import pytest

from portal.db import db
from portal.models import Attachment, Dossier, DossierEvent, Enterprise, Notification, Slip
from portal.services import counter, dossiers, processing, stats
from portal.services.access import OWNER, actor_kind
from portal.services.counter import Scan
from portal.services.errors import DomainError, NotFound, ValidationError
from portal.services.history import verify_chain
from portal.services.status import PROCESSING, RECEIVED, SUPPLEMENT
from tests.dossier_fixtures import *  # noqa: F403
from tests.dossier_fixtures import (
    EXE,
    GOOD_ANSWERS,
    PDF,
    PNG,
    PROCEDURE,
    complete_draft,
    documents,
    tax_code,
    uploaded_files,
)

NOT_ONLINE = "1.008002"  # border residents' goods: done at the counter only
CITIZEN_ID = "001203004567"
PERSON = {
    "kind": "person",
    "id_number": CITIZEN_ID,
    "name": "Nguyễn Thị Biên",
    "address": "Thôn Pò Hèn, xã Hải Sơn, Quảng Ninh",
    "contact_name": "Nguyễn Thị Biên",
    "contact_phone": "0912 345 678",
    "note": "Hồ sơ giấy: 1 bộ.",
}


def docs_of(code: str):
    from portal.models import Procedure, RequiredDocument

    with db.connection_context():
        proc = Procedure.get(Procedure.code == code)
        return list(RequiredDocument.select().where(RequiredDocument.procedure == proc)
                    .order_by(RequiredDocument.position))


def scans_for(code: str, content: bytes = PDF) -> list[Scan]:
    """One scanned PDF for each document of the procedure (a PNG where PDF is not accepted)."""
    out = []
    for doc in docs_of(code):
        body = content if "pdf" in doc.file_types else PNG
        out.append(Scan(doc.id, f"scan-{doc.id}.pdf", [body]))
    return out


def enterprise_data(tax: str = "0100112437", **more: str) -> dict[str, str]:
    return {"kind": "enterprise", "id_number": tax, "contact_name": "Trần Văn Giao",
            "contact_phone": "024 3825 1234", **more}


def test_a_person_brings_a_paper_dossier_of_a_procedure_not_online(people, ctx_of, settings):
    ctx = ctx_of(people.officer)
    dossier = counter.record_dossier(ctx, NOT_ONLINE, PERSON, scans_for(NOT_ONLINE))
    with db.connection_context():
        d = Dossier.get_by_id(dossier.id)
        applicant = Enterprise.get_by_id(d.enterprise_id)
        event = DossierEvent.get(DossierEvent.dossier == d.id)
        slip = Slip.get(Slip.dossier == d.id)
        files = list(Attachment.select().where(Attachment.dossier == d.id))
        unit = d.unit.code
    assert re.fullmatch(r"02CI-[0-9]{6}-0001", d.code)
    assert (d.status, d.channel, unit) == (RECEIVED, "counter", "02CI")
    assert d.received_at == d.submitted_at and d.due_at > d.received_at
    assert (d.contact_name, d.contact_phone) == ("Nguyễn Thị Biên", "0912 345 678")
    assert (applicant.kind, applicant.tax_code, applicant.address) == (
        "person", CITIZEN_ID, "Thôn Pò Hèn, xã Hải Sơn, Quảng Ninh")
    # No account holds this applicant: the recording officer owns the dossier.
    assert d.owner_id == people.officer.id
    assert (event.action, event.actor_name, event.actor_unit) == (
        "receive_at_counter", "Cán bộ Một", "2025:02CI")
    assert (event.status_after, event.note) == (RECEIVED, "Hồ sơ giấy: 1 bộ.")
    assert (slip.kind, slip.issued_by, slip.due_at) == ("receipt", "Cán bộ Một", d.due_at)
    assert len(files) == len(docs_of(NOT_ONLINE)) and all(f.purpose == "application" for f in files)
    assert {f.stored_name for f in files} == uploaded_files(settings.uploads)
    assert all(len(f.sha256) == 64 and f.uploaded_by_id == people.officer.id for f in files)
    assert verify_chain()[1] is None
    # The officer acts on it as staff; nobody becomes its owner by recording it.
    assert actor_kind(people.officer, d) == "officer"


def test_a_known_enterprise_with_an_account_owns_it_and_is_told(people, ctx_of):
    ctx = ctx_of(people.leader)
    data = enterprise_data(**GOOD_ANSWERS, name="ignored for a known enterprise")
    dossier = counter.record_dossier(ctx, PROCEDURE, data, scans_for(PROCEDURE))
    with db.connection_context():
        d = Dossier.get_by_id(dossier.id)
        told = list(Notification.select().where(Notification.dossier == d.id))
        assert Enterprise.get_by_id(d.enterprise_id).name == "Công ty A"  # kept as it was
        assert Enterprise.select().count() == 2
    assert d.owner_id == people.owner.id
    assert [n.user_id for n in told] == [people.owner.id]
    assert actor_kind(people.colleague, d) == OWNER
    mine = dossiers.list_for_enterprise(people.colleague)
    assert [x.code for x in mine.items] == [d.code]
    assert dossiers.load(d.id, people.owner).declared[0][1] == GOOD_ANSWERS["declaration_no"]


def test_the_code_comes_from_the_same_sequence_as_online_dossiers(people, ctx_of):
    online = dossiers.submit(ctx_of(people.owner), complete_draft(ctx_of(people.owner)), "k1")
    paper = counter.record_dossier(ctx_of(people.officer), NOT_ONLINE, PERSON,
                                   scans_for(NOT_ONLINE))
    assert online.code.endswith("-0001") and paper.code.endswith("-0002")
    assert online.code[:-4] == paper.code[:-4]


def test_a_new_enterprise_is_entered_at_the_counter(people, ctx_of):
    tax = tax_code("010999888")
    data = enterprise_data(tax, name="Công ty Mới", address="Hà Nội", email="moi@example.vn",
                           **GOOD_ANSWERS)
    d = counter.record_dossier(ctx_of(people.officer), PROCEDURE, data, scans_for(PROCEDURE))
    with db.connection_context():
        new = Enterprise.get(Enterprise.tax_code == tax)
        assert Dossier.get_by_id(d.id).enterprise_id == new.id
    assert (new.kind, new.name, new.address, new.email) == (
        "enterprise", "Công ty Mới", "Hà Nội", "moi@example.vn")


def test_every_problem_is_named_at_once_and_nothing_is_kept(people, ctx_of, settings):
    first, second = documents()
    data = enterprise_data("0100112438", contact_phone="gọi tôi", contact_name="",
                           declaration_no="12", declaration_date="2025-02-30")
    scans = [Scan(first.id, "virus.pdf", [EXE])]  # the second, mandatory, is missing
    with pytest.raises(ValidationError) as caught:
        counter.record_dossier(ctx_of(people.officer), PROCEDURE, data, scans)
    errors = caught.value.errors
    assert {"id_number", "contact_name", "contact_phone", "declaration_no", "declaration_date",
            f"doc-{first.id}", f"doc-{second.id}"} <= set(errors)
    assert errors["id_number"].text.startswith("This tax code's check digit")
    assert errors[f"doc-{first.id}"].text.startswith("This type of file is not accepted")
    assert errors[f"doc-{second.id}"].text == "Attach the scanned document."
    with db.connection_context():
        assert Dossier.select().count() == 0
    assert uploaded_files(settings.uploads) == set()


def test_the_number_must_fit_the_kind_of_applicant(people, ctx_of):
    for kind, number in (("person", "0100112437"), ("person", "00120300456X"),
                         ("enterprise", CITIZEN_ID), ("martian", CITIZEN_ID)):
        data = {**PERSON, "kind": kind, "id_number": number}
        with pytest.raises(ValidationError) as caught:
            counter.record_dossier(ctx_of(people.officer), NOT_ONLINE, data,
                                   scans_for(NOT_ONLINE))
        assert set(caught.value.errors) & {"id_number", "kind"}, (kind, number)
    new_person = {**PERSON, "address": "", "name": ""}
    with pytest.raises(ValidationError) as caught:
        counter.record_dossier(ctx_of(people.officer), NOT_ONLINE, new_person,
                               scans_for(NOT_ONLINE))
    assert set(caught.value.errors) == {"name", "address"}


def test_an_unknown_procedure_is_a_field_error(people, ctx_of):
    with pytest.raises(ValidationError) as caught:
        counter.record_dossier(ctx_of(people.officer), "9.999999", PERSON, [])
    assert set(caught.value.errors) == {"procedure"}


@pytest.mark.parametrize("who", ["owner", "far_officer_as_admin", "auditor"])
def test_only_unit_staff_record_at_the_counter(people, ctx_of, make_user, who, settings):
    user = {
        "owner": lambda: people.owner,
        "far_officer_as_admin": lambda: make_user("admin"),
        "auditor": lambda: make_user("auditor"),
    }[who]()
    with pytest.raises(DomainError) as caught:
        counter.record_dossier(ctx_of(user), NOT_ONLINE, PERSON, scans_for(NOT_ONLINE))
    assert caught.value.kind == "forbidden"
    assert uploaded_files(settings.uploads) == set()


def test_a_crash_in_the_middle_of_the_write_leaves_no_dossier_and_no_file(
    people, ctx_of, settings, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("the disk is gone")

    # The dossier, the new applicant and the files' rows are written by then.
    monkeypatch.setattr(counter.history, "record", broken)
    with pytest.raises(RuntimeError):
        counter.record_dossier(ctx_of(people.officer), NOT_ONLINE, PERSON, scans_for(NOT_ONLINE))
    with db.connection_context():
        assert Dossier.select().count() == 0
        assert Attachment.select().count() == 0
        assert Enterprise.get_or_none(Enterprise.tax_code == CITIZEN_ID) is None
    assert uploaded_files(settings.uploads) == set()


def test_the_same_life_afterwards_with_a_supplement_brought_to_the_counter(people, ctx_of):
    officer = ctx_of(people.officer)
    d = counter.record_dossier(officer, NOT_ONLINE, PERSON, scans_for(NOT_ONLINE))
    processing.act(officer, d.id, "start_processing")
    processing.act(officer, d.id, "request_supplement", "Bổ sung hợp đồng mua bán.")
    with db.connection_context():
        assert Dossier.get_by_id(d.id).paused_at is not None
    # Nobody sends it through the generic action path, and files are needed.
    with pytest.raises(DomainError) as caught:
        processing.act(officer, d.id, "record_supplement")
    assert caught.value.kind == "unknown"
    with pytest.raises(ValidationError) as caught:
        counter.record_supplement(officer, d.id, [], "")
    assert set(caught.value.errors) == {"files"}
    with pytest.raises(NotFound):
        counter.record_supplement(ctx_of(people.far_officer), d.id, scans_for(NOT_ONLINE)[:1])
    doc = docs_of(NOT_ONLINE)[0]
    after = counter.record_supplement(
        ctx_of(people.leader), d.id, [Scan(doc.id, "bo-sung.pdf", [PDF])], "Nhận tại quầy."
    )
    with db.connection_context():
        d2 = Dossier.get_by_id(d.id)
        last = DossierEvent.select().where(DossierEvent.dossier == d.id).order_by(
            DossierEvent.id.desc()).first()
        added = Attachment.get(Attachment.dossier == d.id, Attachment.purpose == "supplement")
    assert after.status == d2.status == PROCESSING and d2.paused_at is None
    assert (last.action, last.actor_name, last.status_before, last.note) == (
        "record_supplement", "Lãnh đạo", SUPPLEMENT, "Nhận tại quầy.")
    assert added.original_name == "bo-sung.pdf" and added.uploaded_by_id == people.leader.id
    with pytest.raises(DomainError) as caught:  # no supplement is asked for any more
        counter.record_supplement(officer, d.id, [Scan(doc.id, "lai.pdf", [PDF])])
    assert caught.value.kind == "conflict"
    assert verify_chain()[1] is None


def test_statistics_count_online_and_counter_dossiers(people, ctx_of):
    dossiers.submit(ctx_of(people.owner), complete_draft(ctx_of(people.owner)), "k1")
    counter.record_dossier(ctx_of(people.officer), NOT_ONLINE, PERSON, scans_for(NOT_ONLINE))
    counter.record_dossier(ctx_of(people.officer), NOT_ONLINE,
                           {**PERSON, "id_number": "001203004568"}, scans_for(NOT_ONLINE))
    today = stats.local_today()
    report = stats.build_report(stats.clean_query({}, 1, today))
    f = report.figures
    assert (f.received, f.counter, f.online) == (3, 2, 1)
    assert (str(f.counter_share), str(f.online_share)) == ("66.7", "33.3")
    assert f.enterprises == 3  # the persons take part too


def test_a_person_looks_the_paper_dossier_up_with_the_citizen_id(people, ctx_of):
    from portal.services import public_lookup

    d = counter.record_dossier(ctx_of(people.officer), NOT_ONLINE, PERSON, scans_for(NOT_ONLINE))
    found = public_lookup.look_up(d.code, CITIZEN_ID, "198.51.100.9").found
    assert found is not None and (found.code, found.unit_code) == (d.code, "02CI")
    with pytest.raises(ValidationError):
        public_lookup.look_up(d.code, "001203004568", "198.51.100.9")


def test_a_paper_dossier_takes_the_in_person_time_limit(people, ctx_of):
    from portal.models import Procedure, ProcessingTime
    from portal.services.effects import time_limit

    with db.connection_context():
        proc = Procedure.get(Procedure.code == PROCEDURE)
        ProcessingTime.delete().where(ProcessingTime.procedure == proc).execute()
        ProcessingTime.create(procedure=proc, channel="online", amount=1)
        ProcessingTime.create(procedure=proc, channel="in_person", amount=3)
        assert time_limit(proc.id) == (1, "working_days")
        assert time_limit(proc.id, "counter") == (3, "working_days")
    data = enterprise_data(**GOOD_ANSWERS)
    paper = counter.record_dossier(ctx_of(people.officer), PROCEDURE, data, scans_for(PROCEDURE))
    online = processing.act(
        ctx_of(people.officer),
        dossiers.submit(ctx_of(people.owner), complete_draft(ctx_of(people.owner)), "k").id,
        "receive",
    )
    assert paper.due_at - paper.received_at > online.due_at - online.received_at
