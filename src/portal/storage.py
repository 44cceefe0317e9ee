"""Uploaded files on disk: streamed in chunks, hashed (SHA-256), typed by their content (never
by name or browser-sent type), named with the extension of that type, stored under generated
names, and cleaned up when orphaned."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
import time
import unicodedata
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from xml.parsers import expat

import olefile

CHUNK = 64 * 1024
# Entries an Office document may hold: real ones hold tens to hundreds; reading the directory
# of 190,000 took 4 s and 200 MB.
MAX_ZIP_ENTRIES = 5000
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "xml": "application/xml",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    # Blank forms a procedure offers for download may also be legacy Office or OpenDocument.
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "odt": "application/vnd.oasis.opendocument.text",
}
# The extensions of each type, the first one given to a name that has none of them.
EXTENSIONS = {
    "pdf": ("pdf",),
    "png": ("png",),
    "jpg": ("jpg", "jpeg"),
    "xml": ("xml",),
    "docx": ("docx",),
    "xlsx": ("xlsx",),
    "doc": ("doc",),
    "xls": ("xls",),
    "odt": ("odt",),
}
_TYPE_OF = {content_type: file_type for file_type, content_type in CONTENT_TYPES.items()}
# What reads as an extension (replaced by the type's own): up to five ASCII letters and digits,
# not all digits ("Hợp đồng 12.2024" keeps its year).
_EXTENSION = re.compile(r"(?=\d*[A-Za-z])[A-Za-z0-9]{1,5}")
# Markup that a browser runs when the file is opened: XML must be neither.
_PAGE_NAMESPACES = {"http://www.w3.org/1999/xhtml", "http://www.w3.org/2000/svg"}
_PAGE_ROOTS = {"html", "svg"}
_XML_WHITESPACE = b" \t\r\n"
_UTF8_BOM = b"\xef\xbb\xbf"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an OLE compound document (legacy Office)
_ODT_MIMETYPE = b"application/vnd.oasis.opendocument.text"
_ZIP_END = struct.Struct("<4s4H2LH")  # end of central directory, before its comment
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")
_ZIP_ENTRY = struct.Struct("<4s24x3H12x")  # a central directory header: name, extra, comment
_UNSAFE_NAME = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff/\\:*?\"<>|]"
)
# Windows device names, also with any extension ("nul.tar.gz" is the device too).
_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"{port}{n}" for port in ("com", "lpt") for n in (*"0123456789", "¹", "²", "³")),
}


class UploadRejected(ValueError):
    """The file is too large, empty, or of a type that is not accepted; `reason` says which."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class StoredFile:
    stored_name: str
    size: int
    sha256: str
    file_type: str  # a key of CONTENT_TYPES

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.file_type]


def safe_filename(name: str) -> str:
    """A display name without paths, control or bidi characters, or reserved device names."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip(" .")
    if name.split(".", 1)[0].rstrip(" ").lower() in _RESERVED:
        name = "_" + name
    stem, dot, ext = name.rpartition(".")
    if len(name) > 120:
        name = name[: 120 - len(ext) - 1] + "." + ext if dot and len(ext) < 10 else name[:120]
    return name.rstrip(" .") or "file"


def named_as(name: str, file_type: str) -> str:
    """`name` (a safe display name) ending in an extension of `file_type`, so that the file
    opens as what it is: another type's extension is replaced ("to-khai.hta" holding XML is
    "to-khai.xml"), a name without one gets it ("Hợp đồng 12.2024" is "…12.2024.pdf")."""
    extensions = EXTENSIONS[file_type]
    stem, dot, ext = name.rpartition(".")
    if dot and ext.lower() in extensions:
        return name
    if dot and _EXTENSION.fullmatch(ext):
        name = stem
    suffix = "." + extensions[0]
    return (name[: 120 - len(suffix)].rstrip(" .") or "file") + suffix


def served_name(name: str, content_type: str) -> str:
    """The name a stored file is shown and downloaded under: `name` with the extension of the
    type it was stored as (files attached before names followed their type kept the name
    they were sent with)."""
    file_type = _TYPE_OF.get(content_type)
    return named_as(name, file_type) if file_type else name


def type_of(content_type: str) -> str | None:
    """The file type (a key of CONTENT_TYPES) stored with `content_type`, if it is one."""
    return _TYPE_OF.get(content_type)


def sniff(path: Path) -> str | None:
    """The file type of `path` by its content, or None if it is not an accepted type."""
    with path.open("rb") as f:
        head = f.read(512)
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"PK\x03\x04"):
        return _office_type(path)
    if head.startswith(_OLE_MAGIC):
        return _ole_type(path)
    if head.removeprefix(_UTF8_BOM).lstrip(_XML_WHITESPACE).startswith(b"<"):
        return "xml" if _plain_xml(path) else None
    return None


def _office_type(path: Path) -> str | None:
    """The type of an Office document, docx, xlsx or odt; None for any other archive, or one
    of more than MAX_ZIP_ENTRIES entries (known from its end record, before its directory is
    read)."""
    try:
        if not _zip_directory_is_small(path):
            return None
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            # An OpenDocument text names its type in its first entry, `mimetype`, stored.
            first = z.infolist()[0] if names else None
            odt = (
                first is not None
                and first.filename == "mimetype"
                and first.file_size == len(_ODT_MIMETYPE)
                and "content.xml" in names
                and z.read(first) == _ODT_MIMETYPE
            )
    except (zipfile.BadZipFile, OSError, struct.error, RuntimeError, NotImplementedError):
        return None
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names:  # the main part of a Word document
            return "docx"
        if "xl/workbook.xml" in names:  # the main part of an Excel workbook
            return "xlsx"
    return "odt" if odt else None


def _ole_type(path: Path) -> str | None:
    """The type of a legacy Office document (an OLE compound file), by the stream that holds
    its body: doc (WordDocument) or xls (Workbook, or Book before Excel 97); None for any
    other compound file or one olefile cannot read."""
    try:
        with olefile.OleFileIO(str(path)) as ole:
            if ole.exists("WordDocument"):
                return "doc"
            if ole.exists("Workbook") or ole.exists("Book"):
                return "xls"
    except Exception:  # a malformed file may fail anywhere in olefile's parser: not a type
        return None
    return None


def _zip_directory_is_small(path: Path) -> bool:
    """Whether the end record of the archive at `path` counts at most MAX_ZIP_ENTRIES entries,
    and its central directory holds exactly those: a count that understates a longer
    directory is not believed. Reads the directory's fixed-size headers only, within the cap."""
    with path.open("rb") as f:
        found = _zip_end(f, path.stat().st_size)
        if found is None:
            return False
        end, count, cd_size = found
        if count > MAX_ZIP_ENTRIES or cd_size > end:
            return False
        return _directory_spans(f, end - cd_size, count) == end


