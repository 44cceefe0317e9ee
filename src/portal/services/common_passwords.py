"""The list of common passwords that accounts may not use (data/seed/common_passwords.txt)."""

from __future__ import annotations

import functools
import unicodedata
from pathlib import Path

from portal.config import ROOT

PATH = ROOT / "data" / "seed" / "common_passwords.txt"


@functools.cache
def load(path: Path = PATH) -> frozenset[str]:
    """The passwords of the list, lower-cased; read once per process. Lines starting with
    '# ' are comments (a few passwords of the list start with '#' itself)."""
    with path.open(encoding="utf-8") as f:
        return frozenset(
            line.strip().lower()
            for line in f
            if line.strip() and not line.startswith("# ") and line.rstrip("\n") != "#"
        )


def is_common(password: str) -> bool:
    """Whether `password` is on the list, ignoring case and surrounding spaces."""
    candidate = unicodedata.normalize("NFC", password).strip().lower()
    return candidate in load()
