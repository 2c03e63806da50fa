"""The Vestige web service: ``create_app(settings)`` builds the ASGI application.

The repository is opened once, in the lifespan; the index catch-up, the
scheduler and (on SQLite) the capture workers run in the one process holding the
leader lease (``api.leader``: ``vestige serve --workers N`` runs N processes on
one port); on PostgreSQL every process captures.
Endpoints are async and run blocking work (catalog, WARC reads) in threads.
JSON API under ``/api/v1`` (OpenAPI page at ``/api/v1/docs``), replay and
Memento under ``/web``, ``/timemap`` and ``/timegate``, HTML pages elsewhere.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from anyio import to_thread
from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import (
    captures,
    crawls,
    documents,
    errors,
    imports,
    memento,
    pages,
    provenance,
    searches,
    system,
    urls,
    watches,
)
from api.crawls import CrawlJobs
from api.deps import READ_SCHEME
from api.errors import error_response
from api.export import routes as export_routes
from api.jobs import CaptureJobs
from api.leader import Leadership, die_with_parent
from api.scheduler import Scheduler
from api.schema import TABLES
from api.session import session_key
from archive.config import Settings, get_settings
from archive.repository import Repository, software_version
from search.backend import SearchBackend, SearchError
from search.engine import open_backend
from search.indexer import behind

log = logging.getLogger(__name__)

_BODY_METHODS = {"POST", "PUT", "PATCH"}


class BodyLimit:
    """Refuse request bodies over ``max_size`` (413) before anything reads them.

    Bodies must declare their length (411 otherwise), which browsers and HTTP
    clients do for forms and uploads; the server enforces the declared length.
    """

    def __init__(self, app: ASGIApp, max_size: int) -> None:
        self.app = app
        self.max_size = max_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _BODY_METHODS:
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            if length is None and b"transfer-encoding" in headers:
                response = error_response(411, "send the request body with a Content-Length")
                await response(scope, receive, send)
                return
            if length is not None and (not length.isdigit() or int(length) > self.max_size):
                response = error_response(
                    413,
                    f"request body too large: the limit is {self.max_size:,} bytes "
                    "(VESTIGE_MAX_UPLOAD_SIZE)",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Headers every response carries: no sniffing, no framing outside replay."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Replayed copies are framed by the archived-copy page (their CSP says who may).
        framable = scope["path"].startswith("/web/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if not framable and b"x-frame-options" not in names:
                    headers.append((b"x-frame-options", b"DENY"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def open_search(settings: Settings) -> tuple[SearchBackend | None, str | None]:
    """The search backend, or None and why not (the rest of the service works without it)."""
    try:
        return open_backend(settings), None
    except SearchError as exc:
        log.error("search is unavailable: %s", exc)
        return None, str(exc)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service for the archive described by ``settings`` (default: the environment)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        repository = await to_thread.run_sync(Repository, settings, TABLES)
        app.state.search, app.state.search_error = await to_thread.run_sync(open_search, settings)
        jobs = CaptureJobs(
            repository,
            workers=settings.capture_workers,
            queue_size=settings.capture_queue_size,
            poll=settings.serve_workers > 1,
        )
        crawls = CrawlJobs(repository, jobs.after_store)
        scheduler = Scheduler(repository, settings.scheduler_interval)
        app.state.repository = repository
        app.state.jobs = jobs
        app.state.crawls = crawls
        app.state.scheduler = scheduler if settings.scheduler else None

        if jobs.shared:  # PostgreSQL: every process captures, leased URL by URL
            await to_thread.run_sync(jobs.start)

        def lead() -> None:
            """The leader's work (see api.leader): at start, or taken over from one that died."""
            repository.recover()  # WARC files a dead leader left open
            if not jobs.shared:
                jobs.start()
            if app.state.search is not None:
                # Searches say what is wrong; `vestige index` catches up.
                with suppress(SearchError):
                    if behind(app.state.search, repository.catalog):
                        jobs.after_store.catch_up()
            if settings.scheduler:
                scheduler.start()

        leadership = Leadership(settings.home, lead)
        await to_thread.run_sync(leadership.start)
        try:
            yield
        finally:
            await to_thread.run_sync(leadership.stop)
            if settings.scheduler and leadership.leader:
                await to_thread.run_sync(scheduler.stop)
            await to_thread.run_sync(crawls.stop, settings.fetch_timeout)
            await to_thread.run_sync(jobs.stop, settings.fetch_timeout)
            leadership.release()
            if app.state.search is not None:
                await to_thread.run_sync(app.state.search.close)
            await to_thread.run_sync(repository.close)

    app = FastAPI(
        title="Vestige",
        summary="A multilingual web archive with full-text search.",
        version=software_version().partition("/")[2],
        lifespan=lifespan,
        docs_url="/api/v1/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.settings = settings
    app.state.session_key = session_key(settings.home)
    errors.install(app)
    app.add_middleware(BodyLimit, max_size=settings.max_upload_size)
    app.add_middleware(SecurityHeaders)

    api = APIRouter(prefix="/api/v1")
    for area in (system, searches, documents, captures, imports, urls, provenance, watches, crawls):
        api.include_router(area.router)
    api.include_router(export_routes.router)
    app.include_router(api)
    app.include_router(memento.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.HERE / "static"), name="static")
    _document_reads(app, settings.public_read)
    return app


def worker_app() -> FastAPI:
    """The app of one of ``vestige serve --workers N``'s processes (uvicorn's factory)."""
    parent = os.environ.get("VESTIGE_SERVE_PARENT")
    if parent:
        die_with_parent(int(parent))
    return create_app()


def serve_processes(host: str, port: int, workers: int) -> None:
    """Serve on ``host:port`` with ``workers`` processes (blocking; see api.leader)."""
    import uvicorn

    if workers == 1:
        uvicorn.run(create_app(), host=host, port=port, proxy_headers=False, log_level="info")
        return
    # Made once here: N processes starting at once would race to create a new catalog.
    Repository(get_settings(), TABLES).close()
    os.environ["VESTIGE_SERVE_WORKERS"] = str(workers)  # the processes read their settings
    os.environ["VESTIGE_SERVE_PARENT"] = str(os.getpid())
    get_settings.cache_clear()
    uvicorn.run(
        "api.app:worker_app",
        factory=True,
        workers=workers,
        # A process that misses this many seconds of pings is restarted: starting up
        # (imports, opening the index) can take that long on a busy machine.
        timeout_worker_healthcheck=60,
        host=host,
        port=port,
        proxy_headers=False,
        log_level="info",
    )


def _document_reads(app: FastAPI, public: bool) -> None:
    """Reads take the API token too, under a scheme of their own (``ReadToken``) that
    the OpenAPI document shows as the token's scheme, optional when reads are public."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = generate()  # cached by FastAPI: changed once, here
            schema.get("components", {}).get("securitySchemes", {}).pop(READ_SCHEME, None)
            for operations in schema["paths"].values():
                for operation in operations.values():
                    if {READ_SCHEME: []} in operation.get("security", []):
                        token = [{"HTTPBearer": []}]
                        operation["security"] = [{}, *token] if public else token
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
