"""``/api/v1/captures`` and ``/api/v1/jobs``: capturing URLs in the background."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Depends, HTTPException, Response

from api.deps import JobsDep, Writer, require_reader
from api.errors import ERROR_RESPONSES
from api.jobs import QueueFull
from api.models import Job
from api.replay import timestamp14
from api.schemas import CaptureRequest, JobAccepted, JobUrl, JobView
from archive.store import InvalidCollection, check_collection
from archive.urls import InvalidURL, normalise_url

router = APIRouter(tags=["captures"], responses=ERROR_RESPONSES)


def _check(request: CaptureRequest) -> None:
    try:
        check_collection(request.collection)
        for url in request.urls:
            if not normalise_url(url).startswith(("http://", "https://")):
                raise InvalidURL(f"not an http(s) URL: {url!r}")
    except (InvalidCollection, InvalidURL) as exc:
        raise HTTPException(422, str(exc)) from exc


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
    try:
        job = await to_thread.run_sync(
            lambda: jobs.submit(
                request.urls,
                collection=request.collection,
                note=request.note,
                truncate=request.truncate,
                submitted_by=token,
            )
        )
    except QueueFull as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "60"}) from exc
    href = f"/api/v1/jobs/{job.id}"
    response.headers["Location"] = href
    return JobAccepted(id=job.id, state=job.state, href=href)


def job_view(job: Job) -> JobView:
    """A job row and its URLs as the API shows them."""
    urls = [
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
        )
        for item in job.items
    ]
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


@router.get("/jobs/{job_id}", response_model=JobView, dependencies=[Depends(require_reader)])
async def get_job(job_id: str, jobs: JobsDep) -> JobView:
    """A job's state and, per URL: status, final URL, WARC file and offset, digest, error."""
    job = await to_thread.run_sync(jobs.get, job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return job_view(job)
