"""The public catalogue page kept as sent for anonymous visitors (web/shared_pages.py): served
again while the catalogue stays the same, never to a visitor with a session, and dropped when
the catalogue changes, in this process at once and in another within the recheck time."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from portal.db import db
from portal.models import Procedure, utcnow
from portal.services import catalogue_cache
from tests.helpers import HX

CODE = "1.005458"
SEARCH = "/procedures?q=huy+to+khai"


@pytest.fixture
def visitor(app):
    """A browser with no session: the visitor whose pages are kept."""
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def rename_behind_the_portals_back(name: str) -> None:
    """Rename the procedure in the database, stamped as every edit is, as another process
    would: this process notes no change."""
    with db.connection_context():
        Procedure.update(name=name, updated_at=utcnow()).where(Procedure.code == CODE).execute()


def test_a_kept_page_is_served_again_until_the_catalogue_changes(client, visitor, make_user,
                                                                login):
    login(make_user("enterprise"))
    first = visitor.get(SEARCH)
    assert first.status_code == 200 and CODE in first.text
    assert 'action="/logout"' not in first.text
    rename_behind_the_portals_back("Tên do tiến trình khác đặt")
    # Within the recheck time the visitor gets the page kept as it was sent; a signed-in
    # user's page is rendered for the request, from the catalogue's new revision.
    again = visitor.get(SEARCH)
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    mine = client.get(SEARCH)
    assert 'action="/logout"' in mine.text and "Tên do tiến trình khác đặt" in mine.text
    catalogue_cache.note_change()  # what the portal's own edits say
    assert "Tên do tiến trình khác đặt" in visitor.get(SEARCH).text


def test_another_processes_change_is_seen_within_the_recheck_time(visitor):
    assert "Tên của tiến trình khác" not in visitor.get(SEARCH).text
    rename_behind_the_portals_back("Tên của tiến trình khác")
    time.sleep(1.1)  # SharedPages' recheck in app.py: one second
    assert "Tên của tiến trình khác" in visitor.get(SEARCH).text


def test_an_edit_in_the_portal_shows_at_once(client, visitor, make_user, login):
    from tests.test_web_admin import form_of

    by_code = f"/procedures?q={CODE}"
    assert CODE in visitor.get(by_code).text and "Thủ tục đổi tên" not in visitor.get(by_code).text
    login(make_user("admin"))
    values = form_of(client.get(f"/admin/procedures/{CODE}").text, f"/admin/procedures/{CODE}")
    r = client.post(f"/admin/procedures/{CODE}", data={**values, "name": "Thủ tục đổi tên"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert "Thủ tục đổi tên" in visitor.get(by_code).text


def test_each_variant_is_kept_apart_and_still_revalidates(visitor):
    full = visitor.get(SEARCH)
    fragment = visitor.get(SEARCH, headers=HX)
    assert "<html" in full.text and "<html" not in fragment.text
    assert "<html" not in visitor.get(SEARCH, headers=HX).text
    assert "<html" in visitor.get(SEARCH).text
    br = visitor.get(SEARCH, headers={"Accept-Encoding": "br"})
    gz = visitor.get(SEARCH, headers={"Accept-Encoding": "gzip"})
    assert br.headers["content-encoding"] == "br" and gz.headers["content-encoding"] == "gzip"
    assert br.text == gz.text
    assert visitor.get(SEARCH, headers={"Accept-Encoding": "br"}).headers["etag"] == (
        br.headers["etag"])
    visitor.cookies.set("lang", "en")
    english = visitor.get(SEARCH)
    assert english.text != full.text and 'lang="en"' in english.text
    visitor.cookies.delete("lang")
    assert 'lang="vi"' in visitor.get(SEARCH).text
    again = visitor.get(SEARCH, headers={"If-None-Match": full.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["vary"] == full.headers["vary"]
    assert again.headers["x-content-type-options"] == "nosniff"
