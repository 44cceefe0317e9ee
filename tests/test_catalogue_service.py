"""The catalogue service: search (diacritics, case, ranking), filters, paging, edits."""

from __future__ import annotations

import os
import unicodedata
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from playhouse.db_url import parse

from portal.config import Settings
from portal.db import configure, db
from portal.migrations import migrate
from portal.models import Procedure
from portal.services.catalogue import (
    PER_PAGE,
    PROCEDURE_FIELDS,
    Filters,
    facets,
    form_values,
    get_procedure,
    level_summary,
    ranked_ids,
    save_procedure,
    search_procedures,
)
from portal.services.errors import NotFound, ValidationError
from portal.services.seed import seed_catalogue

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres:", "postgresql:"))
SEEDED = 189
# "Thủ tục huỷ tờ khai hải quan" and "Thông báo hủy tờ khai quá cảnh hải quan"
CANCELLATION = {"1.005458", "3.000143"}



@pytest.fixture(scope="module")
def seeded_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One seeded catalogue shared by this module's read-only tests (seeding takes ~1 s):
    a SQLite file, or a PostgreSQL schema of its own when DATABASE_URL names PostgreSQL."""
    base_url = os.environ.get("DATABASE_URL", "")
    conn = schema = None
    if ON_POSTGRES:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        conn = psycopg2.connect(**parse(base_url))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE SCHEMA {schema}")
        sep = "&" if "?" in base_url else "?"
        url = f"{base_url}{sep}options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('seeded') / 'portal.db'}"
    configure(Settings.for_data_dir(tmp_path_factory.mktemp("data"), database_url=url))
    try:
        migrate()
        seed_catalogue()
    finally:
        db.close_all()
    yield url
    if conn is not None:
        with conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()


@pytest.fixture
def seeded(seeded_url: str, tmp_path) -> Iterator[None]:
    """The shared seeded catalogue: for tests that only read."""
    configure(Settings.for_data_dir(tmp_path / "data", database_url=seeded_url))
    yield
    db.close_all()


# Tests that read use the shared catalogue; tests that write get a fresh one ("catalogue").
read_only = pytest.mark.usefixtures("seeded")
fresh = pytest.mark.usefixtures("catalogue")


def search(per_page: int = PER_PAGE, **params: str):
    return search_procedures(Filters.parse(params), per_page=per_page)


def codes(page) -> list[str]:
    return [p.code for p in page.items]


def everything(**params: str) -> list[Procedure]:
    page = search(per_page=1000, **params)
    assert page.total == len(page.items)
    return page.items


# --- search -------------------------------------------------------------------------------

@read_only
@pytest.mark.parametrize("q", ["huy to khai", "Hủy tờ khai", "HỦY TỜ KHAI", "huỷ tờ khai",
                               unicodedata.normalize("NFD", "Hủy tờ khai")])
def test_cancellation_found_first_whatever_the_diacritics_or_case(q):
    page = search(q=q)
    assert set(codes(page)[:2]) == CANCELLATION
    assert page.total >= 2


@read_only
def test_search_with_and_without_diacritics_gives_identical_ordered_results():
    with_marks = search(per_page=1000, q="bổ sung")
    without = search(per_page=1000, q="bo sung")
    assert with_marks.total > 1
    assert codes(with_marks) == codes(without)
    assert all("bo sung" in p.search_text for p in without.items)


@read_only
def test_search_by_code():
    page = search(q="1.005458")
    assert codes(page) == ["1.005458"]
    assert page.total == 1


@read_only
def test_every_word_must_match():
    assert search(q="huy to khai zzzqqq").total == 0
    page = search(q="khong ton tai gi ca xyz")
    assert page.items == [] and page.total == 0 and page.number == 1 and page.pages == 1


@read_only
def test_words_match_as_prefixes():
    assert set(codes(search(q="huy to kha"))[:2]) == CANCELLATION


@read_only
def test_letters_inside_words_do_not_match():
    # "uan" is inside "quan" (hải quan) of nearly every procedure, but no word starts with it.
    assert search(q="quan").total > 100
    assert search(q="uan").total == 0
    assert search(q="UÂN").total == 0
    # ...and "oan" (inside "toán", "khoản") neither, alone or next to a word that matches.
    assert search(q="hai quan").total > 100
    assert search(q="hai quan oan").total == 0


@read_only
def test_whole_phrase_in_name_ranks_above_scattered_words():
    page = search(per_page=1000, q="khai bo sung")
    ranked = codes(page)
    names = {p.code: p.search_name for p in page.items}
    phrase = [c for c in ranked if " khai bo sung " in names[c]]
    scattered = [c for c in ranked if " khai bo sung " not in names[c]]
    assert phrase and scattered
    assert ranked[: len(phrase)] == phrase  # every whole-phrase match comes first
    assert "2.002184" in phrase  # "Thủ tục khai bổ sung hồ sơ hải quan ..."
    assert "1.001320" in scattered  # "Thủ tục bổ sung nội dung ... tờ khai hải quan"
    assert ranked.index("2.002184") < ranked.index("1.001320")


@read_only
def test_relevance_ties_are_broken_by_code():
    ranked, _, total = ranked_ids(Filters.parse({"q": "bo sung"}), 1000)
    assert len(ranked) == total > 1
    with db.connection_context():
        code = {p.id: p.code for p in Procedure.select(Procedure.id, Procedure.code)}
    scores = [score for _, score in ranked]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    for (a, a_score), (b, b_score) in zip(ranked, ranked[1:], strict=False):
        if a_score == b_score:
            assert code[a] < code[b]


@read_only
def test_without_a_query_results_are_by_code():
    items = everything()
    assert len(items) == SEEDED
    assert [p.code for p in items] == sorted(p.code for p in items)


@read_only
def test_sort_by_name_and_by_level():
    by_name = everything(sort="name")
    assert [p.search_name for p in by_name] == sorted(p.search_name for p in by_name)
    by_level = everything(sort="level")
    levels = [p.online_level for p in by_level]
    assert levels == sorted(levels, reverse=True) and levels[0] == 4 and levels[-1] < 4


# --- filters ------------------------------------------------------------------------------

@read_only
@pytest.mark.parametrize("level", [2, 3, 4])
def test_level_filter(level):
    items = everything(level=str(level))
    assert items and all(p.online_level == level for p in items)
    with db.connection_context():
        assert len(items) == Procedure.select().where(Procedure.online_level == level).count()


@read_only
def test_level_filter_combines_with_search():
    all_hits = everything(q="to khai")
    level4 = everything(q="to khai", level="4")
    assert 0 < len(level4) < len(all_hits)
    assert {p.code for p in level4} == {p.code for p in all_hits if p.online_level == 4}


@read_only
def test_implementing_level_filter():
    items = everything(implementing_level="Cấp xã")
    assert items and all("Cấp xã" in p.implementing_level for p in items)
    assert len(items) < SEEDED


@read_only
def test_agency_filter():
    agencies = facets()["agencies"]
    assert "Hải quan cửa khẩu" in agencies
    items = everything(agency="Hải quan cửa khẩu")
    assert items and len(items) < SEEDED
    assert all("Hải quan cửa khẩu" in p.implementing_agency for p in items)


@read_only
def test_field_filter():
    fields = facets()["fields"]
    assert fields
    assert sum(len(everything(field=f)) for f in fields) == SEEDED
    assert everything(field="Không có lĩnh vực này") == []


@read_only
def test_bad_filter_values_are_ignored_and_named():
    f = Filters.parse({"level": "abc", "sort": "x", "page": "-3",
                       "implementing_level": "Cấp vũ trụ"})
    assert set(f.ignored) == {"level", "sort", "page", "implementing_level"}
    assert f.level is None and f.page == 1 and f.sort == "code" and f.implementing_level == ""
    page = search_procedures(f)
    assert page.total == SEEDED and page.number == 1


@read_only
def test_level_outside_the_known_levels_is_ignored():
    assert Filters.parse({"level": "7"}).ignored == ["level"]
    assert Filters.parse({"level": "4"}).ignored == []


# --- paging -------------------------------------------------------------------------------

@read_only
def test_pages_cover_the_catalogue_once():
    first = search()
    assert first.total == SEEDED
    assert first.pages == -(-SEEDED // PER_PAGE)
    seen: list[str] = []
    for number in range(1, first.pages + 1):
        page = search(page=str(number))
        assert page.number == number
        seen.extend(codes(page))
    assert len(seen) == SEEDED == len(set(seen))


@read_only
def test_page_past_the_end_is_clamped_to_the_last():
    last = search(page="999")
    pages = -(-SEEDED // PER_PAGE)
    assert last.number == pages
    assert len(last.items) == SEEDED - (pages - 1) * PER_PAGE
    assert last.first_index == (pages - 1) * PER_PAGE + 1 and last.last_index == SEEDED
    assert not last.has_next and last.has_prev


# --- one procedure ------------------------------------------------------------------------

@read_only
def test_get_procedure_with_documents_and_times():
    proc = get_procedure("1.005458")
    assert proc.name == "Thủ tục huỷ tờ khai hải quan"
    docs = list(proc.documents)
    assert docs and [d.position for d in docs] == sorted(d.position for d in docs)
    assert any(t.channel == "online" for t in proc.times)


@read_only
def test_get_procedure_unknown_code():
    with pytest.raises(NotFound):
        get_procedure("9.999999")


# --- editing ------------------------------------------------------------------------------

def valid_form(code: str = "1.005458") -> dict[str, str]:
    return form_values(get_procedure(code))


BAD_VALUES = [
    ({"code": "1005458"}, "code"),
    ({"code": "1.05458"}, "code"),
    ({"online_level": "2", "not_online_reason": ""}, "not_online_reason"),
    ({"online_level": "5"}, "online_level"),
    ({"documents": " | mandatory | pdf"}, "documents"),
    ({"documents": "Tờ khai | mandatory | pdf,exe"}, "documents"),
    ({"documents": "Tờ khai | mandatory | optional | pdf"}, "documents"),
    ({"documents": "Tờ khai | pdf | jpg"}, "documents"),
    ({"documents": "Tờ khai | mandatory | jpeg"}, "documents"),
    ({"national_url": "http://dichvucong.gov.vn/x"}, "national_url"),
    ({"national_url": "javascript:alert(1)"}, "national_url"),
    ({"name": ""}, "name"),
    ({"time_online": "-1"}, "time_online"),
    ({"time_online_unit": "fortnights"}, "time_online_unit"),
]


@fresh
def test_save_procedure_refuses_bad_values():
    before = form_values(get_procedure("1.005458"))
    for changes, field in BAD_VALUES:
        with pytest.raises(ValidationError) as exc:
            save_procedure({**before, **changes}, original_code="1.005458")
        assert field in exc.value.errors, (changes, exc.value.errors)
    assert form_values(get_procedure("1.005458")) == before  # nothing stored


@fresh
def test_save_procedure_names_every_bad_field_at_once():
    data = {**valid_form(), "code": "abc", "name": "", "documents": "Đơn | pdf,exe",
            "national_url": "ftp://example.vn", "time_post": "x"}
    with pytest.raises(ValidationError) as exc:
        save_procedure(data, original_code="1.005458")
    assert set(exc.value.errors) == {"code", "name", "documents", "national_url", "time_post"}


@fresh
def test_missing_not_online_reason_is_named_along_with_other_errors():
    data = {**valid_form(), "code": "abc", "online_level": "2", "not_online_reason": ""}
    with pytest.raises(ValidationError) as exc:
        save_procedure(data, original_code="1.005458")
    assert {"code", "not_online_reason"} <= set(exc.value.errors)


@fresh
def test_documents_line_error_names_the_line():
    data = {**valid_form(), "documents": "Đơn đề nghị | mandatory | pdf\n | optional | jpg"}
    with pytest.raises(ValidationError) as exc:
        save_procedure(data, original_code="1.005458")
    assert exc.value.errors["documents"].params == {"line": 2}


@fresh
def test_unknown_single_file_type_is_refused():
    with pytest.raises(ValidationError) as exc:
        save_procedure({**valid_form(), "documents": "Đơn đề nghị | mandatory | jpeg"},
                       original_code="1.005458")
    assert "documents" in exc.value.errors


@fresh
def test_level_2_with_a_reason_is_accepted():
    data = {**valid_form(), "online_level": "2", "not_online_reason": "Có tài liệu mật."}
    proc = save_procedure(data, original_code="1.005458")
    assert proc.online_level == 2 and not proc.is_online
    assert proc.not_online_reason == "Có tài liệu mật."


@fresh
def test_valid_edit_replaces_documents_and_times():
    data = {**valid_form(),
            "name": "Thủ tục hủy tờ khai hải quan điện tử",
            "documents": ("Đơn đề nghị | mandatory | pdf,xml\n"
                          "Ảnh chụp hàng hóa | optional | jpg,png | multiple\n"
                          "Văn bản mật | mandatory | pdf | confidential"),
            "time_online": "3", "time_online_unit": "days",
            "time_in_person": "7", "time_in_person_unit": "working_days",
            "time_post": "", "time_post_unit": ""}
    save_procedure(data, original_code="1.005458")
    proc = get_procedure("1.005458")
    assert proc.name == "Thủ tục hủy tờ khai hải quan điện tử"
    docs = [(d.name, d.mandatory, d.file_types, d.multiple, d.confidential)
            for d in proc.documents]
    assert docs == [("Đơn đề nghị", True, "pdf,xml", False, False),
                    ("Ảnh chụp hàng hóa", False, "jpg,png", True, False),
                    ("Văn bản mật", True, "pdf", False, True)]
    times = {t.channel: (t.amount, t.unit) for t in proc.times}
    assert times == {"online": (3, "days"), "in_person": (7, "working_days")}
    # The search columns follow the new name.
    assert codes(search(q="huy to khai hai quan dien tu")) == ["1.005458"]
    assert search(q="huy to khai hai quan dien tu").items[0].search_name == (
        " thu tuc huy to khai hai quan dien tu ")


@fresh
def test_renaming_a_code_and_code_clashes():
    data = {**valid_form(), "code": "1.999999"}
    save_procedure(data, original_code="1.005458")
    with pytest.raises(NotFound):
        get_procedure("1.005458")
    assert get_procedure("1.999999").name == "Thủ tục huỷ tờ khai hải quan"
    with pytest.raises(ValidationError) as exc:
        save_procedure({**valid_form("1.999999"), "code": "3.000143"}, original_code="1.999999")
    assert "code" in exc.value.errors
    assert get_procedure("3.000143").name != "Thủ tục huỷ tờ khai hải quan"


@fresh
def test_saving_an_unknown_original_code_is_not_found():
    with pytest.raises(NotFound):
        save_procedure({**valid_form(), "code": "1.888888"}, original_code="1.777777")
    with pytest.raises(NotFound):
        get_procedure("1.888888")


@fresh
def test_new_procedure_is_created_and_counted():
    data = {**valid_form(), "code": "9.000001", "name": "Thủ tục thử nghiệm mới"}
    save_procedure(data)
    assert search().total == SEEDED + 1
    assert codes(search(q="thu nghiem moi")) == ["9.000001"]


@fresh
def test_the_largest_fee_allowed_fits_the_column():
    # The fee column is a 4-byte integer on PostgreSQL: the form must not allow more.
    maximum = next(f for f in PROCEDURE_FIELDS if f.name == "fee_amount").maximum
    assert maximum is not None and maximum < 2**31
    save_procedure({**valid_form(), "fee_amount": str(maximum)}, original_code="1.005458")
    assert get_procedure("1.005458").fee_amount == maximum
    with pytest.raises(ValidationError) as exc:
        save_procedure({**valid_form(), "fee_amount": str(maximum + 1)}, original_code="1.005458")
    assert "fee_amount" in exc.value.errors
    assert get_procedure("1.005458").fee_amount == maximum


# --- summary ------------------------------------------------------------------------------

@read_only
def test_level_summary_adds_up():
    summary = level_summary()
    assert summary["total"] == SEEDED
    assert summary["level4"] + summary["level3"] + summary["offline"] == SEEDED
    assert summary["level4"] == len(everything(level="4"))
    assert summary["level3"] == len(everything(level="3"))
    assert summary["offline"] == len(everything(level="1")) + len(everything(level="2"))
