"""Ingesting archived records into documents.

Records are read and extracted in worker processes (extraction is CPU-bound)
or in this process with ``workers=1``; every catalog write happens here, in
record order and in batches, so ``seq`` values are handed out by one writer.
A record that cannot be extracted is recorded as failed with a reason and the
run goes on; a record that is not text is recorded as skipped. A revisit
reuses the document of the record holding its payload, with its own capture
time, so versions of a URL show it as unchanged.
"""

from __future__ import annotations

import io
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session
from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord

from archive.browser import DOM_PREFIX, browser_part, rendered_doms
from archive.catalog import CONTENT_TYPES, Record
from archive.repository import Repository
from ingest.documents import SeqBlock, allocate_seq
from ingest.extract import extract
from ingest.extraction import Extraction, ExtractionError, NotText, Payload
from ingest.limits import TimeLimit, time_limit
from ingest.models import Document, IngestOutcome, document_id
from ingest.ocr import OcrOptions

BATCH = 100  # outcomes written per catalog transaction
_PAGE = 500  # records read from the catalog at a time
# Tasks in flight per worker. Outcomes are written in record order, so a slow
# page at the head of the window holds the writer back; a deep window keeps the
# other workers busy meanwhile (pages take 50 ms typically, up to a second).
_IN_FLIGHT = 32
# A page response with less text than this is taken to have no main text: a
# browser capture's rendered DOM is extracted instead.
_NO_MAIN_TEXT = 200


@dataclass(frozen=True)
class Task:
    """One record to extract, described so a worker process can read it itself."""

    record_id: str
    url: str
    path: str
    offset: int
    length: int
    metadata: tuple[str, int, int] | None  # a submitted document's metadata record
    max_size: int
    timeout: float
    rendered: tuple[str, int, int] | None = None  # a browser capture's DOM of this page
    revisit_of: str | None = None  # a revisit's original, the record at ``path``
    ocr: OcrOptions = field(default_factory=OcrOptions)


@dataclass
class Outcome:
    """What extraction made of one record: a document, a skip or a failure."""

    extraction: Extraction | None = None
    skipped: str | None = None
    failed: str | None = None
    detail: str | None = None
    revisit_of: str | None = None  # for a revisit: the record holding its payload


@dataclass
class Failure:
    """A record that failed, for the summary."""

    record_id: str
    url: str | None
    reason: str
    detail: str | None


