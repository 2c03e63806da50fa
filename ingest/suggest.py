"""Automatic relation suggestions, each with the evidence that led to it.

- ``cites``: an outlink points at another archived URL, compared after
  :func:`cite_key` normalisation (scheme, ``www.``, trailing slashes, tracking
  parameters, AMP and mobile variants).
- ``corrects`` / ``retracts``: the text carries a correction or retraction
  notice (English, and Chinese in both scripts); the notice is about the
  same-site article it links to, or else about the earlier version of its own
  URL (which may have shrunk to the notice).
- ``translates``: an English and a Chinese document on one site that link to
  each other (``hreflang`` alternates or plain links), or whose publication
  dates and numbers/Latin-script names line up.
- ``same-story``: near-duplicate text, see :mod:`ingest.syndication`.

Suggestions start as ``suggested``; one already stored (even rejected) is not
suggested again.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import lxml.html
from courlan.clean import TRACKERS_RE
from lxml import etree
from sqlalchemy import select

from archive.catalog import Catalog, Record
from archive.repository import Repository
from archive.store import Location
from archive.urls import InvalidURL, normalise_url
from ingest.models import Document
from ingest.relations import Relation, Suggestion, store_suggestions

# Host labels that name a variant of the same site, not another site.
_VARIANT_LABELS = ("www", "m", "mobile", "amp")
# Query parameters that only ask for the AMP or mobile rendering.
_VARIANT_PARAMS = {"amp", "outputtype", "output", "mobile", "m"}
_AMP_PATH = re.compile(r"(?:/amp)+/?$|\.amp(?=\.html?$)")
_AMP_PREFIX = re.compile(r"^/amp(?=/)")
_HOME_PATHS = {"", "/", "/index.html", "/index.htm", "/index.php", "/home"}
# Ends the random path watching captures to see how a site answers a missing page.
PROBE_SUFFIX = "-vestige-missing-page"

# -- URL keys -----------------------------------------------------------------


def cite_key(url: str) -> str | None:
    """A key equal for every spelling of the same article's URL, or None if not http(s).

    ``https://www.example.com/story/amp/?utm_source=x`` and
    ``http://m.example.com/story`` both give ``example.com/story``.
    """
    try:
        parts = urlsplit(normalise_url(url))
    except (InvalidURL, ValueError):
        return None
    if parts.scheme not in ("http", "https"):
        return None
    host = site_key(parts.hostname or "")
    if parts.port:
        host += f":{parts.port}"
    path = _AMP_PREFIX.sub("", _AMP_PATH.sub("", parts.path)).rstrip("/")
    query = sorted(
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if name.lower() not in _VARIANT_PARAMS and not TRACKERS_RE.search(name.lower())
    )
    return host + path + (f"?{urlencode(query)}" if query else "")


def site_key(host: str) -> str:
    """The host without ``www.``, ``m.``, ``mobile.`` or ``amp.`` prefixes."""
    labels = host.lower().split(".")
    while len(labels) > 2 and labels[0] in _VARIANT_LABELS:
        labels = labels[1:]
    return ".".join(labels)


def site_of(url: str) -> str:
    """The site (host key and port) of a URL."""
    parts = urlsplit(url)
    return site_key(parts.hostname or "") + (f":{parts.port}" if parts.port else "")


def is_home_page(url: str) -> bool:
    """Whether ``url`` is a site's front page (no path to speak of)."""
    parts = urlsplit(url)
    return parts.path in _HOME_PATHS and not parts.query


# -- the archive, as the suggesters see it ------------------------------------


