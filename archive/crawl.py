"""Crawling: discover pages from seeds and capture those in scope, breadth-first.

Every fetch is a :meth:`archive.capture.Capturer.capture` (same WARC writing,
dedup, address guard and size limits); links are read back from the stored
records, never fetched twice. The frontier is in the catalog
(:mod:`archive.frontier`): each capture gets a capture id derived from its
frontier row, so after a crash the crawl finds what was stored and continues
without capturing anything twice.

Politeness: one connection per host (``host_connections``), ``delay`` seconds
between two requests to a host (``VESTIGE_CRAWL_DELAY``, or robots.txt's
Crawl-delay if longer), and back-off on 429 and 503 (``Retry-After``).
robots.txt is captured, read and obeyed unless ``ignore_robots``; the choice is
written into the metadata record of every capture.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache, partial
from pathlib import Path
from urllib.robotparser import RobotFileParser

from sqlalchemy import select

from archive.browser import BrowserCapturer
from archive.capture import Capturer, CaptureResult
from archive.catalog import Record
from archive.discover import Link, links_in, parse_robots
from archive.frontier import (
    Crawl,
    CrawlState,
    CrawlURL,
    Entry,
    Frontier,
    NewURL,
    URLKind,
    URLState,
    capture_id_for,
    path_key,
    utcnow,
)
from archive.repository import Repository
from archive.scope import Scope, ScopeRules, clean_url, origin
from archive.store import InvalidCollection, Location, check_collection
from archive.urls import InvalidURL, checked_url
from archive.warc import InvalidText, check_note

# URLs a running crawl takes from the catalog at a time: memory stays bounded
# however large the frontier grows.
BATCH = 200
# Largest body read back to find links in.
MAX_PARSE_SIZE = 20 * 1024 * 1024
_RETRY_STATUSES = (429, 503)
# Options that only change how politely a crawl runs, not what it is.
_RUNTIME_OPTIONS = ("delay", "host_connections", "workers")


class CrawlError(Exception):
    """A crawl that cannot run: bad seeds or options, unknown id, running elsewhere."""


@dataclass
class CrawlOptions:
    """What to crawl and how. Seeds and the options above ``delay`` identify the crawl."""

    seeds: list[str]
    scope: Scope = Scope.prefix
    depth: int = 2
    max_pages: int | None = None
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    collection: str = "default"
    note: str | None = None
    ignore_robots: bool = False
    sitemaps: bool = True
    feeds: bool = True
    skip_archived: bool = False
    language: str | None = None
    max_url_length: int = 2048
    max_segment_repeats: int = 2
    max_query_variants: int = 50
    max_attempts: int = 3
    max_retry_after: float = 3600.0
    delay: float | None = None  # None: VESTIGE_CRAWL_DELAY
    host_connections: int = 1
    workers: int = 4
    browser: bool = False  # pages (not robots.txt, sitemaps, feeds) loaded in Chromium

    def __post_init__(self) -> None:
        if not self.seeds:
            raise CrawlError("a crawl needs at least one seed URL")
        seeds = []
        for seed in self.seeds:
            try:
                seeds.append(checked_url(seed, fetchable=True, what="seed"))
            except InvalidURL as exc:
                raise CrawlError(str(exc)) from exc
        self.seeds = list(dict.fromkeys(seeds))
        self.scope = Scope(self.scope)
        try:
            check_collection(self.collection)
            check_note(self.note)
        except (InvalidCollection, InvalidText) as exc:
            raise CrawlError(str(exc)) from exc
        for pattern in (*self.include, *self.exclude):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise CrawlError(f"invalid regular expression {pattern!r}: {exc}") from exc
        if self.depth < 0 or (self.max_pages is not None and self.max_pages < 1):
            raise CrawlError("--depth must be 0 or more and --max-pages 1 or more")
        if self.workers < 1 or self.host_connections < 1:
            raise CrawlError("workers and connections per host must be 1 or more")

    def key(self) -> str:
        """Identifies the crawl: the same seeds and options give the same key."""
        defining = {k: v for k, v in asdict(self).items() if k not in _RUNTIME_OPTIONS}
        defining["seeds"] = sorted(self.seeds)
        if not self.browser:
            del defining["browser"]  # the keys of crawls from before the option stay
        return hashlib.sha256(json.dumps(defining, sort_keys=True).encode()).hexdigest()

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CrawlOptions:
        return cls(**json.loads(text))


@dataclass
class CrawlStatus:
    """A crawl's state and counts, for progress displays, the CLI and the API."""

    id: str
    seeds: list[str]
    state: str  # running, interrupted, done, cancelled
    collection: str
    created: datetime
    started: datetime | None = None
    finished: datetime | None = None
    follow_id: int | None = None
    queued: int = 0  # waiting (or being captured)
    captured: int = 0  # pages stored
    fetched_other: int = 0  # robots.txt, sitemaps and feeds stored
    skipped_scope: int = 0
    skipped: int = 0  # every other skip: robots.txt, traps, filters, depth
    failed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # skip and failure reasons
    pages_per_second: float = 0.0  # this run's rate, while it runs


