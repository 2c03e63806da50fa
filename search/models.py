"""Records crossing the search stage's boundary: what is indexed, and what a search returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from search.analysis import fold, has_han


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

    @property
    def host(self) -> str:
        """The URL's host without ``www.``, for ``site:`` filters and the site facet."""
        host = (urlsplit(self.url).hostname or "").lower()
        return host.removeprefix("www.")

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
class Hit:
    """One ranked result; ``snippet`` is HTML-escaped text with ``<mark>`` around matches."""

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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["captured"] = self.captured.isoformat() + "Z"
        return data


@dataclass(frozen=True)
class SearchResult:
    """A page of hits, the total number of matches, and facet counts over all matches."""

    total: int
    hits: list[Hit]
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "hits": [hit.to_json() for hit in self.hits],
            "facets": {
                name: [{"value": value, "count": count} for value, count in counts]
                for name, counts in self.facets.items()
            },
        }
