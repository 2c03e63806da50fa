"""Relations between documents: coverage, citations, corrections, translations.

A relation ``A TYPE B`` reads as a sentence: ``A covers B`` (A reports on the
primary source B), ``A cites B`` (A links to B), ``A corrects B``, ``A retracts
B``, ``A updates B`` (A is a later version by the same publisher), ``A translates
B`` (A is B in another language), ``A same-story B`` (copies of one story),
``A attaches B`` (B was submitted as an attachment of the e-mail A).

Every relation says who or what made it and when. Automatic ones start as
``suggested``, carry the evidence that led to them, and become ``confirmed``
when a person confirms them; a removed suggestion is kept as ``rejected`` so
that running the suggesters again does not bring it back.

A relation made, confirmed or removed gives its two documents new change
numbers (``seq``), so search re-indexes them with their relation markers.
"""

from __future__ import annotations

import getpass
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, UniqueConstraint, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from archive.catalog import Base, Catalog, utcnow
from archive.errors import InvalidInput, NotFound
from ingest import documents
from ingest.models import Document

TYPES = (
    "covers",
    "cites",
    "corrects",
    "retracts",
    "updates",
    "translates",
    "same-story",
    "attaches",
)
# Types that read the same both ways: ``A same-story B`` is ``B same-story A``.
SYMMETRIC = frozenset({"same-story"})
CONFIRMED, SUGGESTED, REJECTED = "confirmed", "suggested", "rejected"


class RelationError(InvalidInput):
    """A relation that cannot be made: unknown document, unknown type, self-relation."""


class UnknownDocument(NotFound, RelationError):
    """A relation names a document (id or URL) the archive does not hold (404, not 422:
    the request is well formed)."""


def current_user() -> str:
    """Who runs this process, for ``made_by`` of relations people make."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown user"


class Relation(Base):
    """``source`` TYPE ``target``, between two documents (ids)."""

    __tablename__ = "relations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[str] = mapped_column(String(16), index=True)
    type: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(12), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    # What an automatic decision saw: the link, the matched notice, the similarity.
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    made_by: Mapped[str] = mapped_column(String(200))
    made_at: Mapped[datetime] = mapped_column(DateTime)
    reviewed_by: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        UniqueConstraint("source_id", "type", "target_id", name="uq_relations_source_type_target"),
    )


@dataclass
class DocumentRef:
    """Enough of a document to show it next to a relation."""

    id: str
    url: str
    title: str | None
    language: str | None
    published: str | None
    captured: str

    @classmethod
    def of(cls, document: Document) -> DocumentRef:
        return cls(
            id=document.id,
            url=document.url,
            title=document.title,
            language=document.language,
            published=document.published,
            captured=document.captured.isoformat() + "Z",
        )


@dataclass
class RelationView:
    """A relation seen from one document: ``direction`` is ``outgoing`` when
    this document is the subject (``this covers other``), else ``incoming``."""

    id: int
    type: str
    direction: str
    status: str
    document: str  # the version of this URL the relation is attached to
    other: DocumentRef
    note: str | None
    evidence: dict[str, Any]
    made_by: str
    made_at: str
    reviewed_by: str | None = None
    reviewed_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Suggestion:
    """An automatic relation before it is stored."""

    source_id: str
    type: str
    target_id: str
    made_by: str
    evidence: dict[str, Any] = field(default_factory=dict)


def _touch(session: Session, relation: Relation) -> None:
    """New change numbers for the relation's documents: what search shows about them changed."""
    ids = sorted({relation.source_id, relation.target_id})
    rows = list(session.scalars(select(Document).where(Document.id.in_(ids))))
    for row, seq in zip(rows, documents.allocate_seq(session, len(rows)), strict=True):
        row.seq = seq


def resolve(catalog: Catalog, ref: str) -> Document:
    """The document with id ``ref``, or the latest document of URL ``ref``."""
    found = documents.get(catalog, ref)
    if found is None or found.deleted:
        raise UnknownDocument(f"no document {ref}")
    return found


def _check_type(type_: str) -> str:
    if type_ not in TYPES:
        raise RelationError(f"unknown relation type {type_!r}: use one of {', '.join(TYPES)}")
    return type_


def _find(session: Session, sources: list[str], type_: str, targets: list[str]) -> Relation | None:
    """The relation ``source TYPE target`` for any of the given ids (either way
    round for symmetric types), exact ids first."""
    pairs = [(sources, targets), (targets, sources)] if type_ in SYMMETRIC else [(sources, targets)]
    found: list[Relation] = []
    for left, right in pairs:
        found += session.scalars(
            select(Relation).where(
                Relation.source_id.in_(left), Relation.type == type_, Relation.target_id.in_(right)
            )
        )
    found.sort(key=lambda r: (r.source_id != sources[0] or r.target_id != targets[0], r.id))
    return found[0] if found else None


def _ids(session: Session, ref: str, document: Document) -> list[str]:
    """A document id names that version; a URL names every version of it (latest first)."""
    if ref == document.id:
        return [document.id]
    return [document.id, *(i for i in version_ids(session, document) if i != document.id)]


