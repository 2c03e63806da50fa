"""A story: everything related to a document, as a timeline.

Starting from any document, relations are followed (both ways, over every
version of each URL) to collect the story's documents. Each gets a role from
the relations it is the subject of, and the timeline lists the primary source
first, then coverage, copies, updates, corrections, retractions, translations,
each group by date.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from archive.catalog import Catalog
from ingest.models import Document
from ingest.relations import DocumentRef, live_relations, resolve

# A role per relation type the document is the subject of; the first that applies wins.
ROLES = (
    ("retracts", "retraction"),
    ("corrects", "correction"),
    ("translates", "translation"),  # a translation links to its original: not coverage
    ("covers", "coverage"),
    ("cites", "coverage"),
    ("updates", "update"),
    ("same-story", "copy"),
)
ORDER = ("primary", "coverage", "copy", "update", "correction", "retraction", "translation")
MAX_DOCUMENTS = 1000


@dataclass
class Entry:
    """One document of a story."""

    document: DocumentRef
    role: str
    date: str  # publication date, else capture date
    relations: list[str] = field(default_factory=list)  # "cites 0123abcd..." (suggested)


@dataclass
class Story:
    """The timeline of documents related to ``start``, and the relations between them."""

    start: str
    start_url: str
    entries: list[Entry]
    relations: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def story(catalog: Catalog, ref: str) -> Story:
    """The story of the document with id or URL ``ref``."""
    start = resolve(catalog, ref)
    with catalog.session() as session:
        documents: dict[str, Document] = {start.id: start}
        urls_done: set[str] = set()
        relations: dict[int, Any] = {}
        pending = [start]
        while pending and len(documents) < MAX_DOCUMENTS:
            document = pending.pop()
            if document.url in urls_done:
                continue
            urls_done.add(document.url)
            versions = list(
                session.scalars(
                    select(Document.id).where(
                        Document.url == document.url, Document.deleted.is_(False)
                    )
                )
            )
            for relation in live_relations(session, versions):
                relations[relation.id] = relation
                for other in (relation.source_id, relation.target_id):
                    if other not in documents:
                        found = session.get(Document, other)
                        if found is not None and not found.deleted:
                            documents[other] = found
                            pending.append(found)
    edges = [r for r in relations.values() if r.source_id in documents and r.target_id in documents]
    related = {r.source_id for r in edges} | {r.target_id for r in edges}
    # A URL's versions appear through the relations they have; the start stands
    # for its URL only when none of its versions has any.
    if not any(documents[i].url == start.url for i in related):
        related.add(start.id)
    entries = [_entry(documents[i], edges) for i in related]
    entries.sort(key=lambda e: (ORDER.index(e.role), e.date, e.document.captured))
    return Story(
        start=start.id,
        start_url=start.url,
        entries=entries,
        relations=[
            {
                "id": r.id,
                "source": r.source_id,
                "type": r.type,
                "target": r.target_id,
                "status": r.status,
                "evidence": dict(r.evidence or {}),
                "made_by": r.made_by,
                "made_at": r.made_at.isoformat() + "Z",
            }
            for r in sorted(edges, key=lambda r: r.id)
        ],
    )


def _entry(document: Document, edges: list[Any]) -> Entry:
    mine = [r for r in edges if r.source_id == document.id]
    types = {r.type for r in mine}
    role = next((name for type_, name in ROLES if type_ in types), "primary")
    return Entry(
        document=DocumentRef.of(document),
        role=role,
        date=(document.published or document.captured.isoformat())[:10],
        relations=[
            f"{r.type} {r.target_id}" + (" (suggested)" if r.status == "suggested" else "")
            for r in mine
        ],
    )
