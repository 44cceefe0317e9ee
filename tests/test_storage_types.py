"""What `storage.store` takes a file for, by its content: real minimal files of every accepted
type, look-alikes that are refused (web pages posing as XML, archives posing as Office
documents), XML with a byte order mark, leading blank lines or a character cut by a read
boundary, archives with too many entries, the size limit's edge, and the name a file is given
for its type."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal import storage
from tests.dossier_fixtures import EXE, PNG
from tests.dossier_web_fixtures import pdf_bytes
from tests.real_files import (
    CONTENT_TYPES_XML,
    as_zip64,
    claiming,
    docx,
    docx_with_entries,
    jpeg,
    xlsx,
    zip_of,
)

ALL_TYPES = list(storage.CONTENT_TYPES)


XML = '<?xml version="1.0" encoding="UTF-8"?>\n<toKhai><soToKhai>105123456789</soToKhai></toKhai>\n'
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
XHTML = "http://www.w3.org/1999/xhtml"
SVG = "http://www.w3.org/2000/svg"


def cut_at(boundary: int, char: str = "ệ") -> bytes:
    """Valid UTF-8 XML whose multi-byte `char` starts one byte before `boundary`, so that a
    read of the first `boundary` bytes ends in the middle of it."""
    start = f"{DECLARATION}<toKhai><ghiChu>".encode()
    end = f"{char} hàng hóa</ghiChu></toKhai>".encode()
    content = start + b"a" * (boundary - 1 - len(start)) + end
    assert content[boundary - 1 : boundary + 2] == char.encode()
    return content

ROWS = [
    ("real PDF", pdf_bytes("Don de nghi"), "pdf"),
    ("real PNG", PNG, "png"),
    ("real JPEG", jpeg(), "jpg"),
    ("real DOCX", docx(), "docx"),
    ("real XLSX", xlsx(), "xlsx"),
    ("XML", XML.encode(), "xml"),
    ("XML with a UTF-8 byte order mark", b"\xef\xbb\xbf" + XML.encode(), "xml"),
    ("XML after blank lines", b"\n\r\n  \n" + XML.encode(), "xml"),
    ("XML with a byte order mark and blank lines", b"\xef\xbb\xbf\n\n" + XML.encode(), "xml"),
    ("XML with a character cut by the first 512 bytes", cut_at(512), "xml"),
    ("XML with a character cut by the 64 KiB read", cut_at(64 * 1024, "ờ"), "xml"),
    ("XML without a declaration, with namespaces and a comment",
     '<!-- tờ khai --><tk:toKhai xmlns:tk="urn:customs"><tk:so>1</tk:so></tk:toKhai>'.encode(),
     "xml"),
    ("XML declared US-ASCII", b'<?xml version="1.0" encoding="us-ascii"?><a/>', "xml"),
    # Look-alikes.
    ("ZIP with only a word/ entry, no content types",
     zip_of({"word/document.xml": "<w:document/>"}), None),
    ("ZIP with only an xl/ entry, no content types",
     zip_of({"xl/workbook.xml": "<workbook/>"}), None),
    ("ZIP with content types but no word/ or xl/ part",
     zip_of({"[Content_Types].xml": CONTENT_TYPES_XML.format(part="a.xml", type="text/xml"),
             "a.xml": "<a/>"}), None),
    ("ZIP with content types and a word/ entry but no word/document.xml",
     zip_of({"[Content_Types].xml": CONTENT_TYPES_XML.format(part="word/x.xml", type="text/xml"),
             "word/x.xml": "<a/>"}), None),
    ("ZIP with content types and an xl/ entry but no xl/workbook.xml",
     zip_of({"[Content_Types].xml": CONTENT_TYPES_XML.format(part="xl/x.xml", type="text/xml"),
             "xl/x.xml": "<a/>"}), None),
    ("plain ZIP of a text file", zip_of({"readme.txt": "xin chào"}), None),
    ("ZIP signature with no archive behind it", b"PK\x03\x04 not a real archive", None),
    ("executable", EXE, None),
    ("markup that is not UTF-8", b"<?xml version='1.0'?><a>\xff\xfe</a>", None),
    ("XML whose bytes stop being UTF-8 after the first 512",
     XML.encode()[:-10] + b"a" * 600 + b"\xe0\xf4</toKhai>", None),
    ("XML declared in another encoding",
     b'<?xml version="1.0" encoding="ISO-8859-1"?><toKhai>Tax</toKhai>', None),
    ("markup that is not well-formed XML", b"<toKhai><soToKhai>1</toKhai>", None),
    ("HTML page", b"<!DOCTYPE html>\n<html><head><title>T\xe1\xbb\x9d khai</title></head>"
                  b"<body><script>alert(1)</script></body></html>", None),
    ("HTML page without a doctype, well-formed", b"<html><body><p>x</p></body></html>", None),
    ("HTML page in capitals", b"<HTML><BODY><P>x</P></BODY></HTML>", None),
    ("XHTML page", f'{DECLARATION}<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
                   f'"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n<html xmlns="{XHTML}">'
                   "<body><script>alert(1)</script></body></html>".encode(), None),
    ("XHTML page without a doctype",
     f'<html xmlns="{XHTML}"><body><script>alert(1)</script></body></html>'.encode(), None),
    ("XHTML script inside a declaration",
     f'<toKhai><h:script xmlns:h="{XHTML}">alert(1)</h:script></toKhai>'.encode(), None),
    ("SVG image", f'<svg xmlns="{SVG}"><script>alert(1)</script></svg>'.encode(), None),
    ("SVG image without its namespace", b"<svg><script>alert(1)</script></svg>", None),
    ("SVG inside a declaration",
     f'<toKhai><s:svg xmlns:s="{SVG}"><s:script>alert(1)</s:script></s:svg></toKhai>'.encode(),
     None),
    ("XML that styles itself into a page", f'{DECLARATION}<?xml-stylesheet type="text/xsl" '
                                           'href="#s"?><toKhai/>'.encode(), None),
    ("XML with a document type (entities)",
     f'{DECLARATION}<!DOCTYPE t [<!ENTITY a "aaaa">]><toKhai>&a;&a;</toKhai>'.encode(), None),
    ("plain text", "Tờ khai hải quan".encode(), None),
]


@pytest.mark.parametrize(("what", "content", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_files_are_typed_by_their_content(tmp_path: Path, what, content, expected):
    if expected is None:
        with pytest.raises(storage.UploadRejected) as caught:
            storage.store([content], tmp_path, 1024 * 1024, ALL_TYPES)
        assert caught.value.reason == "type"
        assert list(tmp_path.iterdir()) == []
        return
    stored = storage.store([content[:7], content[7:]], tmp_path, 1024 * 1024, ALL_TYPES)
    assert stored.file_type == expected
    assert stored.size == len(content)
    assert (tmp_path / stored.stored_name).read_bytes() == content
    # A type the slot does not take is refused, even though the file is a real one.
    others = [t for t in ALL_TYPES if t != expected]
    with pytest.raises(storage.UploadRejected) as caught:
        storage.store([content], tmp_path, 1024 * 1024, others)
    assert caught.value.reason == "type"
    assert [p.name for p in tmp_path.iterdir()] == [stored.stored_name]


def test_a_file_of_exactly_the_limit_is_taken_and_one_byte_more_is_not(tmp_path: Path):
    limit = 4096
    exact = pdf_bytes() + b"%" + b"x" * (limit - len(pdf_bytes()) - 2) + b"\n"
    assert len(exact) == limit
    stored = storage.store([exact[:1000], exact[1000:]], tmp_path, limit, ["pdf"])
    assert (stored.size, stored.file_type) == (limit, "pdf")
    with pytest.raises(storage.UploadRejected) as caught:
        storage.store([exact[:1000], exact[1000:], b"\n"], tmp_path, limit, ["pdf"])
    assert caught.value.reason == "too_large"
    assert [p.name for p in tmp_path.iterdir()] == [stored.stored_name]


def test_an_empty_file_is_refused_as_empty(tmp_path: Path):
    with pytest.raises(storage.UploadRejected) as caught:
        storage.store([b""], tmp_path, 4096, ALL_TYPES)
    assert caught.value.reason == "empty"
    assert list(tmp_path.iterdir()) == []


def refused(tmp_path: Path, content: bytes) -> bool:
    folder = tmp_path / f"try-{len(list(tmp_path.iterdir()))}"
    try:
        storage.store([content], folder, 64 * 1024 * 1024, ALL_TYPES)
    except storage.UploadRejected as e:
        assert e.reason == "type"
        assert list(folder.iterdir()) == []
        return True
    return False


def test_an_office_archive_of_too_many_entries_is_refused(tmp_path: Path):
    cap = storage.MAX_ZIP_ENTRIES
    assert 1000 <= cap <= 10_000  # far more than any real document, far fewer than harmful
    assert not refused(tmp_path, docx_with_entries(cap))
    assert refused(tmp_path, docx_with_entries(cap + 1))
    # An end record counting too many is refused on its word, the directory unread.
    assert refused(tmp_path, claiming(docx(), 60_000))


def test_an_archive_whose_end_record_understates_its_entries_is_refused(tmp_path: Path):
    """The entry count is read from the end record before the directory; a record that
    claims fewer entries than the directory holds cannot smuggle a long one past it."""
    archive = docx_with_entries(storage.MAX_ZIP_ENTRIES + 1)
    assert refused(tmp_path, claiming(archive, 3))
    assert refused(tmp_path, claiming(docx(), 2))  # ...nor one that claims too few
    assert refused(tmp_path, claiming(docx(), 4))  # ...or too many for the directory


def test_a_zip64_end_record_is_read_for_its_entry_count(tmp_path: Path):
    assert not refused(tmp_path, as_zip64(docx()))
    assert refused(tmp_path, as_zip64(docx(), 190_000))
    assert refused(tmp_path, as_zip64(docx_with_entries(storage.MAX_ZIP_ENTRIES + 1)))
    # A locator that points away from the record zipfile reads is not followed elsewhere.
    assert refused(tmp_path, as_zip64(docx(), moved=-100))


NAMES = [
    ("to-khai.hta", "xml", "to-khai.xml"),
    ("to-khai.xml", "xml", "to-khai.xml"),
    ("TO-KHAI.XML", "xml", "TO-KHAI.XML"),
    ("anh.jpeg", "jpg", "anh.jpeg"),
    ("anh.JPG", "jpg", "anh.JPG"),
    ("anh.png", "jpg", "anh.jpg"),
    ("Đơn đề nghị.pdf.exe", "pdf", "Đơn đề nghị.pdf.pdf"),
    ("Hợp đồng 12.2024", "pdf", "Hợp đồng 12.2024.pdf"),
    ("bang-ke", "xlsx", "bang-ke.xlsx"),
    ("bảng kê.tài liệu", "docx", "bảng kê.tài liệu.docx"),
    ("bao-cao. .html", "docx", "bao-cao.docx"),
    ("nul.hta", "xml", "_nul.xml"),
    (".hta", "xml", "hta.xml"),
    ("", "pdf", "file.pdf"),
    ("x" * 200 + ".hta", "xml", "x" * 116 + ".xml"),
]


@pytest.mark.parametrize(("name", "file_type", "expected"), NAMES)
def test_a_file_is_named_with_the_extension_of_its_type(name, file_type, expected):
    named = storage.named_as(storage.safe_filename(name), file_type)
    assert named == expected
    assert storage.named_as(named, file_type) == named
    assert storage.safe_filename(named) == named