@dataclass
class IngestSummary:
    """What a run did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    without_ocr: Counter[str] = field(default_factory=Counter)  # reason -> documents
    attachments: list[tuple[str, str]] = field(default_factory=list)  # (URL, its e-mail's)

    @property
    def processed(self) -> int:
        return (
            self.created
            + self.updated
            + self.unchanged
            + sum(self.skipped.values())
            + sum(self.failed.values())
        )


# -- in the worker ------------------------------------------------------------


def run_task(task: Task) -> Outcome:
    """Read and extract one record. Never raises: problems become the outcome."""
    try:
        with time_limit(task.timeout):
            extraction = extract(read_payload(task), task.ocr)
            if task.rendered and len(extraction.text) < _NO_MAIN_TEXT:
                extraction = _rendered(task, task.rendered, extraction) or extraction
            return Outcome(extraction=extraction, revisit_of=task.revisit_of)
    except NotText as exc:
        return Outcome(skipped=f"not text ({exc})")
    except ExtractionError as exc:
        return Outcome(failed=exc.reason, detail=exc.detail)
    except TimeLimit:
        return Outcome(failed="timeout", detail=f"extraction took over {task.timeout:g}s")
    except RecursionError:
        return Outcome(failed="parser error", detail="markup nested too deeply")
    except Exception as exc:  # one bad record must never stop the run
        return Outcome(failed="parser error", detail=f"{type(exc).__name__}: {exc}")


def _rendered(task: Task, where: tuple[str, int, int], plain: Extraction) -> Extraction | None:
    """The extraction of a browser capture's rendered DOM, if it has more text than
    the ``plain`` one; its ``extraction`` says so (``dom:trafilatura``...)."""
    record = _read_record(*where)
    body = record.content_stream().read(task.max_size + 1)
    if len(body) > task.max_size:
        return None
    content_type = record.rec_headers.get_header("Content-Type")
    rendered = extract(Payload(url=task.url, body=body, content_type=content_type))
    if len(rendered.text) <= len(plain.text):
        return None
    rendered.extraction = f"dom:{rendered.extraction}"
    return rendered


def _read_record(path: str, offset: int, length: int) -> ArcWarcRecord:
    with open(path, "rb") as fh:
        fh.seek(offset)
        raw = fh.read(length)
    return next(iter(ArchiveIterator(io.BytesIO(raw))))


def read_payload(task: Task) -> Payload:
    """The record's payload with transfer and content encodings undone."""
    record = _read_record(task.path, task.offset, task.length)
    headers = record.http_headers if record.rec_type == "response" else record.rec_headers
    content_type = headers.get_header("Content-Type") if headers else None
    try:
        body = record.content_stream().read(task.max_size + 1)
    except (zlib.error, OSError, ValueError) as exc:
        raise ExtractionError("undecodable", f"content encoding: {exc}") from exc
    except Exception as exc:  # brotli raises its own error type
        raise ExtractionError("undecodable", f"content encoding: {exc}") from exc
    if len(body) > task.max_size:
        raise ExtractionError("too large", f"payload over {task.max_size:,} bytes")
    metadata = {}
    if task.metadata:
        fields = _read_record(*task.metadata).content_stream().read().decode("utf-8", "replace")
        for line in fields.splitlines():
            name, _, value = line.partition(":")
            if value.strip():
                metadata[name.strip().lower()] = value.strip()
    return Payload(url=task.url, body=body, content_type=content_type, metadata=metadata)


# -- in the main process ------------------------------------------------------


Progress = Callable[[int], None]


