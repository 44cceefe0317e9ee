"""A procedure's fees and charges as data (`Fee` rows), what they come to for a dossier's
answers, and the items of a payment request an officer edits.

A fee is fixed (an amount), per item (an amount times the number a form answer gives) or
computed (a share of an amount a form answer gives, in basis points, kept between a minimum
and a maximum). The formula is one of these three, never an expression: nothing a procedure's
editor writes is evaluated. Amounts are whole VND."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from portal.models import FEE_KINDS, Fee, Procedure
from portal.services.errors import N_, Message, ValidationError
from portal.services.text import clean, has_forbidden_chars

MAX_AMOUNT = 1_000_000_000_000  # a thousand billion VND: far above any fee
MAX_ITEMS = 20
MAX_LABEL = 255
FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
BP = 10_000  # basis points in a whole


@dataclass(frozen=True)
class Item:
    """One line of what is to be paid: `quantity` times `unit_amount` makes `amount`."""

    label: str
    quantity: int
    unit_amount: int
    amount: int

    @classmethod
    def of(cls, data: dict[str, Any]) -> Item:
        return cls(
            str(data["label"]),
            int(data["quantity"]),
            int(data["unit_amount"]),
            int(data["amount"]),
        )


def items_json(items: list[Item]) -> str:
    return json.dumps([asdict(i) for i in items], ensure_ascii=False)


def items_of(text: str) -> list[Item]:
    return [Item.of(d) for d in json.loads(text or "[]")]


def total(items: list[Item]) -> int:
    return sum(i.amount for i in items)


# --- what a fee comes to -------------------------------------------------------------------


def _whole(answer: Any) -> int | None:
    """A form answer as a whole number ≥ 0 (kept canonical: "1250000"), else None."""
    text = str(answer if answer is not None else "").strip()
    return int(text) if text.isascii() and text.isdigit() else None


def item_of(fee: Fee, answers: dict[str, Any]) -> Item:
    """What `fee` comes to for a dossier's `answers`. A per-item fee whose count is missing
    counts one item; a computed fee whose base is missing starts from 0 (then its minimum)."""
    if fee.kind == "per_item":
        count = _whole(answers.get(fee.field))
        quantity = 1 if count is None else count
        return Item(fee.label, quantity, fee.amount, quantity * fee.amount)
    if fee.kind == "computed":
        base = _whole(answers.get(fee.field)) or 0
        value = int((Decimal(base) * fee.rate_bp / BP).quantize(Decimal(1), ROUND_HALF_UP))
        if fee.min_amount is not None:
            value = max(value, fee.min_amount)
        if fee.max_amount is not None:
            value = min(value, fee.max_amount)
        return Item(fee.label, 1, value, value)
    return Item(fee.label, 1, fee.amount, fee.amount)


def compute(fees: list[Fee], answers: dict[str, Any]) -> list[Item]:
    """The items `fees` come to for `answers`, in the fees' order."""
    return [item_of(f, answers) for f in fees]


def fees_of(procedure_id: int) -> list[Fee]:
    """The procedure's fees, in order (call with a connection)."""
    return list(Fee.select().where(Fee.procedure == procedure_id).order_by(Fee.position, Fee.id))


# --- fees written as text (the administrator's form, CSV files) ----------------------------


def _amount(text: str) -> int | None:
    """An amount as people write it: 20000, 20.000, 20,000 or 20 000 đồng."""
    digits = re.sub(r"[.,\s]|đồng|đ|vnd", "", text.strip().lower())
    if not digits.isascii() or not digits.isdigit():
        return None
    value = int(digits)
    return value if value <= MAX_AMOUNT else None


def _rate(text: str) -> int | None:
    """A percentage ("0.1%", "0,1 %") as basis points, between 0.01 % and 100 %."""
    raw = text.strip().rstrip("%").strip().replace(",", ".")
    try:
        bp = Decimal(raw) * 100
    except InvalidOperation:
        return None
    if bp != bp.to_integral_value() or not 1 <= bp <= BP:
        return None
    return int(bp)


def _bounds(parts: list[str]) -> tuple[int | None, int | None] | None:
    """`min N` and `max N` parts of a computed fee, else None when a part is not understood."""
    found: dict[str, int | None] = {"min": None, "max": None}
    for part in parts:
        word, _, value = part.partition(" ")
        amount = _amount(value)
        if word.lower() not in found or amount is None:
            return None
        found[word.lower()] = amount
    low, high = found["min"], found["max"]
    if low is not None and high is not None and low > high:
        return None
    return low, high


def _fee_line(parts: list[str]) -> dict[str, Any] | None:
    """One fee of `label | kind | amount-or-rate [| field [| min N | max N]]`, or None."""
    if len(parts) < 3 or not parts[0] or parts[1].lower() not in FEE_KINDS:
        return None
    label, kind = parts[0][:MAX_LABEL], parts[1].lower()
    fee: dict[str, Any] = {
        "label": label,
        "kind": kind,
        "amount": 0,
        "field": "",
        "rate_bp": 0,
        "min_amount": None,
        "max_amount": None,
    }
    if kind == "fixed":
        fee["amount"] = _amount(parts[2])
        return fee if len(parts) == 3 and fee["amount"] is not None else None
    if len(parts) < 4 or not FIELD_NAME.fullmatch(parts[3]):
        return None
    fee["field"] = parts[3]
    if kind == "per_item":
        fee["amount"] = _amount(parts[2])
        return fee if len(parts) == 4 and fee["amount"] is not None else None
    fee["rate_bp"] = _rate(parts[2])
    bounds = _bounds(parts[4:])
    if fee["rate_bp"] is None or bounds is None:
        return None
    fee["min_amount"], fee["max_amount"] = bounds
    return fee


