"""The service's catalog tables: API tokens and capture jobs.

They live in the same database as the archive's records (``archive.catalog.Base``)
so that jobs survive a restart together with what they captured. Importing this
module registers the tables; ``Catalog`` creates them when it opens.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from archive.catalog import Base, utcnow


class ApiToken(Base):
    """A named API token. Only the SHA-256 of the token is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used: Mapped[datetime | None] = mapped_column(DateTime)


class JobState(StrEnum):
    """Where a job, or one URL of it, is. ``failed`` on a job: at least one URL failed."""

    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class Job(Base):
    """A batch of URLs submitted together to be captured in the background."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="capture")
    state: Mapped[str] = mapped_column(String(20), default=JobState.queued, index=True)
    collection: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    truncate: Mapped[bool] = mapped_column(Boolean, default=False)
    # How each URL is captured: http, browser or auto (archive.browser.CaptureMode).
    mode: Mapped[str] = mapped_column(String(20), default="http", server_default="http")
    submitted_by: Mapped[str | None] = mapped_column(String(100))
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started: Mapped[datetime | None] = mapped_column(DateTime)
    finished: Mapped[datetime | None] = mapped_column(DateTime)

    items: Mapped[list[JobItem]] = relationship(
        back_populates="job", order_by="JobItem.position", lazy="selectin"
    )


class JobItem(Base):
    """One URL of a job and, once captured, where its response went."""

    __tablename__ = "job_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(4096))
    state: Mapped[str] = mapped_column(String(20), default=JobState.queued, index=True)
    status: Mapped[int | None] = mapped_column(Integer)
    final_url: Mapped[str | None] = mapped_column(String(4096))
    warc_file: Mapped[str | None] = mapped_column(String(500))
    offset: Mapped[int | None] = mapped_column(BigInteger)
    payload_digest: Mapped[str | None] = mapped_column(String(100))
    revisit: Mapped[bool] = mapped_column(Boolean, default=False)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    capture_id: Mapped[str | None] = mapped_column(String(40))
    captured_at: Mapped[datetime | None] = mapped_column(DateTime)
    error: Mapped[str | None] = mapped_column(Text)
    # Set when the capture is stored but ingesting or indexing it failed.
    after_store_error: Mapped[str | None] = mapped_column(Text)
    finished: Mapped[datetime | None] = mapped_column(DateTime)

    job: Mapped[Job] = relationship(back_populates="items")
