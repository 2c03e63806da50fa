"""Watched pages and what they did, in the JSON API and as an Atom feed.

``/api/v1/watches`` lists, adds and removes watches (writes need a token);
``/api/v1/changes`` lists what re-captures found, newest first, and
``/api/v1/changes.atom`` is the same list as a feed for feed readers. The
service's scheduler (:mod:`api.scheduler`) does the re-capturing.
"""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Response

from api.deps import RepositoryDep, Writer, require_reader
from api.errors import ERROR_RESPONSES
from api.provenance import RowId, find_row
from api.schemas import PageChangeView, WatchRequest, WatchView
from archive.errors import InvalidInput, NotFound
from archive.repository import Repository
from archive.urls import URL_PATTERN, InvalidURL
from ingest import watch as watching
from ingest.watch import PageChange, Watch, WatchError

router = APIRouter(tags=["watches"], responses=ERROR_RESPONSES)
reading = [Depends(require_reader)]

KINDS = (watching.FIRST, watching.UNCHANGED, *watching.NOTABLE)
ATOM_TYPE = "application/atom+xml; charset=utf-8"


def watch_view(watch: Watch) -> WatchView:
    return WatchView.model_validate(watch, from_attributes=True)


def change_view(change: PageChange) -> PageChangeView:
    data = change.to_dict()
    data["detected"] = change.detected
    if change.kind == watching.CHANGED and change.document_id and change.previous_id:
        data["diff"] = f"/documents/{change.document_id}?against={change.previous_id}#diff"
    return PageChangeView(**data)


def add_watch(repository: Repository, request: WatchRequest) -> Watch:
    """Watch a page, or change its watch (blocking); :class:`WatchError` (an
    :class:`InvalidInput`) for a bad URL or interval."""
    return watching.add_watch(
        repository.catalog,
        request.url,
        request.every,
        collection=request.collection,
        note=request.note,
    )


def remove_watch(repository: Repository, watch_id: int) -> Watch:
    """Stop a watch by id (blocking); :class:`NotFound` if there is none."""
    found = find_row(repository, Watch, watch_id, "watch")
    try:
        watching.remove_watch(repository.catalog, found.url, found.collection)
    except WatchError as exc:  # removed meanwhile
        raise NotFound(str(exc)) from exc
    return found


def changes(
    repository: Repository, *, every_kind: bool = False, url: str | None = None, limit: int = 100
) -> list[PageChange]:
    """Recorded changes, newest first: the notable ones, or every kind (blocking)."""
    kinds = KINDS if every_kind else watching.NOTABLE
    try:
        return watching.list_changes(repository.catalog, kinds=kinds, url=url, limit=limit)
    except InvalidURL as exc:
        raise InvalidInput(str(exc)) from exc


AllKinds = Annotated[
    bool, Query(alias="all", description="Also list first captures and unchanged pages.")
]
ChangeUrl = Annotated[
    str | None,
    Query(
        max_length=4096,
        description="Only this page's changes.",
        json_schema_extra={"pattern": URL_PATTERN},
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="How many, newest first.")]


@router.get("/watches", response_model=list[WatchView], dependencies=reading)
async def list_watches(repository: RepositoryDep) -> list[WatchView]:
    """Every watched page: interval, last run and what it found, next capture."""
    found = await to_thread.run_sync(watching.list_watches, repository.catalog)
    return [watch_view(watch) for watch in found]


@router.post("/watches", status_code=201, response_model=WatchView)
async def create_watch(
    request: WatchRequest, repository: RepositoryDep, token: Writer, response: Response
) -> WatchView:
    """Watch a page: capture it again every interval (``every``: 30m, 6h, 1d, 1w) and
    record whether it changed, was removed or is unreachable. Watching a watched page
    again changes its interval."""
    made = await to_thread.run_sync(add_watch, repository, request)
    response.headers["Location"] = f"/api/v1/watches/{made.id}"
    return watch_view(made)


@router.get("/watches/{watch_id}", response_model=WatchView, dependencies=reading)
async def get_watch(watch_id: RowId, repository: RepositoryDep) -> WatchView:
    """One watch."""
    return watch_view(await to_thread.run_sync(find_row, repository, Watch, watch_id, "watch"))


@router.delete("/watches/{watch_id}", response_model=WatchView)
async def delete_watch(watch_id: RowId, repository: RepositoryDep, token: Writer) -> WatchView:
    """Stop watching a page; its captures and changes stay."""
    return watch_view(await to_thread.run_sync(remove_watch, repository, watch_id))


@router.get("/changes", response_model=list[PageChangeView], dependencies=reading)
async def list_changes(
    repository: RepositoryDep,
    every_kind: AllKinds = False,
    url: ChangeUrl = None,
    limit: Limit = 100,
) -> list[PageChangeView]:
    """What re-captures of watched pages found, newest first: changed (with similarity and
    a diff summary), removed (404/410, soft-404, redirect to the home page) or unreachable."""
    found = await to_thread.run_sync(
        lambda: changes(repository, every_kind=every_kind, url=url, limit=limit)
    )
    return [change_view(change) for change in found]


@router.get(
    "/changes.atom",
    response_class=Response,
    dependencies=reading,
    responses={200: {"content": {"application/atom+xml": {}}, "description": "An Atom feed."}},
)
async def changes_feed(
    repository: RepositoryDep,
    every_kind: AllKinds = False,
    url: ChangeUrl = None,
    limit: Limit = 100,
) -> Response:
    """The changes as an Atom 1.0 feed, for feed readers: learn the day a page is edited
    or deleted."""
    found = await to_thread.run_sync(
        lambda: changes(repository, every_kind=every_kind, url=url, limit=limit)
    )
    return Response(watching.atom_feed(found), media_type=ATOM_TYPE)
