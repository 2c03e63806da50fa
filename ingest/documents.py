"""Reading documents: the change feed search follows, lookups, versions of a URL.

The change feed is ``changes(catalog, after_seq, limit)``: every document
inserted, updated or tombstoned after ``after_seq``, in ``seq`` order. An
indexer stores the last ``seq`` it applied and asks for what came after it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from archive.catalog import Catalog, Record
from archive.urls import InvalidURL, lookup_key
from ingest.models import ChangeSequence, Document
from ingest.text import edit_similarity

_DOCUMENT_ID = re.compile(r"^[0-9a-f]{16}$")


def changes(catalog: Catalog, after_seq: int, limit: int) -> list[Document]:
    """Documents changed after ``after_seq`` (tombstones included), oldest change first."""
    with catalog.session() as session:
        return list(
            session.scalars(
                select(Document).where(Document.seq > after_seq).order_by(Document.seq).limit(limit)
            )
        )


def latest_seq(catalog: Catalog) -> int:
    """The highest ``seq`` of any document; 0 when there are none."""
    with catalog.session() as session:
        return session.scalar(select(func.max(Document.seq))) or 0


def allocate_seq(session: Session, count: int) -> range:
    """Take ``count`` new change-sequence values inside the caller's transaction."""
    if session.get(ChangeSequence, 1) is None:
        start = session.scalar(select(func.max(Document.seq))) or 0
        session.add(ChangeSequence(id=1, value=start))
        session.flush()
    end = session.scalar(
        update(ChangeSequence)
        .where(ChangeSequence.id == 1)
        .values(value=ChangeSequence.value + count)
        .returning(ChangeSequence.value)
    )
    assert end is not None
    return range(end - count + 1, end + 1)


class SeqBlock:
    """Up to ``count`` change-sequence values taken in one update, handed out in order.

    ``close()`` gives back the values not handed out, so a batch that changed
    fewer documents than it might have leaves no gap. The caller's transaction
    holds the counter's write lock from the first update to the commit, so no
    other writer can take values in between.
    """

    def __init__(self, session: Session, count: int) -> None:
        self.session = session
        self.values = allocate_seq(session, count) if count else range(0)
        self.taken = 0

    def take(self) -> int:
        """The next value of the block."""
        value = self.values[self.taken]
        self.taken += 1
        return value

    def close(self) -> None:
        """Give back the values not taken."""
        unused = len(self.values) - self.taken
        if unused:
            self.session.execute(
                update(ChangeSequence)
                .where(ChangeSequence.id == 1)
                .values(value=ChangeSequence.value - unused)
            )


def is_document_id(ref: str) -> bool:
    """Whether ``ref`` has the form of a document id (16 hex digits), not of a URL."""
    return bool(_DOCUMENT_ID.match(ref))


def get(catalog: Catalog, id_or_url: str) -> Document | None:
    """The document with this id, or the latest live document of this URL."""
    with catalog.session() as session:
        if is_document_id(id_or_url):
            document = session.get(Document, id_or_url)
            if document is not None:
                return document
        try:
            url = lookup_key(id_or_url)
        except (InvalidURL, ValueError):
            return None
        return session.scalars(
            select(Document)
            .where(Document.url == url, Document.deleted.is_(False))
            .order_by(Document.captured.desc(), Document.seq.desc())
            .limit(1)
        ).first()


def to_dict(document: Document) -> dict[str, Any]:
    """The JSON shape of a document (``vestige show --json`` and the API)."""
    return {
        "id": document.id,
        "url": document.url,
        "title": document.title,
        "page_title": document.page_title,
        "authors": list(document.authors or []),
        "published": document.published,
        "language": document.language,
        "languages": dict(document.languages or {}),
        "script": document.script,
        "text": document.text,
        "text_simplified": document.text_simplified,
        "warc_file": document.warc_file,
        "warc_offset": document.warc_offset,
        "warc_length": document.warc_length,
        "payload_digest": document.payload_digest,
        "record_id": document.record_id,
        "revisit_of": document.revisit_of,
        "collection": document.collection,
        "captured": document.captured.isoformat() + "Z",
        "status": document.status,
        "mime": document.mime,
        "site": document.site,
        "description": document.description,
        "tags": list(document.tags or []),
        "word_count": document.word_count,
        "outlinks": list(document.outlinks or []),
        "extraction": document.extraction,
        "content_hash": document.content_hash,
        "ocr": document.ocr,
        "properties": dict(document.properties or {}),
        "seq": document.seq,
        "deleted": document.deleted,
    }


