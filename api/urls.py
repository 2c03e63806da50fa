"""``/api/v1/urls/versions``: the stored versions of a URL."""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, Query

from api.deps import RepositoryDep, require_reader
from api.errors import ERROR_RESPONSES
from api.memento import memento_path, versions_of
from api.schemas import Version, Versions
from archive.browser import BrowserSummary, browser_summaries
from archive.catalog import Record
from archive.cdxj import timestamp14
from archive.errors import InvalidQuery
from archive.urls import URL_PATTERN, InvalidURL, normalise_url

router = APIRouter(tags=["urls"], responses=ERROR_RESPONSES)


@router.get("/urls/versions", response_model=Versions, dependencies=[Depends(require_reader)])
async def url_versions(
    repository: RepositoryDep,
    url: Annotated[
        str,
        Query(
            description="The URL, in any spelling (IRI or percent-encoded).",
            json_schema_extra={"pattern": URL_PATTERN},
        ),
    ],
) -> Versions:
    """Every stored version (capture) of a URL, oldest first."""
    try:
        key = normalise_url(url)
    except InvalidURL as exc:
        raise InvalidQuery(f"invalid URL: {exc}") from exc
    rows = await versions_of(repository, key)
    browsers = await to_thread.run_sync(
        browser_summaries, repository, [row.capture_id or "" for row in rows]
    )
    return Versions(
        url=key,
        versions=[
            Version(
                timestamp=row.timestamp,
                url=row.url or key,
                type=row.record_type,
                status=row.status,
                mime=row.mime,
                payload_digest=row.payload_digest,
                length=row.length,
                collection=row.collection,
                warc_file=row.warc_file,
                offset=row.offset,
                memento=memento_path(row),
                view=f"/archive/{timestamp14(row.timestamp)}/{row.url or key}",
                **_browser(browsers.get(row.capture_id or ""), row, key),
            )
            for row in rows
        ],
    )


def _browser(summary: BrowserSummary | None, row: Record, key: str) -> dict[str, object]:
    if summary is None:
        return {}
    return {
        "mode": "browser",
        "resources": summary.resources,
        "screenshot": f"/screenshot/{timestamp14(row.timestamp)}/{row.url or key}",
    }
