"""The service's status report: what the archive holds and what is running."""

from __future__ import annotations

from sqlalchemy import distinct, func, select

from api.jobs import CaptureJobs
from api.models import Job
from api.schemas import ArchiveStatus, JobCounts, LastRuns, Status
from archive.catalog import Record
from archive.repository import Repository, software_version


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
                    Record.record_type.in_(("response", "resource", "revisit"))
                )
            )
            or 0
        )
        collections = list(
            session.scalars(select(Record.collection).distinct().order_by(Record.collection))
        )
    files = list(store.files())
    size = sum(store.path(name).stat().st_size for name in files)
    return ArchiveStatus(
        records=sum(by_type.values()),
        records_by_type=by_type,
        captures=captures,
        urls=urls,
        collections=collections,
        warc_files=len(files),
        storage_bytes=size,
    )


def service_status(repository: Repository, jobs: CaptureJobs) -> Status:
    """The whole report (blocking). Later stages add their sections here."""
    with repository.catalog.session() as session:
        counts = dict(session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
        last_capture = session.scalar(select(func.max(Record.timestamp)))
        last_job = session.scalar(select(func.max(Job.finished)))
    return Status(
        version=software_version(),
        archive=archive_status(repository),
        jobs=JobCounts(**counts, pending_urls=jobs.pending),
        last_runs=LastRuns(capture=last_capture, job_finished=last_job),
    )
