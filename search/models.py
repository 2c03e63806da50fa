"""Records crossing the search stage's boundary: what is indexed, and what a search returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from search.analysis import fold, has_han

# What other documents say about a document (``has:``), see search.provenance.
HAS = ("coverage", "correction", "retraction", "update", "translation", "copies")
MAX_COPIES = 20  # copies listed with a hit (all are counted)


def publisher_key(name: str) -> str:
    """A site name as ``publisher:`` compares it: case and spacing ignored."""
    return " ".join(name.split()).lower()


@dataclass(frozen=True)
class Related:
    """How many other pages stand in one kind of relation to a document."""

    kind: str  # a has: value
    count: int
    suggested: int = 0  # how many of them only by suggestions nobody confirmed yet

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# How a hit says what other documents say about it, by has: value.
MARKERS = {
    "coverage": "covered by {count}",
    "correction": "corrected",
    "retraction": "retracted",
    "update": "updated",
    "translation": "translated",
    "copies": "{count} {copies} archived",
}


def plural(count: int) -> str:
    """``copy`` or ``copies``."""
    return "copy" if count == 1 else "copies"


def markers(related: tuple[Related, ...]) -> list[str]:
    """``covered by 2``, ``retracted (suggested)``...: what relations say about a hit."""
    found = []
    for item in related:
        text = MARKERS[item.kind].format(count=item.count, copies=plural(item.count))
        if item.suggested == item.count:
            text += " (suggested)"
        elif item.suggested:
            text += f" ({item.suggested} suggested)"
        found.append(text)
    return found


@dataclass(frozen=True)
class Provenance:
    """A document's place in the relation graph, as search indexes it."""

    related: tuple[Related, ...] = ()
    role: str | None = None
    story: str | None = None  # the key of its same-story group (None: no copies)

    @property
    def has(self) -> tuple[str, ...]:
        return tuple(item.kind for item in self.related)


NONE = Provenance()


@dataclass(frozen=True)
class IndexDocument:
    """One extracted document as the search engines see it (mirrors ``ingest.models.Document``)."""

    id: str
    url: str
    collection: str
    captured: datetime  # naive UTC
    language: str
    text: str
    title: str = ""
    script: str | None = None
    published: str | None = None  # ISO date, possibly partial
    site: str | None = None
    mime: str | None = None
    authors: tuple[str, ...] = ()
    text_simplified: str | None = None  # OpenCC t2s of ``text`` for Chinese documents
    seq: int = 0
    deleted: bool = False
    provenance: Provenance = NONE  # relation markers and the same-story key
    ocr: bool = False  # some of the text was read by OCR (a scan, an image)
    ocr_confidence: float | None = None  # OCR's mean confidence, 0-100

    @property
    def host(self) -> str:
        """The URL's host without ``www.``, for ``site:`` filters and the site facet."""
        host = (urlsplit(self.url).hostname or "").lower()
        return host.removeprefix("www.")

    @property
    def publisher(self) -> str:
        """The site name the page gives (``og:site_name``...), for ``publisher:`` filters."""
        return publisher_key(self.site or "")

    @property
    def domains(self) -> list[str]:
        """The host and each parent domain, so ``site:bbc.co.uk`` matches ``news.bbc.co.uk``."""
        labels = self.host.split(".")
        return [".".join(labels[i:]) for i in range(len(labels) - 1)] or [self.host]

    @property
    def date(self) -> datetime:
        """The date searches filter and sort on: publication date, else capture time."""
        published = parse_published(self.published)
        if published is not None:
            return datetime(published.year, published.month, published.day)
        return self.captured

    @property
    def simplified_text(self) -> str | None:
        """Han text folded to Simplified (None when the text has no Han characters)."""
        if self.text_simplified is not None:
            return self.text_simplified
        return fold(self.text) if has_han(self.text) else None

    @property
    def simplified_title(self) -> str | None:
        return fold(self.title) if has_han(self.title) else None


def parse_published(value: str | None) -> date | None:
    """A publication date from an ISO string (``2020``, ``2020-05``, ``2020-05-01T..``)."""
    if not value:
        return None
    parts = value[:10].split("-")
    try:
        numbers = [int(part) for part in parts if part]
        year, month, day = [*numbers, 1, 1][:3]
        return date(year, month, day)
    except ValueError:
        return None


def to_utc_naive(value: datetime) -> datetime:
    """Datetimes are compared as naive UTC everywhere."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


@dataclass(frozen=True)
class Copy:
    """A copy of a hit's story (same-story) that also matches, collapsed into the hit."""

    id: str
    url: str
    title: str
    language: str
    published: str | None
    captured: datetime

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"captured": self.captured.isoformat() + "Z"}


@dataclass(frozen=True)
class MatchedVia:
    """A translation through which a hit matched a cross-language query: the document's
    ``term`` (人权) translates the query's ``source_term`` (human rights), found in
    ``source`` (``cc-cedict``, ``names``, ``pinyin``, or ``yours``: the query's zh:/en:)."""

    term: str
    source_term: str
    source: str

    def describe(self) -> str:
        """For people: ``matched 人权 for human rights (cc-cedict)``."""
        return f"matched {self.term} for {self.source_term} ({self.source})"

    def to_json(self) -> dict[str, str]:
        return {"term": self.term, "from": self.source_term, "source": self.source}


@dataclass(frozen=True)
class Hit:
    """One ranked result; ``snippet`` is HTML-escaped text with ``<mark>`` around matches.

    ``related`` says which coverage, corrections, retractions... exist (``has:``),
    ``role`` what the document is in its story (``role:``); ``copies`` counts the
    matching copies of the same story collapsed into this hit, listed (up to
    ``MAX_COPIES``) in ``copy_documents``. ``ocr`` says the text was read by OCR. For a
    cross-language search, ``own_words`` says whether it matched the query's own words
    (None: no translation was searched) and ``matched_via`` which translations of which
    query terms it matched.
    """

    id: str
    url: str
    title: str
    language: str
    script: str | None
    published: str | None
    captured: datetime
    collection: str
    score: float
    snippet: str
    related: tuple[Related, ...] = ()
    role: str | None = None
    copies: int = 0
    copy_documents: tuple[Copy, ...] = ()
    ocr: bool = False  # the text (and so the snippet) was read by OCR
    ocr_confidence: float | None = None
    own_words: bool | None = None
    matched_via: tuple[MatchedVia, ...] = ()

    @property
    def has(self) -> list[str]:
        return [item.kind for item in self.related]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["captured"] = self.captured.isoformat() + "Z"
        data["has"] = self.has
        data["related"] = [item.to_json() for item in self.related]
        data["copy_documents"] = [copy.to_json() for copy in self.copy_documents]
        data["matched_via"] = [via.to_json() for via in self.matched_via]
        return data


@dataclass(frozen=True)
class SearchResult:
    """A page of hits, the total number of hits, and facet counts over all matches.

    ``total`` counts hits after collapsing copies (what pages of results walk through),
    ``documents`` every matching document (what facets count).
    """

    total: int
    hits: list[Hit]
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    documents: int | None = None  # None: the same as total (nothing collapsed)
    translated: tuple[str, ...] = ()  # the translations searched too (search.translate)
    notes: tuple[str, ...] = ()  # what the user should know about them

    def __post_init__(self) -> None:
        if self.documents is None:
            object.__setattr__(self, "documents", self.total)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "documents": self.documents,
            "translated": list(self.translated),
            "notes": list(self.notes),
            "hits": [hit.to_json() for hit in self.hits],
            "facets": {
                name: [{"value": value, "count": count} for value, count in counts]
                for name, counts in self.facets.items()
            },
        }
