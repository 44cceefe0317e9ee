"""What a dossier declares and who declared it, on its page (for its staff and its owner),
its receipt and its slips; and the officer's inbox finding a dossier by its code, the
enterprise's tax code or name, and the answers a procedure marks searchable."""

from __future__ import annotations

import html
import re

from portal.db import db
from portal.models import Dossier, FormField, Procedure, Slip
from tests import dossier_web_fixtures as fx
from tests.dossier_web_fixtures import (
    ANSWERS,
    OTHER_TAX_CODE,
    PROCEDURE,
    Session,
    code_of,
    document_ids,
    pdf_bytes,
    tr,
)
from tests.helpers import HX
from tests.test_web_dossiers import acted, attach, review_key, start

forms, people, sessions = fx.forms, fx.people, fx.sessions

_SECTION = re.compile(
    r'<section class="app-declared" aria-labelledby="(\w+)-title">(.*?)</section>', re.S)
_PAIR = re.compile(r"<dt>(.*?)</dt>\s*<dd[^>]*>(.*?)</dd>", re.S)


def declared(page: str) -> dict[str, list[tuple[str, str]]]:
    """The declared sections of a page: {section: [(term, description), ...]} in order."""
    return {
        name: [(html.unescape(t).strip(), html.unescape(d).strip()) for t, d in _PAIR.findall(body)]
        for name, body in _SECTION.findall(page)
    }


def submit(s: Session, answers: dict[str, str]) -> int:
    did = start(s)
    assert s.post(f"/dossiers/{did}/edit", {**answers, "next": "review"}).status_code == 303
    first, second = document_ids()
    assert attach(s, did, first, "don.pdf", pdf_bytes("request")).status_code == 303
    assert attach(s, did, second, "chung-tu.pdf", pdf_bytes("proof")).status_code == 303
    r = s.post(f"/dossiers/{did}/submit", {"submit_key": review_key(s, did), "confirm": "1"})
    assert r.status_code == 303, r.text
    return did


def labels() -> list[str]:
    with db.connection_context():
        proc = Procedure.get(Procedure.code == PROCEDURE)
        return [f.label for f in FormField.select().where(FormField.procedure == proc)
                .order_by(FormField.position)]


# --- what was declared, and by whom ----------------------------------------------------------

def test_page_receipt_and_slip_show_the_answers_and_the_enterprise(sessions, forms):
    e, officer = sessions["enterprise"], sessions["officer"]
    did = submit(e, ANSWERS)
    acted(officer, did, "receive")  # issues the receipt slip
    with db.connection_context():
        slip = Slip.get(Slip.dossier == did).id
    expected_answers = list(zip(labels(), [
        "105123456789", "02/03/2026", "Nhập khẩu",
        "Hàng hóa không xuất khẩu được do đối tác hủy hợp đồng."], strict=True))
    holder = e.user
    expected_declarant = [
        (tr("Enterprise name"), "Công ty A"),
        (tr("Tax code"), "0100112437"),
        (tr("Enterprise e-mail"), "a@example.vn"),
        (tr("Contact person"), holder.full_name),
        (tr("Contact e-mail"), holder.email or holder.username),
    ]
    for who in (e, officer):
        for url in (f"/dossiers/{did}", f"/dossiers/{did}/receipt",
                    f"/dossiers/{did}/slips/{slip}"):
            r = who.get(url)
            assert r.status_code == 200, (url, r.status_code)
            sections = declared(r.text)
            assert sections.get("declared") == expected_answers, (who.user.role, url)
            assert sections.get("declarant") == expected_declarant, (who.user.role, url)


def test_an_answer_left_empty_shows_a_dash_and_a_number_as_typed(sessions, forms):
    e = sessions["enterprise"]
    did = submit(e, ANSWERS)
    with db.connection_context():
        Dossier.update(form_data='{"declaration_no": "105123456789"}').where(
            Dossier.id == did).execute()
    answers = declared(e.get(f"/dossiers/{did}").text)["declared"]
    assert [a for _, a in answers] == ["105123456789", "—", "—", "—"]


# --- the inbox finds a dossier --------------------------------------------------------------

def found(s: Session, q: str, *, htmx: bool = False, **params: str) -> set[int]:
    """The ids of the dossiers the inbox (view "all") lists for the search `q`."""
    r = s.client.get("/officer/inbox", params={"view": "all", "q": q, **params},
                     headers=HX if htmx else {})
    assert r.status_code == 200, r.text
    if htmx:
        assert r.text.lstrip().startswith('<section id="results"') and "<html" not in r.text
    else:
        assert f'value="{html.escape(q)}"' in r.text  # the search box keeps what was typed
    return {int(n) for n in re.findall(r'<a href="/dossiers/(\d+)">', r.text)}


def test_the_inbox_finds_by_code_tax_code_name_and_declaration_number(sessions, forms):
    a = submit(sessions["enterprise"], ANSWERS)
    # Enterprise B's dossier names A's declaration number in its reason, which no procedure
    # marks searchable: it must not be found by that number.
    b = submit(sessions["stranger"], {**ANSWERS, "declaration_no": "300000000001",
                                      "reason": "Liên quan tờ khai 105123456789 của công ty A."})
    officer = sessions["officer"]
    cases = {
        code_of(a, 1): {a},
        code_of(b, 2).lower(): {b},  # case ignored
        "0100112437": {a},
        OTHER_TAX_CODE: {b},
        "010010": {b},  # tax code by its start
        "cong ty a": {a},  # accents and case ignored
        "CÔNG TY B": {b},
        "công": {a, b},
        "105123456789": {a},
        "1051234": {a},  # declaration number by its start
        "300000000001": {b},
        "999999999999": set(),
        "Công ty Z": set(),
        "0100112438": set(),
        "%": set(),
        "_": set(),
    }
    for q, expected in cases.items():
        for htmx in (False, True):
            assert found(officer, q, htmx=htmx) == expected, (q, htmx)
    # The other filters still apply, and another branch's officer finds nothing.
    assert found(officer, "cong ty", status="1") == {a, b}
    assert found(officer, "cong ty", status="2") == set()
    assert found(officer, "cong ty", procedure="1.007807") == set()
    assert found(sessions["other_officer"], "0100112437") == set()


def test_the_seeded_forms_mark_the_declaration_numbers_searchable(forms):
    with db.connection_context():
        marked = {(f.procedure.code, f.name) for f in FormField.select(FormField, Procedure)
                  .join(Procedure).where(FormField.searchable == True)}  # noqa: E712
    assert (PROCEDURE, "declaration_no") in marked
    assert all(name.endswith("declaration_no") for _, name in marked)
