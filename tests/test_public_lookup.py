"""The public lookup (/lookup): a dossier's status, dates and unit for anyone with its code and
the applicant's tax code, or the signed token of its receipt's QR code; nothing else, the same
answer for every kind of miss, throttled per address, and never in the official history."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from portal.db import db
from portal.i18n import format_datetime
from portal.models import Dossier, DossierEvent, HistoryHead, SecurityCount
from portal.services.public_lookup import PER_ADDRESS, LookupLinks
from portal.services.workflow import STATUS_LABELS
from tests import dossier_web_fixtures as fx
from tests.dossier_web_fixtures import UNIT, Session, code_of, text_of, tr
from tests.helpers import HX
from tests.test_web_dossiers import acted, submitted

forms, people, sessions = fx.forms, fx.people, fx.sessions
TAX_CODE = "0100112437"  # enterprise A's, the owner's (conftest)
NOTE = "Ghi chú nội bộ: kiểm tra lại hợp đồng số 77."


@pytest.fixture
def anonymous(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def received(sessions) -> int:
    """A dossier submitted by enterprise A and received by 02CI with a note."""
    did = submitted(sessions["enterprise"])
    acted(sessions["officer"], did, "receive", note=NOTE)
    return did


def lookup(client: TestClient, code: str, tax_code: str = TAX_CODE, **kw):
    return client.get("/lookup", params={"code": code, "tax_code": tax_code}, **kw)


def error_of(page: str, field: str) -> str:
    match = re.search(rf'id="f-{field}-error">(.*?)</p>', page, re.S)
    assert match, f"no error shown next to {field}"
    return match.group(1).strip()


def history_size() -> tuple[int, int]:
    with db.connection_context():
        return DossierEvent.select().count(), HistoryHead.select().count()


def test_the_right_pair_shows_status_dates_and_unit_and_nothing_else(
    anonymous, received, people
):
    with db.connection_context():
        d = Dossier.get_by_id(received)
        unit_name = d.unit.name
    before = history_size()
    r = lookup(anonymous, d.code)
    assert r.status_code == 200, r.text
    assert "no-store" in r.headers["Cache-Control"]  # it names a dossier and a tax code
    page = text_of(r)
    assert tr(STATUS_LABELS[d.status]) in page
    assert format_datetime(d.received_at) in page and format_datetime(d.due_at) in page
    assert UNIT in page and unit_name in page
    for secret in (people.enterprise.full_name, "Công ty A", "don-de-nghi.pdf", "chung-tu.pdf",
                   NOTE, people.officer.full_name, people.enterprise.username):
        assert secret not in page, secret
    # The tax code typed in "0100-112437" form is the same tax code.
    assert lookup(anonymous, d.code.lower(), "0100-112437").status_code == 200
    # Anonymous lookups are counted in the security log only, never in the official history.
    assert history_size() == before
    with db.connection_context():
        assert SecurityCount.select().where(SecurityCount.action == "lookup").count() >= 1


def test_a_wrong_tax_code_answers_exactly_like_an_unknown_code(anonymous, received, sessions):
    code = code_of(received)
    unknown = f"{UNIT}-000000-0001"
    wrong_tax = lookup(anonymous, code, "0100109106")
    missing = lookup(anonymous, unknown)
    assert wrong_tax.status_code == missing.status_code == 422
    assert error_of(wrong_tax.text, "code") == error_of(missing.text, "code")
    assert error_of(missing.text, "code") == html.escape(
        tr("No dossier matches this code and tax code. Check both and try again."), quote=True
    )
    # The same page but for the input, which is kept.
    assert f'value="{code}"' in wrong_tax.text and 'value="0100109106"' in wrong_tax.text
    assert wrong_tax.text.replace(code, "X").replace("0100109106", "Y") == missing.text.replace(
        unknown, "X"
    ).replace(TAX_CODE, "Y")
    # Another enterprise's tax code (a valid one, of a real account) finds nothing either.
    assert lookup(anonymous, code, fx.OTHER_TAX_CODE).status_code == 422
    # An empty field is named next to it, and not counted as an attempt.
    r = lookup(anonymous, "", "")
    assert r.status_code == 422
    assert error_of(r.text, "code") and error_of(r.text, "tax_code")


def test_a_draft_is_never_found(anonymous, sessions):
    from tests.test_web_dossiers import start

    did = start(sessions["enterprise"])
    with db.connection_context():
        # Even a draft that had a code (none has: the code is given at submission).
        Dossier.update(code=f"{UNIT}-991231-0009").where(Dossier.id == did).execute()
    assert lookup(anonymous, f"{UNIT}-991231-0009").status_code == 422


def test_lookups_are_throttled_per_address(anonymous, received, app):
    code = code_of(received)
    for _ in range(PER_ADDRESS.failures):
        assert lookup(anonymous, f"{UNIT}-000000-0001").status_code == 422
    r = lookup(anonymous, code)  # even the right pair now waits
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0
    assert f'value="{code}"' in r.text and error_of(r.text, "code")
    assert '<dl class="app-summary">' not in r.text  # nothing found is shown
    r = anonymous.get("/lookup", params={"t": LookupLinks.of(app.state.settings).token(code)})
    assert r.status_code == 429
    # Another address is not held up.
    with TestClient(app, base_url="http://testserver", client=("203.0.113.9", 5000)) as other:
        assert lookup(other, code).status_code == 200


def track_url(page: str) -> str:
    match = re.search(r'<a href="([^"]+)">\1</a>', page)
    assert match, "the receipt shows no tracking address"
    return html.unescape(match.group(1))


def test_the_receipts_qr_opens_the_lookup_without_login(anonymous, received, sessions, app):
    code = code_of(received)
    receipt = sessions["enterprise"].get(f"/dossiers/{received}/receipt")
    assert receipt.status_code == 200
    url = urlsplit(track_url(receipt.text))
    assert url.path == "/lookup"
    token = parse_qs(url.query)["t"][0]
    assert LookupLinks.of(app.state.settings).read(token) == code
    before = history_size()
    r = anonymous.get(f"{url.path}?{url.query}", follow_redirects=False)
    assert r.status_code == 200, r.text
    assert code in r.text and tr(STATUS_LABELS[2]) in text_of(r)
    assert history_size() == before
    # A forged or altered token is refused like a wrong code.
    missing = error_of(lookup(anonymous, f"{UNIT}-000000-0001").text, "code")
    forged = LookupLinks("another secret").token(code)
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (forged, altered, "x"):
        r = anonymous.get("/lookup", params={"t": bad})
        assert r.status_code == 422, bad
        assert error_of(r.text, "code") == missing
        assert '<dl class="app-summary">' not in r.text


def test_htmx_gets_the_result_alone_and_the_form_with_its_errors(anonymous, received):
    code = code_of(received)
    r = lookup(anonymous, code, headers=HX)
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<section id="lookup-result"') and "<html" not in r.text
    r = lookup(anonymous, "nothing", headers=HX)
    assert r.status_code == 422
    assert r.headers["HX-Retarget"] == "#lookup" and 'id="lookup-form"' in r.text
    assert "<html" not in r.text


def test_the_form_works_without_javascript(anonymous):
    r = anonymous.get("/lookup")
    assert r.status_code == 200
    form = re.search(r'<form id="lookup-form"[^>]*>', r.text)
    assert form and 'method="get"' in form.group(0) and 'action="/lookup"' in form.group(0)
    assert 'name="code"' in r.text and 'name="tax_code"' in r.text


@pytest.mark.parametrize("who", ["anonymous", "enterprise", "officer", "admin"])
def test_every_page_header_links_to_the_lookup(who, anonymous, sessions: dict[str, Session]):
    pages = ["/", "/procedures", "/lookup", "/no-such-page"]
    pages += ["/login", "/register"] if who == "anonymous" else ["/notifications", "/account"]
    for path in pages:
        r = anonymous.get(path) if who == "anonymous" else sessions[who].get(path)
        assert r.status_code in (200, 404), (who, path)
        header = r.text.split('<main id="main"')[0]
        assert 'href="/lookup"' in header, (who, path)