class Ingester:
    """Turns a repository's records into documents (see the module docstring).

    With several workers, their processes start with the first run and stay for
    the next ones (their start-up, imports included, costs as much as extracting
    dozens of pages) until :meth:`close`, or the end of a ``with`` block.
    """

    def __init__(
        self, repository: Repository, *, workers: int = 1, ocr_languages: str | None = None
    ) -> None:
        self.repository = repository
        self.catalog = repository.catalog
        self.workers = max(1, workers)
        settings = repository.settings
        self.max_size = settings.ingest_max_size
        self.timeout = settings.ingest_timeout
        self.ocr = OcrOptions(
            enabled=settings.ocr,
            languages=ocr_languages or settings.ocr_languages,
            max_pages=settings.ocr_max_pages,
            max_pixels=settings.ocr_max_pixels,
            timeout=settings.ingest_timeout,
        )
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Ingester:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker processes, if any."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _workers(self, *, fresh: bool = False) -> ProcessPoolExecutor:
        """The pool of worker processes; ``fresh``: a new one, replacing a broken one."""
        if fresh:
            assert self._pool is not None
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._pool is None:
            context = get_context("forkserver")
            context.set_forkserver_preload(["ingest.pipeline"])
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        return self._pool

    # -- choosing records ---------------------------------------------------

    def _selection(
        self,
        *,
        collection: str | None,
        retry_failed: bool,
        rebuild: bool,
        record_ids: Sequence[int] | None,
    ):
        query = select(Record).where(Record.record_type.in_(CONTENT_TYPES))
        if collection:
            query = query.where(Record.collection == collection)
        if record_ids is not None:
            query = query.where(Record.id.in_(list(record_ids)))
        if not rebuild:
            query = query.where(~exists().where(Document.record_id == Record.record_id))
            outcome = exists().where(IngestOutcome.record_id == Record.record_id)
            if retry_failed:
                outcome = outcome.where(IngestOutcome.outcome != "failed")
            query = query.where(~outcome)
        return query

    def count(self, **selection: object) -> int:
        """How many records a run with these options would process."""
        query = self._selection(**selection)  # type: ignore[arg-type]
        with self.catalog.session() as session:
            return session.scalar(select(func.count()).select_from(query.subquery())) or 0

    def _records(self, **selection: object) -> Iterator[Record]:
        """Selected records in catalog order, revisits last (their originals may come later)."""
        for revisits in (False, True):
            kind = Record.record_type == "revisit"
            yield from self._pages(self._selection(**selection).where(kind if revisits else ~kind))

    def _pages(self, query: Select[tuple[Record]]) -> Iterator[Record]:
        last = 0
        while True:
            query_page = query.where(Record.id > last)
            with self.catalog.session() as session:
                page = list(session.scalars(query_page.order_by(Record.id).limit(_PAGE)))
            if not page:
                return
            yield from page
            last = page[-1].id

    # -- running ------------------------------------------------------------

    def run(
        self,
        *,
        collection: str | None = None,
        retry_failed: bool = False,
        rebuild: bool = False,
        record_ids: Sequence[int] | None = None,
        progress: Progress | None = None,
    ) -> IngestSummary:
        """Ingest the selected records; returns what was done."""
        summary = IngestSummary()
        selection = {
            "collection": collection,
            "retry_failed": retry_failed,
            "rebuild": rebuild,
            "record_ids": record_ids,
        }
        outcomes = self._extract(self._records(**selection))
        batch: list[tuple[Record, Outcome | None]] = []
        for item in outcomes:
            batch.append(item)
            if len(batch) >= BATCH:
                self._write(batch, summary)
                if progress:
                    progress(len(batch))
                batch = []
        if batch:
            self._write(batch, summary)
            if progress:
                progress(len(batch))
        self._relate_attachments(summary)
        if rebuild and record_ids is None:
            self._tombstone_orphans(collection, summary)
        return summary

    def _task(
        self, row: Record, metadata: dict[str, Record], doms: dict[str, Record]
    ) -> Task | None:
        """How to extract ``row``; None for a revisit without a rendered DOM of its own
        (its original's document is copied instead)."""
        store = self.repository.store
        extra = metadata.get(row.capture_id or "")
        if extra is not None and (row.record_type != "resource" or extra.url != row.url):
            # A submitted file is the resource its metadata record describes; a browser
            # capture's images share the capture id with its metadata, and are not.
            extra = None
        dom = doms.get(row.capture_id or "")
        if dom is not None and dom.url != DOM_PREFIX + (row.url or ""):
            dom = None  # the DOM of the page, not of a sub-resource
        source = row
        if row.record_type == "revisit":
            # A browser capture of a page whose HTML an HTTP capture already holds
            # (auto mode): its DOM may have the text the HTML lacks.
            original = self.repository.catalog.original_of(row) if dom is not None else None
            if original is None:
                return None
            source = original
        return Task(
            record_id=row.record_id,
            url=row.url or "",
            path=str(store.path(source.warc_file)),
            offset=source.offset,
            length=source.length,
            metadata=(str(store.path(extra.warc_file)), extra.offset, extra.length)
            if extra is not None
            else None,
            max_size=self.max_size,
            timeout=self.timeout,
            rendered=(str(store.path(dom.warc_file)), dom.offset, dom.length) if dom else None,
            revisit_of=source.record_id if source is not row else None,
            ocr=self.ocr,
        )

    def _metadata_records(self, rows: list[Record]) -> dict[str, Record]:
        """The metadata record stored with each submitted document (same capture id)."""
        ids = {
            row.capture_id
            for row in rows
            if row.record_type == "resource" and row.capture_id and not browser_part(row.url)
        }
        if not ids:
            return {}
        with self.catalog.session() as session:
            found = session.scalars(
                select(Record).where(Record.capture_id.in_(ids), Record.record_type == "metadata")
            )
            return {row.capture_id: row for row in found if row.capture_id}

    def _plan(self, rows: Iterator[Record]) -> Iterator[tuple[Record, Task | None]]:
        """Each record with the task extracting it, or None when it needs no extraction."""
        page: list[Record] = []

        def flush() -> Iterator[tuple[Record, Task | None]]:
            metadata = self._metadata_records(page)
            doms = rendered_doms(
                self.catalog,
                [
                    row.capture_id or ""
                    for row in page
                    if row.record_type in ("response", "revisit")
                ],
            )
            for row in page:
                needs_text = not _error_or_redirect(row.status) and not browser_part(row.url)
                yield row, self._task(row, metadata, doms) if needs_text else None

        for row in rows:
            page.append(row)
            if len(page) >= _PAGE:
                yield from flush()
                page = []
        yield from flush()

    def _extract(self, rows: Iterator[Record]) -> Iterator[tuple[Record, Outcome | None]]:
        """Outcomes in record order, from this process or a pool of workers."""
        planned = self._plan(rows)
        if self.workers == 1:
            for row, task in planned:
                yield row, run_task(task) if task else None
            return
        window: deque[tuple[Record, Future[Outcome] | None]] = deque()
        try:
            for row, task in planned:
                future = None
                if task is not None:
                    try:
                        future = self._workers().submit(run_task, task)
                    except BrokenProcessPool:
                        future = self._workers(fresh=True).submit(run_task, task)
                window.append((row, future))
                while len(window) > self.workers * _IN_FLIGHT:
                    yield _result(*window.popleft())
            while window:
                yield _result(*window.popleft())
        except BaseException:
            for _, future in window:
                if future is not None:
                    future.cancel()
            raise

    # -- writing ------------------------------------------------------------

    def _relate_attachments(self, summary: IngestSummary) -> None:
        """``E attaches A`` for each attachment ingested in this run and its e-mail."""
        from ingest.relations import RelationError, relate

        for url, email in summary.attachments:
            try:
                relate(self.catalog, email, "attaches", url, made_by="vestige import")
            except RelationError:
                continue  # the e-mail is not a document (it failed): nothing to attach to

    def _write(self, batch: list[tuple[Record, Outcome | None]], summary: IngestSummary) -> None:
        record_ids = [row.record_id for row, _ in batch]
        with self.catalog.session() as session:
            # What is already known about the batch, in two queries instead of two per record.
            documents = {
                document.record_id: document
                for document in session.scalars(
                    select(Document).where(Document.record_id.in_(record_ids))
                )
            }
            known = {
                outcome.record_id: outcome
                for outcome in session.scalars(
                    select(IngestOutcome).where(IngestOutcome.record_id.in_(record_ids))
                )
            }
            seqs = SeqBlock(session, len(batch))
            for row, outcome in batch:
                if outcome is None:
                    outcome = self._without_extraction(session, row)
                self._apply(session, row, outcome, summary, documents, known, seqs)
            seqs.close()

    def _without_extraction(self, session: Session, row: Record) -> Outcome:
        """The outcome of a record that is not extracted: an error, a redirect, a revisit,
        a browser capture's screenshot or DOM (its page's document uses the DOM)."""
        if browser_part(row.url):
            return Outcome(skipped="part of a browser capture")
        if row.status is not None and 300 <= row.status < 400:
            return Outcome(skipped="redirect")
        if row.status is not None and row.status >= 400:
            return Outcome(skipped="error status")
        original = self.repository.catalog.original_of(row)
        if original is None:
            return Outcome(skipped="revisit of a record not in the archive")
        document = session.scalars(
            select(Document).where(Document.record_id == original.record_id)
        ).first()
        if document is not None and not document.deleted:
            extraction = Extraction(text=document.text, extraction=document.extraction)
            for name, value in document.derived().items():
                if hasattr(extraction, name):
                    setattr(extraction, name, value)
            return Outcome(extraction=extraction, revisit_of=original.record_id)
        known = session.get(IngestOutcome, original.record_id)
        if known is not None and known.outcome == "skipped":
            return Outcome(skipped=known.reason)
        return Outcome(failed="original not ingested", detail=original.record_id)

    def _apply(
        self,
        session: Session,
        row: Record,
        outcome: Outcome,
        summary: IngestSummary,
        documents: dict[str, Document],
        outcomes: dict[str, IngestOutcome],
        seqs: SeqBlock,
    ) -> None:
        existing = documents.get(row.record_id)
        known = outcomes.get(row.record_id)
        if outcome.extraction is None:
            kind, reason = ("skipped", outcome.skipped) if outcome.skipped else ("failed", None)
            reason = reason or outcome.failed or "failed"
            if known is None:
                known = IngestOutcome(record_id=row.record_id, attempts=0)
                session.add(known)
            known.outcome, known.reason, known.detail = kind, reason, outcome.detail
            known.attempts = (known.attempts or 0) + 1
            known.updated = datetime.now(UTC).replace(tzinfo=None)
            if kind == "skipped":
                summary.skipped[reason] += 1
            else:
                summary.failed[reason] += 1
                summary.failures.append(Failure(row.record_id, row.url, reason, outcome.detail))
            if existing is not None and not existing.deleted:
                existing.deleted = True
                existing.seq = seqs.take()
                summary.deleted += 1
            return
        if known is not None:
            session.delete(known)
        attached_to = (outcome.extraction.properties or {}).get("attached_to")
        if attached_to and row.url:
            summary.attachments.append((row.url, attached_to))
        reason = (outcome.extraction.ocr or {}).get("reason")
        if reason and outcome.revisit_of is None:
            summary.without_ocr[reason] += 1
        fields = self._fields(row, outcome)
        if existing is None:
            session.add(
                Document(
                    id=document_id(row.record_id),
                    record_id=row.record_id,
                    deleted=False,
                    seq=seqs.take(),
                    **fields,
                )
            )
            summary.created += 1
        elif existing.deleted or existing.derived() != fields:
            for name, value in fields.items():
                setattr(existing, name, value)
            existing.deleted = False
            existing.seq = seqs.take()
            summary.updated += 1
        else:
            summary.unchanged += 1

    def _fields(self, row: Record, outcome: Outcome) -> dict[str, object]:
        extraction = outcome.extraction
        assert extraction is not None
        return {
            **extraction.fields(),
            "url": row.url or extraction.url or "",
            "collection": row.collection,
            "captured": row.timestamp,
            "status": row.status,
            "mime": row.mime,
            "warc_file": row.warc_file,
            "warc_offset": row.offset,
            "warc_length": row.length,
            "payload_digest": row.payload_digest,
            "revisit_of": outcome.revisit_of,
        }

    def _tombstone_orphans(self, collection: str | None, summary: IngestSummary) -> None:
        """Delete (tombstone) documents whose record is no longer in the catalog."""
        with self.catalog.session() as session:
            query = select(Document).where(
                Document.deleted.is_(False),
                ~exists().where(Record.record_id == Document.record_id),
            )
            if collection:
                query = query.where(Document.collection == collection)
            for document in session.scalars(query):
                document.deleted = True
                document.seq = allocate_seq(session, 1)[0]
                summary.deleted += 1


def _error_or_redirect(status: int | None) -> bool:
    return status is not None and status >= 300


def _result(row: Record, future: Future[Outcome] | None) -> tuple[Record, Outcome | None]:
    if future is None:
        return row, None
    try:
        return row, future.result()
    except BrokenProcessPool:
        # A worker died (killed, out of memory): the record can be retried.
        return row, Outcome(failed="worker crashed", detail="the extraction process died")
