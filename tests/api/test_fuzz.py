"""A fuzz run of the OpenAPI schema (schemathesis): no input makes the API fail with a 5xx."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import suppress
from itertools import product

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import Failure, FailureGroup
from servicetools import auth, new_token, preserve, serve_articles, service

from archive.config import Settings
from conftest import WebServer

EXAMPLES = 20  # per operation: bounded, and derandomized so a run is repeatable
CONFORMANCE_EXAMPLES = 10  # per operation and mode


def bounded(examples: int) -> settings:
    """Hypothesis settings of a repeatable run of ``examples`` cases."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )


@pytest.fixture
def offline(home: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The service's settings with no way out: schema-valid requests capture and crawl
    well-formed URLs, so names do not resolve (no DNS), a connect to a public address
    is refused in-process, and the guard refuses the rest as in production. Fuzzed
    watches and follows are not run: the scheduler is off."""
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock: socket.socket, address) -> None:
        inet = sock.family in (socket.AF_INET, socket.AF_INET6)
        if inet and ipaddress.ip_address(address[0].split("%")[0]).is_global:
            raise ConnectionRefusedError(111, "refused in-process (no public traffic)")
        real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host != "localhost":
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise socket.gaierror(socket.EAI_NONAME, "no DNS in this test") from None
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield home.model_copy(update={"scheduler": False, "capture_allow_private": False})


def test_no_input_makes_a_server_error(offline: Settings, web: WebServer) -> None:
    with service(offline) as client:
        token = new_token(client)
        preserve(client, token, list(serve_articles(web).values()))
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", client.app)
        failures: list[str] = []
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 10

        for operation in operations:

            @given(case=operation.as_strategy())
            @bounded(EXAMPLES)
            def fuzz(case) -> None:
                response = case.call(headers=auth(token))
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path}: {response.text[:200]}")

            fuzz()
    assert failures == []


# Where a schema-valid request can still be refused for what no schema states (see
# README "Service"): an upload must be a real archive or document, and an export's
# selection (q, collection or all) is a rule across parameters.
BEYOND_THE_SCHEMA = {
    ("POST", "/api/v1/imports"): [schemathesis.checks.positive_data_acceptance],
    ("GET", "/api/v1/export"): [schemathesis.checks.positive_data_acceptance],
}


def test_the_openapi_document_is_true(offline: Settings, web: WebServer) -> None:
    """Every schemathesis check (but BEYOND_THE_SCHEMA's), on schema-valid and
    schema-violating requests: a bounded, derandomized run with no failures."""
    with service(offline) as client:
        token = new_token(client)
        preserve(client, token, list(serve_articles(web).values()))
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", client.app)
        failures: list[str] = []
        for result, mode in product(
            schema.get_all_operations(), [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
        ):
            check_conformance(result.ok(), mode, token, failures)
    assert failures == []


def check_conformance(operation, mode: GenerationMode, token: str, failures: list[str]) -> None:
    """Run the checks on ``operation``'s cases of ``mode``; add what fails to ``failures``."""

    @given(case=operation.as_strategy(mode))
    @bounded(CONFORMANCE_EXAMPLES)
    def check(case) -> None:
        try:
            excluded = BEYOND_THE_SCHEMA.get((operation.method.upper(), operation.path), [])
            case.call_and_validate(headers=auth(token), excluded_checks=excluded)
        except (Failure, FailureGroup) as found:
            for failure in getattr(found, "exceptions", [found]):
                failures.append(f"{case.method} {case.formatted_path} ({mode}): {failure}")

    with suppress(Unsatisfiable):  # nothing in the schema to violate (no parameters)
        check()


def test_schema_documents_the_search_and_document_endpoints(home: Settings) -> None:
    with service(home) as client:
        paths = client.get("/api/v1/openapi.json").json()["paths"]
    for path in (
        "/api/v1/search",
        "/api/v1/documents/{document_id}",
        "/api/v1/documents/{document_id}/text",
        "/api/v1/documents/{document_id}/versions",
        "/api/v1/jobs/{job_id}",
        "/api/v1/relations",
        "/api/v1/documents/{document_id}/relations",
        "/api/v1/documents/{document_id}/story",
        "/api/v1/documents/{document_id}/diff",
        "/api/v1/watches",
        "/api/v1/changes",
        "/api/v1/changes.atom",
        "/api/v1/crawls",
        "/api/v1/jobs/{job_id}/cancel",
        "/api/v1/follows",
    ):
        assert path in paths
    search = paths["/api/v1/search"]["get"]
    names = {parameter["name"] for parameter in search["parameters"]}
    assert names >= {"q", "lang", "site", "after", "before", "collection", "sort", "limit", "page"}
    assert "400" in search["responses"]
