"""Hostile input for the fuzz tests, and what every answer to it must look like.

Lone surrogates cannot travel in a UTF-8 request: they are sent as escaped text here, as raw
bytes by `test_fuzz_forms.py`, and as JSON escapes inside an imported catalogue file."""

from __future__ import annotations

import unicodedata

VIETNAMESE = "Nguyễn Thị Hồng Nhung – Công ty TNHH Xuất nhập khẩu Đà Nẵng, hồ sơ hủy tờ khai"
VIETNAMESE_NFD = unicodedata.normalize("NFD", VIETNAMESE)
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
# What must never come back unescaped in an HTML page.
RAW_MARKUP = (SCRIPT, "<img src=x onerror")

CORPUS: dict[str, str] = {
    "script": SCRIPT,
    "img": IMG,
    "long_10k": "Đ" * 10_000,
    "long_1m": "x" * 1_000_000,
    "nul": "ab\x00cd",
    "controls": "a\x01\x07\x08\x0b\x0c\x1b[31m\x7f\x85\x9bz",
    "newlines": "line1\r\nline2\rline3\nline4",
    "bidi": "invoice\u202egpj.exe\u202c \u2066x\u2069",
    "surrogate_text": "\\ud800\\udfff",
    "nfd_vietnamese": VIETNAMESE_NFD,
    "emoji": "📦🇻🇳👩🏽‍💻",
    "sql": "' OR '1'='1'; DROP TABLE users;--",
    "csv_formula": "=cmd|' /C calc'!A0",
    "huge_number": "9" * 40,
    "negative": "-1",
    "float": "1e309",
    "non_ascii_digits": "١٢٣ ２０２５ ²",
    "traversal": "../../etc/passwd",
    "format": "%s %(x)s {0} {x} %n",
    "template": "{{7*191}} ${7*191}",
    "empty": "",
    "blank": "   \t  ",
}
# A few strings for the sweep over every route (the markup is always among them).
SWEEP_ALWAYS = ("script", "img")
SWEEP_ROTATING = tuple(k for k in CORPUS if k not in SWEEP_ALWAYS and k != "long_1m")

# A POST with a valid CSRF token either succeeds or is refused as the client's error.
ACCEPTED = frozenset({200, 201, 204, 303})
# 410: an e-mailed link that is used or expired; 412: a tus request without its header;
# 429: too many failed logins or mail-sending requests.
REFUSED = frozenset({400, 401, 403, 404, 409, 410, 412, 413, 422, 429})
ANY_ANSWER = ACCEPTED | REFUSED
# Without a valid token it is never carried out.
REFUSED_WITHOUT_TOKEN = frozenset({400, 401, 403, 404, 412, 413})


def check_answer(response, what: object, *, allowed: frozenset[int] | None = None) -> None:
    """No server error, a status among `allowed`, and no hostile markup echoed unescaped."""
    status = response.status_code
    assert status < 500, (what, status, response.text[:500])
    if allowed is not None:
        assert status in allowed, (what, status, response.text[:500])
    if response.headers.get("content-type", "").startswith("text/html"):
        for raw in RAW_MARKUP:
            assert raw not in response.text, (what, raw)


def sweep_strings(index: int, count: int = 2) -> list[str]:
    """The markup strings and `count` others, rotating with `index` so that the sweep as a
    whole sends the whole corpus."""
    rotating = [SWEEP_ROTATING[(index * count + n) % len(SWEEP_ROTATING)] for n in range(count)]
    return [*SWEEP_ALWAYS, *rotating]
