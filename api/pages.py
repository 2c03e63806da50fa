"""Server-rendered HTML pages: search, documents, archived copies, preserving, status.

Archived content is never inlined here: the archived-copy page frames the
sandboxed replay path. Pages run no inline script (their CSP forbids it); the
little JavaScript there is lives in ``/static/vestige.js``. Forms that change
anything need a browser session (``/login`` with an API token) and carry its
CSRF secret.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlencode

from anyio import to_thread
from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    Query,
    Request,
    Response,
    UploadFile,
)
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from api import session as sessions
from api.captures import load_job
from api.crawls import (
    cancel_job,
    crawl_options,
    follow_detail,
    follow_view,
    load_crawl_job,
    new_follow,
    remove_follow,
    start_crawl,
)
from api.deps import JobsDep, RepositoryDep, SettingsDep, browser_session, require_reader
from api.documents import find_document, version_views
from api.errors import status_of
from api.imports import import_upload
from api.memento import archived_url, memento_path, versions_of
from api.provenance import (
    RowId,
    diff_view,
    document_relations,
    make_relation,
    previous_version,
    review_relation,
    story_view,
)
from api.replay import closest, parse_timestamp
from api.schemas import CrawlRequest, DocumentDiff, DocumentRelations, FollowRequest, WatchRequest
from api.searches import MAX_OFFSET, SearchParams, get_search, run_search
from api.session import Session
from api.status import service_status
from api.watches import add_watch, change_view, changes, remove_watch, watch_view
from archive.browser import CaptureMode, browser_parts, stored_by_browser
from archive.cdxj import timestamp14
from archive.errors import DomainError, Forbidden, InvalidInput, NotLoggedIn
from archive.follow import format_interval, list_follows
from archive.importer import Submission
from archive.repository import Repository
from archive.store import InvalidCollection, check_collection
from archive.urls import InvalidURL, checked_url
from ingest import relations
from ingest import watch as watching
from ingest.models import Document
from search.backend import FACETS, Sort
from search.models import markers
from search.query import FIELDS

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

# Application pages run no inline code and may only frame the replay path.
APP_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
PAGE_SIZE = 20
_MARK = re.compile(r"<mark>(.*?)</mark>", re.DOTALL)
_LOGIN_LIFETIME = 3600
DiffUnit = Literal["word", "char"]
# Form fields that several forms take, with the same bounds as the JSON API's.
CsrfField = Annotated[str, Form(max_length=200)]
UrlField = Annotated[str, Form(max_length=4096)]
EveryField = Annotated[str, Form(max_length=20)]
CollectionField = Annotated[str, Form(max_length=200)]
NoteField = Annotated[str, Form(max_length=10_000)]

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_reader)])


def highlight(snippet: str) -> Markup:
    """A snippet safe to insert: only the engine's ``<mark>`` survives; everything else,
    whatever the engine did or did not escape, is escaped here."""
    out: list[str] = []
    cursor = 0
    for match in _MARK.finditer(snippet):
        out.append(escape(html.unescape(snippet[cursor : match.start()])))
        out.append(Markup("<mark>%s</mark>") % html.unescape(match.group(1)))
        cursor = match.end()
    out.append(escape(html.unescape(snippet[cursor:])))
    return Markup("").join(out)


templates.env.filters["highlight"] = highlight
templates.env.filters["ts14"] = timestamp14
templates.env.filters["interval"] = format_interval
templates.env.filters["markers"] = markers
templates.env.globals["FIELDS"] = FIELDS


async def page(
    request: Request, template: str, status_code: int = 200, **context: object
) -> Response:
    """Render an application page, knowing who is logged in, with its security headers."""
    context.setdefault("session", await browser_session(request))
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["Content-Security-Policy"] = APP_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


async def error_page(request: Request, status: int, message: str) -> Response:
    return await page(request, "error.html", status_code=status, status=status, message=message)


async def failure_page(request: Request, error: DomainError) -> Response:
    """The error page for what a service function refused, with the JSON API's status."""
    return await error_page(request, status_of(error), str(error))


