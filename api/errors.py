"""Every error as JSON: ``{"error": {"status": ..., "message": ...}}``.

This is the one place where a domain error (:mod:`archive.errors`) gets its
HTTP status: route modules raise domain errors, the handler installed here
answers them, and the HTML pages ask :func:`status_of` for the same status.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from api.schemas import ErrorResponse
from archive.errors import (
    Busy,
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    InvalidQuery,
    NotFound,
    NotLoggedIn,
    Unavailable,
)

log = logging.getLogger(__name__)

# Documented on every JSON endpoint; FastAPI adds 422 itself.
ERROR_RESPONSES: dict[int | str, dict] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 413)
}


STATUS: dict[type[DomainError], int] = {
    InvalidQuery: 400,
    NotLoggedIn: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    Busy: 429,
    Unavailable: 503,
}


def status_of(error: DomainError) -> int:
    """The HTTP status of a domain error: that of its nearest kind in :data:`STATUS`."""
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500  # a DomainError of no kind: a mistake of ours, not the client's


def error_response(
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    details: list[dict] | None = None,
) -> JSONResponse:
    body: dict = {"status": status, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _validation_message(errors: list[dict]) -> str:
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"invalid input: {where or 'body'}: {first.get('msg', 'invalid')}{more}"


def _allowed(request: Request, first_route: str) -> str:
    """Every method the API serves at the request's path, from its OpenAPI document:
    Starlette's 405 names only the first route's, though GET and POST of one path
    are often two routes. Other paths keep Starlette's ``first_route``."""
    for template, operations in request.app.openapi()["paths"].items():
        if re.fullmatch(re.sub(r"\{[^/}]+\}", "[^/]+", template), request.url.path):
            return ", ".join(sorted(method.upper() for method in operations))
    return first_route


def install(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app``."""

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed(request, headers.get("Allow", ""))
        return error_response(exc.status_code, str(exc.detail), headers)

    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return error_response(status_of(exc), str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_input(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(
            [{key: error.get(key) for key in ("loc", "msg", "type")} for error in exc.errors()]
        )
        return error_response(422, _validation_message(errors), details=errors)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("error serving %s", request.url.path, exc_info=exc)
        return error_response(500, "internal error; see the server log")
