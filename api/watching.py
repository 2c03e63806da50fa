"""Running the watches that are due: the workflow around :mod:`ingest.watch`.

:func:`run_due` leases the due watches, captures them host by host (one
thread and connection per host, the politeness delay between two of its
requests, and a soft-404 probe of the site when a page might be a missing
page in disguise), ingests each capture, has :mod:`ingest.watch` compare it
with the previous version and store the change, POSTs notable changes to the
webhook, then runs the due follows. The comparison rules, the tables and the
Atom feed are ingest's; this module only orders the stages.

A watch is leased while it runs (a crash frees it when the lease ends) and its
next run is due one interval after this one started, so a page is never
captured more often than asked.
"""

from __future__ import annotations

import queue
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import or_, select, update

from archive.capture import Capturer, CaptureResult
from archive.catalog import Catalog, utcnow
from archive.follow import run_due_follows
from archive.guard import RefusedURL, guarded_client
from archive.repository import Repository
from ingest.models import Document
from ingest.suggest import PROBE_SUFFIX
from ingest.watch import (
    NOTABLE,
    Comparison,
    PageChange,
    Watch,
    previous_document,
    record_change,
    response_document,
)

# How long a run holds a watch; a crashed run's watches are free again after it.
LEASE = timedelta(minutes=30)
# Hosts captured at the same time (each by one connection).
MAX_HOSTS = 4

StoredHook = Callable[[Sequence[int]], None]


@dataclass
class _HostWork:
    """What one host's thread captured: each watch's result, and the soft-404 probe."""

    captures: list[tuple[Watch, CaptureResult]]
    probe: CaptureResult | None = None


@dataclass
class WatchRun:
    """What :func:`run_due` did."""

    changes: list[PageChange] = field(default_factory=list)
    follows: list[Any] = field(default_factory=list)  # (FollowInfo, CrawlStatus)
    webhook_errors: list[str] = field(default_factory=list)


def run_due(
    repository: Repository,
    now: datetime | None = None,
    *,
    every: bool = False,
    on_stored: StoredHook | None = None,
    progress: Callable[[PageChange], None] | None = None,
    delay: float | None = None,
) -> WatchRun:
    """Capture every watch due at ``now`` (naive UTC; default: now), or all of
    them with ``every``; run the due follows too. Returns the changes recorded.

    ``on_stored`` gets the catalog ids of each capture's records after they
    are ingested (to index them).
    """
    now = now or utcnow()
    delay = repository.settings.crawl_delay if delay is None else delay
    run = WatchRun()
    watches = _claim(repository.catalog, now, every)
    by_host: dict[str, list[Watch]] = defaultdict(list)
    for watch in watches:
        by_host[urlsplit(watch.url).netloc].append(watch)
    done: queue.Queue[_HostWork | BaseException] = queue.Queue()
    capturer = Capturer(repository)
    try:
        with ThreadPoolExecutor(max_workers=min(MAX_HOSTS, len(by_host) or 1)) as pool:
            for host_watches in by_host.values():
                pool.submit(_capture_host, capturer, host_watches, delay, done)
            # Ingest and compare here, in the calling thread, as hosts finish:
            # extraction's time limit needs the main thread.
            for _ in by_host:
                work = done.get()
                if isinstance(work, BaseException):
                    raise work
                probe = _probe(repository, work.probe, on_stored)
                for watch, result in work.captures:
                    capture = Comparison(
                        result, previous=previous_document(repository.catalog, watch, result)
                    )
                    if result.ok:
                        capture.document = _ingested(repository, result, on_stored)
                    change = record_change(repository.catalog, watch, capture, probe, now)
                    run.changes.append(change)
                    _notify(repository, change, run)
                    if progress:
                        progress(change)
    finally:
        capturer.close()
        _release(repository.catalog, watches, now)
    run.follows = run_due_follows(repository, now, every=every, on_stored=on_stored, delay=delay)
    return run


