"""Finding links in what a crawl captured: HTML pages, feeds, sitemaps, robots.txt.

Everything here parses content already stored in the archive; nothing fetches.
Feed parsing and the feed and sitemap recognisers are trafilatura's
(:mod:`trafilatura.feeds`, :mod:`trafilatura.sitemaps`); HTML and sitemap XML
are read with lxml, robots.txt with :mod:`urllib.robotparser`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from urllib.parse import urljoin
from urllib.robotparser import RobotFileParser

import lxml.html
from lxml import etree
from trafilatura.feeds import (
    BLACKLIST,
    FEED_TYPES,
    LINK_VALIDATION_RE,
    FeedParameters,
    find_links,
    is_potential_feed,
)
from trafilatura.sitemaps import DETECT_LINKS, SITEMAP_FORMAT

from archive.frontier import URLKind

# A page with more links than this is cut there: no real page needs more,
# and a generated one could fill the frontier.
MAX_LINKS = 10_000
# Decompressed size limit of a gzipped sitemap (the protocol allows 50 MB).
MAX_SITEMAP_SIZE = 64 * 1024 * 1024
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_XML_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, recover=True, huge_tree=False
)


@dataclass(frozen=True)
class Link:
    """A link found in captured content: absolute URL (not yet cleaned) and kind."""

    url: str
    kind: URLKind = URLKind.page


def links_in(
    kind: URLKind, url: str, content_type: str | None, body: bytes
) -> tuple[URLKind, list[Link]]:
    """What a captured ``body`` of ``url`` is, and the links in it, read as its
    ``kind`` says. A page whose content turns out to be a feed or a sitemap (a
    followed feed is a seed page) is read, and reported, as one.
    """
    mime, charset = _media_type(content_type)
    if kind is URLKind.sitemap:
        return kind, sitemap_links(body, url)
    if kind is URLKind.feed:
        return kind, feed_links(body, url)
    if kind is URLKind.robots:
        sitemaps = parse_robots(body).site_maps() or ()
        return kind, [Link(sitemap, URLKind.sitemap) for sitemap in sitemaps]
    if mime in _HTML_TYPES:
        return kind, html_links(body, url, charset)
    head = body[:1024].lstrip().decode("utf-8", "replace")
    if SITEMAP_FORMAT.match(head) and ("<urlset" in head or "<sitemapindex" in head):
        return URLKind.sitemap, sitemap_links(body, url)
    if is_potential_feed(head) or (mime in FEED_TYPES and head.startswith("{")):
        return URLKind.feed, feed_links(body, url)
    if head.lower().startswith(("<!doctype html", "<html")):
        return kind, html_links(body, url, charset)
    return kind, []


def _media_type(content_type: str | None) -> tuple[str, str | None]:
    if not content_type:
        return "", None
    mime, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'") or None
    return mime.strip().lower(), charset


def html_links(body: bytes, url: str, charset: str | None = None) -> list[Link]:
    """Links of an HTML page: anchors, areas and frames, and its feeds
    (``<link rel="alternate">`` of a feed type, as trafilatura recognises them)."""
    try:
        parser = lxml.html.HTMLParser(encoding=charset) if charset else None
        document = lxml.html.document_fromstring(body, parser=parser)
    except (etree.ParserError, LookupError, ValueError):
        if not charset:
            return []
        return html_links(body, url)  # a charset lxml does not know: let it guess
    base = url
    for element in document.iter("base"):
        if element.get("href"):
            base = urljoin(url, element.get("href", "").strip())
            break
    links: list[Link] = []
    for element in document.iter("a", "area", "iframe", "frame", "link"):
        if element.tag == "link":
            href = element.get("href", "")
            rel = element.get("rel", "").lower().split()
            mime = element.get("type", "").split(";")[0].strip().lower()
            if (
                href
                and "alternate" in rel
                and (mime in FEED_TYPES or LINK_VALIDATION_RE.search(href))
                and not BLACKLIST.search(href)
            ):
                links.append(Link(urljoin(base, href.strip()), URLKind.feed))
            continue
        target = element.get("src" if element.tag in ("iframe", "frame") else "href")
        if target and not target.startswith("#"):
            try:
                links.append(Link(urljoin(base, target.strip())))
            except ValueError:  # an unparseable link (bad IPv6 brackets...) is no link
                continue
        if len(links) >= MAX_LINKS:
            break
    return links


def feed_links(body: bytes, url: str) -> list[Link]:
    """The entries of an RSS, Atom or JSON feed.

    XML feeds are read entry by entry (so a channel's own link is not an
    entry); JSON feeds, and XML too broken to parse, with trafilatura's parser.
    """
    text = body.decode("utf-8", "replace").strip().lstrip("\ufeff")
    if not text.startswith("{"):
        try:
            root = etree.fromstring(body.strip(), _XML_PARSER)
        except (etree.XMLSyntaxError, ValueError):
            root = None
        if root is not None and etree.QName(root).localname in ("rss", "feed", "RDF"):
            links = [
                Link(urljoin(url, link))
                for entry in root.iter("{*}item", "{*}entry")
                if (link := _entry_link(entry))
            ]
            return links[:MAX_LINKS]
    params = FeedParameters(url, "", url, external=True)
    return [Link(urljoin(url, link)) for link in find_links(text, params)[:MAX_LINKS]]


def _entry_link(entry: etree._Element) -> str | None:
    """An RSS item's ``<link>`` (or permalink ``<guid>``), an Atom entry's alternate link."""
    for link in entry.iterchildren("{*}link"):
        href = link.get("href")
        if href and link.get("rel", "alternate") == "alternate":
            return href.strip()
        if not href and link.text and link.text.strip():
            return link.text.strip()
    for guid in entry.iterchildren("{*}guid"):
        if guid.get("isPermaLink", "true") == "true" and (guid.text or "").startswith("http"):
            return (guid.text or "").strip()
    return None


def sitemap_links(body: bytes, url: str) -> list[Link]:
    """The pages (and, for a sitemap index, the sitemaps) a sitemap lists.

    Reads XML sitemaps, gzipped or not, and plain-text sitemaps (one URL a line).
    """
    if body[:2] == b"\x1f\x8b":
        body = _gunzip(body)
    text_head = body[:1024].lstrip().decode("utf-8", "replace")
    if not SITEMAP_FORMAT.match(text_head):
        if "<html" in text_head.lower():
            return []
        text = body.decode("utf-8", "replace")
        return [Link(match) for match in DETECT_LINKS.findall(text)[:MAX_LINKS]]
    try:
        root = etree.fromstring(body, _XML_PARSER)
    except etree.XMLSyntaxError:
        return []
    if root is None:
        return []
    kind = URLKind.sitemap if etree.QName(root).localname == "sitemapindex" else URLKind.page
    links = []
    for element in root.iter("{*}loc"):
        if element.text and element.text.strip():
            links.append(Link(urljoin(url, element.text.strip()), kind))
            if len(links) >= MAX_LINKS:
                break
    return links


def _gunzip(body: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        # max_length: a small gzip can inflate to gigabytes.
        return inflater.decompress(body, MAX_SITEMAP_SIZE)
    except zlib.error:
        return b""


def parse_robots(body: bytes) -> RobotFileParser:
    """A robots.txt body, parsed."""
    parser = RobotFileParser()
    parser.parse(body.decode("utf-8", "replace").splitlines())
    return parser
