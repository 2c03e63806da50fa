"""Crawls and follows in the service.

A crawl started with ``POST /api/v1/crawls`` is one job: its id is the
crawl's id in the catalog (``archive.frontier``), so ``GET /api/v1/jobs/{id}``
and the job page show it, and ``POST /api/v1/jobs/{id}/cancel`` (or DELETE)
stops it after the pages in hand. Each crawl runs on a thread of this process
(:class:`CrawlJobs`); what it stores is ingested and indexed by the capture
jobs' child process. Follows (``/api/v1/follows``) are run by the scheduler.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select

from api.deps import JobsDep, RepositoryDep, Writer, require_reader
from api.errors import ERROR_RESPONSES
from api.jobs import AfterStore
from api.provenance import RowId
from api.schemas import (
    CrawlCounts,
    CrawledPage,
    CrawlJobView,
    CrawlRequest,
    ErrorResponse,
    FollowDetail,
    FollowRequest,
    FollowView,
    JobAccepted,
)
from archive.catalog import Record
from archive.crawl import (
    Crawler,
    CrawlError,
    CrawlOptions,
    CrawlStatus,
    cancel_crawl,
    crawl_status,
    list_crawls,
)
from archive.errors import Busy, Conflict, InvalidInput, NotFound
from archive.follow import FollowInfo, add_follow, follow_info, list_follows, parse_interval
from archive.follow import remove_follow as remove_follow_row
from archive.frontier import Crawl, CrawlURL, URLKind, URLState
from archive.repository import Repository
from ingest.models import Document

log = logging.getLogger(__name__)

router = APIRouter(tags=["crawls"], responses=ERROR_RESPONSES)
reading = [Depends(require_reader)]

# Crawls this process runs at once (each with its own capture workers).
MAX_CRAWLS = 4
PAGES_SHOWN = 50


class TooManyCrawls(Busy):
    """The service runs as many crawls as it may."""

    retry_after = 60


class CrawlJobs:
    """Runs the crawls started through the service, each on its own thread."""

    def __init__(self, repository: Repository, after_store: AfterStore) -> None:
        self.repository = repository
        self.after_store = after_store
        self._running: dict[str, tuple[threading.Thread, threading.Event]] = {}
        self._lock = threading.Lock()

    def start(self, options: CrawlOptions) -> str:
        """Start (or continue, with the same seeds and options) a crawl; its id.
        Raises :class:`CrawlError` and :class:`TooManyCrawls`."""
        return self._launch(Crawler(self.repository, options, on_stored=self._on_stored))

    def resume(self, crawl_id: str) -> str:
        """Continue an interrupted or cancelled crawl. Raises :class:`CrawlError`."""
        return self._launch(Crawler.resume(self.repository, crawl_id, on_stored=self._on_stored))

    def _launch(self, crawler: Crawler) -> str:
        with self._lock:
            self._forget_finished()
            if crawler.id in self._running:  # already running here: the same job
                crawler.capturer.close()
                crawler.frontier.close()
                return crawler.id
            if crawl_status(self.repository, crawler.id).state == "running":
                raise CrawlError(f"crawl {crawler.id} is running in another process")
            if len(self._running) >= MAX_CRAWLS:
                raise TooManyCrawls(
                    f"{MAX_CRAWLS} crawls are running; wait for one to finish or cancel one"
                )
            stop = threading.Event()
            thread = threading.Thread(
                target=self._run, args=(crawler, stop), name=f"vestige-crawl-{crawler.id[:8]}"
            )
            self._running[crawler.id] = (thread, stop)
            thread.start()
        return crawler.id

    def _forget_finished(self) -> None:
        for crawl_id, (thread, _) in list(self._running.items()):
            if not thread.is_alive():
                del self._running[crawl_id]

    def _run(self, crawler: Crawler, stop: threading.Event) -> None:
        try:
            status = crawler.run(stop=stop)
            log.info("crawl %s %s: %d pages", crawler.id, status.state, status.captured)
        except Exception:
            log.exception("crawl %s failed", crawler.id)

    def _on_stored(self, record_ids: Sequence[int]) -> None:
        # Ingest and index in the capture jobs' child process (off this process's GIL).
        self.after_store.run(record_ids)

    def cancel(self, crawl_id: str) -> CrawlStatus:
        """Cancel a crawl (here or in another process). Raises :class:`CrawlError`."""
        status = cancel_crawl(self.repository, crawl_id)
        with self._lock:
            running = self._running.get(crawl_id)
        if running is not None:
            running[1].set()
        return status

    def running_here(self, crawl_id: str) -> bool:
        with self._lock:
            running = self._running.get(crawl_id)
        return running is not None and running[0].is_alive()

    def stop(self, timeout: float | None = None) -> None:
        """Stop every crawl after the pages in hand; they stay resumable."""
        with self._lock:
            running = list(self._running.values())
        for _, stop in running:
            stop.set()
        for thread, _ in running:
            thread.join(timeout)


# -- views ------------------------------------------------------------------------------


def _pages(repository: Repository, crawl_ids: list[str], limit: int) -> list[CrawledPage]:
    """The latest pages the crawls captured, with the document of each (blocking)."""
    with repository.catalog.session() as session:
        rows = list(
            session.scalars(
                select(CrawlURL)
                .where(
                    CrawlURL.crawl_id.in_(crawl_ids),
                    CrawlURL.state == URLState.captured,
                    CrawlURL.kind == URLKind.page,
                )
                .order_by(CrawlURL.captured.desc(), CrawlURL.id.desc())
                .limit(limit)
            )
        )
        capture_ids = [row.capture_id for row in rows if row.capture_id]
        documents: dict[str, str] = {}
        for capture_id, document_id in session.execute(
            select(Record.capture_id, Document.id)
            .join(Document, Document.record_id == Record.record_id)
            .where(Record.capture_id.in_(capture_ids), Document.deleted.is_(False))
            .order_by(Record.id)
        ):
            documents[capture_id] = document_id  # the last hop's: where redirects led
    return [
        CrawledPage(
            url=row.url,
            status=row.status,
            final_url=row.final_url,
            captured=row.captured,
            document_id=documents.get(row.capture_id or ""),
        )
        for row in rows
    ]


def crawl_view(repository: Repository, status: CrawlStatus, *, pages: bool = True) -> CrawlJobView:
    """A crawl as a job (blocking)."""
    return CrawlJobView(
        id=status.id,
        state=status.state,
        seeds=status.seeds,
        collection=status.collection,
        follow_id=status.follow_id,
        created=status.created,
        started=status.started,
        finished=status.finished,
        counts=CrawlCounts(
            queued=status.queued,
            captured=status.captured,
            fetched_other=status.fetched_other,
            skipped_scope=status.skipped_scope,
            skipped=status.skipped,
            failed=status.failed,
            reasons=status.reasons,
        ),
        pages=_pages(repository, [status.id], PAGES_SHOWN) if pages else [],
        cancel=f"/api/v1/jobs/{status.id}/cancel",
    )


def load_crawl_job(repository: Repository, crawl_id: str) -> CrawlJobView | None:
    """The crawl with this id as a job, or None (blocking)."""
    try:
        status = crawl_status(repository, crawl_id)
    except CrawlError:
        return None
    return crawl_view(repository, status)


def follow_view(info: FollowInfo) -> FollowView:
    return FollowView(
        id=info.id,
        url=info.url,
        collection=info.collection,
        every=info.every,
        sitemaps=info.sitemaps,
        ignore_robots=info.ignore_robots,
        note=info.note,
        created=info.created,
        last_run=info.last_run,
        next_run=info.next_run,
        last_crawl=f"/api/v1/jobs/{info.last_crawl.id}" if info.last_crawl else None,
        last_captured=info.last_crawl.captured if info.last_crawl else None,
        browser=info.browser,
    )


def follow_detail(repository: Repository, follow_id: int) -> FollowDetail:
    """A follow, its runs and the pages they brought in (blocking); 404 if unknown."""
    try:
        info = follow_info(repository, follow_id)
    except CrawlError as exc:
        raise NotFound(str(exc)) from exc
    with repository.catalog.session() as session:
        crawls = list(
            session.scalars(
                select(Crawl).where(Crawl.follow_id == follow_id).order_by(Crawl.created.desc())
            )
        )
    runs = [
        crawl_view(repository, crawl_status(repository, crawl.id, _crawl=crawl), pages=False)
        for crawl in crawls
    ]
    return FollowDetail(
        **follow_view(info).model_dump(),
        runs=runs,
        pages=_pages(repository, [crawl.id for crawl in crawls], PAGES_SHOWN),
    )


def crawl_options(request: CrawlRequest) -> CrawlOptions:
    """The crawl a request asks for; :class:`InvalidInput` if it cannot run."""
    try:
        return CrawlOptions(
            seeds=request.seeds,
            scope=request.scope,
            depth=request.depth,
            max_pages=request.max_pages,
            include=request.include,
            exclude=request.exclude,
            collection=request.collection,
            note=request.note,
            ignore_robots=request.ignore_robots,
            sitemaps=request.sitemaps,
            feeds=request.feeds,
            skip_archived=request.skip_archived,
            browser=request.browser,
        )
    except CrawlError as exc:
        raise InvalidInput(str(exc)) from exc


def start_crawl(crawls: CrawlJobs, options: CrawlOptions) -> str:
    """Start a crawl (blocking): its id. :class:`Conflict` if another process runs it,
    :class:`TooManyCrawls` when the service runs as many as it may."""
    try:
        return crawls.start(options)
    except CrawlError as exc:
        raise Conflict(str(exc)) from exc


def new_follow(repository: Repository, request: FollowRequest) -> FollowInfo:
    """Follow a feed or site, or change its follow (blocking); :class:`InvalidInput`
    for bad input."""
    try:
        return add_follow(
            repository,
            request.url,
            every=parse_interval(request.every),
            collection=request.collection,
            sitemaps=request.sitemaps,
            ignore_robots=request.ignore_robots,
            note=request.note,
            browser=request.browser,
        )
    except (ValueError, CrawlError) as exc:
        raise InvalidInput(str(exc)) from exc


def remove_follow(repository: Repository, follow_id: int) -> None:
    """Stop following a source (blocking); :class:`NotFound` if it is not followed."""
    try:
        remove_follow_row(repository, follow_id)
    except CrawlError as exc:
        raise NotFound(str(exc)) from exc


def cancel_job(crawls: CrawlJobs, jobs_get: Callable[[str], object], job_id: str) -> CrawlJobView:
    """Cancel the crawl job ``job_id`` (blocking); :class:`Conflict` for a capture job,
    :class:`NotFound` if unknown."""
    try:
        crawls.cancel(job_id)
    except CrawlError as exc:
        if jobs_get(job_id) is not None:
            raise Conflict("capture jobs cannot be cancelled; crawls can") from exc
        raise NotFound(f"no job {job_id!r}") from exc
    return crawl_view(crawls.repository, crawl_status(crawls.repository, job_id))


def get_crawls(request: Request) -> CrawlJobs:
    return request.app.state.crawls


CrawlsDep = Annotated[CrawlJobs, Depends(get_crawls)]


# -- endpoints ----------------------------------------------------------------------------


# Starting a crawl: another process runs it, or this one runs as many as it may.
_BUSY = {
    409: {"model": ErrorResponse, "description": "Another process runs this crawl."},
    429: {"model": ErrorResponse, "description": "Too many crawls running; retry later."},
}


@router.post("/crawls", status_code=202, response_model=JobAccepted, responses=_BUSY)
async def create_crawl(
    request: CrawlRequest, crawls: CrawlsDep, token: Writer, response: Response
) -> JobAccepted:
    """Crawl from seed URLs in the background: pages found in links, sitemaps and feeds
    are captured if in scope, breadth-first, politely. Follow the returned job; the same
    seeds and options as an unfinished crawl continue it."""
    options = crawl_options(request)
    crawl_id = await to_thread.run_sync(start_crawl, crawls, options)
    href = f"/api/v1/jobs/{crawl_id}"
    response.headers["Location"] = href
    return JobAccepted(id=crawl_id, state="running", href=href)


@router.get("/crawls", response_model=list[CrawlJobView], dependencies=reading)
async def list_crawl_jobs(
    repository: RepositoryDep,
    limit: Annotated[int, Query(ge=1, le=500, description="How many, newest first.")] = 50,
) -> list[CrawlJobView]:
    """The latest crawls (their own job views list the pages they captured)."""
    found = await to_thread.run_sync(list_crawls, repository, limit)
    return [crawl_view(repository, status, pages=False) for status in found]


_FINISHED = {409: {"model": ErrorResponse, "description": "The job has already finished."}}


@router.post("/jobs/{job_id}/cancel", response_model=CrawlJobView, responses=_FINISHED)
async def cancel_crawl_job(
    job_id: str, crawls: CrawlsDep, jobs: JobsDep, token: Writer
) -> CrawlJobView:
    """Cancel a crawl job: it stops after the pages in hand (what it stored stays)."""
    return await to_thread.run_sync(cancel_job, crawls, jobs.get, job_id)


@router.delete("/jobs/{job_id}", response_model=CrawlJobView, responses=_FINISHED)
async def delete_crawl_job(
    job_id: str, crawls: CrawlsDep, jobs: JobsDep, token: Writer
) -> CrawlJobView:
    """The same as ``POST /jobs/{id}/cancel``."""
    return await to_thread.run_sync(cancel_job, crawls, jobs.get, job_id)


@router.post("/jobs/{job_id}/resume", status_code=202, response_model=JobAccepted, responses=_BUSY)
async def resume_crawl_job(job_id: str, crawls: CrawlsDep, token: Writer) -> JobAccepted:
    """Continue an interrupted or cancelled crawl where it stopped."""

    def resume() -> str:
        try:
            return crawls.resume(job_id)
        except CrawlError as exc:
            raise (NotFound if "no crawl" in str(exc) else Conflict)(str(exc)) from exc

    crawl_id = await to_thread.run_sync(resume)
    return JobAccepted(id=crawl_id, state="running", href=f"/api/v1/jobs/{crawl_id}")


@router.get("/follows", response_model=list[FollowView], dependencies=reading)
async def list_followed(repository: RepositoryDep) -> list[FollowView]:
    """Followed feeds and sites: interval, last and next run, what the last run brought in."""
    return [follow_view(info) for info in await to_thread.run_sync(list_follows, repository)]


@router.post("/follows", status_code=201, response_model=FollowView)
async def create_follow(
    request: FollowRequest, repository: RepositoryDep, token: Writer, response: Response
) -> FollowView:
    """Follow a feed (RSS, Atom, JSON Feed) or a site: each run, due every interval,
    captures and ingests the entries not archived yet. The first run is due at once."""
    info = await to_thread.run_sync(new_follow, repository, request)
    response.headers["Location"] = f"/api/v1/follows/{info.id}"
    return follow_view(info)


@router.get("/follows/{follow_id}", response_model=FollowDetail, dependencies=reading)
async def get_follow(follow_id: RowId, repository: RepositoryDep) -> FollowDetail:
    """A followed source, its runs and the latest pages they brought in."""
    return await to_thread.run_sync(follow_detail, repository, follow_id)


@router.delete("/follows/{follow_id}", status_code=204)
async def delete_follow(follow_id: RowId, repository: RepositoryDep, token: Writer) -> Response:
    """Stop following a source; what it brought in stays archived."""
    await to_thread.run_sync(remove_follow, repository, follow_id)
    return Response(status_code=204)
