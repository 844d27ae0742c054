"""What an operator reads on an admin page, checked against our two catalogs: on an English page
no zh-Hant text of ours may remain, on a zh-Hant page no English text of ours. Shared by the
server-rendered checks (tests/api/test_admin_i18n.py) and the browser test."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

LOCALE = Path(__file__).resolve().parents[1] / "locale"
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uff01-\uff60]")
# Names that are the same in both languages: products, protocols, identifiers, the brand.
PROPER = [
    "Amazon IVS",
    "IVS",
    "ARN",
    "WHIP",
    "OBS",
    "CSV",
    "UTC",
    "DisconnectParticipant",
    "Stage",
    "Django",
    "roomId",
    "userId",
    "participantId",
    "stageArn",
    "Environment",
    "ManagedBy",
    "api-server",
    "Room",
]
_PROPER_LOWER = {name.lower() for name in PROPER}
_PLACEHOLDER = re.compile(r"%%?\((\w+)\)[sd]")
_TAG = re.compile(r"<[^>]+>")


def po_entries(path: Path) -> Iterator[tuple[str, str | None, str, list[str]]]:
    """(flags, context, msgid, msgstrs) of every entry of a .po file but the header."""
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#~")]
        flags = " ".join(line for line in lines if line.startswith("#,"))
        key, values = None, {}
        for line in lines:
            if line.startswith(("msgid ", "msgstr", "msgctxt ", "msgid_plural ")):
                key, _space, rest = line.partition(" ")
                values[key] = json.loads(rest)
            elif line.startswith('"') and key:
                values[key] += json.loads(line)
        if values.get("msgid"):
            strs = [v for k, v in values.items() if k.startswith("msgstr")]
            yield flags, values.get("msgctxt"), values["msgid"], strs


@cache
def pairs() -> tuple[tuple[str, str], ...]:
    """(English text, zh-Hant text) of every message of ours whose two texts differ."""
    english = {(c, i): s[0] for _f, c, i, s in po_entries(LOCALE / "en/LC_MESSAGES/django.po") if s and s[0]}
    chinese = {(c, i): s[0] for _f, c, i, s in po_entries(LOCALE / "zh_Hant/LC_MESSAGES/django.po") if s and s[0]}
    found = set()
    for key in english.keys() | chinese.keys():
        en, zh = english.get(key, key[1]), chinese.get(key, key[1])
        if en != zh:
            found.add((en, zh))
    return tuple(sorted(found))


def _pattern(text: str) -> re.Pattern[str]:
    """A message as it shows on a page: tags gone, placeholders anything, case-insensitive first
    letter (the admin capitalises labels)."""
    plain = _TAG.sub("", text).strip()
    parts = _PLACEHOLDER.split(plain)
    regex = "".join(re.escape(part) if n % 2 == 0 else ".+?" for n, part in enumerate(parts))
    return re.compile(regex, re.IGNORECASE)


def _units(texts: Iterable[str], data: Iterable[str]) -> list[str]:
    """The page's texts cut at line and cell breaks, user data removed (longest first)."""
    data = sorted((d for d in data if d), key=len, reverse=True)
    units = []
    for text in texts:
        for unit in re.split(r"[\n\t]+", text):
            for value in data:
                unit = unit.replace(value, " ")
            unit = unit.strip(" :：›‹»«|/-–—*")
            if unit:
                units.append(unit)
    return units


def leftovers(texts: Iterable[str], language: str, data: Iterable[str] = ()) -> list[str]:
    """Texts of ours in the other language on a page in `language` ("en" or "zh-hant")."""
    units = _units(texts, data)
    wrong: list[str] = []
    for unit in units:
        if language == "en":
            if CJK.search(unit):
                wrong.append(unit)
        else:
            words = re.sub(r"\b[a-z]+://\S+", " ", unit)  # URLs are values
            for name in PROPER:
                words = words.replace(name, " ")
            # Two or more English words in a row is a sentence or label, not a name or a value.
            if re.search(r"[A-Za-z]{2,}[ ,.'()]+[A-Za-z]{2,}", words):
                wrong.append(unit)
    if language != "en":
        # And every English text of ours, even a single word, that shows as a whole unit.
        for en, _zh in pairs():
            if CJK.search(en) or en.lower() == _zh.lower() or _TAG.sub("", en).strip().lower() in _PROPER_LOWER:
                continue
            if not re.search(r"[A-Za-z]{2,}", _PLACEHOLDER.sub("", en)):
                continue  # placeholders and punctuation only: nothing of a language in it
            pattern = _pattern(en)
            wrong += [u for u in units if pattern.fullmatch(u) and u not in wrong]
    return wrong


class _Visible(HTMLParser):
    """Text nodes and the attributes a person reads (title, aria-label, button values), outside
    <script>, <style>, <template> and hidden elements' data attributes."""

    SKIP = {"script", "style", "template", "noscript"}

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skipping += 1
        values = dict(attrs)
        for name in ("title", "aria-label", "placeholder"):
            if values.get(name):
                self.texts.append(values[name] or "")
        if tag == "input" and values.get("type") in {"submit", "button"} and values.get("value"):
            self.texts.append(values["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping and data.strip():
            self.texts.append(data)


def visible_texts(html: str) -> list[str]:
    parser = _Visible()
    parser.feed(html)
    return parser.texts
