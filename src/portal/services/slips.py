"""Slips as official documents: their numbers, and what each one says, laid out as the forms
of the one-stop mechanism (Circular 01/2018/TT-VPCP, forms 01-04; see docs/slips.md for the
sources and what is not verified). A slip is an official Vietnamese document: its text is
Vietnamese whatever the reader's language; only the page around it is translated."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from portal.db import reading
from portal.i18n import format_long_date
from portal.models import Dossier, Slip, SlipSequence, Unit, User, utcnow
from portal.services import dossiers
from portal.services.deadlines import to_local
from portal.services.dossiers import DossierView
from portal.services.errors import NotFound

CIRCULAR = "Thông tư số 01/2018/TT-VPCP"


@dataclass(frozen=True)
class Form:
    code: str  # the number's suffix: …/TNHS-…
    number: str  # "Mẫu số 01"
    title: str
    signer_caption: str


FORMS = {
    "receipt": Form(
        "TNHS", "01", "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ", "NGƯỜI TIẾP NHẬN HỒ SƠ"
    ),
    "supplement": Form(
        "BSHS", "02", "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ", "NGƯỜI TIẾP NHẬN HỒ SƠ"
    ),
    "refusal": Form(
        "TCHS", "03", "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ", "NGƯỜI TIẾP NHẬN HỒ SƠ"
    ),
    "apology": Form(
        "XLHS", "04", "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ", "ĐẠI DIỆN CƠ QUAN, ĐƠN VỊ"
    ),
}
# The signer's title as printed under the signature, by role at the time of issue.
SIGNER_TITLES = {"officer": "Công chức hải quan", "leader": "Lãnh đạo đơn vị"}
HEADING = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"
DECLARED, DECLARANT = "Nội dung khai báo", "Người khai báo"
NO_PLACE = "……"  # a deployment without PORTAL_SLIP_PLACE: the place is left to be written


def time_phrase(moment: dt.datetime | None) -> str:
    """'14 giờ 30 phút, ngày 04 tháng 12 năm 2026' in Vietnam's time ('' for None)."""
    if moment is None:
        return ""
    local = to_local(moment)
    return f"{local.hour:02d} giờ {local.minute:02d} phút, {format_long_date(local.date(), 'vi')}"


def next_number(unit: Unit, kind: str, when: dt.datetime, code: str = "") -> str:
    """The unit's next number for `kind` in the year of `when`, `{n}/{year}/{code}-{unit}`
    (`code`: the slip form's, else given; the electronic receipts of payments are numbered
    the same way). The upsert takes the sequence row's lock (PostgreSQL) or runs in the write
    transaction (SQLite, BEGIN IMMEDIATE), so two issues at once get consecutive numbers; call
    it inside the issuing transaction."""
    year = to_local(when).year
    (
        SlipSequence.insert(unit=unit, kind=kind, year=year, last=1)
        .on_conflict(
            conflict_target=[SlipSequence.unit, SlipSequence.kind, SlipSequence.year],
            update={SlipSequence.last: SlipSequence.last + 1},
        )
        .execute()
    )
    last = (
        SlipSequence.select(SlipSequence.last)
        .where(
            SlipSequence.unit == unit, SlipSequence.kind == kind, SlipSequence.year == year
        )
        .scalar()
    )
    return f"{last}/{year}/{code or FORMS[kind].code}-{unit.code}"