def _local(target: str | None) -> str:
    """Only same-site paths are followed after logging in (no open redirect)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


# -- search ------------------------------------------------------------------------


class SearchLinks:
    """Links for the search page: the current search with some parameters changed."""

    def __init__(self, params: dict[str, str]) -> None:
        self.params = params

    def __call__(self, **changes: object) -> str:
        merged = {**self.params, **{k: str(v) for k, v in changes.items() if v is not None}}
        for key, value in changes.items():
            if value is None:
                merged.pop(key, None)
        if "page" not in changes:
            merged.pop("page", None)  # a new filter starts at the first page
        return "/?" + urlencode({k: v for k, v in merged.items() if v})


# Filters of the search page, each also a query field of the same name (lang:, has:...).
SEARCH_FILTERS = ("lang", "site", "after", "before", "collection", "has", "role")
EXPORT_FORMATS = ("jsonl", "csv", "parquet", "warc", "wacz")


def export_links(current: dict[str, str | None]) -> list[tuple[str, str]]:
    """``/api/v1/export`` downloads of every result of the current search, per format."""
    terms = [current["q"] or ""]
    terms += [f"{name}:{current[name]}" for name in SEARCH_FILTERS if current[name]]
    query = " ".join(term for term in terms if term)
    selection = {"q": query} if query else {"all": "true"}
    return [
        (name, "/api/v1/export?" + urlencode({**selection, "format": name}))
        for name in EXPORT_FORMATS
    ]


@router.get("/", response_class=HTMLResponse)
async def search_page(
    request: Request,
    q: Annotated[str, Query(max_length=2000)] = "",
    lang: str | None = None,
    site: str | None = None,
    after: str | None = None,
    before: str | None = None,
    collection: str | None = None,
    has: str | None = None,
    role: str | None = None,
    collapse: bool = True,
    cross: bool = True,
    sort: Sort = Sort.relevance,
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
):
    """The search page; with no query, every document, newest first."""
    current = {
        "q": q,
        "lang": lang,
        "site": site,
        "after": after,
        "before": before,
        "collection": collection,
        "has": has,
        "role": role,
        "collapse": None if collapse else "false",
        "cross": None if cross else "false",
        "sort": sort.value if sort is not Sort.relevance else None,
        "page": str(page_number) if page_number > 1 else None,
    }
    links = SearchLinks({k: v for k, v in current.items() if v})
    browsing = not any(current[k] for k in ("q", *SEARCH_FILTERS))
    offset = (page_number - 1) * PAGE_SIZE
    context: dict[str, object] = {
        "current": current,
        "links": links,
        "sort": sort,
        "browsing": browsing,
        "facet_names": FACETS,
        "exports": export_links(current),
    }
    if offset > MAX_OFFSET:
        return await page(request, "search.html", 400, error="that page is too deep", **context)
    params = SearchParams(
        q,
        lang,
        site,
        after,
        before,
        collection,
        Sort.date if browsing else sort,
        PAGE_SIZE,
        offset,
        has,
        role,
        collapse,
        cross,
    )
    try:
        result = await run_search(get_search(request), params)
    except DomainError as exc:
        return await page(request, "search.html", status_of(exc), error=str(exc), **context)
    pages = max(1, min(-(-result.total // PAGE_SIZE), MAX_OFFSET // PAGE_SIZE + 1))
    return await page(
        request, "search.html", result=result, page=page_number, pages=pages, **context
    )


# -- documents ----------------------------------------------------------------------


def citation(document: Document, archived: str) -> str:
    """A ready-to-copy citation of the archived copy."""
    parts = [document.title or document.url]
    if document.authors:
        parts.insert(0, ", ".join(document.authors))
    if document.site:
        parts.append(document.site)
    if document.published:
        parts.append(f"Published {document.published}")
    parts.append(f"Original URL {document.url}")
    parts.append(
        f"Archived {document.captured:%Y-%m-%d %H:%M:%S} UTC at {archived}"
        + (f" ({document.payload_digest})" if document.payload_digest else "")
    )
    return ". ".join(part.rstrip(".") for part in parts) + "."


@router.get("/documents/{document_id}", response_class=HTMLResponse)
async def document_page(
    document_id: str,
    request: Request,
    repository: RepositoryDep,
    settings: SettingsDep,
    against: Annotated[str | None, Query(pattern="^[0-9a-f]{16}$")] = None,
    by: DiffUnit = "word",
):
    """Everything known about a document, its versions (with the text diff from the
    previous one, or from ``against``), its relations, and how to cite it."""
    try:
        document = await to_thread.run_sync(find_document, repository, document_id)
    except DomainError as exc:
        return await failure_page(request, exc)
    versions = await to_thread.run_sync(version_views, repository, document.url)
    stamp = timestamp14(document.captured)
    archived = f"/archive/{stamp}/{document.url}"
    shot = await to_thread.run_sync(stored_by_browser, repository.catalog, document.record_id)
    screenshot = f"/screenshot/{stamp}/{document.url}" if shot else None
    base = str(request.base_url).rstrip("/")
    replay = None
    if settings.replay_url:  # pywb, run by `vestige replay-server`
        replay = f"{settings.replay_url.rstrip('/')}/{stamp}/{document.url}"
    try:
        related, diff = await to_thread.run_sync(_provenance, repository, document, against, by)
    except DomainError as exc:
        return await failure_page(request, exc)
    return await page(
        request,
        "document.html",
        document=document,
        versions=versions,
        archived=archived,
        memento=f"/web/{stamp}id_/{document.url}",
        replay=replay,
        screenshot=screenshot,
        citation=citation(document, base + archived),
        relations=related.relations,
        relation_types=relations.TYPES,
        diff=diff,
    )


def _provenance(
    repository: Repository, document: Document, against: str | None, by: DiffUnit
) -> tuple[DocumentRelations, DocumentDiff | None]:
    """A document's relations, and its diff with ``against`` or the previous version."""
    old = find_document(repository, against) if against else previous_version(repository, document)
    diff = diff_view(old, document, by) if old is not None else None
    return document_relations(repository, document), diff