@dataclass
class Archived:
    """The live versions of every archived URL, oldest first, keyed by URL."""

    versions: dict[str, list[Document]]
    by_key: dict[str, str]  # cite_key -> URL

    @classmethod
    def load(cls, catalog: Catalog) -> Archived:
        versions: dict[str, list[Document]] = defaultdict(list)
        with catalog.session() as session:
            query = (
                select(Document)
                .where(Document.deleted.is_(False))
                .order_by(Document.captured, Document.seq)
                .execution_options(yield_per=500)
            )
            for document in session.scalars(query):
                if not document.url.endswith(PROBE_SUFFIX):  # a site's "not found" page
                    versions[document.url].append(document)
        by_key = {}
        for url in versions:
            key = cite_key(url)
            if key is not None:
                by_key.setdefault(key, url)
        return cls(dict(versions), by_key)

    def latest(self) -> Iterator[Document]:
        """The latest version of each URL."""
        return (found[-1] for found in self.versions.values())

    def version_at(self, url: str, when: Document) -> Document:
        """The version of ``url`` the document ``when`` could have seen: the
        latest captured before it, else the first."""
        found = self.versions[url]
        before = [d for d in found if d.captured <= when.captured]
        return before[-1] if before else found[0]

    def linked(self, document: Document) -> Iterator[tuple[str, str]]:
        """(outlink, archived URL) for each outlink pointing at another archived URL."""
        own = cite_key(document.url)
        seen = set()
        for link in document.outlinks or []:
            key = cite_key(link)
            url = self.by_key.get(key) if key else None
            if url is None or key == own or url in seen:
                continue
            seen.add(url)
            yield link, url


# -- cites --------------------------------------------------------------------


def suggest_cites(archived: Archived) -> Iterator[Suggestion]:
    """``A cites B`` for each archived URL an outlink of A points at.

    The source is the first version of A carrying the link; the target, the
    version of B archived when A was. Front pages are neither: their links
    are navigation, and links to them are too.
    """
    for url, found in archived.versions.items():
        if is_home_page(url):
            continue
        done: set[str] = set()
        for document in found:
            for link, target_url in archived.linked(document):
                if target_url in done or is_home_page(target_url):
                    continue
                done.add(target_url)
                target = archived.version_at(target_url, document)
                yield Suggestion(
                    document.id,
                    "cites",
                    target.id,
                    made_by="suggest:cites",
                    evidence={"link": link, "archived_url": target_url},
                )


# -- corrects / retracts ------------------------------------------------------

_I = re.IGNORECASE | re.MULTILINE
# Full-width colon, en and em dashes, right single quote, spelled as escapes.
_COLON = r"[:\uff1a]"
_DASH = r"[:\uff1a\-\u2013\u2014]"
_APOSTROPHE = r"['\u2019]"
_ARTICLE = r"(?:article|story|report|post|piece|paper)"
_ZH_THIS = r"(?:本文|此文|该文|該文|本报道|本報導|此稿|该稿|該稿)"


def _notice(kind: str, pattern: str, flags: int = re.MULTILINE) -> tuple[str, re.Pattern[str]]:
    return kind, re.compile(pattern, flags)


# (kind, pattern): retraction patterns are tried first, a retraction being the stronger claim.
NOTICE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    _notice("retracts", r"^\W*retraction\b", _I),
    _notice("retracts", r"\bretraction notice\b", _I),
    _notice(
        "retracts",
        rf"\b(?:this|the|our) {_ARTICLE} (?:has been|was|is being|is) "
        r"(?:retracted|withdrawn)",
        _I,
    ),
    _notice(
        "retracts", r"\bwe (?:have )?(?:retracted|are retracting|withdrew|have withdrawn)\b", _I
    ),
    _notice("retracts", r"撤稿"),
    _notice("retracts", r"撤回(?:声明|聲明|启事|啟事|此文|本文|该文|該文|文章|报道|報導)"),
    _notice("retracts", rf"{_ZH_THIS}[^。\n]{{0,12}}(?:撤回|撤下|撤除)"),
    _notice("corrects", rf"^\W*(?:correction|corrections|clarification)\s*{_DASH}", _I),
    _notice("corrects", r"\bcorrection notice\b", _I),
    _notice("corrects", rf"\beditor{_APOSTROPHE}?s{_APOSTROPHE}? note\b", _I),
    _notice(
        "corrects",
        r"\bthis (?:article|story|report|post|piece) (?:has been|was) "
        r"(?:updated|corrected|amended)",
        _I,
    ),
    _notice("corrects", r"\ban earlier version of this (?:article|story|report|post)", _I),
    _notice("corrects", r"\bwe regret the error\b", _I),
    _notice("corrects", rf"更正(?:启事|啟事|声明|聲明|说明|說明)|^\W*更正\s*(?:{_COLON}|】|\])"),
    _notice("corrects", r"勘[误誤]"),
    _notice("corrects", r"[编編]者按"),
    _notice("corrects", rf"{_ZH_THIS}[^。\n]{{0,6}}(?:已|已经|已經)(?:更正|修正|更新)"),
    _notice(
        "corrects",
        rf"^\W*(?:本[报報刊网網站]|编辑部|編輯部)?(?:郑重|鄭重)?"
        rf"(?:声明|聲明)\s*{_COLON}",
    ),
]
# A later version this much shorter than the one before has shrunk to a notice.
SHRINK_RATIO = 0.5
_NOTICE_CONTEXT = 160


