"""Fees as data: what each kind of fee comes to for a dossier's answers, fees written as text
(the administrator's form, CSV files) and back, the officer's edited items, and the fees shown
on the procedure's page and in the review before submission."""

from __future__ import annotations

import html

import pytest

from portal import i18n
from portal.db import db
from portal.models import Fee, Procedure
from portal.services import catalogue_files, fees
from portal.services.catalogue import form_values, get_procedure, save_procedure
from portal.services.errors import ValidationError
from portal.services.fees import Item
from tests.dossier_fixtures import complete_draft, ctx_of, forms, people  # noqa: F401

pytestmark = pytest.mark.usefixtures("catalogue")


def fee(**values) -> Fee:
    return Fee(**fees.fee_row(values))


def test_a_fixed_fee_is_its_amount():
    assert fees.item_of(fee(label="Lệ phí", amount=20000), {}) == Item("Lệ phí", 1, 20000, 20000)


def test_a_per_item_fee_counts_the_answer():
    f = fee(label="Sổ", kind="per_item", amount=200000, field="carnets")
    assert fees.item_of(f, {"carnets": "3"}) == Item("Sổ", 3, 200000, 600000)
    assert fees.item_of(f, {"carnets": "0"}).amount == 0
    # a count that is missing or not a whole number counts one item (the officer adjusts)
    assert fees.item_of(f, {}).amount == 200000
    assert fees.item_of(f, {"carnets": "2.5"}).amount == 200000


def test_a_computed_fee_is_a_share_of_the_answer_between_its_bounds():
    f = fee(label="Phí", kind="computed", rate_bp=10, field="tax", min_amount=10000,
            max_amount=1000000)
    assert fees.item_of(f, {"tax": "50000000"}).amount == 50000  # 0.1 %
    assert fees.item_of(f, {"tax": "1000"}).amount == 10000  # at least
    assert fees.item_of(f, {"tax": "5000000000"}).amount == 1000000  # at most
    assert fees.item_of(f, {}).amount == 10000  # no answer: from 0, then the minimum
    half = fee(label="Phí", kind="computed", rate_bp=1, field="tax")
    assert fees.item_of(half, {"tax": "5000"}).amount == 1  # 0.5 rounds half up
    assert fees.item_of(half, {"tax": "4999"}).amount == 0


def test_fees_as_text_round_trip():
    text = (
        "Lệ phí làm thủ tục hải quan | fixed | 20.000\n"
        "Lệ phí cấp sổ | per_item | 200000 | carnets\n"
        "Phí thẩm định | computed | 0,1% | tax_difference | min 10000 | max 1.000.000\n"
        "Phí khác | computed | 2.5% | value\n"
    )
    parsed, problem = fees.parse_fees(text)
    assert problem is None
    assert [(f["kind"], f["amount"], f["rate_bp"], f["min_amount"], f["max_amount"])
            for f in parsed] == [("fixed", 20000, 0, None, None),
                                 ("per_item", 200000, 0, None, None),
                                 ("computed", 0, 10, 10000, 1000000),
                                 ("computed", 0, 250, None, None)]
    again, problem = fees.parse_fees(fees.format_fees(parsed))
    assert problem is None and again == parsed


@pytest.mark.parametrize("line", [
    "Lệ phí | fixed",  # no amount
    "Lệ phí | fixed | -5",
    "Lệ phí | fixed | 20000 | extra",
    "| fixed | 20000",  # no name
    "Lệ phí | monthly | 20000",
    "Lệ phí | per_item | 20000",  # no field
    "Lệ phí | per_item | 20000 | Số lượng",  # not a field name
    "Phí | computed | 150% | value",  # more than everything
    "Phí | computed | 0.001% | value",  # finer than a basis point
    "Phí | computed | abc | value",
    "Phí | computed | 1% | value | min 10 | max 5",  # min above max
    "Phí | computed | 1% | value | least 10",
    "Lệ phí | fixed | 99999999999999999",
])
def test_a_fee_line_that_is_not_understood_is_named(line):
    parsed, problem = fees.parse_fees(f"Lệ phí | fixed | 1\n{line}")
    assert problem is not None and problem.params == {"line": 2}


