"""Pages and servers for the provenance tests: articles built from the seed
articles and corpus pages, a site answering missing pages with 200 (soft-404s),
and a server receiving webhook POSTs."""

from __future__ import annotations

import html
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Seed:
    """A seed article: an optional ``date YYYY-MM-DD URL`` line, then the text
    (whose first line is the headline when there is no date line)."""

    published: str | None
    title: str
    paragraphs: list[str]

    @classmethod
    def read(cls, path: Path) -> Seed:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        lines = [line for line in lines if line]
        fields = lines[0].split()
        if fields[0] != "date":
            return cls(None, lines[0], lines[1:])
        slug = fields[2].rstrip("/").rsplit("/", 1)[-1].rsplit("_", 1)[0].rsplit(".", 1)[0]
        return cls(fields[1], slug.replace("-", " ").capitalize(), lines[1:])


def article(
    title: str,
    paragraphs: list[str],
    *,
    published: str | None = None,
    links: list[tuple[str, str]] = (),
    head: str = "",
    lang: str = "en",
) -> bytes:
    """A news page: navigation, the article (paragraphs, then links), a footer."""
    meta = f'<meta property="article:published_time" content="{published}">' if published else ""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    body += "".join(f'<p><a href="{href}">{html.escape(text)}</a></p>' for href, text in links)
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>{meta}{head}</head><body>"
        '<nav><a href="/">Home</a> <a href="/about">About us</a></nav>'
        f"<article><h1>{html.escape(title)}</h1>{body}</article>"
        "<footer>Copyright The Daily Record. All rights reserved.</footer></body></html>"
    ).encode()


NOT_FOUND_PAGE = article(
    "Page not found",
    [
        "Sorry, we could not find the page you were looking for.",
        "It may have been moved or deleted. Try the search box or go back to the front page.",
    ],
)


class _SoftHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SoftSite

    def do_GET(self) -> None:
        site = self.server
        with site.lock:
            site.in_flight += 1
            site.most_in_flight = max(site.most_in_flight, site.in_flight)
            site.hits.append(self.path)
        try:
            body = site.pages.get(self.path, NOT_FOUND_PAGE)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        finally:
            with site.lock:
                site.in_flight -= 1

    def log_message(self, *args: object) -> None:
        pass


class SoftSite(ThreadingHTTPServer):
    """A site that answers every missing path with a 200 "Page not found" page,
    and counts how many requests it serves at once."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SoftHandler)
        self.pages: dict[str, bytes] = {}
        self.hits: list[str] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{path}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _HookHandler(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.server.events.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class WebhookReceiver(ThreadingHTTPServer):
    """Receives webhook POSTs and keeps their JSON bodies."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HookHandler)
        self.events: list[dict] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/hook"

    def close(self) -> None:
        self.shutdown()
        self.server_close()