def relate(
    catalog: Catalog,
    source: str,
    type_: str,
    target: str,
    *,
    note: str | None = None,
    made_by: str | None = None,
) -> Relation:
    """Record that ``source`` TYPE ``target`` (ids or URLs), confirmed by a person.

    Relating what was suggested (or rejected) confirms it, keeping its evidence.
    """
    _check_type(type_)
    left, right = resolve(catalog, source), resolve(catalog, target)
    if left.id == right.id:
        raise RelationError("a document cannot be related to itself")
    who = made_by or current_user()
    with catalog.session() as session:
        relation = _find(session, _ids(session, source, left), type_, _ids(session, target, right))
        if relation is None:
            relation = Relation(
                source_id=left.id,
                type=type_,
                target_id=right.id,
                evidence={},
                made_by=who,
                made_at=utcnow(),
            )
            session.add(relation)
        else:
            relation.reviewed_by, relation.reviewed_at = who, utcnow()
        relation.status = CONFIRMED
        if note is not None:
            relation.note = note
        session.flush()
        _touch(session, relation)
    return relation


def unrelate(
    catalog: Catalog, source: str, type_: str, target: str, *, made_by: str | None = None
) -> Relation:
    """Remove ``source`` TYPE ``target``. The row stays as ``rejected`` (with who
    and when), so the suggesters do not suggest it again."""
    _check_type(type_)
    left, right = resolve(catalog, source), resolve(catalog, target)
    with catalog.session() as session:
        relation = _find(session, _ids(session, source, left), type_, _ids(session, target, right))
        if relation is None or relation.status == REJECTED:
            raise RelationError(f"no relation {left.id} {type_} {right.id}")
        relation.status = REJECTED
        relation.reviewed_by, relation.reviewed_at = made_by or current_user(), utcnow()
        _touch(session, relation)
    return relation


def review(catalog: Catalog, relation_id: int, *, confirm: bool, by: str | None = None) -> Relation:
    """Confirm or reject a suggestion by its id."""
    with catalog.session() as session:
        relation = session.get(Relation, relation_id)
        if relation is None:
            raise RelationError(f"no relation with id {relation_id}")
        relation.status = CONFIRMED if confirm else REJECTED
        relation.reviewed_by, relation.reviewed_at = by or current_user(), utcnow()
        _touch(session, relation)
    return relation


def store_suggestions(catalog: Catalog, suggestions: list[Suggestion]) -> list[Relation]:
    """Store new suggestions; ones already known (in any status, either way round
    for symmetric types) are left alone. Returns the relations added."""
    added: list[Relation] = []
    with catalog.session() as session:
        for suggestion in suggestions:
            if suggestion.source_id == suggestion.target_id or _find(
                session, [suggestion.source_id], suggestion.type, [suggestion.target_id]
            ):
                continue
            relation = Relation(
                source_id=suggestion.source_id,
                type=suggestion.type,
                target_id=suggestion.target_id,
                status=SUGGESTED,
                evidence=suggestion.evidence,
                made_by=suggestion.made_by,
                made_at=utcnow(),
            )
            session.add(relation)
            session.flush()  # the next suggestion may be its duplicate
            _touch(session, relation)
            added.append(relation)
    return added


def live_relations(session: Session, ids: list[str] | None = None) -> list[Relation]:
    """Confirmed and suggested relations (of documents ``ids`` when given)."""
    query = select(Relation).where(Relation.status != REJECTED).order_by(Relation.id)
    if ids is not None:
        query = query.where(or_(Relation.source_id.in_(ids), Relation.target_id.in_(ids)))
    return list(session.scalars(query))


def suggestions(catalog: Catalog) -> list[tuple[Relation, Document, Document]]:
    """Every pending suggestion with its two documents, oldest first."""
    with catalog.session() as session:
        rows = session.scalars(
            select(Relation).where(Relation.status == SUGGESTED).order_by(Relation.id)
        )
        return [
            (
                relation,
                session.get(Document, relation.source_id),
                session.get(Document, relation.target_id),
            )
            for relation in rows
        ]


def version_ids(session: Session, document: Document) -> list[str]:
    """Ids of every live version of the document's URL (the document's included)."""
    ids = list(
        session.scalars(
            select(Document.id).where(Document.url == document.url, Document.deleted.is_(False))
        )
    )
    return ids if document.id in ids else [*ids, document.id]


def with_relations(catalog: Catalog, document: Document) -> dict[str, Any]:
    """:func:`ingest.documents.to_dict`, plus the relations of the document's URL."""
    views = relations_of(catalog, document)
    return documents.to_dict(document) | {"relations": [view.to_dict() for view in views]}


def relations_of(catalog: Catalog, document: Document | str) -> list[RelationView]:
    """The live relations of a document and of every other version of its URL."""
    if isinstance(document, str):
        document = resolve(catalog, document)
    with catalog.session() as session:
        mine = set(version_ids(session, document))
        relations = live_relations(session, sorted(mine))
        others = {
            row.id: row
            for row in session.scalars(
                select(Document).where(
                    Document.id.in_(
                        {r.source_id for r in relations} | {r.target_id for r in relations}
                    )
                )
            )
        }
    views = []
    for relation in relations:
        outgoing = relation.source_id in mine
        this, other = (
            (relation.source_id, relation.target_id)
            if outgoing
            else (relation.target_id, relation.source_id)
        )
        if other not in others:
            continue  # a document removed from the catalog
        views.append(
            RelationView(
                id=relation.id,
                type=relation.type,
                direction="outgoing" if outgoing else "incoming",
                status=relation.status,
                document=this,
                other=DocumentRef.of(others[other]),
                note=relation.note,
                evidence=dict(relation.evidence or {}),
                made_by=relation.made_by,
                made_at=_iso(relation.made_at) or "",
                reviewed_by=relation.reviewed_by,
                reviewed_at=relation.reviewed_at.isoformat() + "Z"
                if relation.reviewed_at
                else None,
            )
        )
    return views


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() + "Z" if moment else None
