"""``/api/v1/captures`` and ``/api/v1/jobs``: capturing URLs in the background."""

from __future__ import annotations

from contextlib import suppress

from anyio import to_thread
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select

from api.crawls import load_crawl_job
from api.deps import JobsDep, Writer, require_reader
from api.errors import ERROR_RESPONSES
from api.jobs import CaptureJobs
from api.models import Job
from api.schemas import CaptureRequest, CrawlJobView, JobAccepted, JobUrl, JobView
from archive.catalog import Catalog, Record
from archive.cdxj import timestamp14
from archive.errors import InvalidInput, NotFound
from archive.store import InvalidCollection, check_collection
from archive.urls import InvalidURL, checked_url
from ingest.models import Document
from search.backend import SearchBackend, SearchError

router = APIRouter(tags=["captures"], responses=ERROR_RESPONSES)


def _check(request: CaptureRequest) -> None:
    try:
        check_collection(request.collection)
        for url in request.urls:
            checked_url(url, fetchable=True)
    except (InvalidCollection, InvalidURL) as exc:
        raise InvalidInput(str(exc)) from exc


@router.post(
    "/captures",
    status_code=202,
    response_model=JobAccepted,
    responses={503: {"description": "The capture queue is full."}},
)
async def create_capture(
    request: CaptureRequest, jobs: JobsDep, token: Writer, response: Response
) -> JobAccepted:
    """Capture one or many URLs in the background; follow the returned job."""
    _check(request)
    job = await to_thread.run_sync(
        lambda: jobs.submit(
            request.urls,
            collection=request.collection,
            note=request.note,
            truncate=request.truncate,
            mode=request.mode,
            submitted_by=token,
        )
    )
    href = f"/api/v1/jobs/{job.id}"
    response.headers["Location"] = href
    return JobAccepted(id=job.id, state=job.state, href=href)


def _documents(catalog: Catalog, job: Job) -> dict[str, Document]:
    """The document ingested from each capture of the job, by capture id (blocking)."""
    capture_ids = [item.capture_id for item in job.items if item.capture_id]
    if not capture_ids:
        return {}
    found: dict[str, Document] = {}
    with catalog.session() as session:
        rows = session.execute(
            select(Record.capture_id, Document)
            .join(Document, Document.record_id == Record.record_id)
            .where(Record.capture_id.in_(capture_ids), Document.deleted.is_(False))
            .order_by(Record.id)
        ).all()
    for capture_id, document in rows:
        found[capture_id] = document  # the last hop's document: where redirects led
    return found


def job_view(job: Job, documents: dict[str, Document], checkpoint: int) -> JobView:
    """A job row and its URLs as the API shows them; ``checkpoint`` is the search index's."""
    urls = []
    for item in job.items:
        document = documents.get(item.capture_id or "")
        urls.append(
            JobUrl(
                url=item.url,
                state=item.state,
                status=item.status,
                final_url=item.final_url,
                warc_file=item.warc_file,
                offset=item.offset,
                payload_digest=item.payload_digest,
                revisit=item.revisit,
                truncated=item.truncated,
                captured_at=item.captured_at,
                replay=(
                    f"/web/{timestamp14(item.captured_at)}/{item.final_url}"
                    if item.captured_at and item.final_url
                    else None
                ),
                error=item.error,
                after_store_error=item.after_store_error,
                document_id=document.id if document else None,
                document=f"/api/v1/documents/{document.id}" if document else None,
                searchable=document is not None and document.seq <= checkpoint,
            )
        )
    return JobView(
        id=job.id,
        kind=job.kind,
        state=job.state,
        collection=job.collection,
        note=job.note,
        submitted_by=job.submitted_by,
        created=job.created,
        started=job.started,
        finished=job.finished,
        urls=urls,
    )


def load_job(jobs: CaptureJobs, search: SearchBackend | None, job_id: str) -> JobView | None:
    """The job, its documents and whether search finds them yet (blocking)."""
    job = jobs.get(job_id)
    if job is None:
        return None
    documents = _documents(jobs.repository.catalog, job)
    checkpoint = 0
    if documents and search is not None:
        with suppress(SearchError):  # the engine is down: nothing is searchable now
            checkpoint = search.checkpoint()
    return job_view(job, documents, checkpoint)


@router.get(
    "/jobs/{job_id}",
    response_model=JobView | CrawlJobView,
    dependencies=[Depends(require_reader)],
)
async def get_job(job_id: str, jobs: JobsDep, request: Request) -> JobView | CrawlJobView:
    """A job's state and, per URL: status, final URL, WARC file and offset, digest, error,
    and the document ingested from it, with whether search finds it yet. A crawl job
    (``kind`` crawl) has its counts and latest pages instead."""
    view = await to_thread.run_sync(load_job, jobs, request.app.state.search, job_id)
    if view is None:
        view = await to_thread.run_sync(load_crawl_job, jobs.repository, job_id)
    if view is None:
        raise NotFound(f"no job {job_id!r}")
    return view