def _zip_end(f: BinaryIO, size: int) -> tuple[int, int, int] | None:
    """Where an archive's central directory ends, and the entry count and directory size its
    end record gives: found where zipfile looks for them, the ZIP64 record where a locator
    before the end record points to it. None if there is none."""
    start = max(0, size - _ZIP_END.size - (1 << 16))
    f.seek(start)
    tail = f.read()
    at = len(tail) - _ZIP_END.size
    if not (tail[at:].startswith(b"PK\x05\x06") and tail.endswith(b"\x00\x00")):
        at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _ZIP_END.size > len(tail):
        return None
    end = start + at
    count, cd_size = _ZIP_END.unpack_from(tail, at)[4:6]
    if end < _ZIP64_LOCATOR.size:
        return end, count, cd_size
    f.seek(end - _ZIP64_LOCATOR.size)
    signature, _, record_at, _ = _ZIP64_LOCATOR.unpack(f.read(_ZIP64_LOCATOR.size))
    if signature != b"PK\x06\x07":
        return end, count, cd_size
    end -= _ZIP64_LOCATOR.size + _ZIP64_END.size
    if record_at != end:  # zipfile reads the record just before the locator: it must be there
        return None
    f.seek(end)
    record = _ZIP64_END.unpack(f.read(_ZIP64_END.size))
    return (end, record[7], record[8]) if record[0] == b"PK\x06\x06" else None


def _directory_spans(f: BinaryIO, start: int, count: int) -> int:
    """Where the `count` central directory headers from `start` end (-1 if one is not)."""
    position = start
    for _ in range(count):
        f.seek(position)
        header = f.read(_ZIP_ENTRY.size)
        if len(header) < _ZIP_ENTRY.size or not header.startswith(b"PK\x01\x02"):
            return -1
        _, name, extra, comment = _ZIP_ENTRY.unpack(header)
        position += _ZIP_ENTRY.size + name + extra + comment
    return position


class _NotPlainXml(Exception):
    pass


def _plain_xml(path: Path) -> bool:
    """Whether `path` holds a well-formed XML document in UTF-8 that no browser would run as a
    page: no HTML, XHTML or SVG (as its root or by namespace anywhere), no style sheet that
    turns it into one, no document type (nor so any entity to expand). Reads all of it."""
    parser = expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")

    def refuse(*_: object) -> None:
        raise _NotPlainXml

    def declaration(_version: str, encoding: str | None, _standalone: int) -> None:
        if encoding is not None and encoding.lower() not in ("utf-8", "us-ascii"):
            raise _NotPlainXml

    def namespace(_prefix: str | None, uri: str) -> None:
        if uri in _PAGE_NAMESPACES:
            raise _NotPlainXml

    def instruction(target: str, _data: str) -> None:
        if target.lower() == "xml-stylesheet":
            raise _NotPlainXml

    def root(name: str, _attributes: object) -> None:
        if name.rpartition(" ")[2].lower() in _PAGE_ROOTS:
            raise _NotPlainXml
        parser.StartElementHandler = None  # the root is all it looks at: stay fast

    parser.XmlDeclHandler = declaration
    parser.StartDoctypeDeclHandler = refuse
    parser.StartNamespaceDeclHandler = namespace
    parser.ProcessingInstructionHandler = instruction
    parser.StartElementHandler = root
    try:
        _feed(parser, path)
    except (expat.ExpatError, _NotPlainXml):
        return False
    return True


