"""Uploaded files on disk: streamed in chunks, hashed (SHA-256), typed by their content (never
by name or browser-sent type), stored under generated names, and cleaned up when orphaned."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
import unicodedata
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 64 * 1024
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "xml": "application/xml",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
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
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
        except (zipfile.BadZipFile, OSError):
            return None
        if "[Content_Types].xml" in names:
            if "word/document.xml" in names:  # the main part of a Word document
                return "docx"
            if "xl/workbook.xml" in names:  # the main part of an Excel workbook
                return "xlsx"
        return None
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<?xml") or text.startswith(b"<"):
        try:
            head.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return "xml"
    return None


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
