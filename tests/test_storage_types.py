"""What `storage.store` takes a file for, by its content: real minimal files of every accepted
type, look-alikes that are refused, XML with a byte order mark or leading blank lines, and
the size limit's edge."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal import storage
from tests.dossier_fixtures import EXE, PNG
from tests.dossier_web_fixtures import pdf_bytes
from tests.real_files import CONTENT_TYPES_XML, docx, jpeg, xlsx, zip_of

ALL_TYPES = list(storage.CONTENT_TYPES)


XML = '<?xml version="1.0" encoding="UTF-8"?>\n<toKhai><soToKhai>105123456789</soToKhai></toKhai>\n'

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
