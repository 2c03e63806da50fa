"""``GET /api/v1/export``: the export as a streamed download.

JSON Lines, CSV, Parquet and WARC are produced batch by batch straight into the
response (no temporary file). WACZ and bundle packages need their index sorted
and their file hashes known before the ZIP can end, so they are built in a
temporary folder first, streamed, then deleted.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from api.deps import RepositoryDep, SettingsDep, require_reader
from api.errors import ERROR_RESPONSES
from api.export.exporter import FORMATS, MEDIA_TYPES, make_writer, run_export, stream_export
from api.export.formats import DATA
from api.export.selection import DocumentSource, ExportError, Selection, Versions, choose_fields
from archive.config import Settings
from archive.errors import InvalidQuery, NotFound
from archive.repository import Repository
from archive.store import COLLECTION_MAX_LENGTH, COLLECTION_PATTERN
from search.engine import open_backend
from search.query import QUERY_PATTERN

router = APIRouter(tags=["export"], responses=ERROR_RESPONSES | {503: ERROR_RESPONSES[404]})

_CHUNK = 1 << 20


@router.get(
    "/export",
    dependencies=[Depends(require_reader)],
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The export, in the content type of its format.",
            "content": {media_type: {} for media_type in MEDIA_TYPES},
        }
    },
)
async def export(
    repository: RepositoryDep,
    settings: SettingsDep,
    q: Annotated[
        str | None,
        Query(
            description="Search query selecting the documents.",
            json_schema_extra={"pattern": QUERY_PATTERN},
        ),
    ] = None,
    collection: Annotated[
        str | None,
        Query(
            max_length=COLLECTION_MAX_LENGTH,
            description="Only this collection.",
            json_schema_extra={"pattern": COLLECTION_PATTERN},
        ),
    ] = None,
    all: Annotated[bool, Query(description="Every document (without q or collection).")] = False,
    format: Annotated[
        str,
        Query(
            description=f"One of {', '.join(FORMATS)}.", json_schema_extra={"enum": list(FORMATS)}
        ),
    ] = "jsonl",
    fields: Annotated[str | None, Query(description="Comma-separated fields, in order.")] = None,
    with_text: Annotated[bool, Query(description="Include text and text_simplified.")] = True,
    versions: Annotated[Versions, Query(description="latest or all captures.")] = Versions.latest,
    bom: Annotated[bool, Query(description="Start a CSV with a UTF-8 BOM.")] = False,
    text_max_chars: Annotated[
        int | None, Query(description="Cut a CSV's text to this many characters.")
    ] = None,
) -> StreamingResponse:
    """Export the selected documents as a download (see `vestige export`)."""
    try:
        selection = Selection(q, collection, all, versions).check()
        names = [name.strip() for name in fields.split(",")] if fields else None
        chosen = choose_fields(names, with_text)
        writer = make_writer(format, chosen, repository, bom=bom, text_max_chars=text_max_chars)
    except ExportError as exc:
        raise InvalidQuery(str(exc)) from exc
    stack = ExitStack()
    try:
        source = await to_thread.run_sync(
            _open_source, stack, repository, settings, selection, with_text
        )
        if await to_thread.run_sync(source.count) == 0:
            raise NotFound(f"nothing to export: no documents match {selection.summary()}")
        if writer.parts == (DATA,):
            body = stream_export(source, writer)
        else:
            path = await to_thread.run_sync(
                _build_package, stack, repository, source, format, chosen
            )
            body = _read(path)
    except BaseException:
        stack.close()
        raise
    return StreamingResponse(
        _closing(body, stack),
        media_type=writer.media_type,
        headers={"Content-Disposition": f'attachment; filename="vestige-export{writer.extension}"'},
    )


def _open_source(
    stack: ExitStack,
    repository: Repository,
    settings: Settings,
    selection: Selection,
    with_text: bool,
) -> DocumentSource:
    backend = stack.enter_context(open_backend(settings)) if selection.query else None
    return stack.enter_context(
        DocumentSource(
            repository.catalog,
            selection,
            backend=backend,
            with_text=with_text,
            base_url=settings.public_url,
        )
    )


def _build_package(
    stack: ExitStack, repository: Repository, source: DocumentSource, format: str, fields: list[str]
) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="vestige-export-"))
    stack.callback(shutil.rmtree, folder, True)
    path = folder / f"export-{format}.wacz"
    run_export(repository, source, format, path, fields=fields)
    return path


def _read(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            yield chunk


def _closing(body: Iterator[bytes], stack: ExitStack) -> Iterator[bytes]:
    """The body, then release the source, search engine and temporary files."""
    with stack:
        yield from body