def test_the_officers_items_keep_what_is_proposed_and_name_each_bad_row():
    proposed = [Item("Lệ phí", 2, 10000, 20000)]
    same = fees.parse_items([("Lệ phí", "20000"), ("", "")], proposed)
    assert same == proposed and not fees.changed(same, proposed)
    other = fees.parse_items([("Lệ phí", "20.000"), ("Phí thêm", "5000")], proposed)
    assert other == [proposed[0], Item("Phí thêm", 1, 5000, 5000)]
    assert fees.changed(other, proposed) and fees.total(other) == 25000
    with pytest.raises(ValidationError) as caught:
        fees.parse_items([("Lệ phí", "hai mươi"), ("", "5000"), ("Phí\u202e", "1")], proposed)
    assert set(caught.value.errors) == {"amount-0", "label-1", "label-2"}
    with pytest.raises(ValidationError) as caught:
        fees.parse_items([("", ""), ("Miễn phí", "0")], proposed)
    assert set(caught.value.errors) == {"items"}


def test_the_seed_gives_the_demo_procedures_each_kind_of_fee():
    with db.connection_context():
        kinds = {(f.procedure.code, f.kind) for f in Fee.select(Fee, Procedure).join(Procedure)}
    assert {("1.005458", "fixed"), ("2.002184", "computed"), ("2.002322", "per_item")} <= kinds
    # every customs-declaration procedure charges the declaration fee its text states
    proc = get_procedure("1.008002")
    assert [(f.label, f.amount) for f in proc.fees] == [("Lệ phí làm thủ tục hải quan", 20000)]


def test_the_administrators_form_edits_the_fees():
    values = form_values(get_procedure("2.002184"))
    assert "| computed | 0.1% | tax_difference | min 10000 | max 1000000" in values["fees"]
    save_procedure({**values, "fees": "Lệ phí | fixed | 30000"}, original_code="2.002184")
    assert [(f.label, f.amount) for f in get_procedure("2.002184").fees] == [("Lệ phí", 30000)]
    with pytest.raises(ValidationError) as caught:
        save_procedure({**values, "fees": "Lệ phí | sometimes | 1"}, original_code="2.002184")
    assert "fees" in caught.value.errors
    # a form (or a file) without the fees leaves them as they are
    data = {k: v for k, v in values.items() if k != "fees"}
    save_procedure(data, original_code="2.002184")
    assert [f.label for f in get_procedure("2.002184").fees] == ["Lệ phí"]


def test_the_catalogue_files_carry_the_fees():
    for fmt in ("csv", "json"):
        exported = catalogue_files.export_catalogue(fmt)
        with db.connection_context():
            Fee.delete().execute()
        assert catalogue_files.import_catalogue(exported.encode(), fmt) == 189
        fees_now = get_procedure("2.002184").fees
        assert [(f.kind, f.rate_bp, f.field) for f in fees_now] == [
            ("fixed", 0, ""), ("computed", 10, "tax_difference")], fmt


def text_of(r) -> str:
    return html.unescape(r.text)


def test_the_procedure_page_states_each_fee(client, forms):  # noqa: F811
    page = text_of(client.get("/procedures/2.002322"))
    assert "Lệ phí cấp sổ tạm quản:" in page
    assert i18n.translations("vi").gettext("%(amount)s for each unit of “%(field)s”") % {
        "amount": i18n.format_vnd(200000), "field": "Số sổ tạm quản đề nghị cấp"} in page
    page = text_of(client.get("/procedures/2.002184"))
    assert "Phí thẩm định hồ sơ khai bổ sung:" in page and "0.1%" in page
    assert i18n.format_vnd(1000000) in page


def test_the_review_shows_what_the_fees_come_to(client, people, ctx_of, login):  # noqa: F811
    owner = ctx_of(people.owner)
    did = complete_draft(owner)
    login(people.owner)
    page = text_of(client.get(f"/dossiers/{did}/review"))
    assert "Lệ phí làm thủ tục hải quan" in page and i18n.format_vnd(20000) in page
