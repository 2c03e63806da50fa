"""Syndicated copies: one story republished under several URLs or on several sites.

Near-duplicates are found with MinHash signatures in an LSH index (datasketch),
over word shingles for alphabetic text and character shingles for Chinese
(written without spaces). Candidate pairs are then checked with the exact
Jaccard similarity of their shingle sets, which is the figure stored as evidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from datasketch import MinHash, MinHashLSH

from ingest.models import Document
from ingest.relations import Suggestion
from ingest.text import tokens

WORD_SHINGLE = 5
CHAR_SHINGLE = 5
NUM_PERM = 128
# Copies share at least this share of their shingles (edits, headers and
# footers of each site take the rest).
THRESHOLD = 0.5
# Texts with fewer shingles than this are too short to call copies.
MIN_SHINGLES = 30
_UNITS = {"zh": f"{CHAR_SHINGLE} characters", "words": f"{WORD_SHINGLE} words"}
_NOT_HAN_OR_WORD = re.compile(r"[\W_]+", re.UNICODE)


def shingles(document: Document) -> set[str]:
    """Word 5-grams of an alphabetic text, character 5-grams of a Chinese one
    (in Simplified script, so a Traditional copy matches)."""
    if document.language == "zh":
        text = _NOT_HAN_OR_WORD.sub("", document.text_simplified or document.text or "")
        return {text[i : i + CHAR_SHINGLE] for i in range(len(text) - CHAR_SHINGLE + 1)}
    words = tokens(document.text or "")
    return {" ".join(words[i : i + WORD_SHINGLE]) for i in range(len(words) - WORD_SHINGLE + 1)}


def jaccard(left: set[str], right: set[str]) -> float:
    """Shared shingles over all shingles of the two texts."""
    union = len(left | right)
    return len(left & right) / union if union else 0.0


@dataclass
class Copy:
    """Two documents found to be copies of one text."""

    earlier: Document
    later: Document
    similarity: float
    estimate: float
    unit: str


def near_duplicates(
    documents: Iterable[Document],
    threshold: float = THRESHOLD,
    first_seen: Mapping[str, datetime] | None = None,
) -> Iterator[Copy]:
    """Pairs of documents (of different URLs) whose texts are near-duplicates.

    The earlier of a pair is the one whose URL was first archived first
    (``first_seen``: URL -> first capture time), else the one captured first.
    """
    first_seen = first_seen or {}
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    seen: dict[str, tuple[Document, set[str], MinHash]] = {}
    for document in documents:
        found = shingles(document)
        if len(found) < MIN_SHINGLES:
            continue
        signature = MinHash(num_perm=NUM_PERM)
        signature.update_batch([s.encode("utf-8") for s in found])
        for key in lsh.query(signature):
            other, other_shingles, other_signature = seen[key]
            if other.url == document.url:
                continue  # versions of one URL are compared by watching, not here
            similarity = jaccard(found, other_shingles)
            if similarity < threshold:
                continue
            earlier, later = sorted(
                (other, document), key=lambda d: (first_seen.get(d.url, d.captured), d.seq)
            )
            yield Copy(
                earlier,
                later,
                round(similarity, 3),
                round(signature.jaccard(other_signature), 3),
                f"{CHAR_SHINGLE} characters"
                if document.language == "zh"
                else f"{WORD_SHINGLE} words",
            )
        lsh.insert(document.id, signature)
        seen[document.id] = (document, found, signature)


def suggest_same_story(
    documents: Iterable[Document], first_seen: Mapping[str, datetime] | None = None
) -> Iterator[Suggestion]:
    """``later same-story earlier`` for each pair of near-duplicate documents."""
    for copy in near_duplicates(documents, first_seen=first_seen):
        yield Suggestion(
            copy.later.id,
            "same-story",
            copy.earlier.id,
            made_by="suggest:same-story",
            evidence={
                "similarity": copy.similarity,
                "minhash_estimate": copy.estimate,
                "shingles": copy.unit,
                "urls": [copy.earlier.url, copy.later.url],
            },
        )