@dataclass
class Notice:
    """A correction or retraction notice found in a text."""

    kind: str  # "corrects" or "retracts"
    text: str  # the sentence or line it was found in
    pattern: str


def find_notice(text: str) -> Notice | None:
    """The correction or retraction notice in ``text``, if any (retractions first)."""
    for kind, pattern in NOTICE_PATTERNS:
        match = pattern.search(text)
        if match:
            return Notice(kind, _context(text, match.start(), match.end()), pattern.pattern)
    return None


def _context(text: str, start: int, end: int) -> str:
    """The line around a match, cut to a readable length."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end == -1 else line_end
    left = max(line_start, start - _NOTICE_CONTEXT)
    right = min(line_end, end + _NOTICE_CONTEXT)
    return text[left:right].strip()


def suggest_notices(archived: Archived) -> Iterator[Suggestion]:
    """``A corrects B`` / ``A retracts B`` for documents carrying a notice.

    The first version of a URL that carries the notice is its source; it is
    about the same-site articles it links to, or else the earlier version of
    its own URL (evidence: the notice, the link or the version, the shrinking).
    """
    for url, found in archived.versions.items():
        previous: Document | None = None
        had_notice = False
        for document in found:
            notice = find_notice(document.text or "")
            if notice is not None and not had_notice:
                yield from _notice_targets(archived, url, document, previous, notice)
            had_notice = notice is not None
            if previous is None or document.content_hash != previous.content_hash:
                previous = document


def _notice_targets(
    archived: Archived, url: str, document: Document, previous: Document | None, notice: Notice
) -> Iterator[Suggestion]:
    evidence = {"notice": notice.text, "pattern": notice.pattern}
    made_by = f"suggest:{notice.kind}"
    site = site_of(url)
    linked = [
        (link, target)
        for link, target in archived.linked(document)
        if site_of(target) == site and not is_home_page(target)
    ]
    for link, target_url in linked:
        target = archived.version_at(target_url, document)
        yield Suggestion(document.id, notice.kind, target.id, made_by, evidence | {"link": link})
    if linked or previous is None or previous.content_hash == document.content_hash:
        return
    before, after = previous.word_count or 0, document.word_count or 0
    evidence |= {"earlier_version": previous.id, "words_before": before, "words_after": after}
    if before and after <= before * SHRINK_RATIO:
        evidence["shrank"] = True
    yield Suggestion(document.id, notice.kind, previous.id, made_by, evidence)


# -- translates ---------------------------------------------------------------

_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_LATIN_NAME = re.compile(r"\b[A-Z][A-Za-z]{2,}\b")
# Dates this many days apart still line up (time zones, overnight translation).
DATE_SLACK = 2
MIN_SHARED = 3
MIN_SHARED_RATIO = 0.5


def _is_chinese(document: Document) -> bool:
    return document.language == "zh"


def _figures(text: str) -> set[str]:
    """Numbers of two or more digits (separators dropped) and Latin-script names."""
    numbers = {re.sub(r"[,.]", "", n) for n in _NUMBER.findall(text)}
    return {n for n in numbers if len(n) >= 2} | set(_LATIN_NAME.findall(text))


def _published(document: Document) -> date | None:
    try:
        return date.fromisoformat((document.published or "")[:10])
    except ValueError:
        return None


def alternates(repository: Repository, document: Document) -> dict[str, str]:
    """``<link rel="alternate" hreflang>`` targets of the document's archived HTML."""
    if document.mime not in ("text/html", "application/xhtml+xml"):
        return {}
    location = Location(document.warc_file, document.warc_offset, document.warc_length)
    if document.revisit_of:  # the payload is in the record the revisit refers to
        with repository.catalog.session() as session:
            original = session.scalars(
                select(Record).where(Record.record_id == document.revisit_of)
            ).first()
        if original is None:
            return {}
        location = repository.location(original)
    try:
        body = b"".join(
            record.content_stream().read() for record in repository.store.read_record(location)
        )
        tree = lxml.html.fromstring(body)
    except (OSError, ValueError, etree.ParserError):
        return {}
    found = {}
    for link in tree.xpath('//link[@rel="alternate"][@hreflang][@href]'):
        found[link.get("hreflang").lower()] = urljoin(document.url, link.get("href"))
    return found


