"""Bring a search backend up to date with the catalog by following ingest's change sequence.

A relation made, confirmed or removed gives its documents new change numbers, so they
come through the same sequence; each batch also re-indexes the documents whose relation
markers or same-story group the change affects (see :mod:`search.provenance`).
"""

from __future__ import annotations

from collections.abc import Callable

from archive.catalog import Catalog
from ingest.documents import changes, latest_seq
from ingest.models import Document
from search.backend import SearchBackend
from search.models import NONE, IndexDocument, Provenance
from search.provenance import affected

BATCH = 500  # documents per batch read, indexed and committed (bounds memory)

Progress = Callable[[int, int], None]  # (changes applied so far, changes to apply)


def index_document(document: Document, provenance: Provenance = NONE) -> IndexDocument:
    """The search view of an ingested document."""
    return IndexDocument(
        id=document.id,
        url=document.url,
        collection=document.collection,
        captured=document.captured,
        language=document.language or "und",
        text=document.text or "",
        title=document.title or "",
        script=document.script,
        published=document.published,
        site=document.site,
        mime=document.mime,
        authors=tuple(document.authors or ()),
        text_simplified=document.text_simplified,
        seq=document.seq,
        deleted=document.deleted,
        provenance=provenance,
        ocr=bool((document.ocr or {}).get("pages")),
        ocr_confidence=(document.ocr or {}).get("confidence"),
    )


def sync(
    backend: SearchBackend,
    catalog: Catalog,
    *,
    batch: int = BATCH,
    progress: Progress | None = None,
    limit: int | None = None,
) -> int:
    """Apply every change after the backend's checkpoint (or the batches holding the
    first ``limit`` of them); returns how many were applied.

    Each batch is committed together with its last ``seq``: after a crash the next run
    resumes from the last committed batch and re-applies idempotent changes only.
    """
    backend.begin_writing()
    after = backend.checkpoint()
    pending = max(0, latest_seq(catalog) - after)  # an upper bound: seqs may have gaps
    done = 0
    while limit is None or done < limit:
        documents = changes(catalog, after, batch)
        if not documents:
            break
        backend.index(index_document(*found) for found in affected(catalog, documents))
        after = documents[-1].seq
        backend.commit(checkpoint=after)
        done += len(documents)
        if progress is not None:
            progress(done, max(pending, done))
    return done


def behind(backend: SearchBackend, catalog: Catalog) -> bool:
    """Whether the catalog has changes the index lacks (an index from an older version
    is replaced by an empty one, whose checkpoint is 0)."""
    return backend.checkpoint() < latest_seq(catalog)


def rebuild(backend: SearchBackend, catalog: Catalog, *, progress: Progress | None = None) -> int:
    """Index everything from scratch into a new index, then switch searches to it."""
    with backend.rebuild() as fresh:
        return sync(fresh, catalog, progress=progress)