@router.get("/archive/{stamp}/{url:path}", response_class=HTMLResponse)
async def archived_copy(stamp: str, url: str, request: Request, repository: RepositoryDep):
    """The archived copy in a sandboxed frame, under a banner saying what it is."""
    try:
        moment = parse_timestamp(stamp)
        target = archived_url(request, 3)
        versions = await versions_of(repository, target)
    except (ValueError, DomainError) as exc:  # a bad timestamp or URL is a missing page here
        return await error_page(request, 404, str(exc))
    row = closest(versions, moment)
    exact = timestamp14(row.timestamp)
    if exact != stamp:
        return RedirectResponse(f"/archive/{exact}/{row.url}", 302)
    # A browser capture is shown as the browser saw it (its DOM, archived resources).
    browser = await to_thread.run_sync(browser_parts, repository.catalog, row.capture_id)
    return await page(
        request,
        "archived.html",
        row=row,
        frame=memento_path(row, "id_" if browser is None else ""),
        versions=versions,
        timemap=f"/timemap/link/{row.url}",
    )


# -- status -------------------------------------------------------------------------


@router.get("/status", response_class=HTMLResponse)
async def status_page(request: Request, repository: RepositoryDep, jobs: JobsDep):
    """Counts, the search engine and its analyzers, storage, last runs, failures."""
    state = request.app.state
    report = await to_thread.run_sync(
        service_status, repository, jobs, state.search, state.search_error
    )
    return await page(request, "status.html", status=report)


# -- logging in ---------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next_page: Annotated[str, Query(alias="next")] = "/"):
    """Log in with an API token (from ``vestige token create NAME``)."""
    return await _login_page(request, next_page)


async def _login_page(request: Request, next_page: str, error: str | None = None) -> Response:
    csrf = secrets.token_urlsafe(24)
    response = await page(
        request,
        "login.html",
        status_code=403 if error else 200,
        csrf=csrf,
        next_page=_local(next_page),
        error=error,
    )
    sessions.set_cookie(request, response, sessions.LOGIN_COOKIE, csrf, _LOGIN_LIFETIME)
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    repository: RepositoryDep,
    token: Annotated[str, Form(max_length=200)],
    csrf: CsrfField,
    next_page: Annotated[str, Form(alias="next", max_length=2000)] = "/",
):
    """Check the token; on success set the session cookie and go on."""
    expected = request.cookies.get(sessions.LOGIN_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf):
        return await _login_page(request, next_page, "the form expired; please try again")
    started = await to_thread.run_sync(
        sessions.start, repository.catalog, request.app.state.session_key, token.strip()
    )
    if started is None:
        return await _login_page(request, next_page, "invalid or revoked token")
    _, cookie = started
    response = RedirectResponse(_local(next_page), 303)
    sessions.set_cookie(request, response, sessions.COOKIE, cookie, sessions.LIFETIME)
    response.delete_cookie(sessions.LOGIN_COOKIE, path="/")
    return response


