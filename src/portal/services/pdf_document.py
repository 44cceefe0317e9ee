"""What the portal's official documents share as PDFs (the slips, the payments' receipts): A4
with the margins Decree 30/2020 sets for administrative documents (left 30 mm, right 15 mm,
top and bottom 20 mm), the vendored DejaVu Serif (it has every Vietnamese letter), and the
heading of a Vietnamese administrative document: the agency under its parent on the left, the
national heading and motto on the right, the number under the agency and the place and date
under the motto (fpdf2)."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from portal.services.slips import HEADING, MOTTO

FONTS = Path(__file__).resolve().parent.parent / "fonts"
FAMILY = "DejaVuSerif"
LEFT, RIGHT, TOP = 30.0, 15.0, 20.0
NEXT = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}


def new_pdf(title: str) -> FPDF:
    """An A4 document titled `title` with the fonts, margins and its first page."""
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_margins(LEFT, TOP, RIGHT)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_font(FAMILY, "", str(FONTS / "DejaVuSerif.ttf"))
    pdf.add_font(FAMILY, "B", str(FONTS / "DejaVuSerif-Bold.ttf"))
    pdf.set_creator("Cổng dịch vụ công trực tuyến Hải quan")
    pdf.set_title(title)
    pdf.add_page()
    return pdf


def heading(
    pdf: FPDF, parent: str, agency: str, number: str, place_date: str, form: str = ""
) -> None:
    """The agency on the left, the national heading and motto on the right, then the number
    under the agency and the place and date under the motto; `form` right-aligned below."""
    width = pdf.w - LEFT - RIGHT
    left_w, right_w = width * 0.42, width * 0.58
    top = pdf.get_y()
    pdf.set_font(FAMILY, "", 10)
    pdf.multi_cell(left_w, 5, parent.upper(), align="C", **NEXT)
    pdf.set_font(FAMILY, "B", 10)
    pdf.multi_cell(left_w, 5, agency.upper(), align="C", **NEXT)
    rule(pdf, LEFT + left_w / 2, 20)
    pdf.set_font(FAMILY, "", 10)
    pdf.multi_cell(left_w, 5, f"Số: {number}", align="C", **NEXT)
    below_left = pdf.get_y()
    pdf.set_xy(LEFT + left_w, top)
    pdf.set_font(FAMILY, "B", 10)
    pdf.multi_cell(right_w, 5, HEADING, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "B", 11)
    pdf.multi_cell(right_w, 5, MOTTO, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    rule(pdf, LEFT + left_w + right_w / 2, 50)
    pdf.set_font(FAMILY, "", 10)
    pdf.multi_cell(right_w, 5, place_date, align="C", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_y(max(below_left, pdf.get_y()) + 2)
    if form:
        pdf.set_font(FAMILY, "", 9)
        pdf.cell(0, 5, form, align="R", **NEXT)


def rule(pdf: FPDF, centre: float, length: float) -> None:
    y = pdf.get_y() + 0.5
    pdf.line(centre - length / 2, y, centre + length / 2, y)
    pdf.set_y(y + 1.5)


def title(pdf: FPDF, text: str) -> None:
    pdf.ln(4)
    pdf.set_font(FAMILY, "B", 13)
    pdf.multi_cell(0, 7, text, align="C", **NEXT)
    pdf.ln(3)


def pairs(pdf: FPDF, caption: str, rows: list[tuple[str, str]]) -> None:
    """A captioned list of `label: value` lines (nothing when `rows` is empty)."""
    if not rows:
        return
    pdf.ln(2)
    pdf.set_font(FAMILY, "B", 11)
    pdf.multi_cell(0, 6, caption, **NEXT)
    for label, value in rows:
        pdf.set_font(FAMILY, "", 11)
        pdf.multi_cell(0, 6, f"{label}: {value}", **NEXT)
