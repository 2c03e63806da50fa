"""Shared fixtures: an isolated VESTIGE_HOME, the shared corpus, a real HTTP server."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from archive.config import Settings, get_settings

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def invoke(*args: str, code: int | None = 0) -> Result:
    """Run ``vestige ARGS`` in-process (exceptions propagate); assert it exits with
    ``code`` (None: any code); the result, with its ``stdout`` and ``output``."""
    from api.cli import app  # what the entry point runs; imported when a test runs it

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    if code is not None:
        assert result.exit_code == code, result.output
    return result


def vestige(*args: str) -> str:
    """Run ``vestige ARGS`` in-process, which must succeed; what it printed on stdout."""
    return invoke(*args).stdout


@pytest.fixture
def corpus() -> Path:
    """``../shared/corpus``; tests using it skip only where it is absent (a fresh clone)."""
    if not CORPUS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the shared corpus at {CORPUS}")
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return CORPUS


def missing_part(what: str, install: str) -> None:
    """A Debian-packaged part a test needs is absent: skip with how to install it, fail in CI.

    ``.ci/run`` installs every such part, so under ``CI=true`` its absence is a defect.
    """
    message = f"{what} is not installed ({install})"
    if os.environ.get("CI"):
        pytest.fail(f"CI must have it: {message}")
    pytest.skip(message)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A fresh ``VESTIGE_HOME`` with captures of loopback allowed; yields the settings."""
    monkeypatch.setenv("VESTIGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VESTIGE_CAPTURE_ALLOW_PRIVATE", "1")
    monkeypatch.delenv("VESTIGE_DATABASE_URL", raising=False)
    monkeypatch.delenv("VESTIGE_SEARCH_URL", raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@dataclass
class Route:
    """What the test server answers on one path."""

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0  # seconds before each body chunk
    chunked: bool = False  # Transfer-Encoding: chunked instead of Content-Length


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            route = Route(404, b"not found", [("Content-Type", "text/plain")])
        if callable(route):
            route = route(self)
        chunks = [route.body] if isinstance(route.body, bytes) else list(route.body)
        self.send_response(route.status)
        for name, value in route.headers:
            self.send_header(name, value)
        if route.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(sum(len(c) for c in chunks)))
        self.end_headers()
        try:
            for chunk in chunks:
                if route.delay:
                    time.sleep(route.delay)
                if route.chunked:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                else:
                    self.wfile.write(chunk)
                self.wfile.flush()
            if route.chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Route | Callable[[BaseHTTPRequestHandler], Route]]
    hits: list[str]


class WebServer:
    """A real HTTP server on loopback (127.0.0.1 unless told) whose routes a test sets."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._server = _Server((host, 0), _Handler)
        self._server.routes = {}
        self._server.hits = []
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def hits(self) -> list[str]:
        return self._server.hits

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, route: Route | Callable[[BaseHTTPRequestHandler], Route]) -> str:
        """Serve ``route`` at ``path`` (the raw request path, query included); return its URL."""
        self._server.routes[path] = route
        return self.url(path)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def web() -> Iterator[WebServer]:
    server = WebServer()
    yield server
    server.close()


def minimal_pdf(title: str, author: str, lines: list[str]) -> bytes:
    """A one-page PDF with text in Helvetica and an Info dictionary."""
    text = " T* ".join(f"({line}) Tj" for line in lines)
    stream = f"BT /F1 12 Tf 14 TL 72 720 Td {text} ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Title ({title}) /Author ({author}) /CreationDate (D:20190410120000Z) >>".encode(),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)
