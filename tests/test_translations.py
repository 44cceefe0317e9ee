"""The message catalogs match the sources: every message extracted with
src/portal/translations/babel.cfg has a Vietnamese translation that keeps its placeholders,
the English catalog lists every message, and pages render in both languages."""

from __future__ import annotations

import fnmatch
import os
import re
import unicodedata
from collections import Counter
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from portal.i18n import po_path

ROOT = Path(__file__).resolve().parents[1]
BABEL_CFG = ROOT / "src" / "portal" / "translations" / "babel.cfg"
# The same keywords and ignored directories as the pybabel commands in docs/translations.md.
KEYWORDS = {"_": None, "gettext_": None, "N_": None, "ngettext": (1, 2), "ngettext_": (1, 2),
            "pgettext": ((1, "c"), 2)}
IGNORE_DIRS = (".*", "__pycache__")

MsgId = str | tuple[str, ...]


def _keep_dir(path: str) -> bool:
    # Babel's default filter also drops directories starting with "_", i.e. templates/_macros.
    name = os.path.basename(path)
    return not any(fnmatch.fnmatch(name, pattern) for pattern in IGNORE_DIRS)


@cache
def extracted() -> dict[MsgId, list[str]]:
    """Every message of the sources, with where it is used ("file:line")."""
    with BABEL_CFG.open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, str(BABEL_CFG))
    found: dict[MsgId, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT, method_map, options_map, keywords=KEYWORDS, directory_filter=_keep_dir):
        found.setdefault(message, []).append(f"{filename}:{lineno}")
    return found


@cache
def catalog(language: str) -> Catalog:
    with po_path(language).open("rb") as f:
        return read_po(f, locale=language)


FORMAT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[a-zA-Z%]")


def placeholders(text: str) -> Counter[str]:
    return Counter(FORMAT_SPEC.findall(text))


def _stray_percent(text: str) -> bool:
    # Templates always apply `%` (newstyle gettext), so a lone "%" would break rendering.
    return "%" in FORMAT_SPEC.sub("", text)


def _ids(msgid: MsgId) -> tuple[str, ...]:
    return msgid if isinstance(msgid, tuple) else (msgid,)


def _strings(message: Message) -> tuple[str, ...]:
    return message.string if isinstance(message.string, tuple) else (message.string,)


def _format_problems(message: Message, msgid: MsgId) -> list[str]:
    """Placeholder mismatches between `msgid` and the non-empty strings of `message`."""
    expected = placeholders(_ids(msgid)[-1])  # the plural form names every placeholder
    problems = []
    for text in _strings(message):
        if not text:
            continue
        if placeholders(text) != expected:
            problems.append(f"placeholders {sorted(placeholders(text))} instead of "
                            f"{sorted(expected)} in {text!r}")
        if _stray_percent(text):
            problems.append(f"a lone '%' (write '%%') in {text!r}")
    return problems


def _report(problems: list[str], what: str) -> str:
    return f"{len(problems)} {what}:\n" + "\n".join(problems)


def test_extraction_finds_services_templates_and_macros():
    where = {loc.split(":")[0] for locs in extracted().values() for loc in locs}
    assert "src/portal/services/accounts.py" in where  # N_ in services
    assert "src/portal/web/auth.py" in where  # _ in the web layer
    assert "templates/_macros/forms.html" in where  # macros in an underscore directory
    messages = extracted()
    assert "Full online service" in messages  # N_ in a module-level dict
    assert "Relevance" in messages  # a {% set %} dict in a template
    assert ("%(num)s working day", "%(num)s working days") in messages  # ngettext
    assert len(messages) > 200


