"""The service's status report: what the archive holds and what is running."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import distinct, func, select

from api.jobs import CaptureJobs
from api.models import Job, JobItem, JobState
from api.schemas import (
    ArchiveStatus,
    FailedCapture,
    IngestFailure,
    IngestStatus,
    JobCounts,
    LastRuns,
    SearchStatus,
    Status,
)
from archive.catalog import CONTENT_TYPES, Record
from archive.repository import Repository, software_version
from ingest.documents import latest_seq
from ingest.models import Document, IngestOutcome
from search.backend import SearchBackend, SearchError

RECENT = 10  # failures listed


def archive_status(repository: Repository) -> ArchiveStatus:
    """Counts from the catalog and sizes from the disk (blocking)."""
    store = repository.store
    with repository.catalog.session() as session:
        by_type = dict(
            session.execute(
                select(Record.record_type, func.count()).group_by(Record.record_type)
            ).all()
        )
        captures = session.scalar(select(func.count(distinct(Record.capture_id)))) or 0
        urls = (
            session.scalar(
                select(func.count(distinct(Record.url))).where(
                    Record.record_type.in_(CONTENT_TYPES)
                )
            )
            or 0
        )
        collections = list(
            session.scalars(select(Record.collection).distinct().order_by(Record.collection))
        )
    files = list(store.files())
    size = sum(store.size(name) for name in files)
    return ArchiveStatus(
        records=sum(by_type.values()),
        records_by_type=by_type,
        captures=captures,
        urls=urls,
        collections=collections,
        warc_files=len(files),
        storage_bytes=size,
    )


def ingest_status(repository: Repository) -> IngestStatus:
    """Documents, records awaiting ingest, skips and failures (blocking)."""
    with repository.catalog.session() as session:
        live = session.scalar(select(func.count()).where(Document.deleted.is_(False))) or 0
        outcomes = dict(
            session.execute(
                select(IngestOutcome.outcome, func.count()).group_by(IngestOutcome.outcome)
            ).all()
        )
        pending = (
            session.scalar(
                select(func.count())
                .select_from(Record)
                .outerjoin(Document, Document.record_id == Record.record_id)
                .outerjoin(IngestOutcome, IngestOutcome.record_id == Record.record_id)
                .where(
                    Record.record_type.in_(CONTENT_TYPES),
                    Document.id.is_(None),
                    IngestOutcome.record_id.is_(None),
                )
            )
            or 0
        )
        failures = session.execute(
            select(Record.url, IngestOutcome)
            .join(Record, Record.record_id == IngestOutcome.record_id, isouter=True)
            .where(IngestOutcome.outcome == "failed")
            .order_by(IngestOutcome.updated.desc())
            .limit(RECENT)
        ).all()
    return IngestStatus(
        documents=live,
        pending=pending,
        skipped=outcomes.get("skipped", 0),
        failed=outcomes.get("failed", 0),
        latest_change=latest_seq(repository.catalog),
        recent_failures=[
            IngestFailure(url=url, reason=row.reason, detail=row.detail, when=row.updated)
            for url, row in failures
        ],
    )


def search_status(search: SearchBackend | None, error: str | None, latest: int) -> SearchStatus:
    """The engine's own report, and how far the index is behind ingest (blocking)."""
    if search is None:
        return SearchStatus(available=False, error=error)
    try:
        report = search.status()
    except SearchError as exc:
        return SearchStatus(available=False, engine=search.name, error=str(exc))
    checkpoint = int(report.get("checkpoint") or 0)
    return SearchStatus(
        available=True,
        engine=str(report.get("engine", search.name)),
        chinese_analyzer=report.get("chinese_analyzer"),
        english_analyzer=report.get("english_analyzer"),
        documents=report.get("documents"),
        checkpoint=checkpoint,
        behind=max(0, latest - checkpoint),
        details={key: str(value) for key, value in report.items()},
    )


def _index_commit(report: SearchStatus) -> datetime | None:
    # The embedded engine's meta.json is rewritten by every commit.
    location = report.details.get("location")
    meta = Path(location) / "meta.json" if location else None
    if meta is None or not meta.is_file():
        return None
    return datetime.fromtimestamp(meta.stat().st_mtime, UTC).replace(tzinfo=None)


def service_status(
    repository: Repository,
    jobs: CaptureJobs,
    search: SearchBackend | None = None,
    search_error: str | None = None,
) -> Status:
    """The whole report (blocking)."""
    with repository.catalog.session() as session:
        counts = dict(session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
        last_capture = session.scalar(select(func.max(Record.timestamp)))
        last_job = session.scalar(select(func.max(Job.finished)))
        last_outcome = session.scalar(select(func.max(IngestOutcome.updated)))
        failed = list(
            session.scalars(
                select(JobItem)
                .where(JobItem.state == JobState.failed)
                .order_by(JobItem.id.desc())
                .limit(RECENT)
            )
        )
        failed_captures = [
            FailedCapture(url=item.url, error=item.error or "", when=item.finished, job=item.job_id)
            for item in failed
        ]
    ingest = ingest_status(repository)
    search_report = search_status(search, search_error, ingest.latest_change)
    return Status(
        version=software_version(),
        archive=archive_status(repository),
        jobs=JobCounts(**counts, pending_urls=jobs.pending),
        last_runs=LastRuns(
            capture=last_capture,
            job_finished=last_job,
            ingest_outcome=last_outcome,
            index_commit=_index_commit(search_report),
        ),
        ingest=ingest,
        search=search_report,
        failed_captures=failed_captures,
    )