async def _writer(request: Request, csrf: str) -> Session:
    """The logged-in session, if this form carries its CSRF secret; else
    :class:`NotLoggedIn` or :class:`Forbidden`."""
    session = await browser_session(request)
    if session is None:
        raise NotLoggedIn("log in first")
    if not sessions.csrf_ok(session, csrf):
        raise Forbidden("missing or wrong CSRF token; reload the form")
    return session


@router.post("/logout")
async def logout(request: Request, csrf: CsrfField):
    try:
        await _writer(request, csrf)
    except DomainError as exc:
        return await failure_page(request, exc)
    response = RedirectResponse("/", 303)
    response.delete_cookie(sessions.COOKIE, path="/")
    return response


# -- preserving ---------------------------------------------------------------------


@router.get("/preserve", response_class=HTMLResponse)
async def preserve_form(request: Request):
    """Forms to capture URLs and to upload documents (after logging in)."""
    if await browser_session(request) is None:
        return RedirectResponse("/login?" + urlencode({"next": "/preserve"}), 303)
    return await page(request, "preserve.html")


@router.post("/preserve")
async def preserve(
    request: Request,
    jobs: JobsDep,
    urls: Annotated[str, Form(max_length=100_000)],
    csrf: CsrfField,
    collection: CollectionField = "default",
    note: NoteField = "",
    browser: Annotated[bool, Form()] = False,
):
    """Queue a capture job for the URLs (one a line), then follow it."""
    try:
        session = await _writer(request, csrf)
        wanted = [line.strip() for line in urls.splitlines() if line.strip()]
        if not wanted:
            raise InvalidInput("give at least one URL")
        try:
            check_collection(collection)
        except InvalidCollection as exc:
            raise InvalidInput(str(exc)) from exc
        for number, line in enumerate(urls.splitlines(), 1):
            try:
                if line.strip():
                    checked_url(line.strip(), fetchable=True)
            except InvalidURL as exc:
                raise InvalidInput(f"line {number}: {exc}") from exc
        job = await to_thread.run_sync(
            lambda: jobs.submit(
                wanted,
                collection=collection,
                note=note or None,
                mode=CaptureMode.browser if browser else CaptureMode.http,
                submitted_by=session.name,
            )
        )
    except DomainError as exc:  # QueueFull among them
        return await page(
            request,
            "preserve.html",
            status_of(exc),
            error=str(exc),
            urls=urls,
            note=note,
            collection=collection,
        )
    return RedirectResponse(f"/jobs/{job.id}", 303)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(job_id: str, request: Request, jobs: JobsDep):
    """A capture job's progress, until its documents are searchable (polled by script);
    a crawl job's counts and latest pages, with a button to cancel it."""
    view = await to_thread.run_sync(load_job, jobs, request.app.state.search, job_id)
    if view is not None:
        return await page(request, "job.html", job=view)
    crawl = await to_thread.run_sync(load_crawl_job, jobs.repository, job_id)
    if crawl is None:
        return await error_page(request, 404, f"no job {job_id!r}")
    return await page(request, "crawl.html", job=crawl)


@router.post("/upload", response_class=HTMLResponse)
async def upload(
    request: Request,
    repository: RepositoryDep,
    jobs: JobsDep,
    file: Annotated[UploadFile, File()],
    csrf: CsrfField,
    url: UrlField = "",
    published: Annotated[str, Form(alias="date", max_length=10)] = "",
    note: NoteField = "",
    collection: CollectionField = "default",
    keep_gps: Annotated[bool, Form()] = False,
):
    """Import an uploaded document or web archive; ingested and indexed before the answer."""
    try:
        session = await _writer(request, csrf)
        try:
            day = date.fromisoformat(published) if published else None
        except ValueError as exc:
            raise InvalidInput(f"invalid date {published!r}: use YYYY-MM-DD") from exc
        submission = Submission(url or None, day, note or None, session.name, keep_gps)
        result = await import_upload(repository, jobs.after_store, file, submission, collection)
    except DomainError as exc:
        return await page(request, "preserve.html", status_of(exc), upload_error=str(exc))
    return await page(request, "uploaded.html", result=result)


