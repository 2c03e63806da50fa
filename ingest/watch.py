"""Watching pages: the watch list, and what a new capture of a page changed.

A watch is a row of ``watches`` (URL, collection, interval, ``next_due``).
:func:`api.watching.run_due` captures the watches that are due and ingests each
capture; :func:`record_change` here compares it with the previous version of
the page and stores a :class:`PageChange`:

- ``first``: nothing to compare with yet;
- ``unchanged``: same text (a same-payload capture is stored as a revisit);
- ``changed``: other text; the change keeps the similarity and a diff summary;
- ``removed``: HTTP 404 or 410, a redirect to the site's front page (or to
  where a missing page redirects), or a soft-404: a page whose text is that
  of a capture of a random non-existent path on the same site;
- ``unreachable``: no answer, or another error status.

The schedule lives in the catalog, so it survives restarts. Changes are also
an Atom feed (:func:`atom_feed`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from archive.capture import CaptureResult
from archive.catalog import Base, Catalog, Record, utcnow
from archive.errors import InvalidInput
from archive.follow import parse_interval
from archive.store import check_collection
from archive.urls import checked_url, normalise_url
from archive.warc import check_note
from ingest import diff
from ingest.documents import TITLE_CHANGED, title_change, title_phrase
from ingest.models import Document
from ingest.suggest import is_home_page, site_of
from ingest.text import edit_similarity, similarity

FIRST, UNCHANGED, CHANGED, REMOVED, UNREACHABLE = (
    "first",
    "unchanged",
    "changed",
    "removed",
    "unreachable",
)
# Kinds worth telling someone about (changes page, feed, webhook).
NOTABLE = (CHANGED, REMOVED, UNREACHABLE)
# A page this similar to the site's answer for a missing page is a soft-404.
SOFT_404_SIMILARITY = 0.8


class WatchError(InvalidInput):
    """A watch that cannot be made: bad URL, collection or interval."""


class Watch(Base):
    """A page captured again every ``every`` seconds."""

    __tablename__ = "watches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(4096))
    collection: Mapped[str] = mapped_column(String(200))
    every: Mapped[int] = mapped_column(Integer)  # seconds
    note: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(DateTime)
    next_due: Mapped[datetime] = mapped_column(DateTime, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_run: Mapped[datetime | None] = mapped_column(DateTime)
    last_kind: Mapped[str | None] = mapped_column(String(12))
    # The document the next capture is compared with.
    last_document_id: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        UniqueConstraint("url", "collection", name="uq_watches_url_collection"),
        {"sqlite_autoincrement": True},  # ids never reused: a deleted watch's links stay dead
    )


class PageChange(Base):
    """What one capture of a watched page found, with the evidence for it."""

    __tablename__ = "page_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    watch_id: Mapped[int | None] = mapped_column(Integer, index=True)
    url: Mapped[str] = mapped_column(String(4096))
    detected: Mapped[datetime] = mapped_column(DateTime, index=True)
    kind: Mapped[str] = mapped_column(String(12), index=True)
    reason: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[int | None] = mapped_column(Integer)
    final_url: Mapped[str | None] = mapped_column(String(4096))
    capture_id: Mapped[str | None] = mapped_column(String(40))
    document_id: Mapped[str | None] = mapped_column(String(16))
    previous_id: Mapped[str | None] = mapped_column(String(16))
    similarity: Mapped[float | None] = mapped_column(Float)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    # Hash on PostgreSQL: its btree entries are limited to 2704 bytes.
    __table_args__ = (Index("ix_page_changes_url", "url", postgresql_using="hash"),)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "watch_id": self.watch_id,
            "url": self.url,
            "detected": self.detected.isoformat() + "Z",
            "kind": self.kind,
            "reason": self.reason,
            "status": self.status,
            "final_url": self.final_url,
            "capture_id": self.capture_id,
            "document_id": self.document_id,
            "previous_id": self.previous_id,
            "similarity": self.similarity,
            "title_change": (self.evidence or {}).get("title"),
            "evidence": dict(self.evidence or {}),
        }


# -- the watch list -----------------------------------------------------------


def add_watch(
    catalog: Catalog,
    url: str,
    every: str | int,
    *,
    collection: str = "default",
    note: str | None = None,
) -> Watch:
    """Watch ``url`` every ``every`` (seconds, or ``30m``, ``1d``...), or change
    the interval of its watch. The first capture is due now."""
    try:
        seconds = every if isinstance(every, int) else parse_interval(every)
        url = checked_url(url, fetchable=True)
        check_collection(collection)
        check_note(note)  # an InvalidText, a ValueError
    except ValueError as exc:
        raise WatchError(str(exc)) from exc
    with catalog.session() as session:
        watch = session.scalars(
            select(Watch).where(Watch.url == url, Watch.collection == collection)
        ).first()
        if watch is None:
            now = utcnow()
            watch = Watch(url=url, collection=collection, created=now, next_due=now)
            session.add(watch)
        elif watch.last_run is not None:
            watch.next_due = watch.last_run + timedelta(seconds=seconds)
        watch.every = seconds
        watch.note = note
        session.flush()
    return watch


def remove_watch(catalog: Catalog, url: str, collection: str = "default") -> None:
    """Stop watching ``url``; its captures and changes stay."""
    with catalog.session() as session:
        watch = session.scalars(
            select(Watch).where(Watch.url == normalise_url(url), Watch.collection == collection)
        ).first()
        if watch is None:
            raise WatchError(f"not watching {url}")
        session.delete(watch)


def list_watches(catalog: Catalog) -> list[Watch]:
    """Every watch, the next due first."""
    with catalog.session() as session:
        return list(session.scalars(select(Watch).order_by(Watch.next_due, Watch.id)))


def list_changes(
    catalog: Catalog,
    *,
    kinds: Iterable[str] = NOTABLE,
    url: str | None = None,
    limit: int = 100,
) -> list[PageChange]:
    """Recorded changes, newest first."""
    query = select(PageChange).where(PageChange.kind.in_(list(kinds)))
    if url is not None:
        query = query.where(PageChange.url == normalise_url(url))
    with catalog.session() as session:
        return list(
            session.scalars(
                query.order_by(PageChange.detected.desc(), PageChange.id.desc()).limit(limit)
            )
        )


# -- comparing -----------------------------------------------------------------


def previous_document(catalog: Catalog, watch: Watch, result: CaptureResult) -> Document | None:
    """The document a watch's capture is compared with: the one the watch last saw,
    else the latest archived before it."""
    with catalog.session() as session:
        if watch.last_document_id:
            found = session.get(Document, watch.last_document_id)
            if found is not None and not found.deleted:
                return found
        return session.scalars(
            select(Document)
            .join(Record, Record.record_id == Document.record_id)
            .where(
                Document.url == watch.url,
                Document.deleted.is_(False),
                Record.id.not_in(result.record_ids),
            )
            .order_by(Document.captured.desc(), Document.seq.desc())
            .limit(1)
        ).first()


def response_document(catalog: Catalog, result: CaptureResult) -> Document | None:
    """The live document of a capture's final response, once it is ingested."""
    if result.response_id is None:
        return None
    with catalog.session() as session:
        final = session.get(Record, result.response_id)
        if final is None:
            return None
        return session.scalars(
            select(Document).where(
                Document.record_id == final.record_id, Document.deleted.is_(False)
            )
        ).first()


