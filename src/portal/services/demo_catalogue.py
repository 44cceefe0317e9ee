"""The catalogue seed: real facts from `data/seed/customs_procedures.csv`, and plausible demo
values for what the source does not say, each procedure naming its demo fields."""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path
from typing import Any

from portal.services import fees
from portal.services.text import clean

CHANNEL_NAMES = {"Trực tuyến": "online", "Trực tiếp": "in_person", "Dịch vụ bưu chính": "post"}
NATIONAL_CATALOGUE = "https://dichvucong.gov.vn"

LEGAL_BASIS = (
    "Luật Hải quan số 54/2014/QH13;\n"
    "Nghị định số 08/2015/NĐ-CP, sửa đổi bởi Nghị định số 59/2018/NĐ-CP;\n"
    "Thông tư số 38/2015/TT-BTC, sửa đổi bởi Thông tư số 39/2018/TT-BTC."
)
NO_FEE = "Không thu phí, lệ phí."
DECLARATION_FEE = "Lệ phí làm thủ tục hải quan: 20.000 đồng/tờ khai (Thông tư số 14/2021/TT-BTC)."
DECLARATION_FEE_ROW = {"label": "Lệ phí làm thủ tục hải quan", "kind": "fixed", "amount": 20000}
# Fees of the seed's example procedures, as data (services/fees.py): demo data like the rest,
# so that the demo shows each kind of fee and has something to pay online. The national
# catalogue's extract says nothing of fees; the amounts are the portal's own.
DEMO_FEES: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "1.005458": (
        "Lệ phí làm thủ tục hải quan: 20.000 đồng/tờ khai.",
        [DECLARATION_FEE_ROW],
    ),
    "2.002184": (
        "Lệ phí làm thủ tục hải quan: 20.000 đồng/tờ khai; phí thẩm định hồ sơ khai bổ sung: "
        "0,1% số tiền thuế chênh lệch, tối thiểu 10.000 đồng, tối đa 1.000.000 đồng.",
        [
            DECLARATION_FEE_ROW,
            {
                "label": "Phí thẩm định hồ sơ khai bổ sung",
                "kind": "computed",
                "rate_bp": 10,
                "field": "tax_difference",
                "min_amount": 10000,
                "max_amount": 1000000,
            },
        ],
    ),
    "2.002322": (
        "Lệ phí cấp sổ tạm quản (sổ ATA): 200.000 đồng/sổ.",
        [
            {
                "label": "Lệ phí cấp sổ tạm quản",
                "kind": "per_item",
                "amount": 200000,
                "field": "carnets",
            }
        ],
    ),
    "3.000142": (
        "Lệ phí hàng hóa quá cảnh: 200.000 đồng/tờ khai.",
        [{"label": "Lệ phí hàng hóa quá cảnh", "kind": "fixed", "amount": 200000}],
    ),
}

