"""Capturing a page with a real browser: everything it loads, a screenshot, its DOM.

Headless Chromium (Debian's package, driven by Playwright) loads the page, but
never touches the network itself: every request it makes is intercepted
(Playwright ``route``) and fetched by Vestige's own :class:`~archive.fetch.Fetcher`,
so the address guard checks each one (a public page cannot make the browser
reach loopback or private addresses), and the records hold the bytes exactly
as the server sent them. The browser is then fulfilled from those bytes. What
the guard refuses is aborted and listed in the metadata record. Chromium's own
connections (preconnects, anything not routed) go to a proxy address that
refuses them.

A capture stores, in one batch (fsynced, then catalogued, then acknowledged):
the request/response (or revisit) pair of the page and of every sub-resource, a
full-page screenshot (``resource``, ``urn:screenshot:<url>``), the rendered DOM
(``resource``, ``urn:dom:<url>``) and a ``metadata`` record listing resources,
blocked requests, browser version, viewport, user agent, wait condition and
duration.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from io import BytesIO
from typing import TYPE_CHECKING, Any

import lxml.html
from lxml import etree
from sqlalchemy import select
from warcio.bufferedreaders import BufferedReader

from archive.capture import (
    Capturer,
    CaptureResult,
    capture_fields,
    exchange_records,
    settle,
    store_records,
)
from archive.catalog import Catalog, Record
from archive.config import MiB, Settings
from archive.fetch import Fetcher, FetchError, Hop
from archive.guard import RefusedURL, check_scheme
from archive.repository import Repository
from archive.store import Location, check_collection
from archive.urls import InvalidURL, normalise_url
from archive.warc import Digest, WarcRecord, warc_fields

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page, Playwright, Request, Route, WebSocketRoute

SCREENSHOT_PREFIX = "urn:screenshot:"
DOM_PREFIX = "urn:dom:"
VIEWPORT = {"width": 1280, "height": 800}
# Flags this machine's Chromium needs (no sandbox in a container, no GPU) and
# those keeping it from reaching the network on its own behalf. Playwright adds
# --headless and a fresh --user-data-dir (it refuses the latter in ``args``).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCROLL_STEPS = 40  # viewport heights scrolled at most, for lazy loading
_SCROLL_PAUSE_MS = 150
_QUIET = 0.5  # seconds without a request being answered: the network is idle
_SETTLE_SECONDS = 10.0  # for requests still being fetched after the screenshot
# Seconds a page gets on top of twice VESTIGE_BROWSER_TIMEOUT (scrolling, screenshot)
# before it is given up; as much again before the driver counts as hung.
_HARD_MARGIN = 15.0
_LAUNCH_TIMEOUT = 60.0  # seconds; a loaded machine starts Chromium slowly
_STOP_TIMEOUT = 10.0  # seconds to wait for a browser or driver to close
_MEMORY_POLL = 0.25  # seconds between two looks at Chromium's memory
_FETCH_THREADS = 32  # sub-resources fetched at once, over all pages of a session
# Browser request headers not forwarded to the server: the connection's own, and
# Accept-Encoding, kept as the Fetcher's (warcio reads no brotli or zstd bodies).
_NOT_FORWARDED = {
    "host", "connection", "keep-alive", "content-length", "transfer-encoding",
    "accept-encoding", "proxy-connection", "proxy-authorization", "upgrade", "te",
}  # fmt: skip
# Headers that describe the stored bytes, not what the browser gets: the body
# is handed over decoded, whole.
_NOT_FULFILLED = {"content-encoding", "content-length", "transfer-encoding", "connection"}
_DECODERS = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate", "br": "br"}


def browser_part(url: str | None) -> bool:
    """Whether a record's target is a browser capture's screenshot or rendered DOM."""
    return bool(url) and url.startswith((SCREENSHOT_PREFIX, DOM_PREFIX))


class BrowserError(Exception):
    """A browser capture that failed; the message is one clear line."""


@dataclass
class Blocked:
    """A request the browser made that was not archived, and why."""

    url: str
    reason: str


@dataclass
class BrowserResult(CaptureResult):
    """A browser capture: the page's result plus what the browser loaded."""

    resources: int = 0  # sub-resources stored (page hops not counted)
    blocked: list[Blocked] = field(default_factory=list)
    screenshot: Location | None = None


@dataclass
class _Resource:
    url: str
    kind: str  # Playwright's resource type: document, script, image, fetch...
    hops: list[Hop]