def record_change(
    catalog: Catalog,
    watch: Watch,
    capture: Comparison,
    probe: Comparison | None,
    now: datetime,
) -> PageChange:
    """Compare a watch's capture with the previous version and store the change;
    ``probe`` is the site's answer for a missing path, if it was captured."""
    result, previous, document = capture.result, capture.previous, capture.document
    change = PageChange(
        watch_id=watch.id,
        url=watch.url,
        detected=utcnow(),
        status=result.status,
        final_url=result.final_url,
        capture_id=result.capture_id,
        evidence={},
    )
    change.previous_id = previous.id if previous else None
    change.document_id = document.id if document else None
    _classify(
        change,
        watch,
        result,
        previous,
        document,
        probe.result if probe else None,
        probe.document if probe else None,
    )
    with catalog.session() as session:
        session.add(change)
        row = session.get(Watch, watch.id)
        if row is not None:
            row.last_run = now  # the run's start: the next one is due an interval after
            row.last_kind = change.kind
            if document is not None and change.kind != REMOVED:
                row.last_document_id = document.id
    return change


@dataclass
class Comparison:
    """A capture, with the document it made and (for a watch) the one it replaces."""

    result: CaptureResult
    document: Document | None = None
    previous: Document | None = None


def _classify(
    change: PageChange,
    watch: Watch,
    result: CaptureResult,
    previous: Document | None,
    document: Document | None,
    probe_result: CaptureResult | None,
    probe: Document | None,
) -> None:
    evidence = change.evidence
    if not result.ok:
        change.kind, change.reason = UNREACHABLE, result.error
        return
    status = result.status or 0
    if status in (404, 410):
        change.kind, change.reason = REMOVED, f"HTTP {status}"
        return
    if status >= 400:
        change.kind, change.reason = UNREACHABLE, f"HTTP {status}"
        return
    final = result.final_url or watch.url
    if final != watch.url:
        evidence["redirected_to"] = final
        if site_of(final) == site_of(watch.url) and is_home_page(final):
            change.kind, change.reason = REMOVED, "redirected to the home page"
            return
        if probe_result is not None and probe_result.ok and probe_result.final_url == final:
            evidence["probe_url"] = probe_result.url
            change.kind, change.reason = REMOVED, "redirected where a missing page redirects"
            return
    if previous is None:
        change.kind = FIRST
        return
    if result.revisit:
        change.kind, evidence["revisit"] = UNCHANGED, True
        return
    if document is None:
        change.kind, change.reason = CHANGED, "payload changed (not text)"
        return
    titles = title_change(previous, document)
    if titles:
        evidence["title"] = list(titles)
    if document.content_hash == previous.content_hash:
        if titles:  # only the title was edited: the text (and its diff) are the same
            change.kind, change.reason = CHANGED, TITLE_CHANGED
        else:
            change.kind, evidence["revisit"] = UNCHANGED, False
        return
    if probe is not None:
        like_missing = similarity(document.text, probe.text)
        evidence["probe_url"] = probe.url
        evidence["probe_similarity"] = round(like_missing, 3)
        if like_missing >= SOFT_404_SIMILARITY:
            change.kind, change.reason = REMOVED, "soft-404 (the site's page for a missing path)"
            return
    change.kind = CHANGED
    change.reason = TITLE_CHANGED if titles else None
    change.similarity = edit_similarity(previous.text, document.text)
    ops = diff.diff(previous.text, document.text, document.language, "word")
    evidence["diff"] = diff.summary(ops)
    if document.language == "zh":
        evidence["diff_by_char"] = diff.summary(
            diff.diff(previous.text, document.text, "zh", "char")
        )


