"""Small helpers shared by the tests."""

from __future__ import annotations

import re

HX = {"HX-Request": "true"}
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)
