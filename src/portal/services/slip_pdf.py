"""A slip as a PDF on A4 (fpdf2, with the vendored DejaVu Serif, which has every Vietnamese
letter): the layout of the form, margins as Decree 30/2020 sets for administrative documents
(left 30 mm, right 15 mm, top and bottom 20 mm)."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from portal.services.slips import DECLARANT, DECLARED, HEADING, MOTTO, Sheet

FONTS = Path(__file__).resolve().parent.parent / "fonts"
FAMILY = "DejaVuSerif"
LEFT, RIGHT, TOP = 30.0, 15.0, 20.0
NEXT = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}


def _pdf() -> FPDF:
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_margins(LEFT, TOP, RIGHT)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_font(FAMILY, "", str(FONTS / "DejaVuSerif.ttf"))
    pdf.add_font(FAMILY, "B", str(FONTS / "DejaVuSerif-Bold.ttf"))
    pdf.set_creator("Cổng dịch vụ công trực tuyến Hải quan")
    return pdf


def _heading(pdf: FPDF, s: Sheet) -> None:
    """The agency on the left, the national heading and motto on the right, then the number
    under the agency and the place and date under the motto."""
    width = pdf.w - LEFT - RIGHT
    left_w, right_w = width * 0.42, width * 0.58
    top = pdf.get_y()
    pdf.set_font(FAMILY, "", 10)
    pdf.multi_cell(left_w, 5, s.parent.upper(), align="C", **NEXT)
    pdf.set_font(FAMILY, "B", 10)
    pdf.multi_cell(left_w, 5, s.agency.upper(), align="C", **NEXT)
    _rule(pdf, LEFT + left_w / 2, 20)
    pdf.set_font(FAMILY, "", 10)
    pdf.multi_cell(left_w, 5, f"Số: {s.number}", align="C", **NEXT)
    below_left = pdf.get_y()
    pdf.set_xy(LEFT + left_w, top)
    pdf.set_font(FAMILY, "B", 10)
    pdf.multi_cell(right_w, 5, HEADING, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "B", 11)
    pdf.multi_cell(right_w, 5, MOTTO, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    _rule(pdf, LEFT + left_w + right_w / 2, 50)
    pdf.set_font(FAMILY, "", 10)
    pdf.multi_cell(right_w, 5, s.place_date, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_y(max(below_left, pdf.get_y()) + 2)
    pdf.set_font(FAMILY, "", 9)
    pdf.cell(0, 5, s.form, align="R", **NEXT)


def _rule(pdf: FPDF, centre: float, length: float) -> None:
    y = pdf.get_y() + 0.5
    pdf.line(centre - length / 2, y, centre + length / 2, y)
    pdf.set_y(y + 1.5)


def _pairs(pdf: FPDF, title: str, rows: list[tuple[str, str]]) -> None:
    if not rows:
        return
    pdf.ln(2)
    pdf.set_font(FAMILY, "B", 11)
    pdf.multi_cell(0, 6, title, **NEXT)
    for label, value in rows:
        pdf.set_font(FAMILY, "", 11)
        pdf.multi_cell(0, 6, f"{label}: {value}", **NEXT)


def render(s: Sheet) -> bytes:
    """The PDF of the slip `s` says."""
    pdf = _pdf()
    pdf.set_title(f"{s.title} {s.number}")
    pdf.add_page()
    _heading(pdf, s)
    pdf.ln(4)
    pdf.set_font(FAMILY, "B", 13)
    pdf.multi_cell(0, 7, s.title, align="C", **NEXT)
    pdf.ln(3)
    pdf.set_font(FAMILY, "", 11)
    pdf.multi_cell(0, 6, s.addressee, align="C", **NEXT)
    pdf.ln(2)
    for paragraph in s.paragraphs:
        pdf.multi_cell(0, 6, paragraph, **NEXT)
    for label, value in s.facts:
        pdf.multi_cell(0, 6, f"{label}: {value}", **NEXT)
    if s.reason_label:
        pdf.set_font(FAMILY, "B", 11)
        pdf.multi_cell(0, 6, f"{s.reason_label}:", **NEXT)
        pdf.set_font(FAMILY, "", 11)
        pdf.multi_cell(0, 6, s.reason or "—", **NEXT)
    if s.closing:
        pdf.multi_cell(0, 6, s.closing, **NEXT)
    _pairs(pdf, DECLARED, s.declared)
    _pairs(pdf, DECLARANT, s.declarant)
    _signature(pdf, s)
    return bytes(pdf.output())


def _signature(pdf: FPDF, s: Sheet) -> None:
    width = (pdf.w - LEFT - RIGHT) * 0.5
    if pdf.get_y() > pdf.h - 60:
        pdf.add_page()
    pdf.ln(8)
    x = pdf.w - RIGHT - width
    for style, size, text in (
        ("B", 11, s.signer_caption),
        ("", 9, "(Ký, ghi rõ họ tên)"),
        ("", 11, "\n\n"),
        ("B", 11, s.signer_name),
        ("", 11, s.signer_title),
    ):
        if not text:
            continue
        pdf.set_x(x)
        pdf.set_font(FAMILY, style, size)
        pdf.multi_cell(width, 6, text, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
