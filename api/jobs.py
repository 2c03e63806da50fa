"""Capture jobs run in the background by a bounded pool of worker threads.

The catalog is the source of truth: a job and each of its URLs are rows
(``api.models``), updated as the work goes, so a restarted service resumes
whatever was queued or running when it stopped. The in-memory queue only
carries row ids to the workers.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Sequence

from sqlalchemy import select

from api.models import Job, JobItem, JobState, utcnow
from archive.capture import Capturer, CaptureResult
from archive.catalog import Record
from archive.cli import run_after_store
from archive.repository import Repository

log = logging.getLogger(__name__)

# Ingesting and indexing write to one index: one writer at a time, whichever
# worker thread (or import request) stored the records.
after_store_lock = threading.Lock()

_UNFINISHED = (JobState.queued, JobState.running)


class QueueFull(Exception):
    """The capture queue cannot take that many more URLs now."""


class CaptureJobs:
    """Submits capture jobs and runs them on ``workers`` threads."""

    def __init__(self, repository: Repository, *, workers: int, queue_size: int) -> None:
        self.repository = repository
        self.workers = workers
        self.queue_size = queue_size
        self._capturer = Capturer(repository)
        self._queue: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopping.is_set()

    @property
    def pending(self) -> int:
        """URLs queued or being captured in this process."""
        return self._pending

    def start(self) -> int:
        """Requeue the URLs of unfinished jobs, start the workers; return how many were resumed."""
        with self.repository.catalog.session() as session:
            items = list(
                session.scalars(
                    select(JobItem).where(JobItem.state.in_(_UNFINISHED)).order_by(JobItem.id)
                )
            )
            for item in items:
                # A URL that was running when the service stopped is captured again.
                item.state = JobState.queued
        self._enqueue([item.id for item in items], reserved=False)
        for number in range(self.workers):
            thread = threading.Thread(
                target=self._work, name=f"vestige-capture-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return len(items)

    def stop(self, timeout: float | None = None) -> None:
        """Let each worker finish the URL in hand, then stop. Queued URLs stay queued."""
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)
        self._capturer.close()

    def submit(
        self,
        urls: Sequence[str],
        *,
        collection: str,
        note: str | None = None,
        truncate: bool = False,
        submitted_by: str | None = None,
    ) -> Job:
        """Persist a job capturing ``urls`` and queue it. Raises :class:`QueueFull`."""
        with self._pending_lock:
            if self._pending + len(urls) > self.queue_size:
                raise QueueFull(
                    f"the capture queue is full ({self._pending} of {self.queue_size} URLs "
                    "waiting); try again later"
                )
            self._pending += len(urls)
        try:
            with self.repository.catalog.session() as session:
                job = Job(
                    id=uuid.uuid4().hex,
                    collection=collection,
                    note=note,
                    truncate=truncate,
                    submitted_by=submitted_by,
                    items=[JobItem(position=n, url=url) for n, url in enumerate(urls)],
                )
                session.add(job)
                session.flush()
                ids = [item.id for item in job.items]
        except BaseException:
            self._release(len(urls))
            raise
        self._enqueue(ids, reserved=True)
        return job

    def get(self, job_id: str) -> Job | None:
        """The job with its URLs, or None."""
        with self.repository.catalog.session() as session:
            return session.get(Job, job_id)

    # -- workers -----------------------------------------------------------

    def _enqueue(self, item_ids: list[int], *, reserved: bool) -> None:
        if not reserved:
            with self._pending_lock:
                self._pending += len(item_ids)
        for item_id in item_ids:
            self._queue.put(item_id)

    def _release(self, count: int) -> None:
        with self._pending_lock:
            self._pending -= count

    def _work(self) -> None:
        while True:
            item_id = self._queue.get()
            if item_id is None or self._stopping.is_set():
                return
            try:
                self._run(item_id)
            except Exception:
                log.exception("capture job item %s failed", item_id)
                self._finish(item_id, error="internal error while capturing; see the server log")
            finally:
                self._release(1)

    def _run(self, item_id: int) -> None:
        catalog = self.repository.catalog
        with catalog.session() as session:
            item = session.get(JobItem, item_id)
            if item is None or item.state != JobState.queued:
                return
            job = item.job
            item.state = JobState.running
            if job.state == JobState.queued:
                job.state = JobState.running
                job.started = utcnow()
            url, collection, note, truncate = item.url, job.collection, job.note, job.truncate
        result = self._capturer.capture(
            url, collection=collection, note=note, trigger="api", truncate=truncate
        )
        if not result.ok and self._stopping.is_set():
            # Failed because the service is shutting down: capture it after the restart.
            with catalog.session() as session:
                session.get(JobItem, item_id).state = JobState.queued
            return
        if not result.ok:
            self._finish(item_id, error=result.error)
            return
        self._record(item_id, result)
        after_store_error = None
        try:
            with after_store_lock:
                run_after_store(self.repository, result.record_ids, enabled=True)
        except Exception as exc:
            log.exception("ingest after capture %s failed", result.capture_id)
            after_store_error = f"stored, but ingest or indexing failed: {exc}"
        self._finish(item_id, after_store_error=after_store_error)

    def _record(self, item_id: int, result: CaptureResult) -> None:
        """Save where the capture went, as soon as it is stored."""
        assert result.location is not None
        with self.repository.catalog.session() as session:
            item = session.get(JobItem, item_id)
            item.status = result.status
            item.final_url = result.final_url
            item.warc_file = result.location.warc_file
            item.offset = result.location.offset
            item.payload_digest = result.payload_digest
            item.revisit = result.revisit
            item.truncated = result.truncated
            item.capture_id = result.capture_id
            item.captured_at = session.scalars(
                select(Record.timestamp).where(
                    Record.warc_file == result.location.warc_file,
                    Record.offset == result.location.offset,
                )
            ).first()

    def _finish(
        self, item_id: int, *, error: str | None = None, after_store_error: str | None = None
    ) -> None:
        with self.repository.catalog.session() as session:
            item = session.get(JobItem, item_id)
            item.state = JobState.failed if error else JobState.done
            item.error = error
            item.after_store_error = after_store_error
            item.finished = utcnow()
            session.flush()
            job = item.job
            states = set(session.scalars(select(JobItem.state).where(JobItem.job_id == job.id)))
            if not states & set(_UNFINISHED):
                job.state = JobState.failed if JobState.failed in states else JobState.done
                job.finished = utcnow()