# Why the seed's own examples are not online, and how to do them at the counter (demo data:
# the national catalogue's extract says neither). The border residents' procedures are done
# where the goods cross, in person; the defence and security one carries classified papers.
REASON_BORDER = (
    "Cư dân biên giới mua bán, trao đổi hàng hóa qua cửa khẩu, lối mở biên giới; hàng hóa được "
    "khai và kiểm tra ngay tại cửa khẩu khi qua lại, nên thủ tục làm trực tiếp, không nộp hồ sơ "
    "trực tuyến."
)
OFFLINE_BORDER = (
    "Làm thủ tục trực tiếp tại Hải quan cửa khẩu nơi hàng hóa qua lại, trong giờ làm việc của "
    "cửa khẩu. Mang theo: tờ khai theo mẫu (tải ở trang này, hoặc nhận tại cửa khẩu), giấy tờ "
    "chứng minh là cư dân biên giới (căn cước hoặc giấy thông hành biên giới) và hàng hóa để "
    "công chức hải quan kiểm tra."
)
REASON_BORDER_TRADER = (
    "Thương nhân mua gom hàng hóa do cư dân biên giới nhập khẩu; hồ sơ gắn với hàng hóa được "
    "kiểm tra trực tiếp tại cửa khẩu, nên thủ tục làm trực tiếp, không nộp hồ sơ trực tuyến."
)
OFFLINE_BORDER_TRADER = (
    "Nộp hồ sơ trực tiếp tại Hải quan cửa khẩu nơi cư dân biên giới nhập khẩu hàng hóa, trong "
    "giờ làm việc của cửa khẩu. Mang theo: tờ khai theo mẫu (tải ở trang này), bảng kê hàng hóa "
    "mua gom của cư dân biên giới, hợp đồng hoặc chứng từ mua bán và giấy chứng nhận đăng ký "
    "doanh nghiệp."
)
REASON_DEFENCE = (
    "Hồ sơ có tài liệu mật của Bộ Quốc phòng, Bộ Công an (danh mục hàng hóa chuyên dùng trực "
    "tiếp phục vụ quốc phòng, an ninh); tài liệu mật không được gửi qua mạng, nên thủ tục không "
    "thực hiện trực tuyến."
)
OFFLINE_DEFENCE = (
    "Nộp hồ sơ trực tiếp tại bộ phận một cửa của Chi cục Hải quan khu vực nơi làm thủ tục, "
    "trong giờ hành chính. Mang theo: văn bản đề nghị theo mẫu (tải ở trang này), văn bản của "
    "Bộ Quốc phòng hoặc Bộ Công an xác nhận hàng hóa chuyên dùng, danh mục hàng hóa, và giấy "
    "giới thiệu của người nộp; tài liệu mật được giao nhận theo chế độ bảo vệ bí mật nhà nước."
)
OFFLINE_HOW = (
    "Nộp hồ sơ trực tiếp tại bộ phận một cửa của Chi cục Hải quan nơi làm thủ tục, "
    "trong giờ hành chính; kết quả trả tại bộ phận một cửa."
)

# (keyword in the folded-free lower-case name, documents) — first match wins.
DOCUMENT_RULES: list[tuple[tuple[str, ...], list[dict[str, Any]]]] = [
    (
        ("huỷ tờ khai", "hủy tờ khai"),
        [
            {
                "name": "Văn bản đề nghị hủy tờ khai hải quan (mẫu số 04/HTK/GSQL)",
                "file_types": "pdf,xml",
            },
            {
                "name": "Chứng từ chứng minh lý do hủy tờ khai",
                "file_types": "pdf,jpg,png",
                "multiple": True,
            },
        ],
    ),
    (
        ("khai bổ sung",),
        [
            {"name": "Văn bản đề nghị khai bổ sung (mẫu số 03/KBS/GSQL)", "file_types": "pdf,xml"},
            {
                "name": "Chứng từ liên quan đến việc khai bổ sung (hóa đơn, hợp đồng, vận đơn)",
                "file_types": "pdf,jpg,png",
                "multiple": True,
            },
        ],
    ),
    (
        ("xác định trước",),
        [
            {"name": "Đơn đề nghị xác định trước (mẫu số 01/XĐTMS/TXNK)", "file_types": "pdf,docx"},
            {
                "name": "Tài liệu kỹ thuật, catalogue, hình ảnh hàng hóa",
                "file_types": "pdf,jpg,png",
                "multiple": True,
            },
            {
                "name": "Mẫu hàng hóa (biên bản lấy mẫu) nếu có",
                "file_types": "pdf",
                "mandatory": False,
            },
        ],
    ),
    (
        ("hoàn thuế", "không thu thuế"),
        [
            {"name": "Công văn đề nghị hoàn thuế (mẫu số 09/DNHT)", "file_types": "pdf,xml"},
            {
                "name": "Chứng từ thanh toán, hợp đồng mua bán hàng hóa",
                "file_types": "pdf",
                "multiple": True,
            },
        ],
    ),
    (
        ("miễn thuế", "xét miễn"),
        [
            {"name": "Công văn đề nghị miễn thuế", "file_types": "pdf,xml"},
            {"name": "Danh mục hàng hóa miễn thuế (mẫu số 16)", "file_types": "pdf,xlsx"},
        ],
    ),
    (
        ("doanh nghiệp ưu tiên", "được ưu tiên"),
        [
            {"name": "Văn bản đề nghị công nhận doanh nghiệp ưu tiên", "file_types": "pdf"},
            {
                "name": "Báo cáo tài chính đã được kiểm toán 02 năm gần nhất",
                "file_types": "pdf,xlsx",
                "multiple": True,
            },
            {"name": "Báo cáo đánh giá tuân thủ pháp luật hải quan", "file_types": "pdf"},
        ],
    ),
    (
        ("sổ ata",),
        [
            {"name": "Đơn đề nghị cấp sổ ATA", "file_types": "pdf"},
            {"name": "Danh mục hàng hóa tạm quản", "file_types": "pdf,xlsx"},
            {"name": "Chứng từ bảo lãnh", "file_types": "pdf"},
        ],
    ),
    (
        ("quốc phòng", "an ninh"),
        [
            {
                "name": "Văn bản đề nghị của Bộ Quốc phòng/Bộ Công an",
                "file_types": "pdf",
                "confidential": True,
            },
            {
                "name": "Danh mục hàng hóa chuyên dùng",
                "file_types": "pdf,xlsx",
                "confidential": True,
            },
        ],
    ),
]
DEFAULT_DOCUMENTS = [
    {"name": "Văn bản đề nghị theo mẫu của thủ tục", "file_types": "pdf,xml,docx"},
    {
        "name": "Chứng từ kèm theo (hợp đồng, hóa đơn, giấy phép nếu có)",
        "file_types": "pdf,jpg,png",
        "multiple": True,
        "mandatory": False,
    },
]