@dataclass
class _Load:
    """What one page load gathered, before anything is stored."""

    url: str
    hops: ExitStack  # keeps every fetched hop's spool file open until stored
    truncate: bool
    deadline: float = 0.0  # time.monotonic() by which fetches give up
    resources: list[_Resource] = field(default_factory=list)
    blocked: list[Blocked] = field(default_factory=list)
    failed: list[Blocked] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    page: _Resource | None = None
    screenshot: bytes = b""
    dom: str = ""
    final_url: str = ""
    browser: str = ""
    user_agent: str = ""
    duration: float = 0.0
    size: int = 0
    requested: int = 0  # sub-resources being fetched or fetched
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The page, fetched through its redirects, waiting for the browser to be sent to
    # its final URL (Playwright's routes never see a redirect's next request).
    pending: dict[str, _Resource] = field(default_factory=dict)
    page_error: str | None = None  # why the page (or its redirect chain) was not fetched
    in_flight: int = 0  # route handlers still answering


class _Session:
    """Playwright's driver and one Chromium, on an event loop thread of their own.

    Captures from any thread run their page loads on this loop; Chromium is
    (re)started on demand: when it is not running, has crashed, or has loaded
    ``browser_pages`` pages; Playwright's driver with it when the browser went
    away. A watchdog thread keeps Chromium's memory under VESTIGE_BROWSER_MEMORY.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        # Route handlers fetch in these threads; a few slow servers must not hold
        # up every other page (the default executor has cores + 4 threads).
        self.fetchers = ThreadPoolExecutor(
            _FETCH_THREADS, thread_name_prefix="vestige-browser-fetch"
        )
        self.loop.set_default_executor(self.fetchers)
        self.thread = threading.Thread(target=self.loop.run_forever, name="vestige-browser")
        self.thread.daemon = True
        self.thread.start()
        self.playwright: Playwright | None = None
        self.browser: Browser | None = None
        self.pages = 0
        self.active = 0
        self._launching = asyncio.Lock()
        # Bound and never listening: a proxy address every connection to fails.
        # Its port, on Chromium's command line, also tells this session's Chromium
        # from any other on the machine.
        self._refuser = socket.socket()
        self._refuser.bind(("127.0.0.1", 0))
        self.marker = f"--proxy-server=http://127.0.0.1:{self._refuser.getsockname()[1]}"
        self.memory_kills: list[tuple[float, int]] = []  # (when, bytes) of each kill
        self._closing = threading.Event()
        self._watchdog = threading.Thread(target=self._watch_memory, name="vestige-browser-memory")
        self._watchdog.daemon = True
        self._watchdog.start()

    def run(self, coroutine: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def acquire(self) -> Browser:
        async with self._launching:  # concurrent captures start one Chromium, not two
            if self.browser is not None and not self.browser.is_connected():
                # Crashed or killed, perhaps with the driver: start both afresh.
                await self.stop_browser()
                await self._stop_driver()
            elif self.browser is not None and (
                self.pages >= self.settings.browser_pages and not self.active
            ):
                await self.stop_browser()
            if self.browser is None:
                self.browser = await self._launch()
                self.pages = 0
            self.pages += 1
            self.active += 1
            return self.browser

    def release(self) -> None:
        self.active -= 1

    async def _launch(self) -> Browser:
        path = self.settings.browser_path
        if not path.is_file():
            raise BrowserError(f"Chromium is not installed at {path} (apt-get install chromium)")
        try:
            from playwright.async_api import async_playwright
        except ImportError as exc:
            raise BrowserError("Playwright is not installed (pip install -e '.[browser]')") from exc
        if self.playwright is None:
            self.playwright = await async_playwright().start()
        try:
            return await self.playwright.chromium.launch(
                executable_path=str(path),
                headless=True,
                args=[
                    *CHROMIUM_FLAGS,
                    self.marker,
                    "--proxy-bypass-list=<-loopback>",  # loopback too goes to the proxy
                ],
                timeout=_LAUNCH_TIMEOUT * 1000,
            )
        except Exception as exc:  # Playwright's own error type, or OSError
            await self._stop_driver()  # perhaps the driver is what failed
            raise BrowserError(f"Chromium at {path} did not start: {_first_line(exc)}") from exc

    async def stop_browser(self) -> None:
        browser, self.browser = self.browser, None
        if browser is not None:
            with suppress(Exception):  # it may be gone already (crashed)
                await asyncio.wait_for(browser.close(), _STOP_TIMEOUT)

    async def _stop_driver(self) -> None:
        playwright, self.playwright = self.playwright, None
        if playwright is not None:
            with suppress(Exception):  # it may be gone already (killed)
                await asyncio.wait_for(playwright.stop(), _STOP_TIMEOUT)

    async def _shutdown(self) -> None:
        await self.stop_browser()
        await self._stop_driver()
        # Route handlers of pages given up on (timed out) are still waiting.
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def close(self) -> None:
        self._closing.set()
        with suppress(Exception):
            self.run(self._shutdown(), 30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self._watchdog.join(10)
        self.fetchers.shutdown(wait=False, cancel_futures=True)  # a slow one ends at its deadline
        self._refuser.close()

    def abandon(self) -> None:
        """Give up on a hung browser or driver: kill them, and let the loop wind down."""
        self._closing.set()
        processes = _processes()
        root = _chromium_root(self.marker, processes)
        if root is not None:
            driver = processes[root][0]
            for pid in [driver, root, *_descendants(root, processes)]:
                if pid > 1:
                    with suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
        # Their connections gone, the rest winds down without holding up the caller.
        threading.Thread(target=self.close, name="vestige-browser-abandon", daemon=True).start()

    def _watch_memory(self) -> None:
        """Kill the renderer (or the whole Chromium) once Chromium's processes together
        use more than VESTIGE_BROWSER_MEMORY; the page in it fails as crashed."""
        limit = self.settings.browser_memory * MiB
        while not self._closing.wait(_MEMORY_POLL):
            if not self.active:
                continue
            processes = _processes()
            root = _chromium_root(self.marker, processes)
            if root is None:
                continue
            tree = [root, *_descendants(root, processes)]
            sizes = {pid: _pss(pid) for pid in tree}
            total = sum(sizes.values())
            if total <= limit:
                continue
            renderers = [pid for pid in tree if "--type=renderer" in processes.get(pid, (0, ""))[1]]
            victim = max(renderers, key=sizes.__getitem__) if renderers else root
            self.memory_kills.append((time.monotonic(), total))
            with suppress(OSError):
                os.kill(victim, signal.SIGKILL)

    def over_memory(self, since: float) -> int | None:
        """The memory (bytes) Chromium had when the watchdog last killed part of it,
        if it did after ``since`` (a ``time.monotonic()`` value)."""
        kills = [size for when, size in self.memory_kills if when >= since]
        return kills[-1] if kills else None


class BrowserCapturer:
    """Captures pages with headless Chromium into a repository. Thread-safe.

    Same call as :meth:`archive.capture.Capturer.capture`, so a crawl or a job
    can use either.
    """

    def __init__(self, repository: Repository, fetcher: Fetcher | None = None) -> None:
        self.repository = repository
        self.settings = repository.settings
        self.fetcher = fetcher or Fetcher(repository.settings)
        self._session: _Session | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None
        self.fetcher.close()

    def _get_session(self) -> _Session:
        with self._lock:
            if self._session is None:
                self._session = _Session(self.settings)
            return self._session

    def capture(
        self,
        url: str,
        *,
        collection: str = "default",
        note: str | None = None,
        trigger: str = "cli",
        truncate: bool = False,
        capture_id: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        fetched: Callable[[], None] | None = None,
    ) -> BrowserResult:
        """Load ``url`` in Chromium and store what it loaded. Errors come back
        in the result, never raised, except an invalid collection name.

        ``truncate`` keeps the first VESTIGE_MAX_BODY_SIZE bytes of larger
        bodies; ``fetched`` is called once the page has loaded, before storing.
        """
        check_collection(collection)
        result = BrowserResult(url=url)
        try:
            check_scheme(url)
            result.url = normalise_url(url)
        except (RefusedURL, InvalidURL) as exc:
            result.error = str(exc)
            return result
        with ExitStack() as hops:
            try:
                load = self._load(result.url, hops, truncate=truncate)
            except BrowserError as exc:
                result.error = str(exc)
                return result
            if fetched is not None:
                fetched()
            self._store(
                result,
                load,
                collection=collection,
                note=note,
                trigger=trigger,
                capture_id=capture_id or uuid.uuid4().hex,
                metadata=metadata,
            )
        return result

    def _load(self, url: str, hops: ExitStack, *, truncate: bool) -> _Load:
        """Load ``url`` in the browser; fetched hops stay open on ``hops``."""
        session = self._get_session()
        hard_limit = self.settings.browser_timeout * 2 + _HARD_MARGIN
        load = _Load(url=url, hops=hops, truncate=truncate)
        try:
            session.run(
                self._visit(session, load, hard_limit),
                hard_limit + _SETTLE_SECONDS + _HARD_MARGIN,
            )
        except FutureTimeout as exc:
            # The loop itself is stuck (a hung driver): start afresh next time.
            with self._lock:
                if self._session is session:
                    self._session = None
            session.abandon()
            raise BrowserError(f"the browser hung loading {url}; it will be restarted") from exc
        finally:
            with load.lock:
                load.closed = True  # fetches finishing now are dropped
        return load

    async def _visit(self, session: _Session, load: _Load, hard_limit: float) -> None:
        browser = await session.acquire()
        started = time.monotonic()
        context = page = None
        crashed = asyncio.Event()
        try:
            context = await browser.new_context(
                viewport=VIEWPORT,
                user_agent=self.settings.user_agent,
                service_workers="block",  # their fetches would bypass the routes
                accept_downloads=False,
            )
            load.deadline = time.monotonic() + hard_limit
            await context.route("**/*", lambda route, request: self._route(load, route, request))
            await context.route_web_socket("**/*", lambda ws: self._web_socket(load, ws))
            page = await context.new_page()
            page.on("crash", lambda _: crashed.set())
            async with asyncio.timeout(hard_limit):
                await self._drive(page, load, started)
            await _settle(load)
            load.browser = f"Chromium {browser.version}"
        except TimeoutError as exc:
            raise BrowserError(
                f"timed out: {load.url} did not finish loading within {hard_limit:g} s "
                "(VESTIGE_BROWSER_TIMEOUT)"
            ) from exc
        except BrowserError:
            raise
        except Exception as exc:  # Playwright's Error: the page or browser went away
            await asyncio.sleep(0.5)  # for the crash or disconnection to be reported
            memory = session.over_memory(started)
            if memory is not None:
                raise BrowserError(
                    f"the browser used {memory / MiB:.0f} MiB loading {load.url}, over "
                    f"VESTIGE_BROWSER_MEMORY ({self.settings.browser_memory} MiB); "
                    "its page was stopped"
                ) from exc
            # Nothing closes the page before this point: closed means it died. A
            # crashed page leaves the browser to other pages; a browser that went
            # away is started afresh by the next capture (acquire).
            if crashed.is_set() or not browser.is_connected() or (page and page.is_closed()):
                raise BrowserError(
                    f"the browser crashed loading {load.url}; it will be restarted"
                ) from exc
            reason = load.page_error
            raise BrowserError(reason or f"{load.url}: {_first_line(exc)}") from exc
        finally:
            with load.lock:
                load.closed = True
            if context is not None:
                with suppress(Exception):
                    await context.close()
            session.release()
        load.duration = time.monotonic() - started

    async def _drive(self, page: Page, load: _Load, started: float) -> None:
        """Navigate, wait for the network to be idle, scroll, screenshot, serialise."""
        from playwright.async_api import Error as PageError
        from playwright.async_api import TimeoutError as PageTimeout

        timeout = self.settings.browser_timeout
        try:
            try:
                await page.goto(load.url, wait_until="domcontentloaded", timeout=timeout * 1000)
            except PageError:
                if not load.pending:
                    raise
                # The page redirected: its chain is fetched; the browser goes to
                # where it ended, and is answered with the final response.
                [final] = load.pending
                remaining = max(0.1, started + timeout - time.monotonic())
                await page.goto(final, wait_until="domcontentloaded", timeout=remaining * 1000)
        except PageTimeout as exc:
            raise BrowserError(
                f"timed out: {load.url} did not load within {timeout:g} s (VESTIGE_BROWSER_TIMEOUT)"
            ) from exc
        if load.page is None:
            raise BrowserError(load.page_error or f"{load.url} was not fetched")
        await _wait_idle(page, load, started + timeout, "before scrolling")
        scrolled = await _scroll(page)
        await _wait_idle(page, load, time.monotonic() + timeout, "after scrolling")
        await page.evaluate("document.fonts.ready.then(() => true)")
        load.screenshot = await page.screenshot(full_page=True, type="png", timeout=timeout * 1000)
        load.dom = await page.content()
        load.final_url = page.url
        load.user_agent = await page.evaluate("navigator.userAgent")
        load.warnings += [] if scrolled < SCROLL_STEPS else [f"stopped scrolling after {scrolled}"]

    async def _web_socket(self, load: _Load, ws: WebSocketRoute) -> None:
        load.blocked.append(Blocked(ws.url, "WebSocket connections are not captured"))
        await ws.close()

    async def _route(self, load: _Load, route: Route, request: Request) -> None:
        load.in_flight += 1
        try:
            await self._answer(load, route, request)
        except Exception:
            if not load.closed:
                raise
            # The page was closed while this was answered: nothing to tell it.
        finally:
            load.in_flight -= 1

    async def _answer(self, load: _Load, route: Route, request: Request) -> None:
        from playwright.async_api import Error as PlaywrightError

        url = request.url
        if load.closed:
            await route.abort("aborted")
            return
        if request.method != "GET":
            load.blocked.append(Blocked(url, f"{request.method} requests are not captured"))
            await route.abort("blockedbyclient")
            return
        with load.lock:
            resource = load.pending.pop(url, None)
        if resource is None:
            is_page = (
                load.page is None
                and request.is_navigation_request()
                and request.frame.parent_frame is None
            )
            if not is_page and self._over_limits(load, url):
                await route.abort("blockedbyclient")
                return
            # Sent as the browser sent them: its cookies, Referer, Accept, and the
            # headers its scripts added, so the server answers as it answered it.
            try:
                sent = await request.all_headers()
            except PlaywrightError:  # the page went away meanwhile: what is known
                sent = request.headers
            headers = {
                name: value
                for name, value in sent.items()
                if name not in _NOT_FORWARDED and not name.startswith(":")
            }
            try:
                resource = await asyncio.get_running_loop().run_in_executor(
                    None, self._fetch, load, url, request.resource_type, headers
                )
            except RefusedURL as exc:
                load.blocked.append(Blocked(url, str(exc)))
                load.page_error = str(exc) if is_page else load.page_error
                await route.abort("blockedbyclient")
                return
            except FetchError as exc:
                load.failed.append(Blocked(url, str(exc)))
                load.page_error = str(exc) if is_page else load.page_error
                await route.abort("failed")
                return
            if resource is None:  # the load ended while this was being fetched
                await route.abort("aborted")
                return
            if is_page and load.page is None:
                load.page = resource
                if len(resource.hops) > 1:
                    # Playwright does not route a redirect's next request: the
                    # browser is sent to the final URL instead (see _drive).
                    with load.lock:
                        load.pending[resource.hops[-1].url] = resource
                    await route.abort("aborted")
                    return
        # A sub-resource that redirected is answered with its final response (its
        # URL stays the first; the records hold every hop).
        final = resource.hops[-1]
        headers = _fulfil_headers(final, earlier=resource.hops[:-1])
        await route.fulfill(status=final.status, headers=headers, body=_decoded(final))

    def _over_limits(self, load: _Load, url: str) -> bool:
        settings = self.settings
        reason = None
        if load.requested >= settings.browser_max_resources:
            reason = (
                f"too many resources: more than {settings.browser_max_resources} "
                "(VESTIGE_BROWSER_MAX_RESOURCES)"
            )
        elif load.size >= settings.browser_max_total_size:
            reason = (
                f"too many bytes: resources over {settings.browser_max_total_size:,} bytes "
                "(VESTIGE_BROWSER_MAX_TOTAL_SIZE)"
            )
        if reason is None:
            load.requested += 1
            return False
        if reason not in load.warnings:
            load.warnings.append(reason)
        load.blocked.append(Blocked(url, reason))
        return True

    def _fetch(self, load: _Load, url: str, kind: str, headers: dict[str, str]) -> _Resource | None:
        """Fetch ``url`` with every redirect hop (in a worker thread)."""
        fetching = self.fetcher.fetch(
            url, truncate=load.truncate, headers=headers, deadline=load.deadline
        )
        fetched = fetching.__enter__()
        with load.lock:
            if load.closed:
                fetching.__exit__(None, None, None)
                return None
            load.hops.push(fetching.__exit__)
            resource = _Resource(url, kind, fetched)
            load.resources.append(resource)
            load.size += sum(hop.body_length for hop in fetched)
        return resource

    def _store(
        self,
        result: BrowserResult,
        load: _Load,
        *,
        collection: str,
        note: str | None,
        trigger: str,
        capture_id: str,
        metadata: Sequence[tuple[str, str]],
    ) -> None:
        repository = self.repository
        page = load.page
        assert page is not None
        others = [resource for resource in load.resources if resource is not page]
        records = exchange_records(repository, page.hops)
        page_response = records[-2][0]
        for resource in others:
            records += exchange_records(repository, resource.hops)
        final = page.hops[-1]
        now = datetime.now(UTC)
        tied = [("WARC-Concurrent-To", page_response.record_id)]
        screenshot = _resource_record(
            SCREENSHOT_PREFIX + final.url, now, "image/png", load.screenshot, tied
        )
        dom = _resource_record(
            DOM_PREFIX + final.url, now, "text/html; charset=utf-8", load.dom.encode(), tied
        )
        fields = [
            *capture_fields(repository, result.url, collection, note, trigger),
            *(("via", hop.url) for hop in page.hops[:-1]),
            ("truncated", "length" if final.truncated else ""),
            ("mode", "browser"),
            ("browser", load.browser),
            ("browser-user-agent", load.user_agent),
            ("viewport", f"{VIEWPORT['width']}x{VIEWPORT['height']}"),
            (
                "wait",
                f"network idle (no request answered for {_QUIET * 1000:g} ms, at most "
                f"{self.settings.browser_timeout:g} s), scrolled to the end, network idle",
            ),
            ("duration", f"{load.duration:.2f}s"),
            ("rendered-url", load.final_url),
            ("screenshot", screenshot.target_uri or ""),
            ("dom", dom.target_uri or ""),
            ("resources", str(len(others))),
            *(("resource", f"{r.url} {r.kind} {r.hops[-1].status}") for r in others),
            *(("blocked", f"{b.url} {b.reason}") for b in load.blocked),
            *(("failed", f"{b.url} {b.reason}") for b in load.failed),
            *(("warning", warning) for warning in load.warnings),
            *metadata,
        ]
        records += [
            (screenshot, None),
            (dom, None),
            (
                WarcRecord(
                    "metadata",
                    final.url,
                    final.fetched_at,
                    "application/warc-fields",
                    head=warc_fields(fields),
                    headers=tied,
                ),
                None,
            ),
        ]
        rows = store_records(repository, records, collection=collection, capture_id=capture_id)
        result.record_ids = [row.id for row in rows]
        settle(result, page.hops, rows[2 * len(page.hops) - 2], capture_id)
        result.resources = len(others)
        result.blocked = load.blocked + load.failed
        result.warnings = load.warnings
        shot = rows[-3]
        result.screenshot = Location(shot.warc_file, shot.offset, shot.length)


async def _wait_idle(page: Page, load: _Load, deadline: float, when: str) -> None:
    """Wait until the network is idle, or note that it was not by ``deadline``."""
    from playwright.async_api import TimeoutError as PageTimeout

    remaining = max(0.1, deadline - time.monotonic())
    try:
        await page.wait_for_load_state("load", timeout=remaining * 1000)
    except PageTimeout:
        load.warnings.append(f"page still loading {when} (VESTIGE_BROWSER_TIMEOUT)")
        return
    # Playwright's "networkidle" happens once per page: after scrolling, idle is
    # measured here, as no request being answered for _QUIET seconds.
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < _QUIET:
        if time.monotonic() > deadline:
            load.warnings.append(f"network still busy {when} (VESTIGE_BROWSER_TIMEOUT)")
            return
        await asyncio.sleep(0.05)
        if load.in_flight:
            quiet_since = time.monotonic()


async def _scroll(page: Page) -> int:
    """Scroll a viewport at a time to the end (bounded), then back; the steps taken."""
    steps = 0
    for steps in range(1, SCROLL_STEPS + 1):  # noqa: B007 - the count is the result
        at_end = await page.evaluate(
            "() => { window.scrollBy(0, window.innerHeight);"
            " return window.scrollY + window.innerHeight"
            " >= document.documentElement.scrollHeight - 1; }"
        )
        await page.wait_for_timeout(_SCROLL_PAUSE_MS)
        if at_end:
            break
    await page.evaluate("window.scrollTo(0, 0)")
    return steps


async def _settle(load: _Load) -> None:
    """Let requests made during the screenshot finish being fetched (bounded)."""
    deadline = time.monotonic() + _SETTLE_SECONDS
    while load.in_flight and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def _fulfil_headers(hop: Hop, earlier: Sequence[Hop] = ()) -> dict[str, str]:
    """The headers the browser gets for ``hop``, with the cookies the ``earlier``
    redirect hops set (the browser would have stored them on the way)."""
    headers: dict[str, str] = {}
    lines = [
        line
        for redirect in earlier
        for line in redirect.response_head.split(b"\r\n")[1:]
        if line.lower().startswith(b"set-cookie:")
    ]
    for line in lines + hop.response_head.split(b"\r\n")[1:]:
        name, sep, value = line.decode("latin-1").partition(":")
        key = name.strip().lower()
        if not sep or key in _NOT_FULFILLED:
            continue
        joiner = "\n" if key == "set-cookie" else ", "
        value = value.strip()
        headers[key] = headers[key] + joiner + value if key in headers else value
    return headers


def _decoded(hop: Hop) -> bytes:
    """The body as the browser would have it after content decoding."""
    hop.body.seek(0)
    encoding = ""
    for line in hop.response_head.split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-encoding":
            encoding = value.strip().lower()
    decoder = _DECODERS.get(encoding)
    try:
        if decoder:
            return BufferedReader(hop.body, decomp_type=decoder).read()
    except Exception:  # undecodable: hand the bytes over as they are
        hop.body.seek(0)
    return hop.body.read()


def _resource_record(
    target: str, date: datetime, content_type: str, data: bytes, headers: list[tuple[str, str]]
) -> WarcRecord:
    digest = str(Digest(data))
    return WarcRecord(
        "resource",
        target,
        date,
        content_type,
        body=BytesIO(data),
        body_length=len(data),
        headers=list(headers),
        payload_digest=digest,
        block_digest=digest,
    )


def _processes() -> dict[int, tuple[int, str]]:
    """Every process on the machine: its parent's id and command line."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                parent = int(stat.read().rsplit(b")", 1)[1].split()[1])
            with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
        found[int(entry.name)] = (parent, command)
    return found


