"""Bulk indexing against a real cluster that answers 429 and 5xx: retried, nothing lost."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from searchtools import cluster_url  # noqa: F401 - fixture
from test_behaviour import DOCUMENTS

from search.backend import SearchError
from search.cluster import ClusterBackend
from search.engine import detect_distribution
from search.query import parse

pytestmark = pytest.mark.timeout(900)


class FaultyProxy(ThreadingHTTPServer):
    """A loopback proxy to the cluster that first answers some bulk requests with errors."""

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.upstream = upstream
        self.bulk_failures: list[int] = []  # statuses for the next bulk requests
        self.bulk_requests = 0
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultyProxy

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.split("?")[0].endswith("/_bulk"):
            self.server.bulk_requests += 1
            if self.server.bulk_failures:
                status = self.server.bulk_failures.pop(0)
                self._reply(status, b'{"error":"injected","status":%d}' % status)
                return
        headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
        response = httpx.request(
            self.command,
            self.server.upstream + self.path,
            content=body,
            headers=headers,
            timeout=120,
        )
        self._reply(response.status_code, response.content)

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy(cluster_url: str) -> Iterator[FaultyProxy]:  # noqa: F811 - the fixture
    server = FaultyProxy(cluster_url)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def backend(proxy: FaultyProxy) -> Iterator[ClusterBackend]:
    alias = f"vestige-bulk-{uuid.uuid4().hex[:12]}"
    engine = ClusterBackend.connect(proxy.url, detect_distribution(proxy.url), alias=alias)
    yield engine
    for index in engine.client.indices.get(index=f"{alias}-*"):
        engine.client.indices.delete(index=index)
    engine.close()


def test_bulk_retries_on_429_and_5xx(proxy, backend):
    proxy.bulk_failures = [429, 503, 429]
    backend.index(DOCUMENTS)
    backend.commit(checkpoint=7)
    assert proxy.bulk_requests == 4  # three refused, then accepted
    assert backend.search(parse("")).total == 7
    assert backend.checkpoint() == 7


def test_bulk_gives_up_on_client_errors(proxy, backend):
    proxy.bulk_failures = [400]
    with pytest.raises(SearchError, match="bulk indexing failed"):
        backend.index(DOCUMENTS)
    assert proxy.bulk_requests == 1
    assert backend.checkpoint() == 0
