"""Domain errors become HTTP answers in one place: each kind its status, a stage's own
errors the status of the kind they derive from, the message and Retry-After kept."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import errors
from api.crawls import TooManyCrawls
from api.jobs import QueueFull
from archive import errors as kinds
from ingest.relations import RelationError
from ingest.watch import WatchError
from search.backend import SearchError

RAISED = [
    (kinds.InvalidQuery("bad query: unbalanced quote"), 400, None),
    (kinds.NotLoggedIn("log in first"), 401, None),
    (kinds.Forbidden("missing CSRF token"), 403, None),
    (kinds.NotFound("no job 'x'"), 404, None),
    (kinds.Conflict("crawl c is running in another process"), 409, None),
    (kinds.InvalidInput("invalid interval"), 422, None),
    (WatchError("not a URL"), 422, None),
    (RelationError("a document cannot relate to itself"), 422, None),
    (TooManyCrawls("4 crawls are running"), 429, "60"),
    (QueueFull("the capture queue is full"), 503, "60"),
    (SearchError("cannot reach the search engine"), 503, None),
    (kinds.DomainError("of no kind"), 500, None),
]


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    errors.install(app)

    @app.get("/raise/{number}")
    def fail(number: int) -> None:
        raise RAISED[number][0]

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("number", range(len(RAISED)))
def test_each_kind_has_its_status_message_and_retry_after(client: TestClient, number: int) -> None:
    error, status, retry_after = RAISED[number]
    answer = client.get(f"/raise/{number}")
    assert answer.status_code == status
    assert answer.json() == {"error": {"status": status, "message": str(error)}}
    assert answer.headers.get("retry-after") == retry_after
    assert errors.status_of(error) == status  # what the HTML pages show


def test_an_unknown_exception_stays_an_internal_error(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)

    @app.get("/bug")
    def bug() -> None:
        raise ValueError("not a domain error: a bug")

    answer = client.get("/bug")
    assert answer.status_code == 500
    assert answer.json()["error"]["message"] == "internal error; see the server log"
