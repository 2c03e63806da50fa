"""Which documents an export holds, in a stable order, read from the catalog in batches.

A selection is a search query (through the search backend), a collection, or
everything; with ``versions=latest`` only the newest capture of each URL is kept.
Documents come out ordered by (URL, capture time, id) and are read by keyset
pagination, so memory stays flat however large the export, and an interrupted
export can continue after the last key it wrote.

For a query, the matching ids are streamed from the backend (scroll on
Elasticsearch/OpenSearch) into a temporary SQLite file holding only their sort
keys, which is then read back in order like the catalog.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import defer

from archive.catalog import CONTENT_TYPES, Catalog, Record
from archive.cdxj import timestamp14
from archive.store import InvalidCollection, check_collection
from ingest.models import Document
from ingest.relations import live_relations
from search.backend import SearchBackend
from search.query import Node, QuerySyntaxError, conjoin, filters, parse

BATCH = 500  # documents read, converted and written at a time


class ExportError(Exception):
    """An export cannot run or failed; the message is meant for the user."""


class Versions(StrEnum):
    latest = "latest"  # the newest capture of each URL
    all = "all"  # every capture


# The exported fields, in their order, with what each holds (for the datasheet).
FIELDS: dict[str, str] = {
    "id": "Vestige document id (16 hex digits, derived from the WARC record id).",
    "url": "The URL that was requested (before any redirects).",
    "final_url": "The URL the document was captured at (after redirects).",
    "captured": "When the capture was made (UTC).",
    "published": "Publication date found in the page (ISO 8601, may be partial).",
    "title": "Title of the document.",
    "authors": "Authors named in the document (list).",
    "site": "Site name (publisher) found in the page.",
    "language": "Detected language (ISO 639-1, 'und' if unknown).",
    "script": "Writing system (ISO 15924, e.g. Latn, Hans, Hant).",
    "text": "Extracted main text.",
    "text_simplified": "The text converted to Simplified Chinese (Chinese documents only).",
    "word_count": "Number of words (each Han character counts as one).",
    "extraction": (
        "How the text was taken: trafilatura or fallback (web pages), pdf, pdf+ocr (a PDF with "
        "pages read by OCR), ocr (an image), text, docx, odt or eml."
    ),
    "ocr_engine": "The OCR engine and version that read scanned pages or images (else empty).",
    "ocr_confidence": "OCR's mean word confidence over the pages it read, 0-100 (else empty).",
    "ocr_pages": "The pages (numbered from 1) whose text was read by OCR (list; empty if none).",
    "relations": (
        "Related documents: a list of {type, id, direction (outgoing or incoming), "
        "status (confirmed or suggested)}"
    ),
    "warc_file": "WARC file holding the record, relative to the archive's warcs folder.",
    "warc_offset": "Byte offset of the record's gzip member in the WARC file.",
    "warc_length": "Length in bytes of the record's gzip member.",
    "warc_record_id": "WARC-Record-ID of the record the document was extracted from.",
    "payload_digest": "WARC-Payload-Digest of the record (sha1, base32).",
    "archived_url": "Memento-style URL of the archived copy on this archive's service.",
}
TEXT_FIELDS = ("text", "text_simplified")


def choose_fields(fields: Iterable[str] | None, with_text: bool) -> list[str]:
    """The exported columns: ``fields`` (in the order given) or all; text dropped if asked."""
    chosen = list(fields) if fields else list(FIELDS)
    unknown = [name for name in chosen if name not in FIELDS]
    if unknown:
        raise ExportError(
            f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"choose from {', '.join(FIELDS)}"
        )
    if len(set(chosen)) != len(chosen):
        raise ExportError("a field is named twice in --fields")
    if not with_text:
        chosen = [name for name in chosen if name not in TEXT_FIELDS]
    if not chosen:
        raise ExportError("no fields left to export")
    return chosen


@dataclass(frozen=True)
class Selection:
    """What to export: a search ``query``, a ``collection``, or ``everything``."""

    query: str | None = None
    collection: str | None = None
    everything: bool = False
    versions: Versions = Versions.latest

    def check(self) -> Selection:
        """Validate: something selected, a valid collection name, a parsable query."""
        if not (self.query or self.collection or self.everything):
            raise ExportError("choose what to export: a QUERY, --collection NAME or --all")
        if self.everything and (self.query or self.collection):
            raise ExportError("--all exports everything: give it without a query or collection")
        if self.collection:
            try:
                check_collection(self.collection)
            except InvalidCollection as exc:
                raise ExportError(str(exc)) from exc
        if self.query:
            self.tree()
        return self

    def tree(self) -> Node:
        """The parsed query, with the collection as a filter."""
        try:
            return conjoin(parse(self.query or ""), filters(collection=self.collection))
        except QuerySyntaxError as exc:
            raise ExportError(f"bad query: {exc}") from exc

    def describe(self) -> dict[str, Any]:
        """The selection as data, for the datasheet and the resume state."""
        return asdict(self) | {"versions": str(self.versions)}

    def summary(self) -> str:
        """One line for people, e.g. ``query "organ harvesting" in collection reports``."""
        parts = []
        if self.query:
            parts.append(f"query {self.query!r}")
        if self.collection:
            parts.append(f"collection {self.collection}")
        if self.everything:
            parts.append("the whole archive")
        kind = "latest capture of each URL" if self.versions is Versions.latest else "all captures"
        return f"{', '.join(parts)} ({kind})"


Key = tuple[str, datetime, str]  # (document URL, capture time, id): the export order


@dataclass
class ExportDocument:
    """One exported document: the public fields plus what the WARC exports need."""

    id: str
    url: str
    final_url: str
    captured: datetime  # naive UTC
    published: str | None
    title: str | None
    authors: list[str]
    site: str | None
    language: str | None
    script: str | None
    text: str | None
    text_simplified: str | None
    word_count: int
    extraction: str
    ocr_engine: str | None
    ocr_confidence: float | None
    ocr_pages: list[int]
    relations: list[dict[str, str]]
    warc_file: str
    warc_offset: int
    warc_length: int
    warc_record_id: str
    payload_digest: str | None
    archived_url: str
    capture_id: str | None = None  # groups the capture's records, for WARC exports

    @property
    def key(self) -> Key:
        return (self.final_url, self.captured, self.id)

    def value(self, name: str) -> Any:
        return getattr(self, name)


def _after(key: Key | None):
    """The keyset condition: rows strictly after ``key`` in (url, captured, id) order."""
    if key is None:
        return None
    url, captured, doc_id = key
    # ``url >= :url`` lets the database seek in the (url, captured, id) index.
    return and_(
        Document.url >= url,
        or_(
            Document.url > url,
            and_(
                Document.url == url,
                or_(
                    Document.captured > captured,
                    and_(Document.captured == captured, Document.id > doc_id),
                ),
            ),
        ),
    )


_ORDER = (Document.url, Document.captured, Document.id)
_ORDER_INDEX = next(
    index for index in Document.__table__.indexes if index.name == "ix_documents_url_captured_id"
)
# Never needed by an export; skipping them keeps each batch small.
_UNUSED = (Document.languages, Document.outlinks, Document.description, Document.tags)


class DocumentSource:
    """Selected documents, oldest key first, from a catalog and (for queries) a search backend."""

    def __init__(
        self,
        catalog: Catalog,
        selection: Selection,
        *,
        backend: SearchBackend | None = None,
        with_text: bool = True,
        base_url: str = "http://127.0.0.1:8000",
        batch: int = BATCH,
    ) -> None:
        self.catalog = catalog
        self.selection = selection.check()
        self.backend = backend
        self.batch = batch
        self.with_text = with_text
        self.base_url = base_url.rstrip("/")
        self._options = [defer(column) for column in _UNUSED]
        if not with_text:
            self._options += [defer(Document.text), defer(Document.text_simplified)]
        _ORDER_INDEX.create(catalog.engine, checkfirst=True)  # for catalogs made before it
        self._keys: _QueryKeys | None = None
        if selection.query:
            if backend is None:
                raise ExportError("a query export needs the search engine")
            self._keys = _QueryKeys(catalog, backend, selection)

    def close(self) -> None:
        if self._keys is not None:
            self._keys.close()

    def __enter__(self) -> DocumentSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- counting ----------------------------------------------------------------------

    def count(self) -> int:
        """How many documents the export will hold."""
        if self._keys is not None:
            return self._keys.count(latest=self.selection.versions is Versions.latest)
        column = (
            func.count(func.distinct(Document.url))
            if self.selection.versions is Versions.latest
            else func.count()
        )
        with self.catalog.session() as session:
            return session.scalar(self._where(select(column).select_from(Document))) or 0

    def _where(self, query):
        query = query.where(Document.deleted.is_(False))
        if self.selection.collection:
            # Wrapped so the planner reads the (url, captured, id) index in order rather
            # than the collection index, which would mean sorting the rest for every page.
            query = query.where(func.coalesce(Document.collection, "") == self.selection.collection)
        return query

    # -- reading -----------------------------------------------------------------------

    def batches(self, after: Key | None = None) -> Iterator[list[ExportDocument]]:
        """Export documents in batches, continuing after ``after`` when resuming."""
        documents = self._documents(after)
        if self.selection.versions is Versions.latest:
            documents = _newest_per_url(documents)
        while page := list(islice(documents, self.batch)):
            yield self._convert(page)

    def _documents(self, after: Key | None) -> Iterator[Document]:
        if self._keys is not None:
            for keys in self._keys.pages(after, self.batch):
                ids = [doc_id for _, _, doc_id in keys]
                with self.catalog.session() as session:
                    found = {
                        document.id: document
                        for document in session.scalars(
                            select(Document).options(*self._options).where(Document.id.in_(ids))
                        )
                    }
                # A document deleted since the search is simply left out.
                yield from (found[doc_id] for doc_id in ids if doc_id in found)
            return
        while True:
            query = self._where(select(Document).options(*self._options))
            condition = _after(after)
            if condition is not None:
                query = query.where(condition)
            with self.catalog.session() as session:
                page = list(session.scalars(query.order_by(*_ORDER).limit(self.batch)))
            if not page:
                return
            yield from page
            last = page[-1]
            after = (last.url, last.captured, last.id)

    def _convert(self, page: list[Document]) -> list[ExportDocument]:
        """Export documents for a page, with requested URLs and capture groups looked up."""
        record_ids = [document.record_id for document in page]
        with self.catalog.session() as session:
            captures = dict(
                session.execute(
                    select(Record.record_id, Record.capture_id).where(
                        Record.record_id.in_(record_ids)
                    )
                ).all()
            )
            capture_ids = {c for c in captures.values() if c}
            requested: dict[str, str] = {}
            if capture_ids:
                # The first hop of a capture is the URL that was asked for.
                rows = session.execute(
                    select(Record.capture_id, Record.url)
                    .where(
                        Record.capture_id.in_(capture_ids),
                        Record.record_type.in_(CONTENT_TYPES),
                    )
                    .order_by(Record.id)
                )
                for capture_id, url in rows:
                    requested.setdefault(capture_id, url)
            ids = [document.id for document in page]
            related: dict[str, list[dict[str, str]]] = {id_: [] for id_ in ids}
            for relation in live_relations(session, ids):
                for this, other, direction in (
                    (relation.source_id, relation.target_id, "outgoing"),
                    (relation.target_id, relation.source_id, "incoming"),
                ):
                    if this in related:
                        related[this].append(
                            {
                                "type": relation.type,
                                "id": other,
                                "direction": direction,
                                "status": relation.status,
                            }
                        )
        out = []
        for document in page:
            capture_id = captures.get(document.record_id)
            out.append(
                ExportDocument(
                    id=document.id,
                    url=requested.get(capture_id or "") or document.url,
                    final_url=document.url,
                    captured=document.captured,
                    published=document.published,
                    title=document.title,
                    authors=list(document.authors or []),
                    site=document.site,
                    language=document.language,
                    script=document.script,
                    text=document.text if self.with_text else None,
                    text_simplified=document.text_simplified if self.with_text else None,
                    word_count=document.word_count or 0,
                    extraction=document.extraction,
                    ocr_engine=(document.ocr or {}).get("engine"),
                    ocr_confidence=(document.ocr or {}).get("confidence"),
                    ocr_pages=list((document.ocr or {}).get("pages") or []),
                    relations=related[document.id],
                    warc_file=document.warc_file,
                    warc_offset=document.warc_offset,
                    warc_length=document.warc_length,
                    warc_record_id=document.record_id,
                    payload_digest=document.payload_digest,
                    archived_url=(
                        f"{self.base_url}/web/{timestamp14(document.captured)}/{document.url}"
                    ),
                    capture_id=capture_id,
                )
            )
        return out


def _newest_per_url(documents: Iterator[Document]) -> Iterator[Document]:
    """The last document of each run of equal URLs (the input is in key order)."""
    held: Document | None = None
    for document in documents:
        if held is not None and held.url != document.url:
            yield held
        held = document
    if held is not None:
        yield held


class _QueryKeys:
    """The sort keys of a query's matches, in a temporary SQLite file (not in memory)."""

    def __init__(self, catalog: Catalog, backend: SearchBackend, selection: Selection) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="vestige-export-")
        # Used by one thread at a time, but not always the same one: the API opens the
        # source in one worker thread, streams its pages from others and closes it in another.
        self.db = sqlite3.connect(Path(self._dir.name) / "keys.sqlite", check_same_thread=False)
        self.db.execute(
            "CREATE TABLE keys (url TEXT, captured TEXT, id TEXT, "
            "PRIMARY KEY (url, captured, id)) WITHOUT ROWID"
        )
        ids = backend.iter_ids(selection.tree())
        while chunk := list(islice(ids, BATCH)):
            with catalog.session() as session:
                rows = session.execute(
                    select(Document.url, Document.captured, Document.id).where(
                        Document.id.in_(chunk), Document.deleted.is_(False)
                    )
                ).all()
            self.db.executemany(
                "INSERT OR IGNORE INTO keys VALUES (?, ?, ?)",
                [(url, _stamp(captured), doc_id) for url, captured, doc_id in rows],
            )
        self.db.commit()

    def count(self, *, latest: bool) -> int:
        column = "COUNT(DISTINCT url)" if latest else "COUNT(*)"
        return self.db.execute(f"SELECT {column} FROM keys").fetchone()[0]

    def pages(self, after: Key | None, size: int) -> Iterator[list[Key]]:
        last = (after[0], _stamp(after[1]), after[2]) if after else None
        while True:
            if last is None:
                rows = self.db.execute(
                    "SELECT url, captured, id FROM keys ORDER BY url, captured, id LIMIT ?",
                    (size,),
                ).fetchall()
            else:
                rows = self.db.execute(
                    "SELECT url, captured, id FROM keys WHERE (url, captured, id) > (?, ?, ?) "
                    "ORDER BY url, captured, id LIMIT ?",
                    (*last, size),
                ).fetchall()
            if not rows:
                return
            yield [(url, datetime.fromisoformat(stamp), doc_id) for url, stamp, doc_id in rows]
            last = rows[-1]

    def close(self) -> None:
        self.db.close()
        self._dir.cleanup()


def _stamp(moment: datetime) -> str:
    # Fixed width, so text order is time order.
    return moment.isoformat(timespec="microseconds")
