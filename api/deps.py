"""Request dependencies: the open repository, the job runner, and authentication."""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.jobs import CaptureJobs
from api.tokens import authenticate
from archive.config import Settings
from archive.repository import Repository

_bearer = HTTPBearer(
    auto_error=False,
    description="An API token from `vestige token create NAME`.",
)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_repository(request: Request) -> Repository:
    return request.app.state.repository


def get_jobs(request: Request) -> CaptureJobs:
    return request.app.state.jobs


async def require_token(
    repository: Annotated[Repository, Depends(get_repository)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> str:
    """The name of the caller's valid API token: 401 without one, 403 with a bad one."""
    if credentials is None:
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
    settings: Annotated[Settings, Depends(get_settings)],
    repository: Annotated[Repository, Depends(get_repository)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> str | None:
    """Reading is public unless ``VESTIGE_PUBLIC_READ=0``; then it needs a token too."""
    if settings.public_read:
        return None
    return await require_token(repository, credentials)


RepositoryDep = Annotated[Repository, Depends(get_repository)]
JobsDep = Annotated[CaptureJobs, Depends(get_jobs)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Writer = Annotated[str, Depends(require_token)]
