"""``/api/v1/imports``: uploading WARC/ARC/WACZ files and single documents."""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Annotated, BinaryIO
from urllib.parse import quote

from anyio import to_thread
from fastapi import APIRouter, File, Form, UploadFile

from api.deps import JobsDep, RepositoryDep, Writer
from api.errors import ERROR_RESPONSES
from api.jobs import AfterStore
from api.schemas import ImportedSource, ImportResponse
from archive.errors import InvalidInput
from archive.importer import (
    Importer,
    ImportResult,
    InputError,
    Submission,
    source_kind,
)
from archive.repository import Repository
from archive.store import COLLECTION_MAX_LENGTH, COLLECTION_PATTERN, InvalidCollection
from archive.urls import URL_PATTERN
from ingest import documents

router = APIRouter(tags=["imports"], responses=ERROR_RESPONSES)


def _import(
    repository: Repository,
    upload: BinaryIO,
    filename: str,
    collection: str,
    submission: Submission,
) -> list[ImportResult]:
    """Store the upload (blocking); archives go through a temporary file named like it."""
    importer = Importer(repository)
    if source_kind(filename) == "document":
        return [
            importer.import_document(upload, filename, collection=collection, submission=submission)
        ]
    with tempfile.TemporaryDirectory(prefix="vestige-upload-") as directory:
        path = Path(directory) / filename
        with open(path, "wb") as copy:
            shutil.copyfileobj(upload, copy)
        results = importer.import_path(path, collection=collection, submission=submission)
    for result in results:
        result.source = result.source.replace(directory + "/", "", 1)
    return results


@router.post("/imports", status_code=201, response_model=ImportResponse)
async def create_import(
    repository: RepositoryDep,
    jobs: JobsDep,
    submitter: Writer,
    file: Annotated[
        UploadFile,
        File(
            description="A WARC, WARC.GZ, ARC, ARC.GZ or WACZ file, or a document: .html, "
            ".pdf, .txt, an image (.png, .jpg, .tif, .webp, .gif), .docx, .odt or .eml."
        ),
    ],
    url: Annotated[
        str | None,
        Form(
            description="Where the document was published (else urn:sha256:<digest>).",
            json_schema_extra={"pattern": URL_PATTERN},
        ),
    ] = None,
    published: Annotated[
        date | None, Form(alias="date", description="When it was published (YYYY-MM-DD).")
    ] = None,
    note: Annotated[str | None, Form(max_length=10_000)] = None,
    collection: Annotated[
        str,
        Form(max_length=COLLECTION_MAX_LENGTH, json_schema_extra={"pattern": COLLECTION_PATTERN}),
    ] = "default",
    keep_gps: Annotated[
        bool, Form(description="Keep a photo's GPS position (dropped by default).")
    ] = False,
) -> ImportResponse:
    """Import an uploaded archive or document; it is stored (fsynced, catalogued) and
    ingested before the response. Archives keep their records byte for byte."""
    submission = Submission(url or None, published, note or None, submitter, keep_gps)
    return await import_upload(repository, jobs.after_store, file, submission, collection)


def _document_id(repository: Repository, url: str | None) -> str | None:
    document = documents.get(repository.catalog, url) if url else None
    return document.id if document else None


async def import_upload(
    repository: Repository,
    after_store: AfterStore,
    file: UploadFile,
    submission: Submission,
    collection: str,
) -> ImportResponse:
    """Store, ingest and index an upload (the API's and the upload form's work)."""
    filename = PurePosixPath((file.filename or "").replace("\\", "/")).name
    if not filename:
        raise InvalidInput("the upload needs a file name (its type comes from it)")
    try:
        source_kind(filename)
        results = await to_thread.run_sync(
            _import, repository, file.file, filename, collection, submission
        )
    except (InputError, InvalidCollection) as exc:
        raise InvalidInput(str(exc)) from exc
    finally:
        await file.close()
    record_ids = [row for result in results for row in result.record_ids]
    if results and not any(result.imported or result.skipped for result in results):
        stopped = "; ".join(result.stopped or "" for result in results)
        raise InvalidInput(f"nothing could be imported from {filename}: {stopped}")
    after_store_error = None
    if record_ids:
        after_store_error = await to_thread.run_sync(after_store.run, record_ids)
    sources = []
    for result in results:
        document_id = await to_thread.run_sync(_document_id, repository, result.url)
        sources.append(
            ImportedSource(
                source=result.source,
                imported=result.imported,
                skipped=result.skipped,
                stopped=result.stopped,
                warnings=result.warnings,
                url=result.url,
                payload_digest=result.payload_digest,
                versions=f"/api/v1/urls/versions?url={quote(result.url)}" if result.url else None,
                document_id=document_id,
            )
        )
    return ImportResponse(filename=filename, sources=sources, after_store_error=after_store_error)
