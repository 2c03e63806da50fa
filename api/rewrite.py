"""Replaying a browser capture as the browser saw it: its rendered DOM, with every
link to a sub-resource pointing into the archive.

Archived pages replay without scripts (see :data:`api.replay.ARCHIVED_CSP`), so
a page built by scripts is served from the DOM the browser had rendered. Its
links, and those of the archived stylesheets and frames of the same capture,
are made absolute against the original URL and then turned into ``/web/``
paths at the capture's timestamp, so images, styles, fonts and frames come
from the archive, never from the live web.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from archive.browser import DOM_PREFIX, browser_parts
from archive.catalog import Record
from archive.repository import Repository

_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]*)\1\s*\)""", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"""@import\s+(['"])([^'"]*)\1""", re.IGNORECASE)
_SRCSET_ITEM = re.compile(r"\s*(\S+)(\s+[^,]*)?")
HTML_TYPES = {"text/html", "application/xhtml+xml"}
CSS_TYPES = {"text/css"}
# Rewritten bodies are read whole; larger ones are served as they are.
MAX_REWRITTEN = 20 * 1024 * 1024


@dataclass(frozen=True)
class ReplayPart:
    """How to replay a record of a browser capture: ``record`` is what to serve
    (the rendered DOM for the page), ``kind`` how to rewrite it (html, css or None)."""

    record: Record
    kind: str | None
    frame: bool = False  # a document framed by the page (not the page itself)


def replay_part(repository: Repository, row: Record) -> ReplayPart | None:
    """How to replay ``row`` if it belongs to a browser capture, else None."""
    parts = browser_parts(repository.catalog, row.capture_id)
    if parts is None:
        return None
    if parts.dom is not None and parts.dom.url == DOM_PREFIX + (row.url or ""):
        return ReplayPart(parts.dom, "html")
    if row.mime in HTML_TYPES:
        return ReplayPart(row, "html", frame=True)
    if row.mime in CSS_TYPES:
        return ReplayPart(row, "css")
    return ReplayPart(row, None)


def embeddable(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers letting a replayed page load the resource: the page is sandboxed, so
    its origin is opaque and every request it makes is cross-origin (fonts need CORS)."""
    headers = [
        (name, "cross-origin" if name == "Cross-Origin-Resource-Policy" else value)
        for name, value in headers
    ]
    mime = next((v for n, v in headers if n.lower() == "content-type"), "").lower()
    if mime.startswith(("font/", "application/font", "application/x-font")):
        headers.append(("Access-Control-Allow-Origin", "*"))
    return headers


def archive_link(stamp: str, base: str) -> Callable[[str], str]:
    """Turns a link found in a document at ``base`` into its ``/web/`` path."""

    def rewrite(link: str) -> str:
        link = link.strip()
        if not link or link.startswith("#"):
            return link
        absolute = urljoin(base, link)
        if urlsplit(absolute).scheme not in ("http", "https"):
            return link  # data:, blob:, mailto:, javascript: (which never runs here)
        return f"/web/{stamp}/{absolute}"

    return rewrite


def rewrite_css(text: str, link: Callable[[str], str]) -> str:
    """``url(...)`` and ``@import`` targets of a stylesheet, rewritten by ``link``."""
    text = _CSS_URL.sub(lambda m: f'url("{link(m.group(2))}")', text)
    return _CSS_IMPORT.sub(lambda m: f'@import "{link(m.group(2))}"', text)


def rewrite_html(body: bytes, charset: str | None, link: Callable[[str], str]) -> bytes:
    """An HTML document with its links (attributes, ``srcset``, inline and embedded
    CSS) rewritten by ``link``; UTF-8 out."""
    parser = lxml.html.HTMLParser(encoding=charset or "utf-8")
    try:
        document = lxml.html.document_fromstring(body, parser=parser)
    except (etree.ParserError, ValueError):
        return body
    for base in document.xpath("//base"):
        base.drop_tree()  # links are made absolute against the original URL instead
    document.rewrite_links(link, resolve_base_href=False)
    for element in document.xpath("//*[@srcset]"):
        element.set("srcset", _rewrite_srcset(element.get("srcset", ""), link))
    for meta in document.xpath("//meta[@charset]"):
        meta.set("charset", "utf-8")
    # The document's own doctype, or none: it decides quirks or standards mode.
    doctype = document.getroottree().docinfo.doctype
    return etree.tostring(document, method="html", encoding="utf-8", doctype=doctype or None)


def _rewrite_srcset(value: str, link: Callable[[str], str]) -> str:
    items = []
    for item in value.split(","):
        match = _SRCSET_ITEM.match(item)
        if match and match.group(1):
            items.append(link(match.group(1)) + (match.group(2) or ""))
    return ", ".join(items)


def rewrite(kind: str, body: bytes, charset: str | None, link: Callable[[str], str]) -> bytes:
    """A frame, page DOM (``html``) or stylesheet (``css``) with archive links."""
    if kind == "css":
        text = body.decode(charset or "utf-8", "surrogateescape")
        return rewrite_css(text, link).encode(charset or "utf-8", "surrogateescape")
    return rewrite_html(body, charset, link)