# -- relations and stories ------------------------------------------------------------


async def _write_form(
    request: Request, csrf: str, action: Callable[..., object], *args: object
) -> Response | None:
    """Run a form's change as the logged-in session (blocking ``action(name, *args)``);
    an error page if that fails, None if it worked."""
    try:
        session = await _writer(request, csrf)
        await to_thread.run_sync(action, session.name, *args)
    except DomainError as exc:
        return await failure_page(request, exc)
    return None


@router.post("/documents/{document_id}/relations")
async def add_relation(
    document_id: str,
    request: Request,
    repository: RepositoryDep,
    csrf: CsrfField,
    type_: Annotated[str, Form(alias="type", max_length=20)],
    other: Annotated[str, Form(max_length=4096)],
    direction: Annotated[str, Form(pattern="^(outgoing|incoming)$")] = "outgoing",
    note: NoteField = "",
):
    """Relate this document to another (id or URL): ``this TYPE other``, or the other way."""

    def relate(name: str) -> None:
        source, target = (document_id, other.strip())
        if direction == "incoming":
            source, target = target, source
        make_relation(repository, source, type_, target, note or None, name)

    failed = await _write_form(request, csrf, relate)
    return failed or RedirectResponse(f"/documents/{document_id}#relations", 303)


@router.post("/relations/{relation_id}/{action}")
async def review_relation_form(
    relation_id: RowId,
    action: str,
    request: Request,
    repository: RepositoryDep,
    csrf: CsrfField,
    document: Annotated[str, Form(pattern="^[0-9a-f]{16}$")],
):
    """Confirm a suggested relation, or reject or remove one; back to the document."""
    if action not in ("confirm", "reject", "remove"):
        return await error_page(request, 404, f"no action {action!r}")

    def review(name: str) -> None:
        review_relation(repository, relation_id, confirm=action == "confirm", by=name)

    failed = await _write_form(request, csrf, review)
    return failed or RedirectResponse(f"/documents/{document}#relations", 303)


@router.get("/documents/{document_id}/story", response_class=HTMLResponse)
async def story_page(document_id: str, request: Request, repository: RepositoryDep):
    """The story of a document: primary source, coverage, corrections, retractions,
    translations, each with its date and language."""
    try:
        story = await to_thread.run_sync(story_view, repository, document_id)
    except DomainError as exc:
        return await failure_page(request, exc)
    return await page(request, "story.html", story=story)


# -- watches and changes ----------------------------------------------------------------


@router.get("/watches", response_class=HTMLResponse)
async def watches_page(request: Request, repository: RepositoryDep):
    """Watched pages, and a form to watch one more."""
    found = await to_thread.run_sync(watching.list_watches, repository.catalog)
    return await page(request, "watches.html", watches=[watch_view(w) for w in found])


@router.post("/watches")
async def add_watch_form(
    request: Request,
    repository: RepositoryDep,
    csrf: CsrfField,
    url: UrlField,
    every: EveryField = "1d",
    collection: CollectionField = "default",
    note: NoteField = "",
):
    """Watch a page: captured again every interval by the scheduler."""
    wanted = WatchRequest(url=url, every=every, collection=collection, note=note or None)
    failed = await _schedule_form(request, csrf, lambda _: add_watch(repository, wanted))
    return failed or RedirectResponse("/watches", 303)


@router.post("/watches/{watch_id}/remove")
async def remove_watch_form(
    watch_id: RowId,
    request: Request,
    repository: RepositoryDep,
    csrf: CsrfField,
):
    """Stop watching a page."""
    failed = await _write_form(request, csrf, lambda _: remove_watch(repository, watch_id))
    return failed or RedirectResponse("/watches", 303)


