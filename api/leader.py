"""The leader lease: which of the service processes sharing a home runs the background work.

``vestige serve --workers N`` runs N processes on one port. Every one serves
requests and reads the catalog and the search index; one at a time, the leader,
also runs the index catch-up and the scheduler, and on SQLite the capture queue,
so that the work they do is done once. The others put submitted captures in the
catalog, where the leader's workers find them. (On PostgreSQL every process
captures: URLs are leased one by one in the database, see api.jobs.)

The lease is an exclusive ``flock`` on ``$VESTIGE_HOME/serve.lock``: the kernel
releases it when its holder dies, however it dies, and the next process to
poll for it takes over within ``LEASE_POLL`` seconds. The lock file holds the
leader's process id (for people, and for the tests that kill it).
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

LEASE_FILE = "serve.lock"
LEASE_POLL = 0.5  # seconds between two tries of a process that is not the leader
_PR_SET_PDEATHSIG = 1


class Leadership:
    """Takes the lease on ``home`` and then calls ``elected`` (once, in this process)."""

    def __init__(self, home: Path, elected: Callable[[], None], poll: float = LEASE_POLL) -> None:
        self.path = home / LEASE_FILE
        self._elected = elected
        self._poll = poll
        self._fd: int | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def leader(self) -> bool:
        """Whether this process holds the lease."""
        return self._fd is not None

    def start(self) -> None:
        """Try for the lease now (leading at once if it is free), then keep trying."""
        if self._try():
            return
        self._thread = threading.Thread(target=self._wait, name="vestige-leader", daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        while not self._stopping.wait(self._poll):
            try:
                if self._try():
                    return
            except Exception:
                log.exception("taking over the background work failed")
                return

    def _try(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        log.info("process %d runs the capture queue, index catch-up and scheduler", os.getpid())
        self._elected()
        return True

    def stop(self) -> None:
        """Stop trying for the lease; once this returns, ``leader`` no longer changes."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    def release(self) -> None:
        """Give the lease up (after the background work has stopped)."""
        if self._fd is not None:
            os.close(self._fd)  # releases the flock
            self._fd = None


def die_with_parent(parent: int) -> None:
    """End this process when ``parent`` (the ``vestige serve`` supervisor) dies, however
    it dies (Linux; elsewhere a no-op): killing the service kills all of it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the prctl
        os._exit(1)