def _stable(code: str, modulo: int) -> int:
    return int(hashlib.sha256(code.encode()).hexdigest(), 16) % modulo


def parse_times(text: str) -> dict[str, tuple[int | None, str]]:
    """'Trực tuyến: 1 ngày làm việc; Trực tiếp: N/A' → {'online': (1, 'working_days'), ...}."""
    times: dict[str, tuple[int | None, str]] = {}
    for part in text.split(";"):
        label, _, value = part.partition(":")
        channel = CHANNEL_NAMES.get(label.strip())
        if channel is None:
            continue
        match = re.match(r"\s*(\d+)\s+ngày( làm việc)?", value)
        if match:
            times[channel] = (int(match.group(1)), "working_days" if match.group(2) else "days")
        else:
            times[channel] = (None, "working_days")
    return times


def _documents(name: str) -> list[dict[str, Any]]:
    lower = name.lower()
    for keywords, docs in DOCUMENT_RULES:
        if any(k in lower for k in keywords):
            chosen = docs
            break
    else:
        chosen = DEFAULT_DOCUMENTS
    return [{"mandatory": True, "multiple": False, "confidential": False, **d} for d in chosen]


def _steps(code: str, online: bool) -> str:
    if code == "2.002184":
        return "\n".join(
            [
                "Doanh nghiệp khai bổ sung trực tuyến, đính kèm chứng từ và ký số.",
                "Hệ thống tiếp nhận, cấp số và phân luồng hồ sơ khai bổ sung.",
                "Công chức hải quan kiểm tra hồ sơ khai bổ sung.",
                "Lãnh đạo Chi cục phê duyệt kết quả.",
                "Trả kết quả trực tuyến cho doanh nghiệp.",
            ]
        )
    first = (
        "Doanh nghiệp nộp hồ sơ trực tuyến trên Cổng dịch vụ công Hải quan và ký số."
        if online
        else "Người thực hiện nộp hồ sơ trực tiếp tại bộ phận một cửa."
    )
    return "\n".join(
        [
            first,
            "Công chức tiếp nhận kiểm tra tính đầy đủ của hồ sơ; tiếp nhận hoặc hướng dẫn bổ sung.",
            "Công chức xử lý hồ sơ, trình lãnh đạo phê duyệt.",
            "Trả kết quả cho người thực hiện.",
        ]
    )