@dataclass
class _Host:
    """Politeness state of one origin."""

    delay: float
    busy: int = 0
    ready_at: float = 0.0  # time.time() of the next request allowed
    robots: RobotFileParser | None = None
    robots_allows_all: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)


def _lock_path(repository: Repository, crawl_id: str) -> Path:
    return repository.settings.home / "crawls" / f"{crawl_id}.lock"


def _running_elsewhere(repository: Repository, crawl_id: str) -> bool:
    path = _lock_path(repository, crawl_id)
    if not path.exists():
        return False
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


@contextmanager
def _crawl_lock(repository: Repository, crawl_id: str) -> Iterator[None]:
    """Held while a process runs the crawl; released by the kernel if it dies."""
    path = _lock_path(repository, crawl_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise CrawlError(f"crawl {crawl_id} is running in another process") from exc
        yield


def crawl_status(
    repository: Repository, crawl_id: str, *, _crawl: Crawl | None = None
) -> CrawlStatus:
    """The state and counts of crawl ``crawl_id``. Raises :class:`CrawlError` if unknown."""
    crawl = _crawl
    if crawl is None:
        with repository.catalog.session() as session:
            crawl = session.get(Crawl, crawl_id)
    if crawl is None:
        raise CrawlError(f"no crawl with id {crawl_id}")
    options = CrawlOptions.from_json(crawl.options)
    state = crawl.state
    if state == CrawlState.running and not _running_elsewhere(repository, crawl.id):
        state = "interrupted"
    status = CrawlStatus(
        id=crawl.id,
        seeds=json.loads(crawl.seeds),
        state=state,
        collection=options.collection,
        created=crawl.created,
        started=crawl.started,
        finished=crawl.finished,
        follow_id=crawl.follow_id,
    )
    for (url_state, kind, reason), count in Frontier(repository.catalog, crawl.id).counts().items():
        if url_state in (URLState.queued, URLState.claimed):
            status.queued += count
        elif url_state == URLState.captured:
            if kind == URLKind.page:
                status.captured += count
            else:
                status.fetched_other += count
        elif url_state == URLState.failed:
            status.failed += count
        elif reason == "scope":
            status.skipped_scope += count
        else:
            status.skipped += count
        if reason and url_state in (URLState.skipped, URLState.failed):
            status.reasons[reason] = status.reasons.get(reason, 0) + count
    return status


def list_crawls(repository: Repository, limit: int = 50) -> list[CrawlStatus]:
    """The latest crawls, newest first."""
    with repository.catalog.session() as session:
        crawls = list(session.scalars(select(Crawl).order_by(Crawl.created.desc()).limit(limit)))
    return [crawl_status(repository, crawl.id, _crawl=crawl) for crawl in crawls]


def cancel_crawl(repository: Repository, crawl_id: str) -> CrawlStatus:
    """Cancel a crawl; a running one stops after the pages in hand."""
    with repository.catalog.session() as session:
        crawl = session.get(Crawl, crawl_id)
        if crawl is None:
            raise CrawlError(f"no crawl with id {crawl_id}")
        if crawl.state == CrawlState.running:
            crawl.state = CrawlState.cancelled
            if not _running_elsewhere(repository, crawl_id):
                crawl.finished = utcnow()
    return crawl_status(repository, crawl_id)


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delay-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


@dataclass
class _Stored:
    """What a crawl needs from a stored capture: headers and (for parsing) the body."""

    content_type: str | None
    retry_after: str | None
    body: bytes | None


class Crawler:
    """Runs one crawl: ``Crawler(repository, options).run(progress=...)``.

    With the same seeds and options as an unfinished crawl, it continues that
    crawl; :meth:`resume` continues one by id.
    """

    def __init__(
        self,
        repository: Repository,
        options: CrawlOptions,
        *,
        crawl_id: str | None = None,
        follow_id: int | None = None,
        capturer: Capturer | None = None,
        on_stored: Callable[[Sequence[int]], None] | None = None,
    ) -> None:
        self.repository = repository
        self.options = options
        self.on_stored = on_stored
        self.resumed = False
        with repository.catalog.session() as session:
            if crawl_id is None:
                crawl = session.scalars(
                    select(Crawl)
                    .where(
                        Crawl.key == options.key(),
                        Crawl.state == CrawlState.running,
                        Crawl.follow_id == follow_id
                        if follow_id is not None
                        else Crawl.follow_id.is_(None),
                    )
                    .order_by(Crawl.created.desc())
                ).first()
                if crawl is None:
                    crawl = Crawl(
                        id=uuid.uuid4().hex,
                        key=options.key(),
                        seeds=json.dumps(options.seeds),
                        options=options.to_json(),
                        state=CrawlState.running,
                        follow_id=follow_id,
                        created=utcnow(),
                    )
                    session.add(crawl)
                else:
                    self.resumed = True
            else:
                crawl = session.get(Crawl, crawl_id)
                if crawl is None:
                    raise CrawlError(f"no crawl with id {crawl_id}")
                self.resumed = True
            self.id = crawl.id
        self.frontier = Frontier(repository.catalog, self.id, fast_commits=True)
        self.rules = ScopeRules(
            options.seeds,
            options.scope,
            options.include,
            options.exclude,
            options.language,
            options.max_url_length,
            options.max_segment_repeats,
        )
        # A site's navigation links are judged again on every page that has them.
        self._verdict = lru_cache(maxsize=4096)(self.rules.verdict)
        self.delay = options.delay if options.delay is not None else repository.settings.crawl_delay
        self._own_capturer = capturer is None
        self.capturer = capturer or Capturer(repository)
        # Pages go to the browser; robots.txt, sitemaps and feeds stay plain GETs.
        self.page_capturer = BrowserCapturer(repository) if options.browser else None
        self._seed_origins = {origin(seed) for seed in options.seeds}
        self._hosts: dict[str, _Host] = {}
        self._buffer: list[Entry] = []
        self._lock = threading.Condition()
        self._inflight = 0
        self._pages_inflight = 0
        self._pages_done = 0
        self._new_urls = True  # the frontier may have queued URLs not yet claimed
        self._redirected: set[str] = set()  # captured as redirect targets during this run
        self._hook_lock = threading.Lock()
        self._errors: list[BaseException] = []

    @classmethod
    def resume(cls, repository: Repository, crawl_id: str, **kwargs: object) -> Crawler:
        """Continue crawl ``crawl_id`` with the options it was started with."""
        with repository.catalog.session() as session:
            crawl = session.get(Crawl, crawl_id)
            if crawl is None:
                raise CrawlError(f"no crawl with id {crawl_id}")
            options = CrawlOptions.from_json(crawl.options)
            follow_id = crawl.follow_id
            if crawl.state == CrawlState.cancelled:
                crawl.state = CrawlState.running
                crawl.finished = None
        runtime = {name: kwargs.pop(name) for name in _RUNTIME_OPTIONS if name in kwargs}
        for name, value in runtime.items():
            if value is not None:
                setattr(options, name, value)
        return cls(repository, options, crawl_id=crawl_id, follow_id=follow_id, **kwargs)  # type: ignore[arg-type]

    def status(self) -> CrawlStatus:
        """The crawl's state and counts now."""
        return crawl_status(self.repository, self.id)

    # -- running -------------------------------------------------------------

    def run(
        self,
        progress: Callable[[CrawlStatus], None] | None = None,
        *,
        stop: threading.Event | None = None,
        progress_every: float = 0.5,
    ) -> CrawlStatus:
        """Crawl until the frontier is empty, ``max_pages`` pages are stored, the
        crawl is cancelled or ``stop`` is set; return the final status.

        ``progress`` is called about every ``progress_every`` seconds. Interrupted
        (``stop``, KeyboardInterrupt, a crash), the crawl stays resumable.
        """
        stop = stop or threading.Event()
        with _crawl_lock(self.repository, self.id):
            with self.repository.catalog.session() as session:
                crawl = session.get(Crawl, self.id)
                assert crawl is not None
                if crawl.state != CrawlState.running:
                    raise CrawlError(f"crawl {self.id} is {crawl.state}")
                crawl.started = crawl.started or utcnow()
            self._pages_done = self._count_pages()
            self._recover()
            if not self.resumed:
                self.frontier.add(
                    [NewURL(seed, URLKind.page, 0, None) for seed in self.options.seeds]
                )
            began, pages_at_start = time.monotonic(), self._pages_done
            finished = False
            try:
                finished = self._dispatch(stop, progress, progress_every, began, pages_at_start)
            except KeyboardInterrupt:
                stop.set()
                self._drain()
            finally:
                self.frontier.release()
                if self._own_capturer:
                    self.capturer.close()
                if self.page_capturer is not None:
                    self.page_capturer.close()
                self.frontier.close()
            with self.repository.catalog.session() as session:
                crawl = session.get(Crawl, self.id)
                assert crawl is not None
                if finished and crawl.state == CrawlState.running:
                    crawl.state = CrawlState.done
                if crawl.state != CrawlState.running:
                    crawl.finished = crawl.finished or utcnow()
                final = crawl_status(self.repository, self.id, _crawl=crawl)
        final.state = crawl.state if crawl.state != CrawlState.running else "interrupted"
        final.pages_per_second = (self._pages_done - pages_at_start) / max(
            time.monotonic() - began, 1e-6
        )
        if self._errors:
            raise self._errors[0]
        if progress:
            progress(final)
        return final

    def _count_pages(self) -> int:
        return sum(
            count
            for (state, kind, _), count in self.frontier.counts().items()
            if state == URLState.captured and kind == URLKind.page
        )

    def _dispatch(
        self,
        stop: threading.Event,
        progress: Callable[[CrawlStatus], None] | None,
        progress_every: float,
        began: float,
        pages_at_start: int,
    ) -> bool:
        """Hand ready URLs to the workers; True when the crawl is complete."""
        last_check = last_progress = 0.0
        with ThreadPoolExecutor(self.options.workers, thread_name_prefix="vestige-crawl") as pool:
            while True:
                now = time.monotonic()
                if now - last_check >= 1.0:
                    last_check = now
                    if self._cancelled():
                        stop.set()
                if progress and now - last_progress >= progress_every:
                    last_progress = now
                    status = self.status()
                    status.pages_per_second = (self._pages_done - pages_at_start) / max(
                        now - began, 1e-6
                    )
                    progress(status)
                with self._lock:
                    if self._errors:
                        stop.set()
                    limit_reached = (
                        self.options.max_pages is not None
                        and self._pages_done + self._pages_inflight >= self.options.max_pages
                    )
                    if stop.is_set() or limit_reached:
                        if self._inflight == 0:
                            return limit_reached and not stop.is_set()
                        self._lock.wait(0.2)
                        continue
                    refill = len(self._buffer) < BATCH // 2 and self._new_urls
                if refill:
                    self._new_urls = False
                    claimed = self.frontier.claim(BATCH - len(self._buffer))
                    with self._lock:
                        known = {entry.id for entry in self._buffer}
                        self._buffer += [entry for entry in claimed if entry.id not in known]
                with self._lock:
                    if self._inflight >= self.options.workers:
                        self._lock.wait(1.0)
                        continue
                    entry, wait = self._pick()
                    if entry is not None:
                        self._inflight += 1
                        if entry.kind is URLKind.page:
                            self._pages_inflight += 1
                        pool.submit(self._work, entry)
                        continue
                    if not self._buffer and self._inflight == 0 and not self._new_urls:
                        return True
                    self._lock.wait(wait)

    def _drain(self) -> None:
        with self._lock:
            while self._inflight:
                self._lock.wait(0.2)

    def _cancelled(self) -> bool:
        with self.repository.catalog.session() as session:
            crawl = session.get(Crawl, self.id)
            return crawl is None or crawl.state == CrawlState.cancelled

    def _host(self, url: str) -> _Host:
        key = origin(url)
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host(delay=self.delay)
        return host

    def _pick(self) -> tuple[Entry | None, float]:
        """The first buffered URL whose host is free and ready (under the lock),
        or None and how long to wait for one."""
        now = time.time()
        wait = 1.0
        blocked: set[str] = set()
        for index, entry in enumerate(self._buffer):
            if entry.url in self._redirected and entry.kind is URLKind.page:
                # Already captured this run as another URL's redirect target.
                del self._buffer[index]
                self.frontier.finish(
                    entry, state=URLState.captured, reason="captured through a redirect"
                )
                return None, 0.0
            key = origin(entry.url)
            if key in blocked:
                continue
            host = self._host(entry.url)
            ready_at = max(host.ready_at, entry.not_before)
            if host.busy >= self.options.host_connections or ready_at > now:
                if host.busy < self.options.host_connections:
                    wait = min(wait, ready_at - now)
                blocked.add(key)
                continue
            del self._buffer[index]
            host.busy += 1
            return entry, 0.0
        return None, max(wait, 0.001)

    def _work(self, entry: Entry) -> None:
        host = self._host(entry.url)
        page = entry.kind is URLKind.page  # a seed page may turn out to be a feed
        fetched = released = False

        def release(fetched: bool) -> None:
            """Free the host for its next request, once."""
            nonlocal released
            with self._lock:
                if released:
                    return
                released = True
                host.busy -= 1
                if fetched:
                    host.ready_at = max(host.ready_at, time.time() + host.delay)
                self._lock.notify_all()

        try:
            fetched, result, skip = self._fetch(entry, host, partial(release, True))
            if result is None:
                self.frontier.finish(entry, state=URLState.skipped, reason=skip)
        except BaseException as exc:  # a bug or the catalog failing: stop the crawl, loudly
            with self._lock:
                self._errors.append(exc)
            result = None
        finally:
            release(fetched)
        try:
            if result is not None:
                self._after_capture(entry, result, host)
        except BaseException as exc:
            with self._lock:
                self._errors.append(exc)
        finally:
            with self._lock:
                self._inflight -= 1
                if page:
                    self._pages_inflight -= 1
                self._lock.notify_all()

    def _fetch(
        self, entry: Entry, host: _Host, on_fetched: Callable[[], None]
    ) -> tuple[bool, CaptureResult | None, str | None]:
        """Capture ``entry`` (robots.txt first if the host's is unknown);
        returns whether anything was fetched, the result, or why it was skipped.
        ``on_fetched`` is called when the page is read, before it is stored: the
        host's next request need not wait for this one's fsyncs."""
        fetched = self._ensure_robots(entry.url, host)
        if entry.kind is URLKind.robots:
            return fetched, None, None
        if fetched and host.delay:
            time.sleep(host.delay)  # between robots.txt and the page: still one host
        agent = self.repository.settings.user_agent
        if (
            not self.options.ignore_robots
            and host.robots is not None
            and not host.robots.can_fetch(agent, entry.url)
        ):
            return fetched, None, "robots.txt"
        if (
            self.options.skip_archived
            and entry.kind is URLKind.page
            and entry.depth > 0  # a seed (a followed feed) is captured every time
            and self.repository.catalog.versions(entry.url)
        ):
            return fetched, None, "already archived"
        result = self._capture(entry, on_fetched)
        return True, result, None

    def _capture(self, entry: Entry, on_fetched: Callable[[], None] | None = None) -> CaptureResult:
        pages = self.page_capturer if entry.kind is URLKind.page else None
        return (pages or self.capturer).capture(
            entry.url,
            collection=self.options.collection,
            note=self.options.note,
            trigger=f"crawl:{self.id}",
            capture_id=capture_id_for(self.id, entry.id, entry.attempts),
            metadata=[
                ("crawl", self.id),
                ("robots", "ignored" if self.options.ignore_robots else "obeyed"),
                ("crawl-depth", str(entry.depth)),
                ("discovered-from", entry.discovered_from or ""),
            ],
            fetched=on_fetched,
        )

    # -- robots.txt ------------------------------------------------------------

    def _ensure_robots(self, url: str, host: _Host) -> bool:
        """Read the host's robots.txt (captured once per crawl); True if it was fetched now."""
        with host.lock:
            if host.robots is not None:
                return False
            robots_url = origin(url) + "/robots.txt"
            entry = self.frontier.get_or_add(NewURL(robots_url, URLKind.robots, 0, None))
            fetched = False
            result = None
            if entry.state == URLState.captured and entry.capture_id:
                result = self._stored_result(entry, entry.capture_id)
            if result is None:
                result = self._capture(entry)
                fetched = True
            self._read_robots(entry, result, host)
            return fetched

    def _read_robots(self, entry: Entry, result: CaptureResult, host: _Host) -> None:
        stored = self._read(result, body=True) if result.ok else None
        status = result.status or 0
        if stored is not None and 200 <= status < 300:
            host.robots = parse_robots(stored.body or b"")
            reason = None
        elif 400 <= status < 500 and status != 429:
            host.robots = parse_robots(b"")  # RFC 9309: no rules, everything allowed
            reason = None
        else:
            # RFC 9309: robots.txt unreachable means nothing may be crawled for now.
            host.robots = parse_robots(b"User-agent: *\nDisallow: /\n")
            reason = f"robots.txt unreachable ({result.error or f'HTTP {status}'})"
        crawl_delay = None if self.options.ignore_robots else host.robots.crawl_delay("*")
        agent_delay = host.robots.crawl_delay(self.repository.settings.user_agent)
        if not self.options.ignore_robots and (agent_delay or crawl_delay):
            host.delay = max(host.delay, float(agent_delay or crawl_delay or 0))
        links = [Link(url, URLKind.sitemap) for url in host.robots.site_maps() or ()]
        if (
            not links
            and self.options.sitemaps
            and origin(entry.url) in self._seed_origins
            and 200 <= status < 300
        ):
            links = [Link(origin(entry.url) + "/sitemap.xml", URLKind.sitemap)]
        self._finish_capture(entry, result, links=links, failed_reason=reason)

    # -- after a capture ---------------------------------------------------------

    def _stored_result(self, entry: Entry, capture_id: str) -> CaptureResult | None:
        """The capture ``capture_id`` as stored, or None if it never was."""
        with self.repository.catalog.session() as session:
            rows = list(
                session.scalars(
                    select(Record).where(Record.capture_id == capture_id).order_by(Record.id)
                )
            )
        responses = [row for row in rows if row.record_type in ("response", "revisit")]
        if not responses:
            return None
        final = responses[-1]
        return CaptureResult(
            url=entry.url,
            final_url=final.url,
            status=final.status,
            location=Location(final.warc_file, final.offset, final.length),
            payload_digest=final.payload_digest,
            revisit=final.record_type == "revisit",
            capture_id=capture_id,
            record_ids=[row.id for row in rows],
            response_id=final.id,
        )

    def _recover(self) -> None:
        """Settle the URLs an interrupted run had taken: those whose capture
        reached the catalog are finished from it, the others go back in the queue."""
        for entry in self.frontier.claimed():
            capture_id = capture_id_for(self.id, entry.id, entry.attempts)
            result = self._stored_result(entry, capture_id)
            if result is None:
                self.frontier.finish(entry, state=URLState.queued)
            elif entry.kind is URLKind.robots:
                self._finish_capture(entry, result, links=[])
            else:
                self._after_capture(entry, result, self._host(entry.url), recovering=True)
        self._pages_done = self._count_pages()

    def _read(self, result: CaptureResult, *, body: bool) -> _Stored | None:
        """Headers (and body, decoded) of a capture's final response, from the store.
        A revisit's body is its original's."""
        if result.location is None:
            return None
        location = result.location
        stored = self._read_record(location, body=body and not result.revisit)
        if stored is None or not (body and result.revisit):
            return stored
        original = self.repository.catalog.find_original(
            result.final_url or result.url, result.payload_digest or ""
        )
        if original is None:
            return stored
        again = self._read_record(self.repository.location(original), body=True)
        if again is not None:
            stored.body = again.body
        return stored

    def _read_record(self, location: Location, *, body: bool) -> _Stored | None:
        records = self.repository.store.read_record(location)
        try:
            record = next(records, None)
            if record is None or record.http_headers is None:
                return None
            headers = record.http_headers
            return _Stored(
                content_type=headers.get_header("Content-Type"),
                retry_after=headers.get_header("Retry-After"),
                body=record.content_stream().read(MAX_PARSE_SIZE) if body else None,
            )
        except Exception:  # undecodable content (bad gzip...): no links, but no crash
            return None
        finally:
            records.close()

    def _after_capture(
        self, entry: Entry, result: CaptureResult, host: _Host, *, recovering: bool = False
    ) -> None:
        """Record what a capture gave: retry later, links to follow, or failure."""
        if not result.ok:
            self.frontier.finish(
                entry,
                state=URLState.failed,
                reason=result.error,
                attempts=entry.attempts + 1,
            )
            return
        self._stored_hook(result.record_ids)
        status = result.status or 0
        wanted = 200 <= status < 300 and (
            entry.kind is not URLKind.page or entry.depth < self.options.depth
        )
        stored = self._read(result, body=wanted) if wanted or status in _RETRY_STATUSES else None
        if status in _RETRY_STATUSES:
            now = time.time()
            wait = _retry_after(stored.retry_after if stored else None, now)
            if wait is None:
                wait = max(self.delay, 1.0) * 2 ** (entry.attempts + 1)
            if (
                entry.attempts + 1 < self.options.max_attempts
                and wait <= self.options.max_retry_after
            ):
                entry.attempts += 1
                entry.not_before = now + wait
                self.frontier.finish(entry, attempts=entry.attempts, not_before=entry.not_before)
                with self._lock:
                    host.ready_at = max(host.ready_at, entry.not_before)
                    self._buffer.insert(0, entry)  # retried before deeper URLs
                    self._lock.notify_all()
                return
            self._finish_capture(
                entry,
                result,
                links=[],
                failed_reason=f"HTTP {status}; gave up after {entry.attempts + 1} attempts",
            )
            return
        links: list[Link] = []
        final = result.final_url or entry.url
        if final != entry.url:
            self.frontier.mark_captured(
                final, depth=entry.depth, reason=f"captured through a redirect from {entry.url}"
            )
            with self._lock:
                self._redirected.add(final)
        redirected_out = final != entry.url and not self.rules.in_scope(final)
        kind = entry.kind
        if stored is not None and stored.body is not None and not redirected_out:
            kind, links = links_in(entry.kind, final, stored.content_type, stored.body)
            if not self.options.feeds:
                links = [link for link in links if link.kind is not URLKind.feed]
        self._finish_capture(
            entry,
            result,
            links=links,
            reason="redirected out of scope" if redirected_out else None,
            kind=kind,
        )

    def _finish_capture(
        self,
        entry: Entry,
        result: CaptureResult,
        *,
        links: list[Link],
        reason: str | None = None,
        failed_reason: str | None = None,
        kind: URLKind | None = None,
    ) -> None:
        """Record the URL as captured (or failed) with the links found in it.
        ``kind`` corrects what the URL turned out to be (a seed that is a feed)."""
        new_urls = self._judge_links(entry, links)
        entry.kind = kind or entry.kind
        self.frontier.finish(
            entry,
            new_urls,
            kind=entry.kind,
            state=URLState.failed if failed_reason else URLState.captured,
            reason=failed_reason or reason,
            attempts=entry.attempts + 1,
            status=result.status,
            final_url=result.final_url,
            capture_id=result.capture_id,
            captured=utcnow(),
        )
        with self._lock:
            if entry.kind is URLKind.page and not failed_reason:
                self._pages_done += 1
            if any(new.reason is None for new in new_urls):
                self._new_urls = True  # maybe: some of them may be known already

    def _judge_links(self, entry: Entry, links: list[Link]) -> list[NewURL]:
        """The links found in ``entry``'s capture, cleaned, each taken or skipped."""
        candidates: dict[str, NewURL] = {}
        for link in links:
            url = clean_url(link.url)
            if url is None or url in candidates:
                continue
            page = link.kind is URLKind.page
            # Sitemaps and feeds are read at their finder's depth: they are
            # lists of pages, not pages.
            depth = entry.depth + 1 if page else entry.depth
            if link.kind is URLKind.sitemap and not self.options.sitemaps:
                continue
            reason = self._verdict(url, page=page)
            if reason is None and page and depth > self.options.depth:
                reason = "depth"
            if reason == "depth" or (reason and entry.kind is URLKind.robots):
                continue  # not worth a row: the frontier would fill with them
            candidates[url] = NewURL(url, link.kind, depth, entry.url, reason)
        with_query = [url for url, new in candidates.items() if "?" in url and not new.reason]
        if with_query:
            known = self.frontier.known(with_query)
            variants = self.frontier.query_variants(with_query)
            for url in with_query:
                if url in known:
                    continue
                key = path_key(url)
                if variants.get(key, 0) >= self.options.max_query_variants:
                    new = candidates[url]
                    candidates[url] = NewURL(
                        url, new.kind, new.depth, new.discovered_from, "trap: query variants"
                    )
                else:
                    variants[key] = variants.get(key, 0) + 1
        return list(candidates.values())

    def _stored_hook(self, record_ids: Sequence[int]) -> None:
        if self.on_stored and record_ids:
            with self._hook_lock:
                self.on_stored(record_ids)


__all__ = [
    "CrawlError",
    "CrawlOptions",
    "CrawlState",
    "CrawlStatus",
    "CrawlURL",
    "Crawler",
    "Scope",
    "cancel_crawl",
    "crawl_status",
    "list_crawls",
]
