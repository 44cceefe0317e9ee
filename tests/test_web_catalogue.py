"""The public procedure catalogue over HTTP: the list page and its htmx fragment, search,
filters, bad filter values, pagination, the detail page and the not-found answers."""

from __future__ import annotations

import html
import re

import pytest

from portal import i18n
from portal.db import db
from portal.models import Procedure
from portal.services import catalogue
from tests.helpers import HX

TOTAL = 189
CODE_LINK = re.compile(r'class="app-list__title" href="/procedures/([0-9.]+)"')
NEXT_LINK = re.compile(r'<a rel="next" href="([^"]+)"')
PREV_LINK = re.compile(r'<a rel="prev" href="([^"]+)"')
WARNING = "Some filter values were not understood and were ignored."


def tr(msgid: str, **params: object) -> str:
    """`msgid` as the default language (Vietnamese) shows it, parameters filled in."""
    text = i18n.translations("vi").gettext(msgid)
    return text % params if params else text


def trn(singular: str, plural: str, n: int) -> str:
    return i18n.translations("vi").ngettext(singular, plural, n) % {"num": n}


def text_of(response) -> str:
    """The page with HTML entities decoded, to compare with translated texts."""
    return html.unescape(response.text)


def codes(response) -> list[str]:
    return CODE_LINK.findall(response.text)


def all_codes(client, params: dict[str, str]) -> list[str]:
    """Every procedure code the list shows for `params`, following the rel=next links."""
    r = client.get("/procedures", params=params)
    assert r.status_code == 200
    found = codes(r)
    for _ in range(50):
        link = NEXT_LINK.search(r.text)
        if not link:
            return found
        r = client.get(html.unescape(link.group(1)))
        assert r.status_code == 200
        found += codes(r)
    raise AssertionError("the pagination does not end")


def db_procedures() -> list[Procedure]:
    with db.connection_context():
        return list(Procedure.select().order_by(Procedure.code))


def get_proc(code: str) -> Procedure:
    with db.connection_context():
        return catalogue.get_procedure(code)


# --- the list page and its fragment ---------------------------------------------------------


def test_full_page_lists_the_first_twenty_of_all_procedures(client):
    r = client.get("/procedures")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "<html" in r.text and 'id="results"' in r.text
    assert '<form class="app-filters"' in r.text
    assert len(codes(r)) == catalogue.PER_PAGE
    assert tr("Showing %(first)s–%(last)s of %(total)s procedures",
              first="1", last="20", total=str(TOTAL)) in text_of(r)
    assert tr(WARNING) not in text_of(r)
    assert "HX-Request" in r.headers["vary"]


def test_htmx_request_gets_only_the_results_section(client):
    full = client.get("/procedures", params={"level": "4"})
    r = client.get("/procedures", params={"level": "4"}, headers=HX)
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<section id="results"')
    assert r.text.rstrip().endswith("</section>")
    assert "<html" not in r.text and "<form" not in r.text and "<head" not in r.text
    assert "HX-Request" in r.headers["vary"]
    assert codes(r) == codes(full) and len(codes(r)) == catalogue.PER_PAGE


def test_htmx_history_restore_gets_the_full_page(client):
    r = client.get("/procedures", params={"q": "huy to khai"},
                   headers={**HX, "HX-History-Restore-Request": "true"})
    assert r.status_code == 200
    assert "<html" in r.text and '<form class="app-filters"' in r.text
    assert "1.005458" in codes(r)
    assert "HX-Request" in r.headers["vary"]


# --- search ---------------------------------------------------------------------------------


def test_search_finds_the_cancellation_of_a_declaration_first(client):
    for q in ["huy to khai", "huỷ tờ khai", "HUY TO KHAI", "  huy   to  khai "]:
        r = client.get("/procedures", params={"q": q})
        assert r.status_code == 200
        found = codes(r)
        assert found and found[0] == "1.005458", q
        assert f'value="{" ".join(q.split())}"' in r.text  # the query is kept, spaces tidied


def test_search_result_list_links_to_the_detail_page(client):
    r = client.get("/procedures", params={"q": "huy to khai"})
    assert 'href="/procedures/1.005458"' in r.text
    assert get_proc("1.005458").name in text_of(r)


def test_search_for_a_code_finds_it(client):
    r = client.get("/procedures", params={"q": "1.008002"})
    assert codes(r) == ["1.008002"]


