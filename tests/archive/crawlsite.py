"""A small news site served on loopback for the crawl tests, with an access log.

It has nested sections, a sitemap index pointing at two sitemaps (one
gzipped), an RSS and an Atom feed, links to another host (a second server,
reached as ``localhost``), a redirect loop, a calendar trap, a slow page, a 429
with Retry-After and robots.txt rules. Every request is logged with the time
it arrived, so tests can measure politeness from the server's side.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Hit:
    path: str
    arrived: float  # time.time()


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0


def page(title: str, *links: str, head: str = "") -> bytes:
    anchors = "".join(f'<li><a href="{link}">{link}</a></li>' for link in links)
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title>{head}</head>"
        f"<body><h1>{title}</h1><p>Report text for {title}.</p><ul>{anchors}</ul></body></html>"
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self.server.log.append(Hit(self.path, time.time()))
        response = self.server.site.respond(self.path)
        if response.delay:
            time.sleep(response.delay)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(response.body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: Site
    log: list[Hit]


class Site:
    """The test site. ``base`` is ``http://127.0.0.1:PORT``; ``other`` is a second
    host (``http://localhost:PORT2``) that the site links to."""

    def __init__(self, *, busy_first: bool = True) -> None:
        self._main = self._serve()
        self._other = self._serve()
        self.base = f"http://127.0.0.1:{self._main.server_address[1]}"
        self.other = f"http://localhost:{self._other.server_address[1]}"
        self.rss_entries = ["/news/2024/rss-1", "/news/2024/a"]
        self.busy_first = busy_first
        self._busy_seen = False
        self._lock = threading.Lock()

    def _serve(self) -> _Server:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.site = self
        server.log = []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    @property
    def log(self) -> list[Hit]:
        """Requests to the site, in arrival order."""
        return self._main.log

    @property
    def other_log(self) -> list[Hit]:
        return self._other.log

    def paths(self) -> list[str]:
        return [hit.path for hit in self.log]

    def close(self) -> None:
        for server in (self._main, self._other):
            server.shutdown()
            server.server_close()

    def respond(self, path: str) -> Response:
        parts = urlsplit(path)
        route = parts.path
        if route == "/robots.txt":
            return Response(
                body=(
                    f"User-agent: *\nDisallow: /private/\nSitemap: {self.base}/sitemap_index.xml\n"
                ).encode(),
                content_type="text/plain",
            )
        if route == "/":
            return Response(
                body=page(
                    "Home",
                    "/news/",
                    "/about",
                    "/private/secret",
                    f"{self.other}/elsewhere",
                    "/loop/a",
                    "/calendar?month=2024-01",
                    "/slow",
                    "/busy",
                    "/news/2024/a?utm_source=home&utm_medium=web",
                    head='<link rel="alternate" type="application/rss+xml" href="/rss.xml">'
                    '<link rel="alternate" type="application/atom+xml" href="/atom.xml">',
                )
            )
        if route == "/news/":
            return Response(body=page("News", "/news/2024/a", "/news/2024/b", "/news/archive/"))
        if route == "/news/2024/a":
            return Response(body=page("Story A", "/news/2024/c", "/"))
        if route in ("/news/2024/b", "/news/2024/c", "/news/archive/old", "/about"):
            return Response(body=page(route, "/"))
        if route == "/news/archive/":
            return Response(body=page("Archive", "/news/archive/old"))
        if route.startswith(("/news/2024/", "/feed-only/", "/sitemap-only")):
            return Response(body=page(route))
        if route == "/private/secret":
            return Response(body=page("Secret"))
        if route == "/loop/a":
            return Response(302, headers=[("Location", "/loop/b")])
        if route == "/loop/b":
            return Response(302, headers=[("Location", "/loop/a")])
        if route == "/calendar":
            month = parse_qs(parts.query).get("month", ["2024-01"])[0]
            year, number = (int(x) for x in month.split("-"))
            following = f"{year + number // 12}-{number % 12 + 1:02d}"
            return Response(body=page(f"Calendar {month}", f"/calendar?month={following}"))
        if route == "/slow":
            return Response(body=page("Slow"), delay=0.3)
        if route == "/busy":
            with self._lock:
                first, self._busy_seen = not self._busy_seen, True
            if first and self.busy_first:
                return Response(429, b"slow down", "text/plain", headers=[("Retry-After", "1")])
            return Response(body=page("Busy"))
        if route == "/sitemap_index.xml":
            return Response(
                body=(
                    '<?xml version="1.0" encoding="UTF-8"?>'
                    '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                    f"<sitemap><loc>{self.base}/sitemap-pages.xml</loc></sitemap>"
                    f"<sitemap><loc>{self.base}/sitemap-news.xml.gz</loc></sitemap>"
                    "</sitemapindex>"
                ).encode(),
                content_type="application/xml",
            )
        if route == "/sitemap-pages.xml":
            return Response(
                body=_urlset(self.base, "/about", "/sitemap-only"), content_type="application/xml"
            )
        if route == "/sitemap-news.xml.gz":
            return Response(
                body=gzip.compress(_urlset(self.base, "/news/2024/from-sitemap")),
                content_type="application/x-gzip",
            )
        if route == "/rss.xml":
            items = "".join(
                f"<item><title>{entry}</title><link>{self.base}{entry}?utm_source=rss</link></item>"
                for entry in self.rss_entries
            )
            return Response(
                body=(
                    '<?xml version="1.0"?><rss version="2.0"><channel><title>Site</title>'
                    f"<link>{self.base}/</link>{items}</channel></rss>"
                ).encode(),
                content_type="application/rss+xml",
            )
        if route == "/atom.xml":
            return Response(
                body=(
                    '<?xml version="1.0" encoding="utf-8"?>'
                    '<feed xmlns="http://www.w3.org/2005/Atom"><title>Site</title>'
                    f'<link rel="self" href="{self.base}/atom.xml"/>'
                    f'<entry><title>Atom 1</title><link href="{self.base}/feed-only/atom-1"/>'
                    "</entry>"
                    "</feed>"
                ).encode(),
                content_type="application/atom+xml",
            )
        if route == "/elsewhere":
            return Response(body=page("Elsewhere", "/elsewhere/more"))
        return Response(404, b"not found", "text/plain")


def _urlset(base: str, *paths: str) -> bytes:
    urls = "".join(f"<url><loc>{base}{path}</loc></url>" for path in paths)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    ).encode()
