"""Capture jobs run in the background by a bounded pool of worker threads.

The catalog is the source of truth: a job and each of its URLs are rows
(``api.models``), updated as the work goes, so a restarted service resumes
whatever was queued or running when it stopped. The in-memory queue only
carries row ids to the workers.

Several service processes may share one PostgreSQL catalog. A worker claims a
URL with a conditional UPDATE (queued -> running), so only one process
captures it, and holds a PostgreSQL advisory lock on it while capturing: a
process starting up requeues only the running URLs nobody holds (their
process died). Idle workers poll the catalog for URLs another process queued.

On SQLite, the processes of one ``vestige serve --workers N`` leave capturing to
the leader (``api.leader``); the others only persist the jobs they accept.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

from sqlalchemy import func, select, update

from api import pipeline
from api.models import Job, JobItem, JobState
from api.schema import TABLES
from archive.browser import CaptureMode, ModeCapturer
from archive.capture import CaptureResult
from archive.catalog import Record, utcnow
from archive.config import Settings
from archive.errors import Unavailable
from archive.repository import Repository
from search.backend import SearchError

log = logging.getLogger(__name__)

_child_repository: Repository | None = None
CATCH_UP = 2000  # changes indexed per piece of the catch-up at start


def _open_child(settings: Settings) -> None:
    global _child_repository
    _child_repository = Repository(settings, TABLES)


def _after_store_child(record_ids: list[int]) -> None:
    assert _child_repository is not None
    pipeline.after_store_logged(_child_repository, record_ids)


def _catch_up_child(limit: int) -> bool:
    assert _child_repository is not None
    try:
        return pipeline.index(_child_repository, limit)
    except SearchError as exc:  # what is stored stays; the next start catches up
        log.warning("search index catch-up failed: %s", exc)
        return False


class AfterStore:
    """Ingests and indexes stored records in one child process, one batch at a time.

    Extraction and indexing are CPU-bound Python: run in the service's process they
    would hold its GIL and stall searches and page views. One child also means one
    index writer at a time, whichever capture worker or upload stored the records.
    """

    def __init__(self, settings: Settings) -> None:
        # spawn, not fork: the service's threads, index and database handles stay here.
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_open_child,
            initargs=(settings,),
        )
        self._closing = threading.Event()

    def catch_up(self) -> None:
        """Index what the catalog holds and the search index lacks (changes made while
        the service was down; an index from an older version starts empty), in the
        background, ``CATCH_UP`` changes at a time: stopping waits for one piece at most."""

        def run() -> None:
            try:
                while not self._closing.is_set():
                    if not self._pool.submit(_catch_up_child, CATCH_UP).result():
                        return
            except Exception as exc:  # the service is stopping, or the engine failed
                log.info("search index catch-up stopped: %s", exc)

        threading.Thread(target=run, name="index-catch-up", daemon=True).start()

    def run(self, record_ids: Sequence[int]) -> str | None:
        """Ingest and index ``record_ids`` (blocking); None, or what went wrong."""
        try:
            self._pool.submit(_after_store_child, list(record_ids)).result()
        except Exception as exc:
            log.error("ingest or indexing of records %s failed", list(record_ids)[:5], exc_info=exc)
            return f"stored, but ingest or indexing failed: {exc}"
        return None

    def close(self) -> None:
        self._closing.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


_UNFINISHED = (JobState.queued, JobState.running)
# Seconds an idle worker waits before looking in a shared catalog for work.
_POLL = 0.5
# Advisory-lock namespace of job items' leases (PostgreSQL).
_LEASE = 0x4A4F42  # "JOB"


class QueueFull(Unavailable):
    """The capture queue cannot take that many more URLs now."""

    retry_after = 60


class CaptureJobs:
    """Submits capture jobs and runs them on ``workers`` threads."""

    def __init__(
        self, repository: Repository, *, workers: int, queue_size: int, poll: bool = False
    ) -> None:
        self.repository = repository
        self.workers = workers
        self.queue_size = queue_size
        self._capturer = ModeCapturer(repository, CaptureMode.http)
        self.after_store = AfterStore(repository.settings)
        self._queue: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._shared = repository.catalog.engine.dialect.name == "postgresql"
        # Other processes queue URLs in the catalog: idle workers look there.
        self._poll = poll or self._shared

    @property
    def shared(self) -> bool:
        """Whether the catalog is PostgreSQL, where every process's workers may capture
        (leases keep them apart); else only the leader's run (see api.leader)."""
        return self._shared

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
                if item.state == JobState.running and self._shared and self._held(item.id):
                    continue  # another live process is capturing it
                # A URL that was running when the service stopped is captured again.
                item.state = JobState.queued
            items = [item for item in items if item.state == JobState.queued]
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
        self.after_store.close()

    def submit(
        self,
        urls: Sequence[str],
        *,
        collection: str,
        note: str | None = None,
        truncate: bool = False,
        mode: CaptureMode = CaptureMode.http,
        submitted_by: str | None = None,
    ) -> Job:
        """Persist a job capturing ``urls`` and queue it. Raises :class:`QueueFull`.

        In a process whose workers do not run (not the leader, see api.leader),
        the job waits in the catalog for the leader's workers.
        """
        local = bool(self._threads)
        with self._pending_lock:
            waiting = self._pending if local else self._queued()
            if waiting + len(urls) > self.queue_size:
                raise QueueFull(
                    f"the capture queue is full ({waiting} of {self.queue_size} URLs "
                    "waiting); try again later"
                )
            if local:
                self._pending += len(urls)
        try:
            with self.repository.catalog.session() as session:
                job = Job(
                    id=uuid.uuid4().hex,
                    collection=collection,
                    note=note,
                    truncate=truncate,
                    mode=mode,
                    submitted_by=submitted_by,
                    items=[JobItem(position=n, url=url) for n, url in enumerate(urls)],
                )
                session.add(job)
                session.flush()
                ids = [item.id for item in job.items]
        except BaseException:
            if local:
                self._release(len(urls))
            raise
        if local:
            self._enqueue(ids, reserved=True)
        return job

    def _queued(self) -> int:
        """URLs queued in the catalog, by any process."""
        with self.repository.catalog.session() as session:
            return session.scalar(
                select(func.count()).select_from(JobItem).where(JobItem.state == JobState.queued)
            )

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
            try:
                item_id = self._queue.get(timeout=_POLL) if self._poll else self._queue.get()
            except queue.Empty:
                if not self._stopping.is_set():
                    self._run_shared()
                continue
            if item_id is None or self._stopping.is_set():
                return
            try:
                self._run_safely(item_id)
            finally:
                self._release(1)

    def _run_shared(self) -> None:
        """Capture the oldest URL queued in the shared catalog, if any (by any process)."""
        with self.repository.catalog.session() as session:
            item_id = session.scalar(
                select(func.min(JobItem.id)).where(JobItem.state == JobState.queued)
            )
        if item_id is None:
            if self._shared:  # else only the leader captures: nothing is orphaned while it runs
                self._requeue_orphans()
        else:
            self._run_safely(item_id)

    def _requeue_orphans(self) -> None:
        """Queue again the URLs left running by a process that died (their lease is free)."""
        with self.repository.catalog.session() as session:
            running = list(
                session.scalars(
                    select(JobItem.id).where(JobItem.state == JobState.running).limit(100)
                )
            )
        for item_id in running:
            with self._lease(item_id) as leased:
                if not leased:
                    continue  # a live process is capturing it
                with self.repository.catalog.session() as session:
                    session.execute(
                        update(JobItem)
                        .where(JobItem.id == item_id, JobItem.state == JobState.running)
                        .values(state=JobState.queued)
                    )
                log.info("requeued capture job item %s of a stopped process", item_id)

    def _run_safely(self, item_id: int) -> None:
        try:
            with self._lease(item_id) as leased:
                if leased:  # else another process is capturing it
                    self._run(item_id)
        except Exception:
            log.exception("capture job item %s failed", item_id)
            self._finish(item_id, error="internal error while capturing; see the server log")

    @contextmanager
    def _lease(self, item_id: int) -> Iterator[bool]:
        """Hold a PostgreSQL advisory lock on the item while capturing it; False if taken.

        The lock is the connection's: it goes away with a process that dies,
        which is how a starting process tells a dead capture from a live one.
        """
        if not self._shared:
            yield True
            return
        with self.repository.catalog.engine.connect() as connection:
            leased = bool(connection.scalar(select(func.pg_try_advisory_lock(_LEASE, item_id))))
            connection.commit()  # the lock outlives the transaction; none stays open
            try:
                yield leased
            finally:
                if leased:
                    connection.execute(select(func.pg_advisory_unlock(_LEASE, item_id)))
                    connection.commit()

    def _held(self, item_id: int) -> bool:
        """Whether a live process holds the item's lease (PostgreSQL)."""
        with self.repository.catalog.engine.connect() as connection:
            free = connection.scalar(select(func.pg_try_advisory_lock(_LEASE, item_id)))
            if free:
                connection.execute(select(func.pg_advisory_unlock(_LEASE, item_id)))
            connection.commit()
        return not free

    def _run(self, item_id: int) -> None:
        catalog = self.repository.catalog
        with catalog.session() as session:
            # Claim it: of all the workers of all the processes, one wins.
            claimed = session.execute(
                update(JobItem)
                .where(JobItem.id == item_id, JobItem.state == JobState.queued)
                .values(state=JobState.running)
            ).rowcount
            if not claimed:
                return
            item = session.get(JobItem, item_id)
            job = item.job
            if job.state == JobState.queued:
                job.state = JobState.running
                job.started = utcnow()
            url, collection, note, truncate = item.url, job.collection, job.note, job.truncate
            mode = CaptureMode(job.mode)
            # Named before capturing: a capture stored by a process that then died is found.
            capture_id = item.capture_id = item.capture_id or uuid.uuid4().hex
        with catalog.session() as session:
            query = select(Record.id).where(Record.capture_id == capture_id)
            record_ids = list(session.scalars(query))
        if record_ids:
            # Stored before its process stopped: finish it rather than capture it twice.
            self._record_stored(item_id, record_ids)
            self._finish(item_id, after_store_error=self.after_store.run(record_ids))
            return
        result = self._capturer.capture(
            url,
            collection=collection,
            note=note,
            trigger="api",
            truncate=truncate,
            capture_id=capture_id,
            mode=mode,
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
        self._finish(item_id, after_store_error=self.after_store.run(result.record_ids))

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

    def _record_stored(self, item_id: int, record_ids: list[int]) -> None:
        """Save where a capture went from its catalog rows, if its process died first."""
        with self.repository.catalog.session() as session:
            item = session.get(JobItem, item_id)
            if item.warc_file is not None:
                return
            rows = session.scalars(
                select(Record).where(Record.id.in_(record_ids)).order_by(Record.id)
            )
            final = [row for row in rows if row.record_type in ("response", "revisit")][-1]
            item.status = final.status
            item.final_url = final.url
            item.warc_file = final.warc_file
            item.offset = final.offset
            item.payload_digest = final.payload_digest
            item.revisit = final.record_type == "revisit"
            item.captured_at = final.timestamp

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
            # Locked so that two processes finishing the job's last URLs
            # cannot both miss that the job is complete.
            job = session.get(Job, item.job_id, with_for_update=True)
            states = set(session.scalars(select(JobItem.state).where(JobItem.job_id == job.id)))
            if not states & set(_UNFINISHED):
                job.state = JobState.failed if JobState.failed in states else JobState.done
                job.finished = utcnow()
