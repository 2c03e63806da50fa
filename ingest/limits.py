"""The time limit of one extraction, renewed page by page for documents read by OCR.

A SIGALRM timer interrupts the extraction (only in a main thread, where signals
work: the worker processes and the command line). OCR gives each page the whole
limit again with :func:`renew`, so ``VESTIGE_INGEST_TIMEOUT`` bounds each page of
a scan rather than the whole scan (whose page count ``VESTIGE_OCR_MAX_PAGES`` bounds).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TimeLimit(Exception):
    """The extraction ran out of time."""


_armed: list[float] = []  # the seconds of the limit in force, if any


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block with :class:`TimeLimit` after ``seconds`` (0: no limit)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum: int, _frame: object) -> None:
        raise TimeLimit

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    _armed.append(seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _armed.pop()


def renew() -> None:
    """Give the running extraction its whole time limit again (before each OCR page)."""
    if _armed and threading.current_thread() is threading.main_thread():
        signal.setitimer(signal.ITIMER_REAL, _armed[-1])
