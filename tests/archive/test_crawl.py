"""Crawling a real site on loopback: discovery, scope, traps, politeness, robots.txt,
resuming, cancelling, and following a feed."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from crawlsite import Site
from sqlalchemy import select

from archive.catalog import Record, utcnow
from archive.config import Settings
from archive.crawl import Crawler, CrawlError, CrawlOptions, cancel_crawl, crawl_status
from archive.follow import add_follow, parse_interval, run_due_follows
from archive.frontier import CrawlURL
from archive.repository import Repository

VESTIGE = Path(sys.executable).with_name("vestige")


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    yield served
    served.close()


@pytest.fixture
def repository(home: Settings) -> Iterator[Repository]:
    repo = Repository(home)
    yield repo
    repo.close()


def crawl(repository: Repository, site: Site, **options: object) -> Crawler:
    options.setdefault("delay", 0.02)
    crawler = Crawler(repository, CrawlOptions(seeds=[site.base + "/"], **options))  # type: ignore[arg-type]
    crawler.run()
    return crawler


def frontier(repository: Repository, crawl_id: str) -> dict[str, CrawlURL]:
    with repository.catalog.session() as session:
        rows = session.scalars(select(CrawlURL).where(CrawlURL.crawl_id == crawl_id))
        return {row.url: row for row in rows}


def captured_paths(repository: Repository, site: Site, crawl_id: str) -> set[str]:
    return {
        url.removeprefix(site.base)
        for url, row in frontier(repository, crawl_id).items()
        if row.state == "captured" and row.kind == "page"
    }


def responses_per_url(repository: Repository, status: int = 200) -> Counter[str]:
    """Stored responses (not revisits) with ``status``, counted per URL."""
    with repository.catalog.session() as session:
        urls = session.scalars(
            select(Record.url).where(Record.record_type == "response", Record.status == status)
        )
        return Counter(urls)


def test_discovers_pages_through_links_sitemaps_and_feeds(repository, site):
    crawler = crawl(repository, site, scope="host", depth=3)
    status = crawler.status()
    assert status.state == "done"
    paths = captured_paths(repository, site, crawler.id)
    # Links (nested sections), the sitemap index and both sitemaps (one
    # gzipped), the RSS feed and the Atom feed each contributed pages.
    assert {
        "/",
        "/news/",
        "/news/2024/a",
        "/news/2024/c",
        "/news/archive/old",
        "/about",
        "/sitemap-only",
        "/news/2024/from-sitemap",
        "/news/2024/rss-1",
        "/feed-only/atom-1",
        "/slow",
        "/busy",
    } <= paths
    rows = frontier(repository, crawler.id)
    kinds = {url.removeprefix(site.base): row.kind for url, row in rows.items()}
    assert kinds["/sitemap-news.xml.gz"] == "sitemap"
    assert kinds["/rss.xml"] == kinds["/atom.xml"] == "feed"
    # Tracking parameters were removed: the linked /news/2024/a?utm_source=...
    # and the feed's ?utm_source=rss are the same page.
    assert not any("utm_" in url for url in rows)
    # Deduplicated: each page fetched and stored once.
    hits = Counter(site.paths())
    assert hits["/news/2024/a"] == 1 and hits["/robots.txt"] == 1
    assert all(count == 1 for count in responses_per_url(repository).values())
    # Off-site links are recorded as out of scope and never fetched.
    assert rows[f"{site.other}/elsewhere"].reason == "scope"
    assert site.other_log == []
    assert status.skipped_scope >= 1 and status.captured == len(paths)


def test_robots_txt_is_obeyed_and_the_choice_recorded(repository, site):
    crawler = crawl(repository, site, scope="host", depth=1)
    rows = frontier(repository, crawler.id)
    assert rows[site.base + "/private/secret"].state == "skipped"
    assert rows[site.base + "/private/secret"].reason == "robots.txt"
    assert "/private/secret" not in site.paths()
    assert metadata_fields(repository, rows[site.base + "/about"].capture_id)["robots"] == "obeyed"

    ignoring = crawl(repository, site, scope="host", depth=1, ignore_robots=True)
    rows = frontier(repository, ignoring.id)
    assert rows[site.base + "/private/secret"].state == "captured"
    fields = metadata_fields(repository, rows[site.base + "/private/secret"].capture_id)
    assert fields["robots"] == "ignored"
    assert fields["crawl"] == ignoring.id
    assert fields["trigger"] == f"crawl:{ignoring.id}"


def metadata_fields(repository: Repository, capture_id: str | None) -> dict[str, str]:
    with repository.catalog.session() as session:
        row = session.scalars(
            select(Record).where(Record.capture_id == capture_id, Record.record_type == "metadata")
        ).one()
    record = next(repository.store.read_record(repository.location(row)))
    text = record.content_stream().read().decode()
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def test_prefix_scope_and_depth(repository, site):
    seed = site.base + "/news/"
    crawler = Crawler(repository, CrawlOptions(seeds=[seed], scope="prefix", depth=1, delay=0.02))
    crawler.run()
    paths = captured_paths(repository, site, crawler.id)
    # Depth 1 from /news/: its links and what the sitemaps list under /news/,
    # not their links (/news/2024/c is depth 2).
    assert paths == {
        "/news/",
        "/news/2024/a",
        "/news/2024/b",
        "/news/archive/",
        "/news/2024/from-sitemap",
    }
    assert "/" not in site.paths() and "/about" not in site.paths()
    rows = frontier(repository, crawler.id)
    assert site.base + "/news/2024/c" not in rows  # depth 2: links of depth 1 are not read
    # The root sitemaps are read (lists, on the seed's host); what they list
    # outside the prefix is out of scope.
    assert rows[site.base + "/sitemap-only"].reason == "scope"

    only = Crawler(repository, CrawlOptions(seeds=[seed], scope="page", depth=3, delay=0.02))
    only.run()
    assert captured_paths(repository, site, only.id) == {"/news/"}


def test_include_exclude_and_max_pages(repository, site):
    crawler = crawl(
        repository, site, scope="host", depth=3, exclude=[r"/news/archive/"], max_pages=6
    )
    paths = captured_paths(repository, site, crawler.id)
    assert len(paths) == 6
    assert crawler.status().state == "done"
    assert not any(path.startswith("/news/archive/") for path in site.paths())

    widened = Crawler(
        repository,
        CrawlOptions(
            seeds=[site.base + "/news/2024/a"],
            scope="page",
            depth=1,
            include=[r"/news/2024/c$"],
            delay=0.02,
        ),
    )
    widened.run()
    assert captured_paths(repository, site, widened.id) == {"/news/2024/a", "/news/2024/c"}


def test_traps_redirect_loops_and_calendars(repository, site):
    crawler = crawl(repository, site, scope="host", depth=30, max_query_variants=4)
    rows = frontier(repository, crawler.id)
    loop = rows[site.base + "/loop/a"]
    assert loop.state == "failed" and "too many redirects" in (loop.reason or "")
    calendar = [row for url, row in rows.items() if "/calendar?" in url]
    assert sum(row.state == "captured" for row in calendar) == 4
    assert [row.reason for row in calendar if row.state == "skipped"] == ["trap: query variants"]
    assert sum(path.startswith("/calendar") for path in site.paths()) == 4


def test_scope_rules_limit_url_length_and_repeated_segments():
    from archive.scope import ScopeRules, clean_url

    rules = ScopeRules(["http://example.org/"], "host", max_url_length=100)
    assert rules.verdict("http://example.org/a/b/a/b/a/b") == "trap: repeated path segments"
    assert rules.verdict("http://example.org/" + "x" * 100) == "trap: URL length"
    assert rules.verdict("http://example.org/login") == "filter: not an article or section page"
    assert rules.verdict("http://example.org/logo.png") == "filter: file type"
    assert rules.verdict("http://example.org/report.pdf") is None
    assert rules.verdict("http://other.example.org/") == "scope"
    domain = ScopeRules(["http://www.example.co.uk/"], "domain")
    assert domain.verdict("https://news.example.co.uk/a") is None
    assert domain.verdict("https://example.com/a") == "scope"
    assert (
        clean_url("HTTP://Example.org/a;jsessionid=1F?utm_source=x&id=3&PHPSESSID=9&fbclid=1#top")
        == "http://example.org/a?id=3"
    )
    assert clean_url("mailto:someone@example.org") is None
    assert clean_url("javascript:void(0)") is None


def test_politeness_delay_and_retry_after(repository, site):
    delay = 0.05
    crawl(repository, site, scope="host", depth=2, delay=delay, workers=4)
    # Measured by the server: consecutive requests are at least the delay apart
    # (the redirect hops of the one capture of /loop/a aside: they are one fetch).
    log = site.log
    loop = [n for n, hit in enumerate(log) if hit.path.startswith("/loop/")]
    log = [hit for n, hit in enumerate(log) if n not in loop[1:]]
    gaps = [b.arrived - a.arrived for a, b in itertools.pairwise(log)]
    assert len(gaps) > 10 and min(gaps) >= delay
    busy = [hit.arrived for hit in site.log if hit.path == "/busy"]
    assert len(busy) == 2 and busy[1] - busy[0] >= 1.0  # Retry-After: 1


def test_cancel_stops_a_running_crawl(repository, site):
    crawler = Crawler(
        repository, CrawlOptions(seeds=[site.base + "/"], scope="host", depth=3, delay=0.3)
    )
    done = threading.Event()
    statuses = []
    thread = threading.Thread(target=lambda: (statuses.append(crawler.run()), done.set()))
    thread.start()
    while len(site.log) < 3:
        time.sleep(0.02)
    cancel_crawl(repository, crawler.id)
    assert done.wait(20)
    thread.join()
    assert statuses[0].state == "cancelled"
    assert statuses[0].queued > 0
    assert len(site.log) < 10
    with pytest.raises(CrawlError, match="cancelled"):
        Crawler(repository, crawler.options, crawl_id=crawler.id).run()


def run_vestige(home: Settings, *args: str, **kwargs: object) -> subprocess.Popen:
    env = dict(os.environ, VESTIGE_HOME=str(home.home), VESTIGE_CAPTURE_ALLOW_PRIVATE="1")
    return subprocess.Popen(  # type: ignore[call-overload]
        [str(VESTIGE), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs
    )


def test_resume_after_sigkill_captures_nothing_twice(home, site):
    command = ("crawl", site.base + "/", "--scope", "host", "--depth", "3", "--delay", "0.1")
    first = run_vestige(home, *command, "--no-ingest")
    deadline = time.monotonic() + 60
    while len(site.log) < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait()
    repository = Repository(home)
    try:
        stored_before = set(responses_per_url(repository))
        assert stored_before, "the first run stored nothing before it was killed"
        hits_before = len(site.log)

        second = run_vestige(home, *command, "--no-ingest")
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        assert b"resuming crawl" in err
        assert b" done: " in out

        # From the server's side: nothing stored by the first run was fetched again.
        again = [hit.path for hit in site.log[hits_before:]]
        assert not {site.base + path for path in again} & stored_before
        # From the catalog: one stored 200 response per URL, the crawl complete.
        counts = responses_per_url(repository)
        assert counts and max(counts.values()) == 1
        (crawl_id,) = {row.crawl_id for row in frontier_all(repository)}
        status = crawl_status(repository, crawl_id)
        assert status.state == "done" and status.queued == 0
        assert {"/news/archive/old", "/feed-only/atom-1", "/sitemap-only"} <= captured_paths(
            repository, site, crawl_id
        )
    finally:
        repository.close()

    listing = run_vestige(home, "crawl", "list")
    out, _ = listing.communicate(timeout=60)
    assert crawl_id.encode() in out and b"done" in out
    verify = run_vestige(home, "verify")
    out, err = verify.communicate(timeout=60)
    assert verify.returncode == 0, out + err


def frontier_all(repository: Repository) -> list[CrawlURL]:
    with repository.catalog.session() as session:
        return list(session.scalars(select(CrawlURL)))


def test_follow_captures_exactly_the_new_entries(repository, site):
    site.rss_entries = ["/news/2024/e1", "/news/2024/e2", "/news/2024/e3"]
    follow = add_follow(repository, site.base + "/rss.xml", every=parse_interval("1h"))
    assert follow.sitemaps is False  # a feed, not a site
    stored: list[int] = []
    (first,) = run_due_follows(repository, delay=0.02, on_stored=stored.extend)
    assert first[1].captured == 3
    assert stored  # after_store hooks get what was stored (ingest runs there)
    assert run_due_follows(repository, delay=0.02) == []  # not due again for an hour

    site.rss_entries += ["/news/2024/e4", "/news/2024/e5"]
    hits_before = len(site.log)
    later = utcnow() + timedelta(hours=1, minutes=1)
    ((info, status),) = run_due_follows(repository, later, delay=0.02)
    fetched = [hit.path for hit in site.log[hits_before:] if hit.path.startswith("/news/")]
    assert sorted(fetched) == ["/news/2024/e4", "/news/2024/e5"]
    assert status.captured == 2 and info.last_crawl is not None
    assert info.last_crawl.id == status.id
    assert info.next_run > later
    counts = responses_per_url(repository)
    assert all(counts[f"{site.base}/news/2024/e{n}"] == 1 for n in range(1, 6))


def test_follow_cli_and_crawl_errors(home, site):
    add = run_vestige(home, "follow", site.base + "/rss.xml", "--every", "2h")
    out, err = add.communicate(timeout=60)
    assert add.returncode == 0, err
    assert b"every 2h" in out
    run = run_vestige(home, "follow", "run", "--delay", "0.02", "--no-ingest")
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    assert b"2 new pages captured" in out
    listing = run_vestige(home, "follow", "list")
    out, _ = listing.communicate(timeout=60)
    assert b"every 2h" in out and b"2 new pages" in out
    bad = run_vestige(home, "crawl", "ftp://example.org/")
    _, err = bad.communicate(timeout=60)
    assert bad.returncode == 2 and err.startswith(b"error: invalid seed")
    bad = run_vestige(home, "follow", site.base + "/rss.xml", "--every", "soon")
    _, err = bad.communicate(timeout=60)
    assert bad.returncode == 2 and b"invalid interval" in err
