"""Followed feeds and sites: captured again at an interval, new entries only.

A follow is a row of ``follows``. Each run is a crawl of depth 1 from the
followed URL (a feed's entries, or a site's front page links, sitemaps and
feeds) that skips pages already in the archive, so a run stores what appeared
since the last one. :func:`run_due_follows` is what a scheduler calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from trafilatura.feeds import LINK_VALIDATION_RE

from archive.catalog import utcnow
from archive.crawl import Crawler, CrawlError, CrawlOptions, CrawlStatus, crawl_status
from archive.frontier import Follow
from archive.repository import Repository
from archive.scope import Scope
from archive.store import InvalidCollection, check_collection
from archive.urls import InvalidURL, checked_url
from archive.warc import InvalidText, check_note

_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MIN_INTERVAL = 60
MAX_INTERVAL = 3650 * 86400  # ten years: later than that, a due date is past any calendar
# Intervals :func:`parse_interval` takes, as a JSON Schema pattern for the API's document
# (a subset: without leading zeros or spaces, and no more digits than a year needs).
INTERVAL_PATTERN = (
    r"^(([6-9][0-9]|[1-9][0-9]{2,5})[sS]?|[1-9][0-9]{0,4}[mM]|[1-9][0-9]{0,3}[hH]"
    r"|[1-9][0-9]{0,2}[dD]|[1-9][0-9]?[wW])$"
)
_JSON_FEED = re.compile(r"feed[^/]*\.json$")
# How long a run holds a follow; a crashed run's follow is due again after it.
LEASE = timedelta(minutes=30)


def parse_interval(text: str) -> int:
    """Seconds in ``30m``, ``1h``, ``2d``, ``1w`` or plain seconds. Raises ValueError."""
    match = _INTERVAL.match(text.lower())
    if not match:
        raise ValueError(f"invalid interval {text!r}: use a number with s, m, h, d or w (1h)")
    seconds = int(match[1]) * _UNIT[match[2]]
    if seconds < MIN_INTERVAL:
        raise ValueError(f"invalid interval {text!r}: follow at most once a minute")
    if seconds > MAX_INTERVAL:
        raise ValueError(f"invalid interval {text!r}: at most ten years (3650d)")
    return seconds


def format_interval(seconds: int) -> str:
    """``seconds`` as :func:`parse_interval` reads them: 5400 is ``90m``, 86400 is ``1d``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def looks_like_feed(url: str) -> bool:
    """Whether a URL names a feed rather than a site (trafilatura's feed URL patterns)."""
    url = url.rstrip("/")
    return bool(LINK_VALIDATION_RE.search(url) or _JSON_FEED.search(url))


@dataclass
class FollowInfo:
    """A followed source and what its runs brought in."""

    id: int
    url: str
    collection: str
    every: int
    sitemaps: bool
    ignore_robots: bool
    note: str | None
    created: datetime
    last_run: datetime | None
    next_run: datetime
    last_crawl: CrawlStatus | None
    browser: bool = False  # pages loaded in Chromium


def add_follow(
    repository: Repository,
    url: str,
    *,
    every: int = 3600,
    collection: str = "default",
    sitemaps: bool | None = None,
    ignore_robots: bool = False,
    note: str | None = None,
    browser: bool = False,
) -> FollowInfo:
    """Follow ``url`` (a feed, or a site's front page), or update its follow.
    ``sitemaps`` defaults to True for sites, False for feeds. The first run is due now."""
    try:
        url = checked_url(url, fetchable=True)
        check_collection(collection)
        check_note(note)
    except (InvalidURL, InvalidCollection, InvalidText) as exc:
        raise CrawlError(str(exc)) from exc
    with repository.catalog.session() as session:
        follow = session.scalars(
            select(Follow).where(Follow.url == url, Follow.collection == collection)
        ).first()
        if follow is None:
            follow = Follow(url=url, collection=collection, created=utcnow(), next_run=utcnow())
            session.add(follow)
        follow.every = every
        follow.sitemaps = not looks_like_feed(url) if sitemaps is None else sitemaps
        follow.ignore_robots = ignore_robots
        follow.note = note
        follow.browser = browser
        session.flush()
        follow_id = follow.id
    return follow_info(repository, follow_id)


