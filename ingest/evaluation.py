"""Measuring extraction against the ground truth of the shared corpus.

Used by the ingest tests and ``benchmarks/ingest.py``: each page of
``../shared/corpus`` with its manifest entry, its reference main text where
the source gives one, and token-level F1 of an extracted text against it.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import lxml.html

from ingest.text import tokens

# Ground-truth formats that give a page's whole main text.
TEXT_FORMATS = ("text", "html", "json")


@dataclass
class CorpusPage:
    """One page of the corpus, as the manifest describes it."""

    root: Path
    entry: dict[str, Any]
    reference: str | None = None  # the main text, when the source gives it
    snippets: list[str] = field(default_factory=list)  # text the main text must contain

    @property
    def path(self) -> str:
        return self.entry["path"]

    @property
    def folder(self) -> str:
        """The source folder, e.g. ``zh/cwced``."""
        return "/".join(self.path.split("/")[:2])

    @property
    def language(self) -> str | None:
        return self.entry.get("language")

    @property
    def script(self) -> str | None:
        return self.entry.get("script")

    @property
    def encoding(self) -> str:
        return self.entry["encoding"]

    @property
    def url(self) -> str:
        """The page's original URL, or a made-up one under example.org."""
        url = self.entry.get("url") or ""
        return url if url.startswith(("http://", "https://")) else self._made_up_url

    @property
    def _made_up_url(self) -> str:
        return f"https://corpus.example.org/{self.path}"

    def body(self) -> bytes:
        """The page's bytes as a server would send them (gunzipped)."""
        raw = (self.root / self.path).read_bytes()
        return gzip.decompress(raw) if self.entry.get("compression") == "gzip" else raw


def corpus_pages(root: Path) -> Iterator[CorpusPage]:
    """Every page of the corpus with its ground truth, in manifest order."""
    with open(root / "manifest.jsonl", encoding="utf-8") as manifest:
        for line in manifest:
            entry = json.loads(line)
            if entry["kind"] != "page":
                continue
            page = CorpusPage(root, entry)
            for truth in entry.get("ground_truth") or []:
                _load_truth(page, truth)
            yield page


def _load_truth(page: CorpusPage, truth: dict[str, Any]) -> None:
    path = page.root / truth["path"]
    kind = truth["format"]
    if kind == "text":
        page.reference = path.read_text(encoding="utf-8")
    elif kind == "html":
        page.reference = lxml.html.fromstring(path.read_text(encoding="utf-8")).text_content()
    elif kind == "json":
        page.reference = _json(path)[truth["key"]][truth["field"]]
    elif kind == "snippets":
        page.snippets = list(_json(path)[truth["key"]].get("with") or [])


@cache
def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def token_f1(candidate: str, reference: str) -> float:
    """Harmonic mean of token precision and recall (bags of tokens, CJK by character)."""
    found, expected = Counter(tokens(candidate)), Counter(tokens(reference))
    overlap = sum((found & expected).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(found.values()), overlap / sum(expected.values())
    return 2 * precision * recall / (precision + recall)
