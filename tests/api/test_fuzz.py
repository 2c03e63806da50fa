"""A fuzz run of the OpenAPI schema (schemathesis): no input makes the API fail with a 5xx."""

from __future__ import annotations

from contextlib import suppress
from itertools import product

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


def test_no_input_makes_a_server_error(home: Settings, web: WebServer) -> None:
    # Fuzzed watches and follows are not run: the scheduler is off.
    with service(home.model_copy(update={"scheduler": False})) as client:
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


# Not yet true (see README "Service"): the schema does not state every rule of
# a URL, a collection name, a query's syntax or an export's selection, so some
# requests valid by the schema are refused with 400/422.
NOT_YET = (schemathesis.checks.positive_data_acceptance,)


def test_the_openapi_document_is_true(home: Settings, web: WebServer) -> None:
    """Every schemathesis check (but NOT_YET), on schema-valid and schema-violating
    requests: a bounded, derandomized run with no failures."""
    with service(home.model_copy(update={"scheduler": False})) as client:
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
            case.call_and_validate(headers=auth(token), excluded_checks=list(NOT_YET))
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