def test_query_without_match_shows_the_empty_state(client):
    r = client.get("/procedures", params={"q": "xyzzyq plugh"})
    assert r.status_code == 200
    assert codes(r) == []
    assert tr("No procedure matches your search.") in text_of(r)
    assert 'href="/procedures"' in r.text
    assert 'rel="next"' not in r.text
    fragment = client.get("/procedures", params={"q": "xyzzyq plugh"}, headers=HX)
    assert tr("No procedure matches your search.") in text_of(fragment)
    assert "<html" not in fragment.text


# --- filters --------------------------------------------------------------------------------


def test_filter_by_online_level(client):
    for level in (2, 3, 4):
        expected = [p.code for p in db_procedures() if p.online_level == level]
        assert expected
        shown = all_codes(client, {"level": str(level)})
        assert sorted(shown) == expected, level
        r = client.get("/procedures", params={"level": str(level)})
        assert f'<option value="{level}" selected>' in r.text
        assert tr(WARNING) not in text_of(r)
    assert all_codes(client, {"level": "1"}) == []


def test_filter_by_implementing_level(client):
    for implementing_level in catalogue.IMPLEMENTING_LEVELS:
        expected = [p.code for p in db_procedures() if implementing_level in p.implementing_level]
        assert expected
        shown = all_codes(client, {"implementing_level": implementing_level})
        assert sorted(shown) == expected, implementing_level


def agencies_of(proc: Procedure) -> list[str]:
    return [a.strip() for a in proc.implementing_agency.split(";") if a.strip()]


def test_filter_by_agency(client):
    for agency in ["Hải quan cửa khẩu", "Chi cục Hải quan khu vực", "Kho bạc nhà nước các cấp"]:
        expected = [p.code for p in db_procedures() if agency in agencies_of(p)]
        assert expected
        shown = all_codes(client, {"agency": agency})
        assert sorted(shown) == expected, agency


def test_every_agency_offered_as_a_filter_selects_exactly_its_procedures(client):
    with db.connection_context():
        offered = catalogue.facets()["agencies"]
    page = client.get("/procedures").text
    wrong = {}
    for agency in offered:
        assert f'<option value="{html.escape(agency)}">' in page
        expected = sorted(p.code for p in db_procedures() if agency in agencies_of(p))
        shown = sorted(all_codes(client, {"agency": agency}))
        if shown != expected:
            wrong[agency] = sorted(set(shown) ^ set(expected))
    assert not wrong, f"agency filters that select other agencies' procedures: {wrong}"


def test_filters_combine_with_the_search(client):
    expected = [p.code for p in db_procedures()
                if p.online_level == 4 and "Cấp tỉnh" in p.implementing_level]
    shown = all_codes(client, {"level": "4", "implementing_level": "Cấp tỉnh"})
    assert sorted(shown) == expected
    narrowed = all_codes(client, {"q": "huy to khai", "level": "4"})
    assert "1.005458" in narrowed
    assert all_codes(client, {"q": "huy to khai", "level": "2"}) == []


def test_sort_by_name_orders_by_folded_name(client):
    r = client.get("/procedures", params={"sort": "name"})
    shown = codes(r)
    by_code = {p.code: p for p in db_procedures()}
    folded = [by_code[c].search_name for c in shown]
    assert folded == sorted(folded)
    assert 'sort=name' in html.unescape(NEXT_LINK.search(r.text).group(1))


# --- values that make no sense --------------------------------------------------------------


NONSENSE = [
    {"level": "abc"},
    {"level": "7"},
    {"level": "0"},
    {"page": "-1"},
    {"page": "0"},
    {"page": "x"},
    {"page": "99999999999"},
    {"sort": "zzz"},
    {"implementing_level": "Cấp vũ trụ"},
    {"level": "abc", "sort": "zzz", "page": "-1"},
]


def test_nonsense_filter_values_are_ignored_with_a_warning(client):
    first_page = codes(client.get("/procedures"))
    for params in NONSENSE:
        r = client.get("/procedures", params=params)
        assert r.status_code == 200, params
        assert tr(WARNING) in text_of(r), params
        assert codes(r) == first_page, params  # nothing filtered away: page 1 of all
        assert tr("Showing %(first)s–%(last)s of %(total)s procedures",
                  first="1", last="20", total=str(TOTAL)) in text_of(r)
        fragment = client.get("/procedures", params=params, headers=HX)
        assert fragment.status_code == 200 and tr(WARNING) in text_of(fragment), params