def _feed(parser: expat.XMLParserType, path: Path) -> None:
    """Parse the file at `path`, after its byte order mark and any blank lines before the
    markup (which a strict parser would refuse before the declaration)."""
    with path.open("rb") as f:
        chunk = f.read(CHUNK).removeprefix(_UTF8_BOM).lstrip(_XML_WHITESPACE)
        while not chunk and (more := f.read(CHUNK)):
            chunk = more.lstrip(_XML_WHITESPACE)
        parser.Parse(chunk, False)
        for chunk in iter_file(f):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)


def iter_file(f: BinaryIO) -> Iterator[bytes]:
    while chunk := f.read(CHUNK):
        yield chunk


def store(
    chunks: Iterable[bytes], directory: Path, max_bytes: int, allowed: Iterable[str]
) -> StoredFile:
    """Write `chunks` to a new file in `directory` and return what it is; raises
    UploadRejected (and leaves nothing behind) if it is empty, too large or not allowed."""
    directory.mkdir(parents=True, exist_ok=True)
    stored_name = uuid.uuid4().hex
    path = directory / stored_name
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("xb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise UploadRejected("too_large")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise UploadRejected("empty")
        file_type = sniff(path)
        if file_type is None or file_type not in set(allowed):
            raise UploadRejected("type")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return StoredFile(stored_name, size, digest.hexdigest(), file_type)


def remove(directory: Path, stored_name: str) -> None:
    (directory / stored_name).unlink(missing_ok=True)


def orphans(directory: Path, known: set[str], older_than_seconds: int = 3600) -> list[Path]:
    """Files in `directory` that no attachment names and that are older than the grace time
    (an upload whose database write has not committed yet is younger)."""
    if not directory.exists():
        return []
    cutoff = time.time() - older_than_seconds
    return [
        p
        for p in directory.iterdir()
        if p.is_file() and p.name not in known and p.stat().st_mtime < cutoff
    ]


# --- resumable uploads: the chunks of a file still arriving ----------------------------------

PARTIAL = "partial"


class ChunkWriter:
    """Receives one chunk of a resumable upload into a new file beside the upload's finished
    chunks, hashing as it goes; `finish()` makes it durable, `abort()` removes it."""

    def __init__(self, directory: Path, key: str) -> None:
        self.folder = directory / PARTIAL / key
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"incoming-{uuid.uuid4().hex}"
        self._out = self.path.open("xb")
        self.size = 0
        self.sha1 = hashlib.sha1(usedforsecurity=False)
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self.sha1.update(data)
        self.sha256.update(data)
        self._out.write(data)

    def finish(self) -> None:
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()

    def abort(self) -> None:
        self._out.close()
        self.path.unlink(missing_ok=True)


def keep_chunk(writer: ChunkWriter, offset: int) -> None:
    """Give a received chunk its place in the file: its name is its offset."""
    writer.path.rename(writer.folder / f"{offset:015d}")


def iter_partial(directory: Path, key: str) -> Iterator[bytes]:
    """The finished chunks of an upload, in order, read piece by piece."""
    folder = directory / PARTIAL / key
    for path in sorted(p for p in folder.iterdir() if p.name.isdigit()):
        with path.open("rb") as f:
            yield from iter_file(f)


def partial_size(directory: Path, key: str) -> int:
    """How many bytes the finished chunks of an upload hold on disk."""
    folder = directory / PARTIAL / key
    if not folder.exists():
        return 0
    return sum(p.stat().st_size for p in folder.iterdir() if p.name.isdigit())


def remove_partial(directory: Path, key: str) -> None:
    shutil.rmtree(directory / PARTIAL / key, ignore_errors=True)


def stale_partials(directory: Path, known: set[str], older_than_seconds: int = 3600) -> list[str]:
    """Keys of partial-upload folders that no open upload names, older than the grace time."""
    folder = directory / PARTIAL
    if not folder.exists():
        return []
    cutoff = time.time() - older_than_seconds
    return [
        p.name
        for p in folder.iterdir()
        if p.is_dir() and p.name not in known and p.stat().st_mtime < cutoff
    ]