def suggest_translations(repository: Repository, archived: Archived) -> Iterator[Suggestion]:
    """``A translates B`` for an English and a Chinese document of one site.

    Evidence is a link between them (``hreflang`` or a plain link), or their
    publication dates and shared numbers/names. The later one translates the earlier.
    """
    sites: dict[str, list[Document]] = defaultdict(list)
    for document in archived.latest():
        if document.language in ("en", "zh") and not is_home_page(document.url):
            sites[site_of(document.url)].append(document)
    for documents in sites.values():
        english = [d for d in documents if d.language == "en"]
        chinese = [d for d in documents if _is_chinese(d)]
        if not english or not chinese:
            continue
        links = {d.id: _links_of(repository, d) for d in documents}
        for en in english:
            for zh in chinese:
                evidence = _translation_evidence(en, zh, links)
                if evidence is None:
                    continue
                later, earlier = sorted((en, zh), key=_when, reverse=True)
                yield Suggestion(later.id, "translates", earlier.id, "suggest:translates", evidence)


def _when(document: Document) -> tuple[date, object]:
    return (_published(document) or document.captured.date(), document.captured)


def _links_of(repository: Repository, document: Document) -> dict[str, str]:
    """cite_key -> how the document links to it (``hreflang`` or ``link``)."""
    found = {}
    for link in document.outlinks or []:
        key = cite_key(link)
        if key:
            found[key] = "link"
    for href in alternates(repository, document).values():
        key = cite_key(href)
        if key:
            found[key] = "hreflang"
    return found


def _translation_evidence(
    en: Document, zh: Document, links: dict[str, dict[str, str]]
) -> dict[str, object] | None:
    for source, target in ((en, zh), (zh, en)):
        how = links[source.id].get(cite_key(target.url) or "")
        if how:
            return {"how": how, "from": source.url, "to": target.url}
    left, right = _published(en), _published(zh)
    if left is None or right is None or abs((left - right).days) > DATE_SLACK:
        return None
    figures_en, figures_zh = _figures(en.text or ""), _figures(zh.text or "")
    shared = figures_en & figures_zh
    smaller = min(len(figures_en), len(figures_zh))
    if len(shared) < MIN_SHARED or not smaller or len(shared) / smaller < MIN_SHARED_RATIO:
        return None
    return {
        "how": "dates and figures",
        "published": [en.published, zh.published],
        "shared": sorted(shared)[:20],
        "similarity": round(len(shared) / smaller, 3),
    }


# -- all together -------------------------------------------------------------

KINDS = ("cites", "corrects", "retracts", "translates", "same-story")


def suggest(repository: Repository, kinds: Iterable[str] = KINDS) -> list[Relation]:
    """Run the suggesters over the whole archive; store and return new suggestions."""
    from ingest.syndication import suggest_same_story

    kinds = set(kinds)
    archived = Archived.load(repository.catalog)
    found: list[Suggestion] = []
    if "cites" in kinds:
        found += suggest_cites(archived)
    if kinds & {"corrects", "retracts"}:
        found += (s for s in suggest_notices(archived) if s.type in kinds)
    if "translates" in kinds:
        found += suggest_translations(repository, archived)
    if "same-story" in kinds:
        first_seen = {url: v[0].captured for url, v in archived.versions.items()}
        found += suggest_same_story(archived.latest(), first_seen)
    return store_suggestions(repository.catalog, found)