def issue(
    dossier: Dossier,
    kind: str,
    signer: User,
    *,
    reason: str = "",
    due_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Slip:
    """Issue a slip of `kind` for the dossier in the name of its handling unit, numbered and
    signed by `signer`. Runs inside the caller's transaction."""
    now = now or utcnow()
    unit = Unit.get_by_id(dossier.unit_id)
    return Slip.create(
        dossier=dossier,
        kind=kind,
        issued_at=now,
        due_at=due_at,
        reason=reason,
        issued_by=signer.full_name,
        signer_title=SIGNER_TITLES.get(signer.role, ""),
        unit=unit,
        number=next_number(unit, kind, now),
    )


@dataclass(frozen=True)
class Sheet:
    """What a slip says, in the order of the form; the page and the PDF both lay it out."""

    parent: str
    agency: str
    number: str
    place_date: str
    form: str
    title: str
    addressee: str
    paragraphs: list[str]
    facts: list[tuple[str, str]]
    reason_label: str
    reason: str
    closing: str
    declared: list[tuple[str, str]]
    declarant: list[tuple[str, str]]
    signer_caption: str
    signer_name: str
    signer_title: str


def _agency(slip: Slip, dossier: Dossier) -> tuple[str, str]:
    unit_id = slip.unit_id or dossier.unit_id
    unit = Unit.get_or_none(Unit.id == unit_id) if unit_id else None
    if unit is None:
        return "", ""
    parent = Unit.get_or_none(Unit.id == unit.parent_id) if unit.parent_id else None
    return (parent.name if parent else ""), unit.name


def declarant_rows(view: DossierView) -> list[tuple[str, str]]:
    """The enterprise and its contact as the slip names them."""
    contact = view.contact
    return [
        ("Tên doanh nghiệp", view.enterprise.name),
        ("Mã số thuế", view.enterprise.tax_code),
        ("Thư điện tử của doanh nghiệp", view.enterprise.email or "—"),
        ("Người liên hệ", contact.full_name),
        ("Thư điện tử người liên hệ", contact.email or contact.username),
    ]


def _body(
    slip: Slip, view: DossierView, agency: str
) -> tuple[list[str], list[tuple[str, str]], str, str]:
    """The form's own text for the slip's kind: paragraphs, facts, reason label, closing."""
    d = view.dossier
    request = f"{view.procedure.name} (mã thủ tục {view.procedure.code})"
    facts = [("Mã hồ sơ", d.code or ""), ("Nội dung yêu cầu giải quyết", request)]
    if slip.kind == "receipt":
        paragraphs = [f"{agency} đã tiếp nhận hồ sơ trực tuyến của: {view.enterprise.name}."]
        facts += [
            ("Thời gian nhận hồ sơ", time_phrase(d.received_at or slip.issued_at)),
            ("Thời gian trả kết quả giải quyết hồ sơ", time_phrase(slip.due_at)),
            ("Nhận kết quả tại", "Cổng dịch vụ công trực tuyến Hải quan"),
        ]
        return paragraphs, facts, "", ""
    if slip.kind == "supplement":
        paragraphs = [
            f"{agency} đã tiếp nhận hồ sơ của Quý doanh nghiệp. Sau khi xem xét, hồ sơ cần "
            "được bổ sung, hoàn thiện theo nội dung dưới đây."
        ]
        closing = (
            "Thời gian chờ bổ sung không tính vào thời hạn giải quyết hồ sơ. Trong quá trình "
            "bổ sung, nếu có vướng mắc, đề nghị liên hệ đơn vị để được hướng dẫn."
        )
        return paragraphs, facts, "Nội dung yêu cầu bổ sung, hoàn thiện", closing
    if slip.kind == "refusal":
        paragraphs = [f"{agency} không tiếp nhận giải quyết hồ sơ của Quý doanh nghiệp."]
        closing = "Xin thông báo để Quý doanh nghiệp biết và thực hiện."
        return paragraphs, facts, "Lý do từ chối", closing
    paragraphs = [
        f"{agency} đã tiếp nhận hồ sơ của Quý doanh nghiệp vào "
        f"{time_phrase(d.received_at)} và hẹn trả kết quả vào {time_phrase(d.due_at)}.",
        "Đến nay đơn vị chưa trả được kết quả giải quyết hồ sơ đúng hẹn.",
    ]
    closing = (
        "Sự chậm trễ này đã gây phiền hà cho Quý doanh nghiệp. Đơn vị xin lỗi Quý doanh "
        f"nghiệp và hẹn trả kết quả vào {time_phrase(slip.due_at)}."
    )
    return paragraphs, facts, "Lý do chậm trả kết quả", closing


def sheet(slip: Slip, view: DossierView, place: str = "") -> Sheet:
    """The text of `slip` of the dossier `view` shows, written at `place` (the deployment's
    PORTAL_SLIP_PLACE; dots when unset)."""
    form = FORMS[slip.kind]
    parent, agency = _agency(slip, view.dossier)
    paragraphs, facts, reason_label, closing = _body(slip, view, agency)
    return Sheet(
        parent=parent,
        agency=agency,
        number=slip.number or "",
        place_date=f"{place or NO_PLACE}, {format_long_date(slip.issued_at, 'vi')}",
        form=f"Mẫu số {form.number} ({CIRCULAR})",
        title=form.title,
        addressee=f"Kính gửi: {view.enterprise.name}",
        paragraphs=paragraphs,
        facts=facts,
        reason_label=reason_label,
        reason=slip.reason,
        closing=closing,
        declared=[(label, answer or "—") for label, answer, _ in view.declared],
        declarant=declarant_rows(view),
        signer_caption=form.signer_caption,
        signer_name="" if slip.issued_by == "system" else slip.issued_by,  # before v11
        signer_title=slip.signer_title,
    )


@dataclass(frozen=True)
class SlipPage:
    view: DossierView
    slip: Slip
    sheet: Sheet


@reading
def open_slip(dossier_id: int, slip_id: int, user: User | None, place: str = "") -> SlipPage:
    """A slip of a dossier `user` may see (its owner, its unit's staff, auditors), with its
    text; raises NotFound otherwise."""
    view = dossiers.load(dossier_id, user)
    slip = Slip.get_or_none(Slip.id == slip_id, Slip.dossier == dossier_id)
    if slip is None or slip.kind not in FORMS:
        raise NotFound("slip")
    return SlipPage(view, slip, sheet(slip, view, place))
