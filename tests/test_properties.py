"""Properties that hold for every input (hypothesis): the text rules and validators, the
tax-code check digit, upload file names and the deadline engine (the state machine's are in
test_properties_workflow.py).

Example counts come from the hypothesis profile in conftest.py."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from portal.services.accounts import TAX_WEIGHTS, normalise_tax_code, tax_code_problem
from portal.services.deadlines import Calendar
from portal.services.errors import ValidationError
from portal.services.text import as_int, clean, fold, has_forbidden_chars
from portal.services.validation import DATE_PATTERN, Field, validate
from portal.storage import safe_filename

# --- strategies ---------------------------------------------------------------------------

BIDI_CONTROLS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
VIETNAMESE = (
    "aàảãáạăằẳẵắặâầẩẫấậbcdđeèẻẽéẹêềểễếệghiìỉĩíịklmnoòỏõóọôồổỗốộơờởỡớợpqrstuùủũúụưừửữứựvxyỳỷỹýỵ"
)
NASTY = [
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\x85",
    "\x9b",
    "\r",
    "\r\n",
    "\t",
    "\u2028",
    "\u00a0",
    "\u202e",
    "\u2066",
    "\u200f",
    "\u061c",
    "\ufeff",
    "\u0301",
    "\u0303",
    "\ud800",
    "\udfff",
    "/",
    "\\",
    "..",
    ".",
    " ",
    ":",
    "<",
    ">",
    "|",
    "con",
    "NUL",
    "com1",
    "LPT¹",
    "😀",
]
# Any code point, lone surrogates included (JSON "\ud800" escapes produce them).
any_char = st.characters(codec=None, exclude_categories=())
hostile_text = st.lists(
    st.one_of(any_char, st.sampled_from(NASTY), st.sampled_from(VIETNAMESE)), max_size=80
).map("".join)
vietnamese_text = st.lists(st.sampled_from(VIETNAMESE + VIETNAMESE.upper() + " "), max_size=40).map(
    "".join
)


def is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cs")


# --- text rules -----------------------------------------------------------------------------


@given(hostile_text, st.booleans())
def test_clean_is_nfc_trimmed_and_idempotent(value: str, multiline: bool):
    out = clean(value, multiline=multiline)
    assert unicodedata.is_normalized("NFC", out)
    assert out == out.strip() and "\r" not in out
    assert clean(out, multiline=multiline) == out
    if not multiline:
        assert "\n" not in out and "  " not in out


@given(hostile_text, st.booleans(), st.integers(1, 60))
def test_validated_text_has_no_control_or_bidi_override_and_respects_the_length(
    value: str, multiline: bool, max_length: int
):
    spec = Field("x", required=False, max_length=max_length, multiline=multiline)
    try:
        out = validate({"x": value}, [spec])["x"]
    except ValidationError as exc:
        assert set(exc.errors) == {"x"}
        return
    assert unicodedata.is_normalized("NFC", out) and len(out) <= max_length
    allowed = {"\t", "\n"} if multiline else set()
    assert not [ch for ch in out if is_control(ch) and ch not in allowed]
    assert not has_forbidden_chars(out)
    assert not set(out) & (BIDI_CONTROLS - {"\u061c", "\u200e", "\u200f"})  # overrides, isolates
    assert out == clean(value, multiline=multiline)  # accepted text is the cleaned input


@given(hostile_text)
def test_forbidden_characters_are_refused_whatever_surrounds_them(value: str):
    spec = Field("x", required=False, max_length=10_000, multiline=True)
    for bad in ("\x00", "\x1b", "\x85", "\u202e", "\u2067", "\ud800"):
        with pytest.raises(ValidationError):
            validate({"x": value + "a" + bad + "a"}, [spec])


@given(hostile_text)
def test_fold_keeps_only_ascii_words(value: str):
    out = fold(value)
    assert set(out) <= set("abcdefghijklmnopqrstuvwxyz0123456789 ")
    assert out == out.strip() and "  " not in out
    assert fold(out) == out
    assert fold(unicodedata.normalize("NFD", value)) == out  # typed composed or decomposed


@given(vietnamese_text)
def test_fold_ignores_case_and_vietnamese_diacritics(value: str):
    stripped = "".join(
        ch
        for ch in unicodedata.normalize("NFD", value.lower().replace("đ", "d"))
        if not unicodedata.combining(ch)
    )
    assert fold(value) == fold(value.upper()) == " ".join(stripped.split())


@given(
    st.one_of(
        hostile_text,
        st.from_regex(r"\A[0-9\uff10-\uff19\u0660-\u0669²_+\- ]{0,14}\Z"),
        st.integers().map(str),
        st.none(),
        st.integers(),
        st.floats(),
    )
)
def test_as_int_never_raises_and_takes_only_short_ascii_numbers(raw: object):
    out = as_int(raw, default=-1)
    if out == -1:
        assert not (isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 9)
    else:
        assert isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 9
        assert out == int(raw) and 0 <= out <= 999_999_999


number_field = Field("n", kind="int", minimum=-(10**18), maximum=10**18)


@given(st.from_regex(r"\A[0-9\uff10-\uff19\u0660-\u0669\u0966-\u096f_+\- ]{1,20}\Z"))
def test_a_number_field_takes_only_ascii_digits(raw: str):
    shown = raw.strip()
    plain = shown.removeprefix("-")
    ascii_number = 0 < len(plain) <= 18 and plain.isascii() and plain.isdigit()
    try:
        value = validate({"n": raw}, [number_field])["n"]
    except ValidationError as exc:
        assert not ascii_number, raw
        assert "n" in exc.errors
    else:
        assert ascii_number, raw
        assert value == int(shown)


@pytest.mark.parametrize("day", ["２０２５-03-03", "٢٠٢٥-٠٣-٠٣", "2025-0३-03"])
def test_a_date_in_other_digits_is_refused(day: str):
    with pytest.raises(ValidationError):
        validate({"d": day}, [Field("d", pattern=DATE_PATTERN)])
    assert validate({"d": "2025-03-03"}, [Field("d", pattern=DATE_PATTERN)]) == {"d": "2025-03-03"}

# --- tax codes ------------------------------------------------------------------------------


def check_digit(prefix: str) -> int | None:
    """The check digit of a 9-digit prefix, written from the rule: sum(weights) + digit ≡ 10
    (mod 11); prefixes that would need a digit 10 are never issued."""
    digit = (10 - sum(int(d) * w for d, w in zip(prefix, TAX_WEIGHTS, strict=True))) % 11
    return digit if digit < 10 else None


prefixes = st.text("0123456789", min_size=9, max_size=9)


@given(hostile_text)
def test_tax_code_check_never_raises(value: str):
    problem = tax_code_problem(value)
    if problem is None:
        code = normalise_tax_code(value)
        assert code.isascii() and code.isdigit() and len(code) in (10, 13)


@given(prefixes, st.text("0123456789", min_size=3, max_size=3))
def test_exactly_one_check_digit_is_accepted(prefix: str, branch: str):
    good = check_digit(prefix)
    accepted = [d for d in "0123456789" if tax_code_problem(prefix + d) is None]
    assert accepted == ([] if good is None else [str(good)])
    if good is not None:
        code = f"{prefix}{good}"
        for written in (f"{code}-{branch}", f"{code}{branch}", f" {code[:4]} {code[4:]}-{branch}"):
            assert tax_code_problem(written) is None


@given(prefixes, st.integers(0, 9), st.integers(1, 9))
def test_a_mistyped_digit_is_caught(prefix: str, position: int, delta: int):
    good = check_digit(prefix)
    assume(good is not None)
    digits = list(f"{prefix}{good}")
    digits[position] = str((int(digits[position]) + delta) % 10)
    assert tax_code_problem("".join(digits)) is not None


@given(prefixes, st.integers(0, 8))
def test_swapped_neighbouring_digits_are_caught(prefix: str, position: int):
    good = check_digit(prefix)
    digits = list(f"{prefix}{good}")
    assume(good is not None and digits[position] != digits[position + 1])
    digits[position], digits[position + 1] = digits[position + 1], digits[position]
    assert tax_code_problem("".join(digits)) is not None


# --- upload file names ------------------------------------------------------------------------

PORTS = (f"{p}{n}" for p in ("com", "lpt") for n in "0123456789¹²³")
RESERVED = {"con", "prn", "aux", "nul", *PORTS}
long_names = st.builds(
    lambda n, pad, tail: pad * n + tail,
    st.integers(90, 130),
    st.sampled_from(["a", "ệ", ".", " ", "a.", "a "]),
    hostile_text,
)


@given(st.one_of(hostile_text, long_names))
def test_safe_filename_is_a_plain_short_name(name: str):
    out = safe_filename(name)
    assert out and len(out) <= 120
    assert "/" not in out and "\\" not in out and out not in (".", "..")
    assert not [ch for ch in out if is_control(ch) or ch in BIDI_CONTROLS]
    assert not set(out) & set(':*?"<>|')
    assert out.split(".", 1)[0].rstrip(" ").lower() not in RESERVED  # nul.tar.gz is NUL too
    assert out == out.strip(" .")  # Windows drops trailing dots and spaces
    assert unicodedata.is_normalized("NFC", out)
    assert safe_filename(out) == out


@given(st.text(VIETNAMESE + "-_ ", min_size=1, max_size=60), st.sampled_from(["pdf", "png"]))
def test_safe_filename_keeps_an_ordinary_vietnamese_name(stem: str, ext: str):
    name = f"{stem.strip() or 'x'}.{ext}"
    assume(name.split(".")[0].lower() not in RESERVED)
    assert safe_filename(unicodedata.normalize("NFD", name)) == name


# --- deadlines --------------------------------------------------------------------------------

START, END = dt.datetime(2025, 1, 1), dt.datetime(2026, 6, 30)
ORIGIN = dt.datetime(2024, 12, 1)  # before every generated instant: positions in office time


@st.composite
def office_hours(draw) -> tuple[tuple[dt.time, dt.time], ...]:
    """One to three spans of office hours, in order and not overlapping (they may touch)."""
    count = draw(st.integers(1, 3))
    marks = sorted(
        draw(
            st.lists(
                st.integers(0, 23 * 60 + 59), min_size=count * 2, max_size=count * 2, unique=True
            )
        )
    )
    spans = [(marks[i], marks[i + 1]) for i in range(0, len(marks), 2)]
    if draw(st.booleans()):  # let a span start exactly where the one before it ends
        spans = [(a if i == 0 else max(a, spans[i - 1][1]), b) for i, (a, b) in enumerate(spans)]
    return tuple((dt.time(a // 60, a % 60), dt.time(b // 60, b % 60)) for a, b in spans)


calendars = st.builds(
    Calendar,
    holidays=st.frozensets(st.dates(START.date(), END.date()), max_size=40),
    hours=st.one_of(st.just(Calendar().hours), office_hours()),
)
instants = st.datetimes(START, END)
minutes = st.datetimes(START, END).map(lambda t: t.replace(second=0, microsecond=0))
cutoffs = st.one_of(st.none(), st.times().map(lambda t: t.replace(second=0, microsecond=0)))
units = st.sampled_from(["working_days", "days"])


def in_office(cal: Calendar, t: dt.datetime, *, closing_counts: bool = True) -> bool:
    """`t` lies in a span of office hours of a working day (its end included if asked)."""
    if not cal.is_working_day(t.date()):
        return False
    return any(
        dt.datetime.combine(t.date(), a) <= t
        and (
            t <= dt.datetime.combine(t.date(), b)
            if closing_counts
            else t < dt.datetime.combine(t.date(), b)
        )
        for a, b in cal.hours
    )


def position(cal: Calendar, t: dt.datetime) -> int:
    return cal.working_minutes_between(ORIGIN, t)


@given(calendars, instants, cutoffs)
def test_the_clock_starts_at_the_first_office_minute(cal: Calendar, at: dt.datetime, cutoff):
    start = cal.clock_start(at, cutoff)
    assert start >= at and in_office(cal, start, closing_counts=False)
    if cutoff is None:  # no office time is skipped
        assert cal.working_minutes_between(at, start) == 0
        assert start == at or start.time() in {a for a, _ in cal.hours}


@given(calendars, instants, st.integers(0, 40), units, cutoffs)
def test_due_dates_fall_in_office_hours_of_working_days(cal, received, amount, unit, cutoff):
    due = cal.due(received, amount, unit, cutoff)
    assert due >= received and in_office(cal, due)
    if unit == "days":
        assert due.time() == cal.hours[-1][1]
        first = cal.clock_start(received, cutoff).date() + dt.timedelta(days=amount)
        assert due.date() >= first
        assert not [
            first + dt.timedelta(days=n)
            for n in range((due.date() - first).days)
            if cal.is_working_day(first + dt.timedelta(days=n))
        ]


@given(calendars, minutes, st.integers(0, 40), cutoffs)
def test_working_days_are_whole_days_of_office_time(cal, received, amount, cutoff):
    start = cal.clock_start(received, cutoff)
    due = cal.due(received, amount, "working_days", cutoff)
    assert cal.working_minutes_between(start, due) == amount * cal.minutes_per_day


@given(calendars, instants, instants, st.integers(0, 30), units, cutoffs)
def test_due_dates_never_go_back_when_received_later(cal, a, b, amount, unit, cutoff):
    first, second = sorted([a, b])
    assert cal.due(first, amount, unit, cutoff) <= cal.due(second, amount, unit, cutoff)


@given(calendars, instants, st.integers(0, 30), st.integers(0, 30), units, cutoffs)
def test_a_longer_time_limit_never_ends_sooner(cal, received, m, n, unit, cutoff):
    short, long = sorted([m, n])
    assert cal.due(received, short, unit, cutoff) <= cal.due(received, long, unit, cutoff)


@given(calendars, minutes, st.integers(0, 20_000), st.integers(1, 5_000))
def test_adding_office_minutes_adds_up(cal: Calendar, start, m: int, n: int):
    end = cal.add_working_minutes(start, m)
    assert in_office(cal, end) and end >= start
    assert cal.working_minutes_between(start, end) == m
    assert cal.add_working_minutes(end, n) == cal.add_working_minutes(start, m + n)


@given(calendars, minutes, minutes, minutes, st.integers(1, 20), units)
def test_a_pause_moves_the_due_date_by_the_office_time_waited(cal, a, b, received, amount, unit):
    paused, resumed = sorted([a, b])
    due = cal.due(received, amount, unit)
    new_due = cal.resume(due, paused, resumed)
    assert in_office(cal, new_due)
    waited = cal.working_minutes_between(paused, resumed)
    left = cal.working_minutes_between(paused, due)
    if left > 0:  # the office time left at the pause is still there after it
        assert position(cal, new_due) == position(cal, due) + waited
        assert new_due >= due
    else:  # already overdue when paused: due again when the clock restarts
        assert position(cal, new_due) == position(cal, resumed)
    assert cal.working_minutes_between(cal.clock_start(resumed), new_due) == left