def _chromium_root(marker: str, processes: dict[int, tuple[int, str]]) -> int | None:
    """The browser process whose command line holds ``marker`` (its session's proxy flag)."""
    for pid, (_, command) in processes.items():
        if marker in command and "--type=" not in command:
            return pid
    return None


def _descendants(root: int, processes: dict[int, tuple[int, str]]) -> list[int]:
    """The processes started, directly or not, by ``root``: Chromium's renderers and helpers."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _pss(pid: int) -> int:
    """A process's proportional set size in bytes (shared pages counted once overall)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass  # ended meanwhile
    return 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass
class BrowserSummary:
    """What a browser capture stored besides its page: screenshot and resource count."""

    screenshot: Record
    resources: int


def _parts(catalog: Catalog, capture_ids: Sequence[str], prefix: str) -> dict[str, Record]:
    """The ``resource`` row whose target starts with ``prefix`` (a screenshot, a DOM)
    of each browser capture among ``capture_ids``."""
    ids = list({capture_id for capture_id in capture_ids if capture_id})
    if not ids:
        return {}
    with catalog.session() as session:
        found = session.scalars(
            select(Record).where(
                Record.capture_id.in_(ids),
                Record.record_type == "resource",
                Record.url.startswith(prefix),
            )
        )
        return {row.capture_id: row for row in found if row.capture_id}


