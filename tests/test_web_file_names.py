"""Downloads are what they say: a file is listed and served under a name whose extension is
that of the type found in its content, whatever it was sent as, and also for files attached
before names followed their type; a web page sent as XML is refused."""

from __future__ import annotations

import re
from urllib.parse import unquote

from portal.db import db
from portal.models import Attachment
from tests import dossier_web_fixtures as fx
from tests.dossier_web_fixtures import Session, document_ids, pdf_bytes, text_of, tr
from tests.test_uploads import Tus
from tests.test_web_dossiers import attach, attachments, start

forms, people, sessions = fx.forms, fx.people, fx.sessions
XML = '<?xml version="1.0" encoding="UTF-8"?>\n<toKhai><soToKhai>105123456789</soToKhai></toKhai>\n'
HTML = b"<!DOCTYPE html>\n<html><body><script>alert(document.cookie)</script></body></html>"


def filename_of(download) -> str:
    """The name the browser saves the download under (plain, or RFC 5987 encoded)."""
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment;"), disposition
    if match := re.search(r"filename\*=utf-8''([^;]*)", disposition):
        return unquote(match.group(1))
    match = re.search(r'filename="([^"]*)"', disposition)
    assert match, disposition
    return match.group(1)


def xml_attached_as(s: Session, name: str) -> tuple[int, Attachment]:
    did = start(s)
    r = attach(s, did, document_ids()[0], name, XML.encode())  # the slot takes PDF or XML
    assert r.status_code == 303, text_of(r)[-2000:]
    [att] = attachments(did)
    return did, att


def test_a_file_sent_under_another_extension_is_named_and_served_for_its_type(sessions, forms):
    e = sessions["enterprise"]
    did, att = xml_attached_as(e, "to-khai.hta")
    assert att.original_name == "to-khai.xml"
    assert att.content_type == "application/xml"
    for page in (f"/dossiers/{did}/edit", f"/dossiers/{did}/review"):
        text = text_of(e.get(page))
        assert "to-khai.xml" in text and ".hta" not in text, page
    download = e.get(f"/dossiers/{did}/files/{att.id}")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/xml")
    assert filename_of(download) == "to-khai.xml"
    assert download.content == XML.encode()
    # A name that already says what the file is stays as it was sent.
    did, att = xml_attached_as(e, "To khai 105123456789.XML")
    assert att.original_name == "To khai 105123456789.XML"
    assert filename_of(e.get(f"/dossiers/{did}/files/{att.id}")) == "To khai 105123456789.XML"


def test_a_resumable_upload_is_named_for_its_type_too(sessions, forms):
    e = sessions["enterprise"]
    did, tus = start(e), Tus(e)
    r = tus.create(did, document_ids()[0], len(XML.encode()), filename="to-khai.hta")
    assert r.status_code == 201
    r = tus.patch(r.headers["location"], 0, XML.encode())
    assert r.status_code == 204 and r.headers["upload-complete"] == "1"
    [att] = attachments(did)
    assert att.original_name == "to-khai.xml"
    page = text_of(e.get(f"/dossiers/{did}/edit"))  # with the message the upload left
    assert tr("The file %(name)s is attached.", name="to-khai.xml") in page
    assert ".hta" not in page
    assert filename_of(e.get(f"/dossiers/{did}/files/{att.id}")) == "to-khai.xml"


def test_a_file_attached_before_names_followed_types_is_served_for_its_type(sessions, forms):
    e = sessions["enterprise"]
    did, att = xml_attached_as(e, "to-khai.xml")
    with db.connection_context():  # the row as the portal stored it before: the name as sent
        Attachment.update(original_name="to-khai.hta").where(Attachment.id == att.id).execute()
    download = e.get(f"/dossiers/{did}/files/{att.id}")
    assert download.status_code == 200
    assert filename_of(download) == "to-khai.xml"
    page = text_of(e.get(f"/dossiers/{did}/edit"))
    assert "to-khai.xml" in page and "to-khai.hta" not in page
    # The record itself is left as it was.
    assert attachments(did)[0].original_name == "to-khai.hta"


def test_a_web_page_is_not_taken_as_xml(sessions, forms):
    e = sessions["enterprise"]
    did = start(e)
    xml_slot = document_ids()[0]
    for name in ("to-khai.hta", "to-khai.xml"):
        r = attach(e, did, xml_slot, name, HTML)
        assert r.status_code == 422, name
        assert tr("This type of file is not accepted here: use %(types)s.", types="PDF, XML") \
            in text_of(r)
    assert attachments(did) == []
    # ...while a PDF sent under a web page's name is taken, as a PDF.
    assert attach(e, did, xml_slot, "don.html", pdf_bytes()).status_code == 303
    assert [a.original_name for a in attachments(did)] == ["don.pdf"]
