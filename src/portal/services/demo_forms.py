"""Demo form files for the seed's own examples of procedures that are not online: a small Word
document (DOCX, built here with the standard library) offered for download on each one's
page, so a level-2 procedure keeps its promise of forms from the first start."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

from portal import storage
from portal.db import transactional
from portal.models import Procedure
from portal.services import history
from portal.services.procedure_forms import FORM_TYPES, MAX_FORM_BYTES, record_form

# code -> (title, the form's heading, the lines to fill in). The codes are real procedures
# of data/seed/customs_procedures.csv; see data/seed/README.md for why these three.
DEMO_FORMS: dict[str, tuple[str, str, list[str]]] = {
    "1.007895": (
        "Văn bản đề nghị làm thủ tục hải quan hàng hóa chuyên dùng quốc phòng, an ninh (demo)",
        "VĂN BẢN ĐỀ NGHỊ LÀM THỦ TỤC HẢI QUAN ĐỐI VỚI HÀNG HÓA CHUYÊN DÙNG TRỰC TIẾP PHỤC VỤ "
        "QUỐC PHÒNG, AN NINH",
        [
            "Kính gửi: Chi cục Hải quan khu vực ……",
            "Cơ quan đề nghị (Bộ Quốc phòng / Bộ Công an): ……",
            "Số, ngày văn bản xác nhận hàng hóa chuyên dùng: ……",
            "Tên hàng, số lượng, trị giá (theo danh mục kèm theo): ……",
            "Cửa khẩu xuất / nhập: ……",
            "Người nộp hồ sơ, chức vụ, số giấy giới thiệu: ……",
        ],
    ),
    "1.008002": (
        "Tờ khai hàng hóa xuất khẩu, nhập khẩu của cư dân biên giới (demo)",
        "TỜ KHAI HÀNG HÓA XUẤT KHẨU, NHẬP KHẨU CỦA CƯ DÂN BIÊN GIỚI",
        [
            "Họ và tên cư dân biên giới: ……",
            "Số căn cước / giấy thông hành biên giới: ……",
            "Nơi thường trú (xã, huyện biên giới): ……",
            "Cửa khẩu, lối mở qua lại: ……",
            "Tên hàng, số lượng, trị giá: ……",
        ],
    ),
    "1.008000": (
        "Bảng kê hàng hóa mua gom của cư dân biên giới (demo)",
        "BẢNG KÊ HÀNG HÓA NHẬP KHẨU THƯƠNG NHÂN MUA GOM CỦA CƯ DÂN BIÊN GIỚI",
        [
            "Thương nhân mua gom, mã số thuế: ……",
            "Cửa khẩu nơi cư dân biên giới nhập khẩu hàng hóa: ……",
            "STT | Họ tên cư dân | Số căn cước | Tên hàng | Số lượng | Trị giá",
            "1 | …… | …… | …… | …… | ……",
        ],
    ),
}
DEMO_NOTE = "Mẫu minh họa của cổng (demo), không phải mẫu ban hành chính thức."

_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _paragraph(text: str, *, bold: bool = False, centered: bool = False) -> str:
    props = '<w:pPr><w:jc w:val="center"/></w:pPr>' if centered else ""
    run_props = "<w:rPr><w:b/></w:rPr>" if bold else ""
    return (
        f'<w:p>{props}<w:r>{run_props}<w:t xml:space="preserve">{escape(text)}</w:t></w:r></w:p>'
    )


def docx(heading: str, lines: list[str]) -> bytes:
    """A Word document: the national heading and motto, `heading`, and `lines` to fill in."""
    body = [
        _paragraph("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", bold=True, centered=True),
        _paragraph("Độc lập - Tự do - Hạnh phúc", bold=True, centered=True),
        _paragraph(heading, bold=True, centered=True),
        *(_paragraph(line) for line in lines),
        _paragraph("……, ngày …… tháng …… năm ……"),
        _paragraph(DEMO_NOTE),
    ]
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<w:document xmlns:w="{_W}"><w:body>{"".join(body)}</w:body></w:document>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("word/document.xml", document)
    return out.getvalue()


def seed_form_files(uploads: Path) -> int:
    """Give each example procedure its demo form unless it offers a form already (idempotent);
    returns how many forms were added."""
    added = 0
    for code, (title, heading, lines) in DEMO_FORMS.items():
        stored = None
        try:
            if not _wants_form(code):
                continue
            stored = storage.store([docx(heading, lines)], uploads, MAX_FORM_BYTES, FORM_TYPES)
            added += _record(code, title, stored)
        except BaseException:
            if stored is not None:
                storage.remove(uploads, stored.stored_name)
            raise
    return added


@transactional
def _wants_form(code: str) -> bool:
    proc = Procedure.get_or_none(Procedure.code == code)
    return proc is not None and not proc.form_files.exists()


@transactional
def _record(code: str, title: str, stored: storage.StoredFile) -> int:
    proc = Procedure.get(Procedure.code == code)
    record_form(proc, title, stored, history.SYSTEM)
    return 1