@router.get("/changes", response_class=HTMLResponse)
async def changes_page(
    request: Request,
    repository: RepositoryDep,
    every_kind: Annotated[bool, Query(alias="all")] = False,
):
    """What watched pages did, newest first: changed, removed or unreachable."""
    found = await to_thread.run_sync(lambda: changes(repository, every_kind=every_kind))
    return await page(
        request, "changes.html", changes=[change_view(c) for c in found], every_kind=every_kind
    )


async def _schedule_form(
    request: Request, csrf: str, action: Callable[[str], object]
) -> Response | None:
    """:func:`_write_form` for a new watch or follow: it is due at once, so the
    scheduler is woken to look now."""
    failed = await _write_form(request, csrf, action)
    if failed is None and request.app.state.scheduler is not None:
        request.app.state.scheduler.wake()
    return failed


# -- crawls and follows -------------------------------------------------------------------


@router.get("/follow", response_class=HTMLResponse)
async def follow_page(request: Request, repository: RepositoryDep):
    """Forms to follow a site or feed and to crawl a site, with the followed sources."""
    follows = await to_thread.run_sync(list_follows, repository)
    return await page(request, "follow.html", follows=[follow_view(f) for f in follows])


@router.post("/follow")
async def follow_form(
    request: Request,
    repository: RepositoryDep,
    csrf: CsrfField,
    url: UrlField,
    every: EveryField = "1h",
    collection: CollectionField = "default",
    note: NoteField = "",
):
    """Follow a feed or a site; its first run is due at once."""
    wanted = FollowRequest(url=url, every=every, collection=collection, note=note or None)
    made: list[int] = []
    failed = await _schedule_form(
        request, csrf, lambda _: made.append(new_follow(repository, wanted).id)
    )
    return failed or RedirectResponse(f"/follows/{made[0]}", 303)


@router.get("/follows/{follow_id}", response_class=HTMLResponse)
async def followed_page(follow_id: RowId, request: Request, repository: RepositoryDep):
    """What a followed source brought in: its runs and the pages they captured."""
    try:
        detail = await to_thread.run_sync(follow_detail, repository, follow_id)
    except DomainError as exc:
        return await failure_page(request, exc)
    return await page(request, "followed.html", follow=detail)


@router.post("/follows/{follow_id}/remove")
async def unfollow_form(
    follow_id: RowId,
    request: Request,
    repository: RepositoryDep,
    csrf: CsrfField,
):
    """Stop following a source; what it brought in stays."""
    failed = await _write_form(request, csrf, lambda _: remove_follow(repository, follow_id))
    return failed or RedirectResponse("/follow", 303)


@router.post("/crawl")
async def crawl_form(
    request: Request,
    csrf: CsrfField,
    seeds: Annotated[str, Form(max_length=100_000)],
    scope: Annotated[str, Form(pattern="^(page|prefix|host|domain)$")] = "prefix",
    depth: Annotated[int, Form(ge=0, le=100)] = 2,
    max_pages: Annotated[str, Form(max_length=10)] = "",
    collection: CollectionField = "default",
):
    """Start a crawl job from the seeds (one a line), then follow it."""
    try:
        wanted = CrawlRequest(
            seeds=[line.strip() for line in seeds.splitlines() if line.strip()],
            scope=scope,
            depth=depth,
            max_pages=int(max_pages) if max_pages.strip() else None,
            collection=collection,
        )
    except ValueError as exc:
        return await error_page(request, 422, f"invalid crawl: {exc}")
    started: list[str] = []

    def start(_: str) -> None:
        started.append(start_crawl(request.app.state.crawls, crawl_options(wanted)))

    failed = await _write_form(request, csrf, start)
    return failed or RedirectResponse(f"/jobs/{started[0]}", 303)


@router.post("/jobs/{job_id}/cancel")
async def cancel_form(job_id: str, request: Request, jobs: JobsDep, csrf: CsrfField):
    """Cancel a crawl job; back to its page."""
    crawls = request.app.state.crawls
    failed = await _write_form(request, csrf, lambda _: cancel_job(crawls, jobs.get, job_id))
    return failed or RedirectResponse(f"/jobs/{job_id}", 303)
