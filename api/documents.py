"""``/api/v1/documents``: ingested documents, their text and the versions of their URL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select

from api.deps import RepositoryDep, require_reader
from api.errors import ERROR_RESPONSES
from api.schemas import DocumentVersion, DocumentVersions, DocumentView
from api.searches import archived_path
from archive.catalog import Record
from archive.cdxj import timestamp14
from archive.errors import NotFound
from archive.repository import Repository
from ingest import documents
from ingest.models import Document

router = APIRouter(
    tags=["documents"], responses=ERROR_RESPONSES, dependencies=[Depends(require_reader)]
)

TEXT_CHUNK = 1 << 16  # characters per streamed piece of text
DocumentId = Annotated[
    str, Path(description="The document id (16 hex digits).", pattern="^[0-9a-f]{16}$")
]


def find_document(repository: Repository, document_id: str) -> Document:
    """The live document with this id (blocking); :class:`NotFound` if unknown or withdrawn."""
    document = documents.get(repository.catalog, document_id)
    if document is None or document.id != document_id:
        raise NotFound(f"no document {document_id!r}")
    if document.deleted:
        raise NotFound(f"document {document_id!r} was withdrawn")
    return document


async def load_document(repository: Repository, document_id: str) -> Document:
    return await to_thread.run_sync(find_document, repository, document_id)


def document_view(document: Document) -> DocumentView:
    """A document as the API shows it (the text itself is streamed separately)."""
    data = documents.to_dict(document)
    for name in ("text", "text_simplified", "seq"):
        data.pop(name)
    stamp = timestamp14(document.captured)
    return DocumentView(
        **data,
        text=f"/api/v1/documents/{document.id}/text",
        versions=f"/api/v1/documents/{document.id}/versions",
        archived=archived_path(document.captured, document.url),
        memento=f"/web/{stamp}id_/{document.url}",
    )


def version_views(repository: Repository, url: str) -> list[DocumentVersion]:
    """Every capture of ``url`` with what changed (blocking)."""
    rows: dict[str, Record] = {row.record_id: row for row in repository.catalog.versions(url)}
    views = []
    for version in documents.versions(repository.catalog, url):
        row = rows[version.record_id]
        views.append(
            DocumentVersion(
                **{
                    name: value
                    for name, value in version.to_dict().items()
                    if name in DocumentVersion.model_fields
                },
                archived=archived_path(row.timestamp, row.url or url),
            )
        )
    return views


@router.get("/documents/{document_id}", response_model=DocumentView)
async def get_document(document_id: DocumentId, repository: RepositoryDep) -> DocumentView:
    """A document's metadata: title, authors, dates, language and script, site, outlinks,
    where its record is (WARC file, offset, digest), and links to its text and versions."""
    return document_view(await load_document(repository, document_id))


def _pieces(text: str) -> Iterator[bytes]:
    for start in range(0, len(text), TEXT_CHUNK):
        yield text[start : start + TEXT_CHUNK].encode("utf-8")


@router.get(
    "/documents/{document_id}/text",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "The extracted text."}},
)
async def get_document_text(document_id: DocumentId, repository: RepositoryDep):
    """The full extracted text, as UTF-8 plain text (streamed)."""
    document = await load_document(repository, document_id)
    return StreamingResponse(_pieces(document.text or ""), media_type="text/plain; charset=utf-8")


def _page_png(repository: Repository, document: Document, page: int) -> bytes:
    """The stored image, or a scanned page of the stored PDF, OCR read (blocking)."""
    from ingest.extraction import ExtractionError
    from ingest.images import page_png

    if page not in ((document.ocr or {}).get("pages") or []):
        raise NotFound(f"OCR read no page {page} of document {document.id!r}")
    with repository.catalog.session() as session:
        row = session.scalars(
            select(Record).where(Record.record_id == (document.revisit_of or document.record_id))
        ).one()
    body = b""
    for record in repository.store.read_record(repository.location(row)):
        body = record.content_stream().read()
    try:
        return page_png(body, document.mime, page, repository.settings.ocr_max_pixels)
    except ExtractionError as exc:
        raise NotFound(f"page {page} cannot be shown: {exc}") from exc


@router.get(
    "/documents/{document_id}/pages/{page}.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The page as an image."}},
)
async def get_document_page(
    document_id: DocumentId, page: Annotated[int, Path(ge=1)], repository: RepositoryDep
):
    """A page OCR read (a scanned PDF page, or the image itself), as PNG, to show beside
    its text."""
    document = await load_document(repository, document_id)
    png = await to_thread.run_sync(_page_png, repository, document, page)
    return Response(png, media_type="image/png")


@router.get("/documents/{document_id}/versions", response_model=DocumentVersions)
async def get_document_versions(
    document_id: DocumentId, repository: RepositoryDep
) -> DocumentVersions:
    """Every capture of the document's URL, oldest first, with what changed each time."""
    document = await load_document(repository, document_id)
    views = await to_thread.run_sync(version_views, repository, document.url)
    return DocumentVersions(url=document.url, versions=views)