# What changed from one version of a URL to the next.
FIRST = "first capture"
UNCHANGED = "unchanged"
TEXT_CHANGED = "text changed"
TITLE_CHANGED = "title changed"
PAGE_GONE = "page gone"
REDIRECTED = "redirected elsewhere"
NOT_TEXT = "no document"


@dataclass
class Version:
    """One capture of a URL, its document (if any) and what changed since the previous one."""

    captured: str
    record_id: str
    record_type: str
    status: int | None
    collection: str
    payload_digest: str | None
    document_id: str | None = None
    title: str | None = None
    content_hash: str | None = None
    changes: list[str] = field(default_factory=list)
    similarity: float | None = None
    title_change: tuple[str | None, str | None] | None = None  # (before, after)
    redirect_to: str | None = None

    @property
    def change(self) -> str:
        """The changes as one phrase, e.g. ``text changed, title changed``."""
        return ", ".join(self.changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"change": self.change}


def versions(catalog: Catalog, url: str) -> list[Version]:
    """Every capture of ``url``, oldest first, each compared with the previous one.

    A capture with an error status (or a revisit of one) is "page gone"; a
    redirect names where it went (the next hop of the same capture).
    """
    records = catalog.versions(url)
    if not records:
        return []
    with catalog.session() as session:
        documents = {
            document.record_id: document
            for document in session.scalars(
                select(Document).where(
                    Document.record_id.in_([r.record_id for r in records]),
                    Document.deleted.is_(False),
                )
            )
        }
        targets = _redirect_targets(session, [r for r in records if _redirect(r.status)])
    result: list[Version] = []
    previous: Document | None = None  # the last version that had a document
    for record in records:
        document = documents.get(record.record_id)
        version = Version(
            captured=record.timestamp.isoformat() + "Z",
            record_id=record.record_id,
            record_type=record.record_type,
            status=record.status,
            collection=record.collection,
            payload_digest=record.payload_digest,
        )
        if document is not None:
            version.document_id = document.id
            version.title = document.title
            version.content_hash = document.content_hash
        if record.status is not None and record.status >= 400:
            version.changes = [PAGE_GONE]
        elif _redirect(record.status):
            version.changes = [REDIRECTED]
            version.redirect_to = targets.get(record.id)
        elif document is None:
            version.changes = [NOT_TEXT]
        elif previous is None:
            version.changes = [FIRST]
        else:
            if document.content_hash != previous.content_hash:
                version.changes.append(TEXT_CHANGED)
                version.similarity = edit_similarity(previous.text, document.text)
            version.title_change = title_change(previous, document)
            if version.title_change:
                version.changes.append(TITLE_CHANGED)
            version.changes = version.changes or [UNCHANGED]
        if document is not None:
            previous = document
        result.append(version)
    return result


def title_change(old: Document, new: Document) -> tuple[str | None, str | None] | None:
    """The title before and after, if it changed from ``old`` to ``new``; else None.

    The ``<title>`` as served is compared when both versions have one: an edit there can
    leave the headline (``og:title``, or the title without its site suffix) as it was.
    Otherwise (a PDF, a document ingested before page titles were kept) the headlines.
    """
    served = (old.page_title, new.page_title)
    if None not in served and served[0] != served[1]:
        return served
    if (old.title or "") != (new.title or ""):
        return old.title, new.title
    return None


def title_phrase(titles: tuple[str | None, str | None] | list[str | None]) -> str:
    """A title change in words: ``title "Before" -> "After"``."""
    before, after = (f'"{title}"' if title is not None else "none" for title in titles)
    return f"title {before} -> {after}"


def _redirect(status: int | None) -> bool:
    return status is not None and 300 <= status < 400


def _redirect_targets(session: Session, redirects: list[Record]) -> dict[int, str | None]:
    """For each redirect record, the URL of the next hop its capture fetched."""
    targets: dict[int, str | None] = {}
    for record in redirects:
        if record.capture_id is None:
            targets[record.id] = None
            continue
        targets[record.id] = session.scalar(
            select(Record.url)
            .where(
                Record.capture_id == record.capture_id,
                Record.id > record.id,
                Record.record_type.in_(("response", "revisit")),
            )
            .order_by(Record.id)
            .limit(1)
        )
    return targets