def rendered_doms(catalog: Catalog, capture_ids: Sequence[str]) -> dict[str, Record]:
    """The rendered DOM's row of each browser capture among ``capture_ids``."""
    return _parts(catalog, capture_ids, DOM_PREFIX)


def browser_summaries(
    repository: Repository, capture_ids: Sequence[str]
) -> dict[str, BrowserSummary]:
    """The browser captures among ``capture_ids``, each with its screenshot's row and
    how many sub-resources it stored (as its metadata record says)."""
    shots = _parts(repository.catalog, capture_ids, SCREENSHOT_PREFIX)
    if not shots:
        return {}
    with repository.catalog.session() as session:
        metadata = session.scalars(
            select(Record).where(
                Record.capture_id.in_(list(shots)), Record.record_type == "metadata"
            )
        ).all()
    summaries = {}
    for row in metadata:
        resources = 0
        for record in repository.store.read_record(repository.location(row)):
            for line in record.content_stream().read().decode("utf-8", "replace").splitlines():
                name, _, value = line.partition(": ")
                if name == "resources" and value.strip().isdigit():
                    resources = int(value)
        if row.capture_id in shots:
            summaries[row.capture_id] = BrowserSummary(shots[row.capture_id], resources)
    return summaries


@dataclass
class BrowserParts:
    """A browser capture's screenshot and rendered DOM rows."""

    screenshot: Record | None
    dom: Record | None


