"""Real minimal files of the types the portal knows, built here (no binary fixtures): a JPEG,
and DOCX and XLSX packages with what Office needs to open them."""

from __future__ import annotations

import io
import struct
import zipfile


def segment(marker: int, body: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body


def jpeg() -> bytes:
    """A baseline JPEG of one grey pixel: JFIF header, quantisation and Huffman tables, frame,
    scan (DC difference 0, then end of block) and end of image."""
    huffman_one_code = bytes([1] + [0] * 15) + b"\x00"  # one code of length 1, for symbol 0
    return (
        b"\xff\xd8"
        + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + segment(0xDB, b"\x00" + bytes([1] * 64))
        + segment(0xC0, b"\x08\x00\x01\x00\x01\x01\x01\x11\x00")
        + segment(0xC4, b"\x00" + huffman_one_code)  # DC table 0
        + segment(0xC4, b"\x10" + huffman_one_code)  # AC table 0
        + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + b"\x3f"  # the bits 0 (DC category 0) and 0 (EOB), padded with ones
        + b"\xff\xd9"
    )


CONTENT_TYPES_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/{part}" ContentType="{type}"/></Types>'
)
RELS_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="{part}"/></Relationships>'
)


def zip_of(entries: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in entries.items():
            z.writestr(name, text)
    return out.getvalue()


def docx() -> bytes:
    """A minimal WordprocessingML package: content types, package relationships, the document."""
    part = "word/document.xml"
    return zip_of({
        "[Content_Types].xml": CONTENT_TYPES_XML.format(
            part=part, type="application/vnd.openxmlformats-officedocument."
                            "wordprocessingml.document.main+xml"),
        "_rels/.rels": RELS_XML.format(part=part),
        part: '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
              '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/'
              'main"><w:body><w:p><w:r><w:t>Đơn đề nghị</w:t></w:r></w:p></w:body></w:document>',
    })


def xlsx() -> bytes:
    part = "xl/workbook.xml"
    return zip_of({
        "[Content_Types].xml": CONTENT_TYPES_XML.format(
            part=part, type="application/vnd.openxmlformats-officedocument."
                            "spreadsheetml.sheet.main+xml"),
        "_rels/.rels": RELS_XML.format(part=part),
        part: '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
              '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
              '<sheets/></workbook>',
    })


def docx_with_entries(count: int) -> bytes:
    """A real DOCX holding `count` entries in all: the document's parts and filler images."""
    files = {f"word/media/image{n}.png": "" for n in range(count - 3)}
    with zipfile.ZipFile(io.BytesIO(docx())) as z:
        parts = {name: z.read(name).decode() for name in z.namelist()}
    return zip_of({**parts, **files})


EOCD = struct.Struct("<4s4H2LH")  # the end-of-central-directory record, without its comment


def claiming(archive: bytes, count: int) -> bytes:
    """`archive` with its end record claiming `count` entries (its directory unchanged)."""
    at = len(archive) - EOCD.size
    fields = list(EOCD.unpack(archive[at:]))
    fields[3] = fields[4] = count
    return archive[:at] + EOCD.pack(*fields)


def as_zip64(archive: bytes, count: int | None = None, moved: int = 0) -> bytes:
    """`archive` with a ZIP64 end record (as writers of very large archives add) before its end
    record, which then says "see the ZIP64 record"; that record claims `count` entries (by
    default the true number), and its locator places it `moved` bytes from where it is."""
    at = len(archive) - EOCD.size
    sig, disk, cd_disk, here, total, cd_size, cd_offset, comment = EOCD.unpack(archive[at:])
    count = total if count is None else count
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count,
                         cd_size, cd_offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, at + moved, 1)
    end = EOCD.pack(sig, disk, cd_disk, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, comment)
    return archive[:at] + record + locator + end


def ole(stream: str, size: int = 4096) -> bytes:
    """A minimal OLE compound file (the container of legacy Word and Excel files), version 3
    with 512-byte sectors, holding one stream named `stream` of `size` bytes (at least the
    4096 of the mini-stream cut-off, so it lives in ordinary sectors): header, one FAT sector,
    one directory sector, then the stream's sectors."""
    end, free, fat_sector, no_stream = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
    data_sectors = -(-size // 512)
    header = struct.pack(
        "<8s16s5H6s9L",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\x00" * 16, 0x3E, 3, 0xFFFE, 9, 6, b"\x00" * 6,
        0, 1, 1, 0, 4096, end, 0, end, 0,
    )
    header += struct.pack("<109L", 0, *([free] * 108))
    fat = [fat_sector, end] + [3 + n for n in range(data_sectors - 1)] + [end]
    fat_bytes = struct.pack(f"<{len(fat)}L", *fat) + b"\xff" * (512 - 4 * len(fat))

    def entry(name: str, kind: int, child: int, start: int, length: int) -> bytes:
        encoded = (name + "\x00").encode("utf-16-le") if name else b""
        return struct.pack(
            "<64sHBB3L16sL16sLQ", encoded, len(encoded), kind, 1 if name else 0,
            no_stream, no_stream, child, b"\x00" * 16, 0, b"\x00" * 16, start, length,
        )

    directory = (
        entry("Root Entry", 5, 1, end, 0)
        + entry(stream, 2, no_stream, 2, size)
        + entry("", 0, no_stream, 0, 0) * 2
    )
    body = (b"\x00" * size).ljust(data_sectors * 512, b"\x00")
    return header + fat_bytes + directory + body


def odt() -> bytes:
    """A minimal OpenDocument text: its `mimetype` entry first and stored, a manifest, the
    content."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        z.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0" encoding="UTF-8"?>\n<manifest:manifest xmlns:manifest='
            '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
            '<manifest:file-entry manifest:full-path="/" manifest:media-type='
            '"application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path='
            '"content.xml" manifest:media-type="text/xml"/></manifest:manifest>',
        )
        z.writestr(
            "content.xml",
            '<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content xmlns:office='
            '"urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text='
            '"urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
            "<office:body><office:text><text:p>Tờ khai</text:p></office:text></office:body>"
            "</office:document-content>",
        )
    return out.getvalue()
