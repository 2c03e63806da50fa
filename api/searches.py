"""``/api/v1/search``: full-text search with the query syntax of ``vestige search``.

The search backend is opened once per application (in the lifespan) and shared;
searches run in worker threads so the event loop never waits for the engine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request

from api.deps import require_reader
from api.errors import ERROR_RESPONSES
from api.schemas import FacetCount, SearchHit, SearchResponse
from archive.cdxj import timestamp14
from archive.errors import InvalidQuery, Unavailable
from search.backend import SearchBackend, Sort
from search.models import SearchResult
from search.query import (
    COLLECTION_PATTERN,
    DATE_PATTERN,
    KNOWN_VALUES,
    LANG_PATTERN,
    QUERY_PATTERN,
    SITE_PATTERN,
    QuerySyntaxError,
    conjoin,
    filters,
    parse,
)
from search.translate import search as translated_search

router = APIRouter(tags=["search"], responses=ERROR_RESPONSES)

MAX_LIMIT = 100
MAX_OFFSET = 10_000  # deeper pages cost the engine more than any reader needs
MAX_PAGE = MAX_OFFSET // MAX_LIMIT + 1  # the deepest page of the largest pages


def _filter(description: str, syntax: str | tuple[str, ...]) -> Any:
    """A filter parameter with its syntax in the OpenAPI document (the query parser
    checks it): a pattern, or the values it takes."""
    stated = {"pattern": f"^{syntax}$"} if isinstance(syntax, str) else {"enum": list(syntax)}
    return Query(description=description, json_schema_extra=stated)


@dataclass(frozen=True)
class SearchParams:
    """What a search asks for: the CLI's query and options."""

    q: str = ""
    lang: str | None = None
    site: str | None = None
    after: str | None = None
    before: str | None = None
    collection: str | None = None
    sort: Sort = Sort.relevance
    limit: int = 10
    offset: int = 0
    has: str | None = None
    role: str | None = None
    collapse: bool = True
    cross: bool = True  # also search the query's translations (search.translate)


def get_search(request: Request) -> SearchBackend:
    """The application's search backend; :class:`Unavailable` if the engine could not
    be opened."""
    backend = request.app.state.search
    if backend is None:
        raise Unavailable(f"search is unavailable: {request.app.state.search_error}")
    return backend


async def _search_dependency(request: Request) -> SearchBackend:
    # async, so that FastAPI does not run it in a worker thread (see api.deps)
    return get_search(request)


SearchDep = Annotated[SearchBackend, Depends(_search_dependency)]


async def run_search(backend: SearchBackend, params: SearchParams) -> SearchResult:
    """Parse and run a search off the event loop; :class:`InvalidQuery` for a bad query,
    :class:`search.backend.SearchError` (an :class:`Unavailable`) if the engine fails."""
    try:
        tree = conjoin(
            parse(params.q),
            filters(
                language=params.lang,
                site=params.site,
                collection=params.collection,
                after=params.after,
                before=params.before,
                has=params.has,
                role=params.role,
            ),
        )
    except QuerySyntaxError as exc:
        raise InvalidQuery(f"bad query: {exc}") from exc
    return await to_thread.run_sync(
        lambda: translated_search(
            backend,
            tree,
            cross=params.cross,
            sort=params.sort,
            limit=params.limit,
            offset=params.offset,
            collapse=params.collapse,
        )
    )


def archived_path(captured: datetime, url: str) -> str:
    """The archived-copy page of a capture."""
    return f"/archive/{timestamp14(captured)}/{url}"


@router.get("/search", response_model=SearchResponse, dependencies=[Depends(require_reader)])
async def search(
    backend: SearchDep,
    q: Annotated[
        str,
        Query(
            max_length=2000,
            description='Words (all must match), "phrases", -excluded, a OR b, '
            "lang: site: collection: title: after: before: has: role:",
            json_schema_extra={"pattern": QUERY_PATTERN},
        ),
    ] = "",
    lang: Annotated[str | None, _filter("Only this language (en, zh).", LANG_PATTERN)] = None,
    site: Annotated[str | None, _filter("Only this domain (and subdomains).", SITE_PATTERN)] = None,
    after: Annotated[str | None, _filter("Dated on or after YYYY[-MM[-DD]].", DATE_PATTERN)] = None,
    before: Annotated[str | None, _filter("Dated before YYYY[-MM[-DD]].", DATE_PATTERN)] = None,
    collection: Annotated[str | None, _filter("Only this collection.", COLLECTION_PATTERN)] = None,
    has: Annotated[
        str | None,
        _filter(
            "Only documents with related coverage, correction, retraction, ...", KNOWN_VALUES["has"]
        ),
    ] = None,
    role: Annotated[
        str | None,
        _filter("Only documents with this role in their story (primary...).", KNOWN_VALUES["role"]),
    ] = None,
    collapse: Annotated[
        bool, Query(description="Copies of one story (same-story) as one hit with its copies.")
    ] = True,
    cross: Annotated[
        bool,
        Query(
            description="Cross-language search: also the query's Chinese or English "
            "translation (false: its own words only)."
        ),
    ] = True,
    sort: Annotated[Sort, Query(description="relevance, or date (newest first).")] = Sort.relevance,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Hits per page.")] = 10,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Hits to skip.")] = 0,
    page: Annotated[
        int | None, Query(ge=1, le=MAX_PAGE, description="Page number (instead of offset).")
    ] = None,
) -> SearchResponse:
    """Ranked documents with highlighted snippets and facet counts (language, site, year,
    collection, has, role). Each hit says which coverage, corrections or retractions exist
    and carries the matching copies of its story. By default the query's translations are
    searched too (``translated``); each hit says whether it matched the query's own words
    and through which translation (``matched_via``). A malformed query is a 400 whose
    message says what is wrong."""
    if page is not None:
        offset = (page - 1) * limit  # at most MAX_OFFSET, as page and limit are bounded
    params = SearchParams(
        q, lang, site, after, before, collection, sort, limit, offset, has, role, collapse, cross
    )
    result = await run_search(backend, params)
    return SearchResponse(
        query=q,
        total=result.total,
        documents=result.documents,
        offset=offset,
        limit=limit,
        translated=list(result.translated),
        notes=list(result.notes),
        hits=[
            SearchHit(
                **asdict(hit),
                has=hit.has,
                document=f"/api/v1/documents/{hit.id}",
                archived=archived_path(hit.captured, hit.url),
            )
            for hit in result.hits
        ],
        facets={
            name: [FacetCount(value=value, count=count) for value, count in counts]
            for name, counts in result.facets.items()
        },
    )