@pytest.mark.parametrize("params", [{"level": "²"}, {"page": "²"}])
def test_unicode_digits_in_filters_are_ignored_not_a_server_error(client, params):
    r = client.get("/procedures", params=params)
    assert r.status_code == 200
    assert tr(WARNING) in text_of(r)


def test_very_long_query_is_cut_and_never_an_error(client):
    r = client.get("/procedures", params={"q": "a" * 5000})
    assert r.status_code == 200
    echoed = re.search(r'id="f-q" name="q" type="search" value="([^"]*)"', r.text)
    assert echoed is not None
    assert 0 < len(echoed.group(1)) <= 200
    long_words = client.get("/procedures", params={"q": ("huy to khai " * 500)[:5000]})
    assert long_words.status_code == 200
    fragment = client.get("/procedures", params={"q": "b" * 5000}, headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.text


@pytest.mark.parametrize("hx", [False, True])
def test_markup_in_the_query_is_escaped(client, hx):
    q = '<script>alert("x")</script> huy'
    r = client.get("/procedures", params={"q": q}, headers=HX if hx else {})
    assert r.status_code == 200
    assert "<script>alert" not in r.text
    if not hx:  # the fragment does not repeat the query; the full page does, escaped
        assert 'value="&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; huy"' in r.text


def test_markup_in_a_filter_value_is_escaped(client):
    r = client.get("/procedures", params={"agency": '"><script>alert(1)</script>',
                                          "field": "<b>x</b>"})
    assert r.status_code == 200
    assert "<script>alert(1)" not in r.text and "<b>x</b>" not in r.text
    assert codes(r) == []


def test_nul_characters_in_filters_and_codes_are_refused_not_a_server_error(client):
    # PostgreSQL refuses NUL in text: the address is refused before any query (400)
    for params in ({"agency": "\x00"}, {"field": "Hải\x00quan"}, {"q": "huy\x00to khai"},
                   {"level": "4\x1b"}):
        r = client.get("/procedures", params=params)
        assert r.status_code == 400, params
        assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/procedures/1.00545%00").status_code == 400
    assert client.get("/procedures", params={"q": "huy\ttờ khai"}).status_code == 400


# --- pagination -----------------------------------------------------------------------------


def test_first_page_links_to_the_second(client):
    r = client.get("/procedures")
    assert PREV_LINK.search(r.text) is None
    link = NEXT_LINK.search(r.text)
    assert link is not None and html.unescape(link.group(1)) == "/procedures?page=2"
    assert 'data-hx-get="/procedures?page=2"' in r.text
    assert tr("Page %(n)s of %(total)s", n=1, total=10) in text_of(r)


def test_second_page_shows_the_next_twenty(client):
    first = codes(client.get("/procedures"))
    r = client.get("/procedures", params={"page": "2"})
    second = codes(r)
    assert len(second) == 20 and not set(first) & set(second)
    assert first[-1] < second[0]  # sorted by code without a query
    assert tr("Showing %(first)s–%(last)s of %(total)s procedures",
              first="21", last="40", total=str(TOTAL)) in text_of(r)
    assert html.unescape(PREV_LINK.search(r.text).group(1)) == "/procedures?page=1"
    assert html.unescape(NEXT_LINK.search(r.text).group(1)) == "/procedures?page=3"


def test_every_page_together_lists_each_procedure_once(client):
    shown = all_codes(client, {})
    assert len(shown) == TOTAL and len(set(shown)) == TOTAL
    assert sorted(shown) == [p.code for p in db_procedures()]


def test_last_page_and_beyond(client):
    r = client.get("/procedures", params={"page": "10"})
    assert len(codes(r)) == TOTAL - 180
    assert NEXT_LINK.search(r.text) is None and PREV_LINK.search(r.text) is not None
    beyond = client.get("/procedures", params={"page": "50"})
    assert beyond.status_code == 200
    assert codes(beyond) == codes(r)  # clamped to the last page


def test_pagination_links_keep_the_filters(client):
    r = client.get("/procedures", params={"level": "4", "sort": "name"})
    link = html.unescape(NEXT_LINK.search(r.text).group(1))
    assert "level=4" in link and "sort=name" in link and "page=2" in link
    fragment = client.get("/procedures", params={"level": "4", "sort": "name"}, headers=HX)
    assert html.unescape(NEXT_LINK.search(fragment.text).group(1)) == link


def test_pagination_keeps_sort_by_code_when_searching(client):
    r = client.get("/procedures", params={"q": "hai quan", "sort": "code"})
    link = NEXT_LINK.search(r.text)
    assert link is not None
    assert "sort=code" in html.unescape(link.group(1))


# --- the detail page ------------------------------------------------------------------------


def test_detail_of_a_fully_online_procedure(client):
    proc = get_proc("1.005458")
    r = client.get("/procedures/1.005458")
    assert r.status_code == 200
    page = text_of(r)
    assert '<dd class="app-code">1.005458</dd>' in r.text
    assert f"<h1>{proc.name}</h1>" in page
    assert proc.online_level == 4
    assert tr("Level %(n)s", n=4) in page and tr("Full online service") in page
    assert 'class="app-tag app-tag--l4"' in r.text
    assert tr("This procedure can be done online.") in page
    assert tr("This procedure is not available online") not in page
    # processing time, per channel
    (time,) = list(proc.times)
    assert trn("%(num)s working day", "%(num)s working days", time.amount) in page
    # documents table
    assert '<table class="app-table">' in r.text
    for doc in proc.documents:
        assert doc.name in page
    assert page.count("<tr>") == 1 + len(list(proc.documents))
    # fees and legal basis
    assert proc.fee_text and proc.fee_text in page
    assert tr("Legal basis") in page
    for line in proc.legal_basis.splitlines():
        assert f"<li>{line}</li>" in page
    # the national catalogue
    assert proc.national_url.startswith("https://dichvucong.gov.vn/")
    assert f'<a href="{proc.national_url}" rel="noopener">' in r.text


def test_detail_marks_the_demo_fields(client):
    proc = get_proc("1.005458")
    marked = {"online_level", "implementing_level", "times", "documents", "fee_text",
              "legal_basis"} | ({"steps"} if proc.steps else set())
    expected = len(proc.demo & marked)
    assert expected >= 5
    r = client.get("/procedures/1.005458")
    assert r.text.count('class="app-demo"') == expected
    assert tr("demo data") in text_of(r)


def test_detail_of_a_partly_online_procedure(client):
    proc = next(p for p in db_procedures() if p.online_level == 3)
    r = client.get(f"/procedures/{proc.code}")
    assert r.status_code == 200
    page = text_of(r)
    assert tr("Level %(n)s", n=3) in page and tr("Partial online service") in page
    assert tr("You submit online; fees are paid and the result collected in person.") in page


def test_detail_of_a_procedure_that_is_not_online_says_why_and_how(client):
    proc = get_proc("1.008002")
    assert proc.online_level == 2 and proc.not_online_reason and proc.offline_instructions
    r = client.get("/procedures/1.008002")
    assert r.status_code == 200
    page = text_of(r)
    assert tr("Level %(n)s", n=2) in page and tr("Not online (filed at the counter)") in page
    assert tr("This procedure is not available online") in page
    assert tr("This procedure can be done online.") not in page
    assert f"<strong>{tr('Why:')}</strong> {proc.not_online_reason}" in page
    assert f"<strong>{tr('How to do it:')}</strong> {proc.offline_instructions}" in page
    assert i18n.format_vnd(proc.fee_amount) in page
    (time,) = list(proc.times)
    assert time.channel == "in_person"
    assert tr("In person") in page


def test_every_not_online_procedure_page_explains_itself(client):
    offline = [p for p in db_procedures() if p.online_level < 3]
    assert offline
    for proc in offline:
        r = client.get(f"/procedures/{proc.code}")
        assert r.status_code == 200
        assert proc.not_online_reason and proc.not_online_reason in text_of(r), proc.code


def test_detail_has_no_edit_link_for_visitors(client):
    r = client.get("/procedures/1.005458")
    assert 'href="/admin/procedures/1.005458"' not in r.text


# --- not found ------------------------------------------------------------------------------


def test_unknown_page_is_an_html_404(client):
    for path in ["/procedures/9.999999", "/procedures/abc", "/procedures/" + "1" * 500,
                 "/no-such-page"]:
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html")
        assert "<html" in r.text
        assert tr("This page does not exist.") in text_of(r)
        assert 'href="/procedures"' in r.text


def test_unknown_page_for_htmx_is_a_small_fragment_retargeted_to_the_flash(client):
    for path in ["/procedures/9.999999", "/no-such-page"]:
        r = client.get(path, headers=HX)
        assert r.status_code == 404, path
        assert r.headers["hx-retarget"] == "#flash"
        assert "<html" not in r.text and "<body" not in r.text
        assert 'class="app-flash app-flash--error" role="alert"' in r.text
        assert tr("This page does not exist.") in text_of(r)
