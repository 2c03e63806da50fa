"""Which discovered URLs a crawl takes: cleaning, scope, filters and trap limits.

Links are cleaned with courlan's knowledge of tracking parameters and session
ids, then normalised the archive's way (:func:`archive.urls.normalise_url`),
so the frontier holds one spelling of each URL. Scope is decided on that form,
and again on where a capture's redirects ended.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

from courlan import extract_domain, scrub_url
from courlan.clean import TRACKERS_RE
from courlan.filters import extension_filter, is_not_crawlable, lang_filter, type_filter

from archive.urls import InvalidURL, normalise_url

# Session ids courlan's tracker list does not catch (``session`` is one of its words).
_SESSION_PARAM = re.compile(r"^(?:jsessionid|phpsessid|aspsessionid\w*|sid|cfid|cftoken)$", re.I)
_PATH_SESSION = re.compile(r";(?:jsessionid|phpsessid|sid)=[^/?#]*", re.I)
# Documents Vestige ingests although courlan counts them as non-pages.
_DOCUMENT_EXTENSIONS = (".pdf",)


class Scope(StrEnum):
    """How far from its seeds a crawl goes."""

    page = "page"  # the seeds only
    prefix = "prefix"  # URLs under a seed's directory
    host = "host"  # the seeds' hosts (and ports)
    domain = "domain"  # the seeds' registered domains, any subdomain


@lru_cache(maxsize=4096)
def clean_url(url: str) -> str | None:
    """The frontier's form of a link, without tracking parameters and session
    ids; None for what cannot be captured (other schemes, invalid hosts).

    Cached: a site's navigation links come back on every page of a crawl.
    """
    # Inner spaces are part of the link (scrub_url would drop them).
    url = scrub_url(url.strip().replace(" ", "%20"))
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https"):
        return None
    query = "&".join(
        pair
        for pair in parts.query.split("&")
        if pair and not _tracking(pair.split("=", 1)[0].lower())
    )
    path = _PATH_SESSION.sub("", parts.path)
    try:
        return normalise_url(urlunsplit((parts.scheme, parts.netloc, path, query, "")))
    except InvalidURL:
        return None


def _tracking(name: str) -> bool:
    return bool(TRACKERS_RE.search(name) or _SESSION_PARAM.match(name))


@lru_cache(maxsize=4096)
def origin(url: str) -> str:
    """``scheme://host[:port]``: the unit of politeness and of robots.txt.

    Cached: the crawler asks it of every buffered URL each time it picks one.
    """
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def registered_domain(url: str) -> str:
    """The domain a name was registered under (``www.bbc.co.uk`` -> ``bbc.co.uk``);
    the host itself for addresses and single-label names."""
    host = urlsplit(url).hostname or ""
    return extract_domain(url, fast=True) or host


@dataclass
class ScopeRules:
    """Decides whether a URL belongs to a crawl; :meth:`verdict` says why not."""

    seeds: Sequence[str]
    scope: Scope = Scope.prefix
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    language: str | None = None
    max_url_length: int = 2048
    max_segment_repeats: int = 2
    _include: list[re.Pattern[str]] = field(init=False, repr=False)
    _exclude: list[re.Pattern[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.scope = Scope(self.scope)
        self._include = [re.compile(pattern) for pattern in self.include]
        self._exclude = [re.compile(pattern) for pattern in self.exclude]
        self._seeds = set(self.seeds)
        self._prefixes = tuple(seed[: seed.rindex("/") + 1] for seed in self.seeds)
        self._netlocs = {urlsplit(seed).netloc for seed in self.seeds}
        self._domains = {registered_domain(seed) for seed in self.seeds}

    def in_scope(self, url: str) -> bool:
        """Whether ``url`` is within the scope rule or an ``--include``, and no ``--exclude``."""
        if any(pattern.search(url) for pattern in self._exclude):
            return False
        return self._scope_rule(url) or any(pattern.search(url) for pattern in self._include)

    def _scope_rule(self, url: str) -> bool:
        if url in self._seeds:
            return True
        if self.scope is Scope.page:
            return False
        if self.scope is Scope.prefix:
            return url.startswith(self._prefixes)
        parts = urlsplit(url)
        if self.scope is Scope.host:
            return parts.netloc in self._netlocs
        host = parts.hostname or ""
        return any(host == domain or host.endswith("." + domain) for domain in self._domains)

    def verdict(self, url: str, *, page: bool = True) -> str | None:
        """Why ``url`` is skipped (``scope``, ``filter: ...``, ``trap: ...``), or None to take it.

        ``page`` is False for sitemaps and feeds, which the page filters do not apply to.
        """
        if len(url) > self.max_url_length:
            return "trap: URL length"
        segments = Counter(segment for segment in urlsplit(url).path.split("/") if segment)
        if segments and max(segments.values()) > self.max_segment_repeats:
            return "trap: repeated path segments"
        if not page:
            # Sitemaps and feeds are lists of pages, read on any seed host: the
            # pages they list are judged one by one.
            excluded = any(pattern.search(url) for pattern in self._exclude)
            on_seed_host = urlsplit(url).netloc in self._netlocs
            return None if not excluded and (on_seed_host or self.in_scope(url)) else "scope"
        if not self.in_scope(url):
            return "scope"
        if url in self._seeds:
            return None
        path = urlsplit(url).path
        if is_not_crawlable(url) or not type_filter(url, with_nav=True):
            return "filter: not an article or section page"
        if not extension_filter(path) and not path.lower().endswith(_DOCUMENT_EXTENSIONS):
            return "filter: file type"
        if not lang_filter(url, self.language):
            return "filter: language"
        return None
