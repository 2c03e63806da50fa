"""Server-rendered HTML pages. Archived content is never inlined here: the
archived-copy page frames the sandboxed replay path."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from api.deps import RepositoryDep, require_reader
from api.memento import archived_url, memento_path, versions_of
from api.replay import closest, parse_timestamp, timestamp14

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

# Application pages run no inline code and may only frame the replay path.
APP_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
    "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_reader)])


def page(request: Request, template: str, status_code: int = 200, **context: object) -> Response:
    """Render an application page with its security headers."""
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    response.headers["Content-Security-Policy"] = APP_CSP
    return response


@router.get("/archive/{stamp}/{url:path}", response_class=HTMLResponse)
async def archived_copy(stamp: str, url: str, request: Request, repository: RepositoryDep):
    """The archived copy in a sandboxed frame, under a banner saying what it is."""
    try:
        moment = parse_timestamp(stamp)
    except ValueError as exc:
        raise HTTPException(404, str(exc)) from exc
    target = archived_url(request, 3)
    versions = await versions_of(repository, target)
    row = closest(versions, moment)
    exact = timestamp14(row.timestamp)
    if exact != stamp:
        return RedirectResponse(f"/archive/{exact}/{row.url}", 302)
    return page(
        request,
        "archived.html",
        row=row,
        frame=memento_path(row, "id_"),
        versions=versions,
        timemap=f"/timemap/link/{row.url}",
    )