def remove_follow(repository: Repository, follow_id: int) -> None:
    """Stop following; what its runs captured stays in the archive."""
    with repository.catalog.session() as session:
        follow = session.get(Follow, follow_id)
        if follow is None:
            raise CrawlError(f"no follow with id {follow_id}")
        session.delete(follow)


def follow_info(repository: Repository, follow_id: int) -> FollowInfo:
    with repository.catalog.session() as session:
        follow = session.get(Follow, follow_id)
    if follow is None:
        raise CrawlError(f"no follow with id {follow_id}")
    return _info(repository, follow)


def list_follows(repository: Repository) -> list[FollowInfo]:
    """Every followed source, oldest first."""
    with repository.catalog.session() as session:
        follows = list(session.scalars(select(Follow).order_by(Follow.id)))
    return [_info(repository, follow) for follow in follows]


def _info(repository: Repository, follow: Follow) -> FollowInfo:
    last = None
    if follow.last_crawl_id:
        with suppress(CrawlError):  # that crawl was deleted since
            last = crawl_status(repository, follow.last_crawl_id)
    return FollowInfo(
        id=follow.id,
        url=follow.url,
        collection=follow.collection,
        every=follow.every,
        sitemaps=follow.sitemaps,
        ignore_robots=follow.ignore_robots,
        note=follow.note,
        created=follow.created,
        last_run=follow.last_run,
        next_run=follow.next_run,
        last_crawl=last,
        browser=follow.browser,
    )


def follow_options(follow: Follow | FollowInfo, delay: float | None = None) -> CrawlOptions:
    """The crawl one run of a follow is: depth 1, within the source's domain,
    pages already archived skipped."""
    return CrawlOptions(
        seeds=[follow.url],
        scope=Scope.domain,
        depth=1,
        collection=follow.collection,
        note=follow.note,
        ignore_robots=follow.ignore_robots,
        sitemaps=follow.sitemaps,
        skip_archived=True,
        delay=delay,
        browser=follow.browser,
    )


def run_due_follows(
    repository: Repository,
    now: datetime | None = None,
    *,
    every: bool = False,
    on_stored: Callable[[Sequence[int]], None] | None = None,
    progress: Callable[[FollowInfo, CrawlStatus], None] | None = None,
    delay: float | None = None,
) -> list[tuple[FollowInfo, CrawlStatus]]:
    """Run every follow due at ``now`` (naive UTC; default: now), or all of them
    with ``every``; return each follow with its run's final status.

    ``on_stored`` gets the catalog ids of what each capture stored (ingest it).
    """
    now = now or utcnow()
    with repository.catalog.session() as session:
        query = select(Follow).order_by(Follow.next_run, Follow.id)
        if not every:
            query = query.where(Follow.next_run <= now)
        due = list(session.scalars(query))
    results = []
    for follow in due:
        # Claim the run (like a watch's lease): push next_run past a lease, only
        # if no other scheduler moved it first. A crashed run is due again after it.
        with repository.catalog.session() as session:
            taken = session.execute(
                update(Follow)
                .where(Follow.id == follow.id, Follow.next_run == follow.next_run)
                .values(next_run=now + LEASE)
            ).rowcount
        if not taken:
            continue
        crawler = Crawler(
            repository,
            follow_options(follow, delay),
            follow_id=follow.id,
            on_stored=on_stored,
        )
        info = _info(repository, follow)
        status = crawler.run(progress=(lambda s, i=info: progress(i, s)) if progress else None)
        with repository.catalog.session() as session:
            row = session.get(Follow, follow.id)
            if row is not None:
                row.last_run = utcnow()
                row.next_run = max(now, row.last_run) + timedelta(seconds=row.every)
                row.last_crawl_id = crawler.id
        with suppress(CrawlError):  # deleted during its run: skipped quietly, as it was
            info = follow_info(repository, follow.id)
        results.append((info, status))
    return results
