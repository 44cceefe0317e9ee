"""A payment's electronic receipt (biên lai điện tử): what it says, in Vietnamese whatever the
reader's language (an official document, like the slips), and its PDF (the layout the slips
share: services/pdf_document.py). Number, issuing unit, payer, items and amounts, time,
channel and the gateway's transaction id."""

from __future__ import annotations

from dataclasses import dataclass

from fpdf.enums import XPos, YPos

from portal.i18n import format_long_date
from portal.services.fees import Item
from portal.services.payments import ReceiptView, vnd
from portal.services.pdf_document import FAMILY, LEFT, NEXT, RIGHT, heading, new_pdf, pairs, title
from portal.services.slips import NO_PLACE, time_phrase

TITLE = "BIÊN LAI THU PHÍ, LỆ PHÍ"
KIND = "Biên lai điện tử"
COLUMNS = ("Nội dung thu", "Số lượng", "Đơn giá (đồng)", "Thành tiền (đồng)")
WIDTHS = (0.46, 0.12, 0.21, 0.21)


@dataclass(frozen=True)
class ReceiptSheet:
    parent: str
    agency: str
    number: str
    place_date: str
    payer: list[tuple[str, str]]
    items: list[Item]
    total: str
    payment: list[tuple[str, str]]
    closing: str


def amount_text(value: int) -> str:
    """An amount as the receipt writes it: 1.250.000."""
    return f"{value:,}".replace(",", ".")


def sheet(r: ReceiptView, place: str = "") -> ReceiptSheet:
    """The text of the receipt of `r`."""
    p, view = r.payment, r.view
    enterprise = view.enterprise
    payer = [("Người nộp", enterprise.name), ("Mã số thuế/Số định danh", enterprise.tax_code)]
    if enterprise.address:
        payer.append(("Địa chỉ", enterprise.address))
    payer += [
        ("Mã hồ sơ", view.dossier.code or ""),
        ("Thủ tục", f"{view.procedure.name} (mã thủ tục {view.procedure.code})"),
    ]
    paid = [
        ("Hình thức thanh toán", r.channel_label),
        ("Thời gian thanh toán", time_phrase(p.paid_at)),
    ]
    if p.transaction_id:
        paid.append(("Mã giao dịch", p.transaction_id))
    if p.recorded_by:
        paid.append(("Người thu", p.recorded_by))
    return ReceiptSheet(
        parent=r.parent.name if r.parent else "",
        agency=r.unit.name if r.unit else "",
        number=p.number or "",
        place_date=f"{place or NO_PLACE}, {format_long_date(p.paid_at, 'vi')}",
        payer=payer,
        items=r.items,
        total=vnd(p.total).replace(" đ", " đồng"),
        payment=paid,
        closing=(
            "Biên lai điện tử lập trên Cổng dịch vụ công trực tuyến Hải quan; tra cứu theo mã "
            "hồ sơ và số biên lai."
        ),
    )


def render(s: ReceiptSheet) -> bytes:
    """The PDF of the receipt `s` says."""
    pdf = new_pdf(f"{TITLE} {s.number}")
    heading(pdf, s.parent, s.agency, s.number, s.place_date, KIND)
    title(pdf, TITLE)
    pairs(pdf, "Thông tin người nộp", s.payer)
    pdf.ln(3)
    width = pdf.w - LEFT - RIGHT
    pdf.set_font(FAMILY, "B", 10)
    for column, share in zip(COLUMNS, WIDTHS, strict=True):
        pdf.cell(width * share, 7, column, border=1, align="C")
    pdf.ln(7)
    pdf.set_font(FAMILY, "", 10)
    for item in s.items:
        cells = (
            item.label,
            str(item.quantity),
            amount_text(item.unit_amount),
            amount_text(item.amount),
        )
        for n, (text, share) in enumerate(zip(cells, WIDTHS, strict=True)):
            pdf.cell(width * share, 7, text[:60], border=1, align="L" if n == 0 else "R")
        pdf.ln(7)
    pdf.set_font(FAMILY, "B", 11)
    pdf.cell(width, 8, f"Tổng cộng: {s.total}", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pairs(pdf, "Thanh toán", s.payment)
    pdf.ln(4)
    pdf.set_font(FAMILY, "", 9)
    pdf.multi_cell(0, 5, s.closing, **NEXT)
    return bytes(pdf.output())
