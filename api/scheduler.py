"""The service's scheduler: runs due watches and follows in the background.

A thread looks every ``VESTIGE_SCHEDULER_INTERVAL`` seconds (or at once when
woken, after a watch or follow is added) whether anything is due; that look is
one small query. When something is, it runs :func:`api.watching.run_due` in a
child process: capturing, extraction and indexing stay off the service's GIL,
and extraction's time limit (a signal) works in the child's main thread.

It is the same code as ``vestige watch run``, with its leases: a watch (or a
follow) is claimed by a conditional UPDATE before it is captured, so two
service processes, or the service and a cron job, never capture it twice.
``VESTIGE_SCHEDULER=0`` turns it off.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from multiprocessing.process import BaseProcess

from sqlalchemy import or_, select

from api import pipeline
from api.schema import TABLES
from archive.catalog import utcnow
from archive.config import Settings
from archive.frontier import Follow
from archive.repository import Repository
from ingest.watch import Watch

log = logging.getLogger(__name__)

# Seconds a run may take to stop after SIGINT before it is terminated.
STOP_GRACE = 10.0


def anything_due(repository: Repository) -> bool:
    """Whether a watch or a follow is due now and not leased (blocking)."""
    now = utcnow()
    with repository.catalog.session() as session:
        watch = session.scalar(
            select(Watch.id)
            .where(
                Watch.next_due <= now,
                or_(Watch.lease_until.is_(None), Watch.lease_until < now),
            )
            .limit(1)
        )
        if watch is not None:
            return True
        return session.scalar(select(Follow.id).where(Follow.next_run <= now).limit(1)) is not None


def run_due_now(settings: Settings) -> None:
    """One scheduler run, in a child process: capture what is due, ingest and index it."""
    from api.watching import run_due

    logging.basicConfig(level=logging.INFO, format="vestige scheduler: %(message)s")
    repository = Repository(settings, TABLES)
    try:
        run = run_due(
            repository, on_stored=lambda ids: pipeline.after_store_logged(repository, ids)
        )
    except KeyboardInterrupt:  # the service is stopping: leases end, crawls resume
        return
    finally:
        repository.close()
    for change in run.changes:
        log.info("%s: %s %s", change.kind, change.url, change.reason or "")
    for info, status in run.follows:
        log.info("followed %s: %d new pages (crawl %s)", info.url, status.captured, status.id)
    for error in run.webhook_errors:
        log.warning("webhook failed: %s", error)


class Scheduler:
    """Looks for due work every ``interval`` seconds and runs it in a child process."""

    def __init__(self, repository: Repository, interval: float) -> None:
        self.repository = repository
        self.interval = interval
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._child: BaseProcess | None = None
        self._thread = threading.Thread(target=self._loop, name="vestige-scheduler", daemon=True)
        self.runs = 0  # child processes started

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Look for due work now (a watch or follow was just added)."""
        self._wake.set()

    @property
    def busy(self) -> bool:
        """Whether a run is going on."""
        return self._child is not None and self._child.is_alive()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._tick()
            except Exception:
                log.exception("the scheduler could not look for due watches and follows")
            self._wake.wait(self.interval)
            self._wake.clear()

    def _tick(self) -> None:
        if self._child is not None:
            if self._child.is_alive():
                return
            if self._child.exitcode:
                log.error("a scheduler run failed (exit code %s)", self._child.exitcode)
            self._child = None
        if not anything_due(self.repository):
            return
        child = multiprocessing.get_context("spawn").Process(
            target=run_due_now, args=(self.repository.settings,), name="vestige-scheduler-run"
        )
        child.daemon = True
        child.start()
        self._child = child
        self.runs += 1

    def stop(self) -> None:
        """Stop looking; interrupt a run (SIGINT, then SIGTERM after a grace period)."""
        self._stopping.set()
        self._wake.set()
        self._thread.join()
        child = self._child
        if child is None or not child.is_alive():
            return
        if child.pid is not None:
            os.kill(child.pid, signal.SIGINT)
        child.join(STOP_GRACE)
        if child.is_alive():
            child.terminate()
            child.join()
