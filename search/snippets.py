"""Highlighted snippets in the document's own language, the same for every backend.

Chinese matches are found in the Simplified-folded text and shown at the same place in the
original (Traditional stays Traditional), each matched word highlighted whole; English
matches are words whose stem equals a query stem.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from functools import lru_cache

from search.analysis import english_terms, fold, readings_table, runs, stems
from search.models import MatchedVia
from search.query import And, Expanded, Node, Or, Text

_LATIN = "a-zA-Z0-9\u00c0-\u024f"  # letters that cannot precede a word's first letter
_SEPARATORS = re.compile(r"(?:\s*\|){2,}\s*")
SCAN_LIMIT = 50_000  # characters searched for matches; enough for any lead paragraph


@dataclass
class Targets:
    """What to highlight: Simplified Han strings, English stems, pinyin syllables of names."""

    han: set[str] = field(default_factory=set)
    stems: set[str] = field(default_factory=set)
    pinyin: set[str] = field(default_factory=set)  # "qiao gao"


def keys(text: str) -> list[str]:
    """What must be found in a document for ``text`` to have matched (as spans' keys)."""
    return [
        key for is_han, run in runs(text) for key in ([fold(run)] if is_han else english_terms(run))
    ]


@lru_cache(maxsize=256)
def targets(query: Node) -> Targets:
    """The positive words and phrases of a query (negated ones are never highlighted);
    translations of an expanded query too."""
    found = Targets()

    def visit(node: Node) -> None:
        if isinstance(node, And | Or):
            for child in node.nodes:
                visit(child)
        elif isinstance(node, Expanded):
            for child in (node.original, *node.translated):
                visit(child)
        elif isinstance(node, Text) and node.field == "pinyin":
            found.pinyin.add(node.text)
        elif isinstance(node, Text):
            for is_han, run in runs(node.text):
                if is_han:
                    found.han.add(fold(run))
                else:
                    found.stems.update(english_terms(run))

    visit(query)
    return found


def _matches(display: str, haystack: str, wanted: Targets) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    for word in wanted.han:
        start = haystack.find(word)
        while start >= 0 and len(spans) < 500:
            spans.append((start, start + len(word), word))
            start = haystack.find(word, start + len(word))
    if wanted.pinyin:
        spans.extend(_pinyin(haystack, wanted.pinyin))
    if wanted.stems:
        # Stemming only changes endings: stem just the words starting like a query stem.
        prefixes = "|".join(sorted({re.escape(stem[:3]) for stem in wanted.stems}))
        # (Patterns with big Unicode classes cost milliseconds to compile: keep them small.)
        candidates = re.compile(f"(?<![{_LATIN}])(?i:{prefixes})[^\\W_]*")
        found = []
        for match in candidates.finditer(display[:SCAN_LIMIT]):
            word = runs(match.group())[0][1]  # "Falun法轮功" -> "Falun"
            found.append((match.start(), match.start() + len(word), word))
        unique = list({word for _, _, word in found})
        stem_of = dict(zip(unique, stems(unique), strict=True))
        spans.extend((a, b, stem_of[w]) for a, b, w in found if stem_of[w] in wanted.stems)
    return sorted(spans)


def _pinyin(haystack: str, wanted: set[str]) -> list[tuple[int, int, str]]:
    """Han names whose syllables are ``wanted`` (keys ``py:qiao gao``)."""
    readings = readings_table()
    spoken = [readings.get(char, "") for char in haystack]
    found = []
    for name in wanted:
        sequence = name.split()
        width = len(sequence)
        for start, syllable in enumerate(spoken):
            if syllable == sequence[0] and spoken[start : start + width] == sequence:
                found.append((start, start + width, f"py:{name}"))
    return found


def _window(spans: list[tuple[int, int, str]], width: int) -> int:
    """The start of the window holding the most distinct matched terms."""
    best, best_start = (-1, -1), 0
    for i, (start, _, _) in enumerate(spans[:200]):
        lead = max(0, start - width // 4)
        inside = []
        for span in spans[i:]:
            if span[0] > lead + width:
                break  # spans are sorted by start: none after this one fits
            if span[1] <= lead + width:
                inside.append(span)
        score = (len({s[2] for s in inside}), len(inside))
        if score > best:
            best, best_start = score, lead
    return best_start


# How a document matched an expanded query (Hit.own_words, Hit.matched_via); (None, ()) for
# a query searched in its own words only.
Explanation = tuple[bool | None, tuple[MatchedVia, ...]]


def highlight(
    text: str, simplified: str | None, title: str, query: Node, width: int = 220
) -> tuple[str, Explanation]:
    """An HTML-escaped excerpt of ``text`` around the best matches, matches in ``<mark>``,
    and how the document matched an expanded query (see :func:`explain`)."""
    display = text
    haystack = text[:SCAN_LIMIT]
    if simplified is not None:
        # t2s nearly always maps one character to one; if not, show the Simplified text.
        if len(simplified) != len(text):
            display = simplified
        haystack = simplified[:SCAN_LIMIT]
    wanted = targets(query)
    spans = _matches(display, haystack, wanted)
    matched: Explanation = (None, ())
    if isinstance(query, Expanded):
        heading = _matches(title, fold(title), wanted)
        found = {key: display[a:b] for a, b, key in spans} | {k: title[a:b] for a, b, k in heading}
        matched = explain(query, found)
    start = _window(spans, width) if spans else 0
    end = min(len(display), start + width)
    if start > 0:
        # Begin at a word boundary in spaced scripts.
        first = min((a for a, _, _ in spans if a >= start), default=end)
        space = display.find(" ", start, min(first, start + 20))
        if space >= 0:
            start = space + 1
    parts = ["…"] if start > 0 else []
    cursor = start
    for a, b, _ in spans:
        if a < cursor or b > end:
            continue
        parts.append(html.escape(display[cursor:a]))
        parts.append(f"<mark>{html.escape(display[a:b])}</mark>")
        cursor = b
    parts.append(html.escape(display[cursor:end]))
    if end < len(display):
        parts.append("…")
    # Table separators of documents ingested before ``untable``: never a run of them.
    return _SEPARATORS.sub(" | ", " ".join("".join(parts).split())).strip(" |"), matched


def explain(query: Expanded, found: dict[str, str]) -> Explanation:
    """Whether a document (``found``: span key -> the words of it that matched) matched the
    query's own words, and through which translations (``乔高`` for Kilgour)."""
    own = targets(query.original)
    via: list[MatchedVia] = []
    for term in query.terms:
        for alternative in term.alternatives:
            wanted = keys(alternative)
            if wanted and all(k in found for k in wanted):
                shown = found[wanted[0]] if len(wanted) == 1 else alternative
                via.append(MatchedVia(shown, term.term, term.source))
        for name in term.pinyin:
            if f"py:{name}" in found:
                via.append(MatchedVia(found[f"py:{name}"], term.term, term.source))
    return any(k in found for k in own.han | own.stems), tuple(dict.fromkeys(via))