def browser_parts(catalog: Catalog, capture_id: str | None) -> BrowserParts | None:
    """The screenshot and DOM of capture ``capture_id``; None if it is no browser capture."""
    if not capture_id:
        return None
    parts = BrowserParts(
        screenshot=_parts(catalog, [capture_id], SCREENSHOT_PREFIX).get(capture_id),
        dom=_parts(catalog, [capture_id], DOM_PREFIX).get(capture_id),
    )
    return parts if parts.screenshot or parts.dom else None


def stored_by_browser(catalog: Catalog, record_id: str) -> bool:
    """Whether the record was stored by a browser capture (which has a screenshot)."""
    with catalog.session() as session:
        capture_id = session.scalar(select(Record.capture_id).where(Record.record_id == record_id))
    return browser_parts(catalog, capture_id) is not None


class CaptureMode(StrEnum):
    """How a capture fetches a page: one HTTP GET, a browser, or HTTP first
    and the browser when the page turns out to be built by scripts."""

    http = "http"
    browser = "browser"
    auto = "auto"


# A page whose HTML has fewer visible characters than this, and scripts, is
# taken to be built in the browser (an app shell, an article loaded by fetch).
_FEW_CHARACTERS = 200
_SNIFF_BYTES = 2 * 1024 * 1024
_SPACE = re.compile(r"\s+")
SCRIPT_BUILT = "the page's HTML has almost no text but scripts"