def parse_fees(text: str) -> tuple[list[dict[str, Any]], Message | None]:
    """Parse one fee a line: `label | fixed | 20000`, `label | per_item | 200000 | field` or
    `label | computed | 0.1% | field | min 10000 | max 1000000` (bounds optional)."""
    fees: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fee = _fee_line([p.strip() for p in line.split("|")])
        if fee is None or len(fees) >= MAX_ITEMS:
            return fees, Message(N_("Line %(line)s of the fees is not understood."), line=number)
        fees.append(fee)
    return fees, None


def _percent(bp: int) -> str:
    return f"{(Decimal(bp) / 100).normalize():f}%"


def format_fees(fees: list[dict[str, Any]]) -> str:
    """The inverse of parse_fees, for the edit form and CSV files."""
    lines = []
    for f in fees:
        if f["kind"] == "fixed":
            parts = [f["label"], "fixed", str(f["amount"])]
        elif f["kind"] == "per_item":
            parts = [f["label"], "per_item", str(f["amount"]), f["field"]]
        else:
            rate = f["rate_bp"]
            parts = [
                f["label"],
                "computed",
                _percent(rate) if isinstance(rate, int) else str(rate),
                f["field"],
            ]
            parts += [
                f"{w} {f[k]}"
                for w, k in (("min", "min_amount"), ("max", "max_amount"))
                if f.get(k) is not None
            ]
        lines.append(" | ".join(parts))
    return "\n".join(lines)


FEE_COLUMNS = ("label", "kind", "amount", "field", "rate_bp", "min_amount", "max_amount")
FEE_DEFAULTS: dict[str, Any] = {
    "label": "",
    "kind": "fixed",
    "amount": 0,
    "field": "",
    "rate_bp": 0,
    "min_amount": None,
    "max_amount": None,
}


def fee_row(fee: dict[str, Any]) -> dict[str, Any]:
    """`fee` with every column, the ones it leaves out at their defaults."""
    return {k: fee.get(k, default) for k, default in FEE_DEFAULTS.items()}


def fee_dicts(fees: list[Fee]) -> list[dict[str, Any]]:
    """Fees as plain dicts, in order (exported with the catalogue)."""
    return [{k: getattr(f, k) for k in FEE_COLUMNS} for f in sorted(fees, key=lambda f: f.position)]


def write_fees(proc: Procedure, fees: list[dict[str, Any]]) -> None:
    """Replace the procedure's fees (inside the caller's transaction). Payments already asked
    keep their own items: nothing points at a fee row."""
    Fee.delete().where(Fee.procedure == proc).execute()
    for position, fee in enumerate(fees):
        Fee.create(procedure=proc, position=position, **{k: fee.get(k) for k in FEE_COLUMNS})


def percent_text(fee: Fee) -> str:
    """A computed fee's rate as the pages show it ("0.1")."""
    return f"{(Decimal(fee.rate_bp) / 100).normalize():f}"


# --- the items of a payment request --------------------------------------------------------

ROW_KEYS = ("label", "amount")


def parse_items(rows: list[tuple[str, str]], proposed: list[Item]) -> list[Item]:
    """The items an officer asks for, from the form's rows of (label, amount); a row left
    as proposed keeps its quantity and unit amount. Raises ValidationError naming each bad
    row's field (`label-<n>`, `amount-<n>`), or `items` when nothing is asked."""
    errors: dict[str, Message] = {}
    items: list[Item] = []
    for n, (raw_label, raw_amount) in enumerate(rows[:MAX_ITEMS]):
        label = clean(raw_label or "")[:MAX_LABEL]
        if not label and not (raw_amount or "").strip():
            continue
        amount = _amount(raw_amount or "")
        if not label:
            errors[f"label-{n}"] = Message(N_("Name this item."))
        elif has_forbidden_chars(label):
            errors[f"label-{n}"] = Message(
                N_("This field contains characters that are not allowed.")
            )
        if amount is None:
            errors[f"amount-{n}"] = Message(N_("Enter the amount in VND, digits only."))
        if errors:
            continue
        assert amount is not None
        same = n < len(proposed) and (proposed[n].label, proposed[n].amount) == (label, amount)
        items.append(proposed[n] if same else Item(label, 1, amount, amount))
    if errors:
        raise ValidationError(errors)
    if not items or total(items) <= 0:
        raise ValidationError({"items": Message(N_("Ask for at least one item with an amount."))})
    return items


def changed(items: list[Item], proposed: list[Item]) -> bool:
    """Whether the officer's items differ from what the procedure's fees come to."""
    return [(i.label, i.amount) for i in items] != [(i.label, i.amount) for i in proposed]
