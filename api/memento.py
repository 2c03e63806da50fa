"""Replay and Memento (RFC 7089) on the paths web archives use.

- ``/web/{timestamp}/{url}``: the archived copy closest to the timestamp
  (redirecting to the exact timestamp first, as wayback machines do);
  ``/web/{timestamp}id_/{url}`` is the same, the original bytes unmodified.
  A browser capture replays (without ``id_``) as the browser saw it: its
  rendered DOM, with links into the archive (:mod:`api.rewrite`).
- ``/screenshot/{timestamp}/{url}``: the screenshot of that browser capture.
- ``/timemap/link/{url}``: every capture, in ``application/link-format``.
- ``/timegate/{url}``: redirects to the capture closest to ``Accept-Datetime``.

The archived URL is read from the raw request path (and query), so
percent-escapes are kept exactly; any spelling normalises to the stored form.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC
from email.utils import parsedate_to_datetime
from string import ascii_letters, digits, punctuation
from typing import Annotated
from urllib.parse import quote, urljoin

from anyio import to_thread
from fastapi import APIRouter, Depends, Header, Path, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from api.deps import RepositoryDep, require_reader
from api.errors import ERROR_RESPONSES
from api.replay import (
    ARCHIVED_CSP,
    ARCHIVED_FRAME_CSP,
    ARCHIVED_URL_PATTERN,
    HTTP_DATE_PATTERN,
    TIMESTAMP_SYNTAX,
    Memento,
    MissingPayload,
    closest,
    http_date,
    open_memento,
    parse_timestamp,
    url_from_path,
)
from api.rewrite import MAX_REWRITTEN, archive_link, embeddable, replay_part, rewrite
from archive.browser import browser_parts
from archive.catalog import Record
from archive.cdxj import timestamp14
from archive.errors import InvalidQuery, NotFound
from archive.repository import Repository

router = APIRouter(
    tags=["memento"], responses=ERROR_RESPONSES, dependencies=[Depends(require_reader)]
)

LINK_FORMAT = "application/link-format"
ArchivedUrl = Annotated[
    str,
    Path(
        description="The archived URL (http:// may be left out), as given or percent-encoded.",
        json_schema_extra={"pattern": ARCHIVED_URL_PATTERN},
    ),
]
Stamp = Annotated[
    str,
    Path(
        description="A 4- to 14-digit timestamp, YYYYMMDDhhmmss (the closest capture is served).",
        json_schema_extra={"pattern": f"^{TIMESTAMP_SYNTAX}$"},
    ),
]
_SPEC = re.compile(r"^(\d{4,14})(id_)?$")
_PATH_BYTES_SAFE = ascii_letters + digits + punctuation
_CHARSET = re.compile(r"charset=[\"']?([\w.:-]+)", re.IGNORECASE)


def archived_url(request: Request, skip: int) -> str:
    """The URL in the request path after ``skip`` slashes (and its query), stored form."""
    raw: bytes = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
    root = request.scope.get("root_path", "").encode("utf-8")
    if root and raw.startswith(root):
        raw = raw[len(root) :]
    # Bytes a client sent unescaped (UTF-8 IRIs) are escaped like a browser would.
    target = quote(raw, safe=_PATH_BYTES_SAFE).split("/", skip)[-1]
    query = request.scope.get("query_string", b"")
    if query:
        target += "?" + quote(query, safe=_PATH_BYTES_SAFE)
    try:
        return url_from_path(target)
    except ValueError as exc:
        raise InvalidQuery(f"invalid archived URL: {exc}") from exc


async def versions_of(repository: Repository, url: str) -> list[Record]:
    """Every capture of ``url``, oldest first; :class:`NotFound` if there is none."""
    versions = await to_thread.run_sync(repository.catalog.versions, url)
    if not versions:
        raise NotFound(f"{url} is not in the archive")
    return versions


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def memento_path(row: Record, modifier: str = "") -> str:
    return f"/web/{timestamp14(row.timestamp)}{modifier}/{row.url}"


def _links(request: Request, url: str) -> list[str]:
    base = _base(request)
    return [
        f'<{url}>; rel="original"',
        f'<{base}/timegate/{url}>; rel="timegate"',
        f'<{base}/timemap/link/{url}>; rel="timemap"; type="{LINK_FORMAT}"',
    ]


@router.get("/web/{spec}/{url:path}", response_class=Response)
async def memento(
    spec: Annotated[
        str,
        Path(
            description="A timestamp, with id_ for the original bytes unmodified.",
            json_schema_extra={"pattern": f"^{TIMESTAMP_SYNTAX}(id_)?$"},
        ),
    ],
    url: ArchivedUrl,
    request: Request,
    repository: RepositoryDep,
    accept_encoding: Annotated[str, Header()] = "",
) -> Response:
    """The archived copy of ``url`` closest to the timestamp (``{timestamp}id_``: same bytes).

    Served sandboxed: ``Content-Security-Policy: sandbox`` without
    ``allow-same-origin``, ``nosniff``, and no archived cookies or policies.
    """
    match = _SPEC.match(spec)
    if match is None:
        raise NotFound(f"not found: {spec!r} is not a 4- to 14-digit timestamp")
    stamp, modifier = match.group(1), match.group(2) or ""
    target = archived_url(request, 3)
    try:
        moment = parse_timestamp(stamp)
    except ValueError as exc:
        raise InvalidQuery(str(exc)) from exc
    row = closest(await versions_of(repository, target), moment)
    links = _links(request, row.url or target)
    if timestamp14(row.timestamp) != stamp:
        # Readable cross-origin: a replayed (sandboxed) page's fonts are CORS requests,
        # and all it tells is the capture's timestamp.
        return RedirectResponse(
            memento_path(row, modifier),
            302,
            headers={"Link": ", ".join(links), "Access-Control-Allow-Origin": "*"},
        )
    part = None if modifier else await to_thread.run_sync(replay_part, repository, row)
    try:
        if part is not None and part.kind:  # read whole and decoded, to be rewritten
            archived = await to_thread.run_sync(open_memento, repository, part.record, "")
        else:
            archived = await to_thread.run_sync(open_memento, repository, row, accept_encoding)
    except MissingPayload as exc:
        raise NotFound(str(exc)) from exc
    headers = [
        *archived.headers,
        ("Memento-Datetime", http_date(row.timestamp)),
        ("Link", ", ".join([*links, f'<{_base(request)}{memento_path(row)}>; rel="memento"'])),
        ("Content-Security-Policy", ARCHIVED_FRAME_CSP if part and part.frame else ARCHIVED_CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
    ]
    if part is not None:
        headers = embeddable(headers)
    if archived.location:
        # Follow archived redirects inside the archive, never to the live web.
        absolute = urljoin(row.url or target, archived.location)
        headers.append(("Location", f"/web/{stamp}{modifier}/{absolute}"))
    if request.method == "HEAD":
        archived.close()
        response: Response = Response(status_code=archived.status)
    elif part is not None and part.kind:
        body, headers = await to_thread.run_sync(
            _rewritten, archived, part.kind, archive_link(stamp, row.url or target), headers
        )
        response = Response(body, status_code=archived.status)
    else:
        response = StreamingResponse(archived.iter_body(), status_code=archived.status)
    response.raw_headers.extend(
        (name.lower().encode("latin-1"), value.encode("latin-1", "replace"))
        for name, value in headers
    )
    return response


def _rewritten(
    archived: Memento, kind: str, link: Callable[[str], str], headers: list[tuple[str, str]]
) -> tuple[bytes, list[tuple[str, str]]]:
    """The body of a browser capture's page, frame or stylesheet with archive links,
    and its headers (UTF-8 for HTML). A body too large to rewrite is served as it is."""
    content_type = next((v for n, v in headers if n.lower() == "content-type"), "")
    charset = _CHARSET.search(content_type)
    body = b"".join(archived.iter_body())
    if len(body) > MAX_REWRITTEN:
        return body, headers
    body = rewrite(kind, body, charset.group(1) if charset else None, link)
    if kind == "html":
        headers = [(n, v) for n, v in headers if n.lower() != "content-type"]
        headers.append(("Content-Type", "text/html; charset=utf-8"))
    return body, headers


@router.get("/screenshot/{stamp}/{url:path}", response_class=Response)
async def screenshot(
    stamp: Stamp, url: ArchivedUrl, request: Request, repository: RepositoryDep
) -> Response:
    """The screenshot (PNG) of the browser capture of ``url`` closest to the timestamp."""
    try:
        moment = parse_timestamp(stamp)
    except ValueError as exc:
        raise InvalidQuery(str(exc)) from exc
    row = closest(await versions_of(repository, archived_url(request, 3)), moment)
    parts = await to_thread.run_sync(browser_parts, repository.catalog, row.capture_id)
    if parts is None or parts.screenshot is None:
        raise NotFound(f"the capture of {row.url} at {stamp} has no screenshot")
    shot = await to_thread.run_sync(open_memento, repository, parts.screenshot, "")
    return StreamingResponse(
        shot.iter_body(),
        media_type="image/png",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "max-age=86400"},
    )


@router.get(
    "/timemap/link/{url:path}",
    response_class=Response,
    responses={200: {"content": {LINK_FORMAT: {}}}},
)
async def timemap(url: ArchivedUrl, request: Request, repository: RepositoryDep) -> Response:
    """Every capture of ``url`` as a Memento TimeMap (``application/link-format``)."""
    target = archived_url(request, 3)
    versions = await versions_of(repository, target)
    base = _base(request)
    original = versions[0].url or target
    lines = [
        f'<{original}>; rel="original"',
        f'<{base}/timegate/{original}>; rel="timegate"',
        f'<{base}/timemap/link/{original}>; rel="self"; type="{LINK_FORMAT}"; '
        f'from="{http_date(versions[0].timestamp)}"; until="{http_date(versions[-1].timestamp)}"',
    ]
    last = len(versions) - 1
    for number, row in enumerate(versions):
        rel = " ".join(
            [*(["first"] if number == 0 else []), *(["last"] if number == last else []), "memento"]
        )
        lines.append(
            f'<{base}{memento_path(row)}>; rel="{rel}"; datetime="{http_date(row.timestamp)}"'
        )
    return Response(",\n".join(lines) + "\n", media_type=LINK_FORMAT)


@router.get("/timegate/{url:path}", response_class=Response)
async def timegate(
    url: ArchivedUrl,
    request: Request,
    repository: RepositoryDep,
    accept_datetime: Annotated[
        str | None,
        Header(
            description="The wanted time, an RFC 1123 date (default: the newest capture).",
            json_schema_extra={"pattern": HTTP_DATE_PATTERN},
        ),
    ] = None,
) -> Response:
    """Redirect (302) to the capture of ``url`` closest to ``Accept-Datetime`` (default: newest)."""
    target = archived_url(request, 2)
    versions = await versions_of(repository, target)
    if accept_datetime is None:
        row = versions[-1]
    else:
        try:
            wanted = parsedate_to_datetime(accept_datetime)
        except (TypeError, ValueError) as exc:
            raise InvalidQuery(
                f"invalid Accept-Datetime {accept_datetime!r}: use an RFC 1123 date"
            ) from exc
        if wanted.tzinfo is not None:  # naive means "-0000": UTC already
            wanted = wanted.astimezone(UTC).replace(tzinfo=None)
        row = closest(versions, wanted)
    original = row.url or target
    base = _base(request)
    return Response(
        status_code=302,
        headers={
            "Location": f"{base}{memento_path(row)}",
            "Vary": "accept-datetime",
            "Link": f'<{original}>; rel="original", '
            f'<{base}/timemap/link/{original}>; rel="timemap"; type="{LINK_FORMAT}"',
        },
    )


# HEAD answers as GET does, without the body. Kept out of the OpenAPI schema,
# where it would repeat GET's operation id.
for _route in list(router.routes):
    router.add_api_route(
        _route.path,
        _route.endpoint,
        methods=["HEAD"],
        response_class=Response,
        include_in_schema=False,
    )