def test_vietnamese_catalog_translates_every_message():
    vi = catalog("vi")
    assert vi.num_plurals == 1 and vi.plural_expr == "0"
    problems = []
    for msgid, locations in sorted(extracted().items(), key=lambda item: item[1][0]):
        where = locations[0]
        message = vi.get(msgid)
        if message is None:
            problems.append(f"{where}: {msgid!r} is not in the vi catalog")
        elif message.fuzzy:
            problems.append(f"{where}: {msgid!r} is marked fuzzy")
        elif message.id != msgid:
            problems.append(f"{where}: {msgid!r} is in the vi catalog as {message.id!r}")
        elif not all(_strings(message)) or len(_strings(message)) != vi.num_plurals:
            problems.append(f"{where}: {msgid!r} has no translation")
        else:
            problems += [f"{where}: {msgid!r}: {p}" for p in _format_problems(message, msgid)]
    assert not problems, _report(problems, "problems in the vi catalog")


@pytest.mark.parametrize("language", ["vi", "en"])
def test_catalog_has_no_message_the_sources_dropped(language):
    stale = [f"{message.id!r}" for message in catalog(language)
             if message.id and message.id not in extracted()]
    assert not stale, _report(stale, f"messages of the {language} catalog no longer in the "
                                     "sources (run pybabel update, see docs/translations.md)")


def test_english_catalog_lists_every_message():
    en = catalog("en")
    assert en.num_plurals == 2
    problems = []
    for msgid, locations in sorted(extracted().items(), key=lambda item: item[1][0]):
        where = locations[0]
        message = en.get(msgid)
        if message is None:
            problems.append(f"{where}: {msgid!r} is not in the en catalog")
            continue
        if message.fuzzy:
            problems.append(f"{where}: {msgid!r} is marked fuzzy")
        # English is the source language: an empty msgstr falls back to the msgid, except
        # for a msgid that is not English (it has non-ASCII letters), which needs one.
        not_english = any(ord(ch) > 127 and unicodedata.category(ch).startswith("L")
                          for text in _ids(msgid) for ch in text)
        if not_english and not all(_strings(message)):
            problems.append(f"{where}: {msgid!r} is not English and needs an English msgstr")
        problems += [f"{where}: {msgid!r}: {p}" for p in _format_problems(message, msgid)]
    assert not problems, _report(problems, "problems in the en catalog")


# --- rendering ----------------------------------------------------------------------------

class _VisibleText(HTMLParser):
    """Text nodes and human-readable attributes of a page (not scripts or styles)."""

    ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        self.texts += [value.strip() for name, value in attrs
                       if name in self.ATTRIBUTES and value and value.strip()]

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(" ".join(data.split()))


def visible_texts(html: str) -> list[str]:
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    return parser.texts


def get_page(client, path: str, language: str):
    client.cookies.set("lang", language)
    response = client.get(path)
    assert response.status_code == 200, response.text
    return response


def test_procedures_page_in_english(client):
    html = get_page(client, "/procedures", "en").text
    assert '<html lang="en">' in html
    assert "<h1>Customs procedures</h1>" in html
    assert "Full online service" in html  # a service label translated in the template
    assert "Thủ tục hành chính hải quan" not in html


def test_procedures_page_in_vietnamese(client):
    html = get_page(client, "/procedures", "vi").text
    assert '<html lang="vi">' in html
    assert "<h1>Thủ tục hành chính hải quan</h1>" in html
    assert "Dịch vụ công trực tuyến toàn trình" in html
    assert "Customs procedures" not in html


def test_plural_message_in_vietnamese(client):
    html = get_page(client, "/procedures/1.005458", "vi").text
    assert re.search(r"\d+ ngày làm việc", html)


@pytest.mark.parametrize("path", ["/", "/procedures", "/procedures/1.005458", "/login",
                                  "/register", "/no-such-page"])
def test_vietnamese_pages_show_no_english_catalog_string(client, path):
    client.cookies.set("lang", "vi")
    response = client.get(path)
    assert response.status_code == (404 if path == "/no-such-page" else 200)
    english = {text for msgid in extracted() for text in _ids(msgid)}
    vi = catalog("vi")
    untranslated = [text for text in visible_texts(response.text)
                    if text in english and (vi.get(text) is None or vi.get(text).string != text)]
    assert not untranslated, f"English text on {path} in Vietnamese: {untranslated}"