def _level(code: str, lower: str, times: dict[str, tuple[int | None, str]]) -> tuple[int, str, str]:
    """The online level of a procedure (by its lower-case name and its channels), and for one
    that is not online why not and how to do it at the counter."""
    if "cư dân biên giới" in lower and "mua gom" in lower:
        return 2, REASON_BORDER_TRADER, OFFLINE_BORDER_TRADER
    if "cư dân biên giới" in lower:
        return 2, REASON_BORDER, OFFLINE_BORDER
    if "quốc phòng" in lower:
        return 2, REASON_DEFENCE, OFFLINE_DEFENCE
    if "online" in times:
        return 4, "", ""
    if times:
        reason = "Quyết định công bố thủ tục chỉ quy định nộp hồ sơ trực tiếp hoặc qua bưu chính."
        return 2, reason, OFFLINE_HOW
    return (3 if _stable(code, 10) == 0 else 4), "", ""


def procedure_from_row(row: dict[str, str]) -> tuple[dict[str, Any], str]:
    """The cleaned values of one catalogue row and the comma list of fields filled as demo."""
    code, name = row["ma_tthc"].strip(), " ".join(row["ten"].split())
    lower = name.lower()
    demo: list[str] = []
    times = parse_times(row.get("kenh_thoi_han", ""))
    level, not_online_reason, offline = _level(code, lower, times)
    demo.append("online_level")
    if not_online_reason:
        demo += ["not_online_reason", "offline_instructions"]
    if not times:
        amount = (
            30 if "xác định trước" in lower else 1 if lower.startswith("thủ tục hải quan") else 5
        )
        times = {"online" if level >= 3 else "in_person": (amount, "working_days")}
        demo.append("times")
    agency = row.get("co_quan_thuc_hien", "").strip()
    implementing_level = row.get("cap_thuc_hien", "").strip()
    if not implementing_level:
        implementing_level = "Cấp bộ/ngành" if agency.startswith(("Cục", "Bộ")) else "Cấp tỉnh"
        demo.append("implementing_level")
    fee = DECLARATION_FEE if lower.startswith("thủ tục hải quan") else NO_FEE
    fee_rows = [DECLARATION_FEE_ROW] if fee == DECLARATION_FEE else []
    fee_text = fee
    if code in DEMO_FEES:
        fee_text, fee_rows = DEMO_FEES[code]
    values: dict[str, Any] = {
        "code": code,
        "name": name,
        "field": row.get("linh_vuc", "").strip() or "Hải quan",
        "online_level": level,
        "issuing_agency": row.get("co_quan_ban_hanh", "").strip(),
        "implementing_agency": agency,
        "implementing_level": implementing_level,
        "decision_no": row.get("so_quyet_dinh", "").strip(),
        "national_url": row.get("url", "").strip(),
        "steps": _steps(code, level >= 3),
        "fee_text": fee_text,
        "fee_amount": 20000 if fee == DECLARATION_FEE else None,
        "fees": [fees.fee_row(row) for row in fee_rows],
        "legal_basis": LEGAL_BASIS,
        "not_online_reason": not_online_reason,
        "offline_instructions": offline,
        "documents": _documents(name),
    }
    demo += ["steps", "documents", "fee_text", "legal_basis"]  # fee_text: the fees too
    for channel in ("online", "in_person", "post"):
        amount, unit = times.get(channel, (None, ""))
        values[f"time_{channel}"] = amount
        values[f"time_{channel}_unit"] = unit
    return values, ",".join(demo)


def read_catalogue(path: Path) -> list[tuple[dict[str, Any], str]]:
    """Every row of the catalogue CSV, NFC-normalised like any input."""
    with path.open(newline="", encoding="utf-8") as f:
        return [
            procedure_from_row({k: clean(v or "") for k, v in row.items()})
            for row in csv.DictReader(f)
        ]
