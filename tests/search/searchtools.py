"""Search fixtures: every behavioural test runs on the embedded engine and on a real cluster.

The cluster is a real OpenSearch node started from Maven Central artifacts (see
``opensearch_node/``), or the Elasticsearch/OpenSearch at ``VESTIGE_TEST_SEARCH_URL``.
Test modules import the fixtures they use from here (no conftest.py, whose module name
would shadow ``tests/conftest.py``).
"""

from __future__ import annotations

import atexit
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from archive.config import Settings, get_settings
from conftest import missing_part
from search.backend import SearchBackend
from search.cluster import ClusterBackend
from search.embedded import EmbeddedBackend
from search.engine import detect_distribution, open_backend

sys.path.insert(0, str(Path(__file__).parent / "opensearch_node"))

from node import NodeError, OpenSearchNode

_nodes: list[OpenSearchNode] = []


@pytest.fixture
def cluster_url() -> str:
    """A running Elasticsearch/OpenSearch: VESTIGE_TEST_SEARCH_URL, or a node we start.

    The node is started once per test session (several modules use it) and stopped at exit.
    """
    url = os.environ.get("VESTIGE_TEST_SEARCH_URL")
    if url:
        return url.rstrip("/")
    if not _nodes:
        try:
            _nodes.append(OpenSearchNode())
        except NodeError as exc:
            missing_part(
                "an OpenSearch node", f"apt-get install maven openjdk-17-jre-headless: {exc}"
            )
        atexit.register(_nodes[0].stop)
    return _nodes[0].url


BackendFactory = Callable[[], SearchBackend]


@pytest.fixture(params=["embedded", "opensearch"])
def open_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackendFactory]:
    """Opens (and reopens) one index on one engine; every opened backend is closed after."""
    opened: list[SearchBackend] = []
    if request.param == "embedded":

        def factory() -> SearchBackend:
            opened.append(EmbeddedBackend(tmp_path / "index"))
            return opened[-1]

    else:
        url = request.getfixturevalue("cluster_url")
        distribution = detect_distribution(url)
        alias = f"vestige-test-{uuid.uuid4().hex[:12]}"

        def factory() -> SearchBackend:
            opened.append(ClusterBackend.connect(url, distribution, alias=alias))
            return opened[-1]

    yield factory
    if request.param != "embedded" and opened:
        backend = opened[0]
        assert isinstance(backend, ClusterBackend)
        # Explicit names: clusters may refuse wildcard deletes.
        for index in backend.client.indices.get(index=f"{backend.alias}-*"):
            backend.client.indices.delete(index=index)
    for backend in opened:
        backend.close()


@pytest.fixture
def engine(open_engine: BackendFactory) -> SearchBackend:
    return open_engine()


@pytest.fixture(params=["embedded", "opensearch"])
def search_home(request: pytest.FixtureRequest, home, monkeypatch) -> Iterator[Settings]:
    """An archive home on the embedded engine, or on a fresh alias of the test cluster."""
    if request.param == "opensearch":
        monkeypatch.setenv("VESTIGE_SEARCH_URL", request.getfixturevalue("cluster_url"))
        monkeypatch.setenv("VESTIGE_SEARCH_INDEX", f"vestige-test-{uuid.uuid4().hex[:12]}")
    get_settings.cache_clear()
    settings = get_settings()
    yield settings
    if request.param == "opensearch":
        backend = open_backend(settings)
        for index in backend.client.indices.get(index=f"{settings.search_index}-*"):
            backend.client.indices.delete(index=index)
        backend.close()
    get_settings.cache_clear()
