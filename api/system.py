"""``/api/v1/health`` and ``/api/v1/status``."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Depends, Request

from api.deps import JobsDep, RepositoryDep, require_reader
from api.errors import ERROR_RESPONSES
from api.schemas import Health, Status
from api.status import service_status
from archive.repository import software_version

router = APIRouter(tags=["system"], responses=ERROR_RESPONSES)


@router.get("/health", response_model=Health)
async def health() -> Health:
    """Whether the service answers (no authentication, no database work)."""
    return Health(version=software_version())


@router.get("/status", response_model=Status, dependencies=[Depends(require_reader)])
async def status(repository: RepositoryDep, jobs: JobsDep, request: Request) -> Status:
    """Counts of records, captures, documents and collections, storage size, jobs, the
    search engine and its analyzers, how far ingest and indexing are behind, failures."""
    state = request.app.state
    return await to_thread.run_sync(
        service_status, repository, jobs, state.search, state.search_error
    )
