"""Relations between documents, stories and text diffs in the JSON API.

``/api/v1/relations`` adds, removes, confirms and rejects relations (writes
need a token; what a token does is recorded under its name);
``/api/v1/documents/{id}/relations``, ``/story`` and ``/diff`` read them.
The blocking helpers here serve the browser pages too.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal, TypeVar

from anyio import to_thread
from fastapi import APIRouter, Depends, Path, Query, Response

from api import pipeline
from api.deps import RepositoryDep, Writer, require_reader
from api.documents import DocumentId, find_document
from api.errors import ERROR_RESPONSES
from api.schemas import (
    DiffOp,
    DocumentBrief,
    DocumentDiff,
    DocumentRelation,
    DocumentRelations,
    RelationRequest,
    RelationView,
    StoryView,
)
from archive.errors import NotFound
from archive.repository import Repository
from ingest import diff as text_diff
from ingest import documents, relations
from ingest import story as stories
from ingest.models import Document
from ingest.relations import Relation
from ingest.text import edit_similarity
from search.backend import SearchError

log = logging.getLogger(__name__)
router = APIRouter(tags=["provenance"], responses=ERROR_RESPONSES)
reading = [Depends(require_reader)]

# Row ids are 32-bit integers in PostgreSQL: larger ones cannot name anything.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]

Row = TypeVar("Row")


def find_row(repository: Repository, table: type[Row], row_id: int, what: str) -> Row:
    """The ``table`` row with this id (blocking); :class:`NotFound` naming ``what`` if
    there is none."""
    with repository.catalog.session() as session:
        found = session.get(table, row_id)
    if found is None:
        raise NotFound(f"no {what} {row_id}")
    return found


def relation_view(relation: Relation) -> RelationView:
    return RelationView(
        id=relation.id,
        source=relation.source_id,
        type=relation.type,
        target=relation.target_id,
        status=relation.status,
        note=relation.note,
        evidence=dict(relation.evidence or {}),
        made_by=relation.made_by,
        made_at=relation.made_at,
        reviewed_by=relation.reviewed_by,
        reviewed_at=relation.reviewed_at,
    )


def document_relations(repository: Repository, document: Document) -> DocumentRelations:
    """The document's live relations, each with the other document (blocking)."""
    views = relations.relations_of(repository.catalog, document)
    return DocumentRelations(
        document=document.id,
        url=document.url,
        relations=[DocumentRelation(**view.to_dict()) for view in views],
    )


def _reindex(repository: Repository) -> None:
    """Re-index the related documents; the relation stays if the engine fails."""
    try:
        pipeline.after_relate(repository)
    except SearchError as exc:
        log.warning("relations changed, not indexed (vestige index catches up): %s", exc)


def make_relation(
    repository: Repository, source: str, type_: str, target: str, note: str | None, by: str
) -> Relation:
    """Relate two documents (ids or URLs) as ``by``, then re-index them (blocking).
    Raises :class:`RelationError`."""
    made = relations.relate(repository.catalog, source, type_, target, note=note, made_by=by)
    _reindex(repository)
    return made


def review_relation(
    repository: Repository, relation_id: int, *, confirm: bool, by: str
) -> Relation:
    """Confirm a relation, or remove (reject) it, as ``by`` (blocking); 404 if unknown
    or already removed (:class:`NotFound`)."""
    with repository.catalog.session() as session:
        found = session.get(Relation, relation_id)
    if found is None or found.status == relations.REJECTED:
        raise NotFound(f"no relation {relation_id}")
    done = relations.review(repository.catalog, relation_id, confirm=confirm, by=by)
    _reindex(repository)
    return done


def story_view(repository: Repository, document_id: str) -> StoryView:
    """The story of a document (blocking)."""
    document = find_document(repository, document_id)
    return StoryView.model_validate(stories.story(repository.catalog, document.id).to_dict())


def brief(document: Document) -> DocumentBrief:
    return DocumentBrief(**relations.DocumentRef.of(document).__dict__)


def previous_version(repository: Repository, document: Document) -> Document | None:
    """The version of the document's URL captured before it that has text (blocking)."""
    before = None
    for version in documents.versions(repository.catalog, document.url):
        if version.document_id == document.id:
            break
        if version.document_id:
            before = version.document_id
    return find_document(repository, before) if before else None


