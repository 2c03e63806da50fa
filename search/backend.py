"""The one interface every search engine implements, used by the CLI and the API."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from enum import StrEnum
from typing import Any

from archive.errors import Unavailable
from search.models import IndexDocument, SearchResult
from search.query import Node

FACETS = ("language", "site", "year", "collection", "has", "role")
# Values each facet lists at most.
FACET_SIZES = {"language": 50, "site": 20, "year": 100, "collection": 50, "has": 10, "role": 10}
# The indexed field each filter of the query language (lang:, site:, ...) matches.
FILTER_FIELDS = {
    "lang": "language",
    "site": "domain",
    "publisher": "publisher",
    "collection": "collection",
    "has": "has",
    "role": "role",
}


class SearchError(Unavailable, RuntimeError):
    """The engine failed or is unreachable; the message is meant for the user."""


class Sort(StrEnum):
    relevance = "relevance"
    date = "date"  # newest first, by publication date (else capture time)


class SearchBackend(ABC):
    """A full-text index of documents, kept up to date from the catalog's change sequence.

    Changes become visible and durable at :meth:`commit`, together with the checkpoint
    (the last catalog change applied), so a crash between commits replays changes that
    are idempotent (index by id, delete by id) and nothing is missed or duplicated.
    """

    name: str

    @abstractmethod
    def index(self, documents: Iterable[IndexDocument]) -> int:
        """Add or replace documents (by id); deleted ones are removed. Returns the count."""

    @abstractmethod
    def delete(self, ids: Iterable[str]) -> int:
        """Remove documents by id. Returns the count of ids given."""

    @abstractmethod
    def commit(self, checkpoint: int | None = None) -> None:
        """Make changes durable and searchable, storing ``checkpoint`` with them."""

    @abstractmethod
    def checkpoint(self) -> int:
        """The last catalog change sequence number committed (0 for an empty index)."""

    @abstractmethod
    def search(
        self,
        query: Node,
        *,
        sort: Sort = Sort.relevance,
        limit: int = 10,
        offset: int = 0,
        facets: bool = True,
        collapse: bool = True,
    ) -> SearchResult:
        """Ranked hits for a parsed query (filters are part of the query tree), with facets.

        With ``collapse``, the matching copies of one story (``same-story``) make one hit,
        the best ranked, which counts and lists the others; ``offset`` and ``limit`` then
        count collapsed hits.
        """

    @abstractmethod
    def iter_ids(self, query: Node) -> Iterator[str]:
        """The id of every match, each once, in no particular order (for exports).

        Reads through all matches without deep paging (a scroll on Elasticsearch/OpenSearch).
        """

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """What the engine is, where, how many documents, its analyzers and checkpoint."""

    @abstractmethod
    def rebuild(self) -> AbstractContextManager[SearchBackend]:
        """A fresh, empty index to fill; on success it replaces this one atomically.

        Searches keep using the old index until the new one is complete.
        """

    def begin_writing(self) -> None:  # noqa: B027 - engines that take concurrent writers
        """Wait to be the index's one writer, before :meth:`checkpoint` is read for a sync:
        a writer that read it earlier could commit an older checkpoint than another's."""

    def close(self) -> None:  # noqa: B027 - most engines hold nothing to release
        """Release files, locks or connections."""

    def __enter__(self) -> SearchBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def batched(items: Iterable[IndexDocument], size: int) -> Iterator[list[IndexDocument]]:
    """Items in lists of at most ``size`` (bounded memory for bulk indexing)."""
    batch: list[IndexDocument] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