def _claim(catalog: Catalog, now: datetime, every: bool) -> list[Watch]:
    """Lease the watches to run, each with a conditional UPDATE, so that two
    schedulers (or a restart during a run) never capture a page twice."""
    with catalog.session() as session:
        query = select(Watch).where(or_(Watch.lease_until.is_(None), Watch.lease_until < now))
        if not every:
            query = query.where(Watch.next_due <= now)
        candidates = list(session.scalars(query.order_by(Watch.next_due, Watch.id)))
    claimed = []
    for watch in candidates:
        with catalog.session() as session:
            taken = session.execute(
                update(Watch)
                .where(
                    Watch.id == watch.id,
                    or_(Watch.lease_until.is_(None), Watch.lease_until < now),
                )
                .values(lease_until=now + LEASE)
            ).rowcount
        if taken:
            claimed.append(watch)
    return claimed


def _release(catalog: Catalog, watches: list[Watch], now: datetime) -> None:
    with catalog.session() as session:
        for claimed in watches:
            watch = session.get(Watch, claimed.id)
            if watch is not None:
                watch.lease_until = None
                if watch.last_run == now:  # it ran: not stopped by an error
                    watch.next_due = now + timedelta(seconds=watch.every)


def _capture_host(
    capturer: Capturer,
    watches: list[Watch],
    delay: float,
    done: queue.Queue[_HostWork | BaseException],
) -> None:
    """Capture one host's watches in turn, then (if any page might be a missing
    page in disguise) a random non-existent path of the same site."""
    try:
        work = _HostWork([])
        for index, watch in enumerate(watches):
            if index:
                time.sleep(delay)
            result = capturer.capture(
                watch.url, collection=watch.collection, note=watch.note, trigger="watch"
            )
            work.captures.append((watch, result))
        if any(_needs_probe(result) for _, result in work.captures):
            time.sleep(delay)
            watch = watches[0]
            parts = urlsplit(watch.url)
            work.probe = capturer.capture(
                f"{parts.scheme}://{parts.netloc}/{uuid.uuid4().hex}{PROBE_SUFFIX}",
                collection=watch.collection,
                note="soft-404 probe: a path that does not exist",
                trigger="watch probe",
            )
        done.put(work)
    except BaseException as exc:  # the main thread re-raises it
        done.put(exc)


def _needs_probe(result: CaptureResult) -> bool:
    """A new payload answered 200 (redirected or not) might be a soft-404."""
    return result.ok and result.status == 200 and not result.revisit


def _ingested(
    repository: Repository, result: CaptureResult, on_stored: StoredHook | None
) -> Document | None:
    """Ingest a capture and return the document of its final response, if any."""
    from ingest.pipeline import Ingester  # trafilatura is slow to import: only when used

    if result.response_id is None:
        return None
    Ingester(repository, workers=1).run(record_ids=result.record_ids)
    if on_stored is not None:
        on_stored(result.record_ids)
    return response_document(repository.catalog, result)


def _probe(
    repository: Repository, probe: CaptureResult | None, on_stored: StoredHook | None
) -> Comparison | None:
    """The soft-404 probe with its document; None if there is none to compare with."""
    if probe is None:
        return None
    if not probe.ok or probe.status != 200:
        return Comparison(probe)  # the site answers a missing page honestly: no soft-404s
    return Comparison(probe, document=_ingested(repository, probe, on_stored))


def _notify(repository: Repository, change: PageChange, run: WatchRun) -> None:
    """POST a notable change to ``VESTIGE_WEBHOOK_URL`` (failures are reported, not raised)."""
    url = repository.settings.webhook_url
    if not url or change.kind not in NOTABLE:
        return
    settings = repository.settings
    # The capture guard applies: a webhook URL is an outbound request like any other.
    allow = settings.capture_allow_private
    client = guarded_client(allow, timeout=settings.fetch_timeout, user_agent=settings.user_agent)
    try:
        with client:
            response = client.post(
                url, json={"event": f"page.{change.kind}", "change": change.to_dict()}
            )
        response.raise_for_status()
    except (httpx.HTTPError, RefusedURL) as exc:
        run.webhook_errors.append(f"{change.url}: {exc}")
