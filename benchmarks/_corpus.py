"""Benchmark helpers: the real pages of ``../shared/corpus``, served over loopback HTTP.

The server runs in its own process (``python benchmarks/_corpus.py serve``) so
that it does not compete with the measured client for the interpreter lock.
It answers ``/<anything>/<corpus path>`` with that page's bytes, so every
request can have a URL of its own; ``.html.gz`` pages are sent gzip-encoded,
as a server would send them.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
LANGUAGES = ("en", "zh")


def page_paths(corpus: Path = CORPUS, languages: tuple[str, ...] = LANGUAGES) -> list[str]:
    """Corpus paths of the real pages in ``languages`` (from ``manifest.jsonl``)."""
    if not corpus.is_dir():
        sys.exit(f"error: the shared corpus is not at {corpus}")
    paths = []
    with open(corpus / "manifest.jsonl", encoding="utf-8") as manifest:
        for line in manifest:
            entry = json.loads(line)
            if entry["kind"] == "page" and entry["path"].split("/", 1)[0] in languages:
                paths.append(entry["path"])
    return sorted(paths)


def sample(n: int, seed: int = 0) -> list[str]:
    """``n`` corpus page paths drawn at random (with repeats), so sizes follow the corpus."""
    paths = page_paths()
    rng = random.Random(seed)
    return [rng.choice(paths) for _ in range(n)]


class LoopbackHandler(BaseHTTPRequestHandler):
    """A benchmark server's handler: keep-alive, no Nagle delay, no request log."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle's algorithm
    # and delayed ACKs stall every response by tens of milliseconds.
    disable_nagle_algorithm = True

    def send_body(self, kind: str, body: bytes, encoding: str | None = None) -> None:
        """Answer 200 with ``body`` of type ``kind`` (and a Content-Encoding)."""
        self.send_response(200)
        self.send_header("Content-Type", kind)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Handler(LoopbackHandler):
    pages: dict[str, bytes]

    def do_GET(self) -> None:
        path = self.path.lstrip("/").split("/", 1)[-1]
        body = self.pages.get(path)
        if body is None:
            self.send_error(404)
            return
        self.send_body("text/html; charset=utf-8", body, "gzip" if path.endswith(".gz") else None)


def serve_until_stdin_closes(handler: type[BaseHTTPRequestHandler]) -> None:
    """Serve ``handler`` on a free loopback port until stdin closes; print the port first."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
    server.shutdown()


@contextmanager
def server_process(*args: str) -> Iterator[str]:
    """Run ``python ARGS`` (a script that calls :func:`serve_until_stdin_closes`) in a
    subprocess, so the server's CPU is not the benchmark's; yield its base URL."""
    process = subprocess.Popen(
        [sys.executable, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        yield f"http://127.0.0.1:{int(process.stdout.readline())}"
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)


def serve() -> None:
    """Serve every corpus page until stdin closes; print the port first."""
    _Handler.pages = {path: (CORPUS / path).read_bytes() for path in page_paths()}
    serve_until_stdin_closes(_Handler)


def page_server() -> AbstractContextManager[str]:
    """Run the corpus server in a subprocess; yield its base URL."""
    return server_process(__file__, "serve")


if __name__ == "__main__" and sys.argv[1:] == ["serve"]:
    serve()