ATOM = "http://www.w3.org/2005/Atom"


def atom_feed(changes: Sequence[PageChange], *, title: str = "Vestige: page changes") -> str:
    """An Atom 1.0 feed of changes (newest first, as given)."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}title").text = title
    ET.SubElement(feed, f"{{{ATOM}}}id").text = "urn:vestige:changes"
    updated = changes[0].detected if changes else utcnow()
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = updated.isoformat(timespec="seconds") + "Z"
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = "Vestige"
    for change in changes:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        headline = f"{change.kind}: {change.url}" + (f" ({change.reason})" if change.reason else "")
        ET.SubElement(entry, f"{{{ATOM}}}title").text = headline
        ET.SubElement(entry, f"{{{ATOM}}}id").text = f"urn:vestige:change:{change.id}"
        stamp = change.detected.isoformat(timespec="seconds") + "Z"
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = stamp
        ET.SubElement(entry, f"{{{ATOM}}}link", href=change.url)
        ET.SubElement(entry, f"{{{ATOM}}}category", term=change.kind)
        ET.SubElement(entry, f"{{{ATOM}}}summary").text = _describe(change)
    return ET.tostring(feed, encoding="unicode", xml_declaration=True)


def _describe(change: PageChange) -> str:
    parts = [f"{change.kind}"]
    if change.reason:
        parts.append(change.reason)
    if change.similarity is not None:
        parts.append(f"similarity {change.similarity:.1%}")
    if titles := change.evidence.get("title"):
        parts.append(title_phrase(titles))
    fragments = change.evidence.get("diff", {}).get("fragments", [])
    for fragment in fragments[:3]:
        parts.append(f"-{fragment['old']!r} +{fragment['new']!r}")
    return "; ".join(parts)