def diff_view(old: Document, new: Document, by: Literal["word", "char"] = "word") -> DocumentDiff:
    """The text diff between two documents, Chinese by rjieba word or by character."""
    ops = text_diff.diff(old.text or "", new.text or "", new.language, by)
    return DocumentDiff(
        old=brief(old),
        new=brief(new),
        by=by,
        similarity=edit_similarity(old.text or "", new.text or ""),
        title_change=documents.title_change(old, new),
        ops=[DiffOp(kind=op.kind, old=op.old, new=op.new) for op in ops],
    )


def document_diff(
    repository: Repository, document_id: str, against: str | None, by: Literal["word", "char"]
) -> DocumentDiff:
    """The diff from ``against`` (default: the previous version) to the document (blocking)."""
    document = find_document(repository, document_id)
    old = find_document(repository, against) if against else previous_version(repository, document)
    if old is None:
        raise NotFound(f"document {document_id!r} has no earlier version with text")
    return diff_view(old, document, by)


# -- endpoints ------------------------------------------------------------------------


@router.get(
    "/documents/{document_id}/relations", response_model=DocumentRelations, dependencies=reading
)
async def get_relations(document_id: DocumentId, repository: RepositoryDep) -> DocumentRelations:
    """A document's relations (and those of the other versions of its URL): type,
    direction, status (confirmed or suggested), the other document, the evidence of a
    suggestion, and who made it when."""
    document = await to_thread.run_sync(find_document, repository, document_id)
    return await to_thread.run_sync(document_relations, repository, document)


@router.post("/relations", status_code=201, response_model=RelationView)
async def create_relation(
    request: RelationRequest, repository: RepositoryDep, token: Writer, response: Response
) -> RelationView:
    """Relate two documents (``A covers B``). Relating what was suggested confirms it."""
    made = await to_thread.run_sync(
        make_relation,
        repository,
        request.source,
        request.type,
        request.target,
        request.note,
        token,
    )
    response.headers["Location"] = f"/api/v1/relations/{made.id}"
    return relation_view(made)


@router.get("/relations/{relation_id}", response_model=RelationView, dependencies=reading)
async def get_relation(relation_id: RowId, repository: RepositoryDep) -> RelationView:
    """One relation, in any status (a removed one shows as ``rejected``)."""
    found = await to_thread.run_sync(find_row, repository, Relation, relation_id, "relation")
    return relation_view(found)


async def _reviewed(
    repository: Repository, relation_id: int, *, confirm: bool, by: str
) -> RelationView:
    done = await to_thread.run_sync(
        lambda: review_relation(repository, relation_id, confirm=confirm, by=by)
    )
    return relation_view(done)


@router.delete("/relations/{relation_id}", response_model=RelationView)
async def delete_relation(
    relation_id: RowId, repository: RepositoryDep, token: Writer
) -> RelationView:
    """Remove a relation. It is kept as ``rejected`` (who, when), so it is not suggested again."""
    return await _reviewed(repository, relation_id, confirm=False, by=token)


@router.post("/relations/{relation_id}/confirm", response_model=RelationView)
async def confirm_relation(
    relation_id: RowId, repository: RepositoryDep, token: Writer
) -> RelationView:
    """Confirm a suggested relation (its evidence stays)."""
    return await _reviewed(repository, relation_id, confirm=True, by=token)


@router.post("/relations/{relation_id}/reject", response_model=RelationView)
async def reject_relation(
    relation_id: RowId, repository: RepositoryDep, token: Writer
) -> RelationView:
    """Reject a suggested relation (the same as removing it)."""
    return await _reviewed(repository, relation_id, confirm=False, by=token)


@router.get("/documents/{document_id}/story", response_model=StoryView, dependencies=reading)
async def get_story(document_id: DocumentId, repository: RepositoryDep) -> StoryView:
    """Everything related to the document as a timeline: the primary source first, then
    coverage, copies, updates, corrections, retractions and translations, with dates and
    languages, and the relations between them."""
    return await to_thread.run_sync(story_view, repository, document_id)


@router.get("/documents/{document_id}/diff", response_model=DocumentDiff, dependencies=reading)
async def get_diff(
    document_id: DocumentId,
    repository: RepositoryDep,
    against: Annotated[
        str | None,
        Query(
            pattern="^[0-9a-f]{16}$",
            description="The document to compare with (default: the previous version).",
        ),
    ] = None,
    by: Annotated[
        Literal["word", "char"], Query(description="Compare by word or by character.")
    ] = "word",
) -> DocumentDiff:
    """What changed in the text since the previous version of the URL (or ``against``):
    equal, inserted, deleted and replaced runs, English by word, Chinese by word or
    character."""
    return await to_thread.run_sync(document_diff, repository, document_id, against, by)