def looks_script_built(repository: Repository, result: CaptureResult) -> bool:
    """Whether the HTML stored by ``result`` has almost no text but has scripts."""
    if result.location is None or result.payload_digest is None or result.final_url is None:
        return False
    location = result.location
    if result.revisit:
        original = repository.catalog.find_original(result.final_url, result.payload_digest)
        if original is None:
            return False
        location = repository.location(original)
    for record in repository.store.read_record(location):
        http = record.http_headers
        if http is None or "html" not in (http.get_header("Content-Type") or "").lower():
            return False
        try:
            body = record.content_stream().read(_SNIFF_BYTES)
            document = lxml.html.document_fromstring(body)
        except (etree.ParserError, ValueError, OSError):
            return False
        scripts = document.xpath("//script")
        for node in document.xpath("//script|//style|//noscript|//template"):
            node.drop_tree()
        text = _SPACE.sub(" ", document.text_content()).strip()
        return bool(scripts) and len(text) < _FEW_CHARACTERS
    return False


class ModeCapturer:
    """Captures in a :class:`CaptureMode` (a default, or one per call); otherwise the
    same call as :meth:`archive.capture.Capturer.capture`. Thread-safe."""

    def __init__(self, repository: Repository, mode: CaptureMode) -> None:
        self.repository = repository
        self.mode = mode
        self.http = Capturer(repository)
        self.browser = BrowserCapturer(repository)  # Chromium starts on its first page

    def close(self) -> None:
        self.http.close()
        self.browser.close()

    def capture(
        self, url: str, *, mode: CaptureMode | None = None, **options: Any
    ) -> CaptureResult:
        """Capture ``url`` in ``mode`` (default: this capturer's; options as for
        :meth:`Capturer.capture`). In auto mode a script-built page is captured over
        HTTP and then with the browser; the result is the browser's, with both
        captures' record ids and a warning saying so."""
        mode = mode or self.mode
        if mode is CaptureMode.browser:
            return self.browser.capture(url, **options)
        result = self.http.capture(url, **options)
        if mode is CaptureMode.http or not result.ok:
            return result
        if not looks_script_built(self.repository, result):
            return result
        options.pop("capture_id", None)  # the browser capture is a capture of its own
        rendered = self.browser.capture(url, **options)
        if not rendered.ok:
            result.warnings.append(f"{SCRIPT_BUILT}, and the browser failed: {rendered.error}")
            return result
        rendered.record_ids = result.record_ids + rendered.record_ids
        rendered.warnings.insert(0, f"{SCRIPT_BUILT}: captured with a browser too")
        return rendered
