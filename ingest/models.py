"""Catalog tables of the ingest stage: documents, ingest outcomes, the change sequence.

A document is what ingest derived from one archived response, resource or
revisit record: its text, metadata, language and script. Documents are never
edited in place without taking a new ``seq`` from the change sequence, so
search indexing can follow ``seq`` and resume exactly where it stopped.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from archive.catalog import Base


def document_id(record_id: str) -> str:
    """The stable id of the document derived from the WARC record ``record_id``."""
    return hashlib.sha1(record_id.encode("utf-8")).hexdigest()[:16]


class Document(Base):
    """One ingested record: text and metadata, ready for search.

    ``deleted`` is a tombstone: the document's record no longer yields a
    document (e.g. after ``--rebuild``), and indexes must remove it.
    """

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(100), unique=True)
    url: Mapped[str] = mapped_column(String(4096))
    collection: Mapped[str] = mapped_column(String(200), index=True)
    captured: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[int | None] = mapped_column(Integer)
    mime: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(Text)
    # The HTML <title> as served; ``title`` is the headline, which may come from elsewhere.
    page_title: Mapped[str | None] = mapped_column(Text)
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    published: Mapped[str | None] = mapped_column(String(40))
    site: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str | None] = mapped_column(String(8))
    languages: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    script: Mapped[str | None] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text, default="")
    text_simplified: Mapped[str | None] = mapped_column(Text)
    word_count: Mapped[int] = mapped_column(Integer, default=0)
    outlinks: Mapped[list[str]] = mapped_column(JSON, default=list)
    extraction: Mapped[str] = mapped_column(String(20))
    # OCR engine, languages, pages read and mean confidence (ingest.ocr.OcrInfo), or None.
    ocr: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # What a submitted file says about itself: EXIF camera and date, e-mail headers...
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=dict)
    content_hash: Mapped[str] = mapped_column(String(40), index=True)
    # Where the record's bytes live; for a revisit, ``revisit_of`` names the
    # record holding the payload the extraction was taken from.
    warc_file: Mapped[str] = mapped_column(String(500))
    warc_offset: Mapped[int] = mapped_column(BigInteger)
    warc_length: Mapped[int] = mapped_column(BigInteger)
    payload_digest: Mapped[str | None] = mapped_column(String(100))
    revisit_of: Mapped[str | None] = mapped_column(String(100))
    seq: Mapped[int] = mapped_column(BigInteger, unique=True, index=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)

    # The order exports read documents in (keyset pagination by url, captured, id).
    __table_args__ = (
        Index("ix_documents_url_captured_id", "url", "captured", "id"),
        # Hash on PostgreSQL: its btree entries are limited to 2704 bytes.
        Index("ix_documents_url", "url", postgresql_using="hash"),
    )

    # Fields derived from the record's bytes (what --rebuild re-derives).
    # Fields the extraction of a payload fills in (``ingest.extract``).
    EXTRACTED = (
        "title",
        "page_title",
        "authors",
        "published",
        "site",
        "description",
        "tags",
        "language",
        "languages",
        "script",
        "text",
        "text_simplified",
        "word_count",
        "outlinks",
        "extraction",
        "content_hash",
        "ocr",
        "properties",
    )
    DERIVED = (
        "url",
        "collection",
        "captured",
        "status",
        "mime",
        *EXTRACTED,
        "warc_file",
        "warc_offset",
        "warc_length",
        "payload_digest",
        "revisit_of",
    )

    def derived(self) -> dict[str, Any]:
        """The derived fields, to compare a re-derivation with what is stored."""
        return {name: getattr(self, name) for name in self.DERIVED}


class IngestOutcome(Base):
    """A record that did not become a document: ``skipped`` (not text) or ``failed``.

    Failed records are retried by ``vestige ingest --retry-failed``; skipped ones
    only by ``--rebuild``. Either way a plain re-run leaves them alone.
    """

    __tablename__ = "ingest_outcomes"

    record_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(10), index=True)  # "skipped" | "failed"
    reason: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    updated: Mapped[datetime] = mapped_column(DateTime)


class ChangeSequence(Base):
    """A single-row counter handing out document ``seq`` values.

    Incrementing it with one UPDATE takes the database's write lock first, so
    two writers can never hand out the same value.
    """

    __tablename__ = "document_sequence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
