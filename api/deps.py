"""Request dependencies: the open repository, the job runner, and authentication."""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api import session
from api.jobs import CaptureJobs
from api.session import Session
from api.tokens import authenticate
from archive.config import Settings
from archive.repository import Repository

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_bearer = HTTPBearer(
    auto_error=False,
    description="An API token from `vestige token create NAME`.",
)
# The same token for reads; a scheme of its own so that the OpenAPI document can
# say that reads need none while VESTIGE_PUBLIC_READ is on (see api.app).
READ_SCHEME = "ReadToken"
_read_bearer = HTTPBearer(auto_error=False, scheme_name=READ_SCHEME)


# The dependencies are async: FastAPI runs a plain function in a worker thread, and
# a thread hop per dependency per request costs CPU and latency under load.


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_repository(request: Request) -> Repository:
    return request.app.state.repository


async def get_jobs(request: Request) -> CaptureJobs:
    return request.app.state.jobs


async def browser_session(request: Request) -> Session | None:
    """The logged-in browser session of this request, if any (see ``api.session``)."""
    cookie = request.cookies.get(session.COOKIE)
    if not cookie:
        return None
    return await to_thread.run_sync(
        session.current, request.app.state.repository.catalog, request.app.state.session_key, cookie
    )


async def require_token(
    request: Request,
    repository: Annotated[Repository, Depends(get_repository)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> str:
    """The name of the caller's valid API token: 401 without one, 403 with a bad one.

    A browser logged in with a token (session cookie) counts too, but its writes
    must carry the session's CSRF secret in the ``X-CSRF-Token`` header.
    """
    if credentials is None:
        browser = await browser_session(request)
        if browser is not None:
            if request.method not in _SAFE_METHODS and not session.csrf_ok(
                browser, request.headers.get(session.CSRF_HEADER)
            ):
                raise HTTPException(403, "missing or wrong CSRF token (X-CSRF-Token)")
            return browser.name
        raise HTTPException(
            401,
            "this needs an API token (Authorization: Bearer <token>); "
            "create one with `vestige token create NAME`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    name = await to_thread.run_sync(authenticate, repository.catalog, credentials.credentials)
    if name is None:
        raise HTTPException(
            403,
            "invalid or revoked API token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return name


async def require_reader(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    repository: Annotated[Repository, Depends(get_repository)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_read_bearer)],
) -> str | None:
    """Reading is public unless ``VESTIGE_PUBLIC_READ=0``; then it needs a token too."""
    if settings.public_read:
        return None
    return await require_token(request, repository, credentials)


RepositoryDep = Annotated[Repository, Depends(get_repository)]
JobsDep = Annotated[CaptureJobs, Depends(get_jobs)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Writer = Annotated[str, Depends(require_token)]
