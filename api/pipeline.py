"""The flow after the archive stores or relates something: ingest, then index.

This is the one place where the stages are chained. The command line, the
service (capture jobs, crawls, uploads, the scheduler, relation routes) and
Python code using the stages as a library all call these functions
explicitly; the archive stage knows nothing of what follows it.

    from api.pipeline import after_store
    result = capturer.capture(url)
    after_store(repository, result.record_ids)   # now it is a searchable document

Errors are domain errors: :class:`NotIndexed` (a :class:`SearchError`) when
the engine fails after ingest, :class:`SearchError` otherwise; what was
stored, ingested or related is kept either way and ``vestige index`` catches
up later. Nothing here prints; :func:`after_store_logged` is the variant for
background work, whose failures go to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from archive.repository import Repository
from search import indexer
from search.backend import SearchError
from search.engine import open_backend

if TYPE_CHECKING:
    from ingest.pipeline import IngestSummary

log = logging.getLogger(__name__)


class NotIndexed(SearchError):
    """Ingested, but the search engine failed; ``summary`` is what ingest did."""

    def __init__(self, error: SearchError, summary: IngestSummary) -> None:
        super().__init__(str(error))
        self.summary = summary


def ingest(repository: Repository, record_ids: Sequence[int]) -> IngestSummary:
    """Derive documents from the records just stored, in this process (blocking)."""
    from ingest.pipeline import Ingester  # trafilatura is slow to import: only when used

    return Ingester(repository, workers=1).run(record_ids=record_ids)


def index(repository: Repository, limit: int | None = None) -> bool:
    """Apply the catalog's pending changes (new documents, changed relations) to the
    search index, or about the first ``limit`` of them; True when more remain.

    Raises :class:`search.backend.SearchError` if the engine fails.
    """
    backend = open_backend(repository.settings)
    try:
        indexer.sync(backend, repository.catalog, limit=limit)
        return limit is not None and indexer.behind(backend, repository.catalog)
    finally:
        backend.close()


def after_store(repository: Repository, record_ids: Sequence[int]) -> IngestSummary:
    """Ingest what a capture, crawl or import just stored, then index it.

    Returns ingest's summary (records it could not ingest are in its failures).
    Raises :class:`NotIndexed` if indexing fails; the documents stay.
    """
    summary = ingest(repository, record_ids)
    try:
        index(repository)
    except SearchError as exc:
        raise NotIndexed(exc, summary) from exc
    return summary


def after_store_logged(repository: Repository, record_ids: Sequence[int]) -> None:
    """:func:`after_store` for background work (the service's child processes):
    records not ingested and an engine failure are logged, not raised."""
    try:
        summary = after_store(repository, record_ids)
    except NotIndexed as exc:
        summary = exc.summary
        log.warning("stored and ingested, not indexed (vestige index catches up): %s", exc)
    for failure in summary.failures:
        log.warning("%s not ingested: %s", failure.url, failure.reason)


def after_relate(repository: Repository) -> None:
    """Re-index the documents whose relations changed (they show on their hits).

    Raises :class:`search.backend.SearchError` if the engine fails.
    """
    index(repository)
