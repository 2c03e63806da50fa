"""Text helpers shared by ingest: normalisation, hashing, tokens, similarity."""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from difflib import SequenceMatcher
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lxml.html import HtmlElement

# A token is a run of letters/digits in an alphabetic script, or one CJK
# character (Chinese and Japanese are not written with spaces).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+", re.UNICODE)
_SPACE = re.compile(r"[ \t\u00a0\u3000]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
# Comparing versions of very long pages token by token is quadratic; this many
# tokens from each side are enough to tell a correction from a rewrite.
_SIMILARITY_TOKENS = 20_000


def normalise_text(text: str) -> str:
    """NFC, one space between words, no trailing spaces, at most one blank line."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = (_SPACE.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def content_hash(text: str) -> str:
    """sha1 (hex) of the normalised text: equal for versions with the same text."""
    return hashlib.sha1(normalise_text(text).encode("utf-8")).hexdigest()


def tokens(text: str) -> list[str]:
    """Lower-cased words, with each CJK character a token of its own."""
    return _TOKEN.findall(text.lower())


def word_count(text: str) -> int:
    """Words in ``text``, counting each CJK character as a word."""
    return len(tokens(text))


def similarity(a: str, b: str) -> float:
    """How alike two texts are, from 0 (nothing shared) to 1 (same tokens, same order)."""
    left, right = tokens(a)[:_SIMILARITY_TOKENS], tokens(b)[:_SIMILARITY_TOKENS]
    if not left and not right:
        return 1.0
    return SequenceMatcher(None, left, right, autojunk=False).ratio()


def edit_similarity(old: str, new: str) -> float:
    """:func:`similarity` of two versions, rounded down to 0.001 and below 1 when they differ.

    A one-sentence edit of a long article is ~0.995: rounded to the nearest it would read
    as 100%, as would an edit of punctuation only (tokens skip it).
    """
    value = math.floor(similarity(old, new) * 1000) / 1000
    if value >= 1.0 and normalise_text(old) != normalise_text(new):
        return 0.999
    return value


_INVISIBLE = {"script", "style", "noscript", "template", "head", "svg", "iframe", "object"}
_BLOCKS = {
    "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
    "header", "footer", "blockquote", "pre", "table", "ul", "ol", "dd", "dt", "title", "td",
}  # fmt: skip


def visible_text(tree: HtmlElement) -> str:
    """Every piece of text a reader would see, one block per line."""
    parts: list[str] = []

    def walk(element: HtmlElement) -> None:
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag in _INVISIBLE:
            if element.tail:
                parts.append(element.tail)
            return
        if tag in _BLOCKS:
            parts.append("\n")
        if element.text and tag:
            parts.append(element.text)
        for child in element:
            walk(child)
        if tag in _BLOCKS:
            parts.append("\n")
        if element.tail:
            parts.append(element.tail)

    body = tree.find(".//body")
    walk(body if body is not None else tree)
    return "".join(parts)
