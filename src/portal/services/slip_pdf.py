"""A slip as a PDF on A4, laid out as its form (the shared layout: services/pdf_document.py)."""

from __future__ import annotations

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from portal.services.pdf_document import (
    FAMILY,
    LEFT,
    NEXT,
    RIGHT,
    heading,
    new_pdf,
    pairs,
    title,
)
from portal.services.slips import DECLARANT, DECLARED, Sheet


def render(s: Sheet) -> bytes:
    """The PDF of the slip `s` says."""
    pdf = new_pdf(f"{s.title} {s.number}")
    heading(pdf, s.parent, s.agency, s.number, s.place_date, s.form)
    title(pdf, s.title)
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
    pairs(pdf, DECLARED, s.declared)
    pairs(pdf, DECLARANT, s.declarant)
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
