"""``vestige crawl`` and ``vestige follow``: crawling commands."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from api.cli.common import DefaultCommandGroup, fail, open_repository, stored_callback, when
from archive.crawl import (
    Crawler,
    CrawlError,
    CrawlOptions,
    CrawlStatus,
    cancel_crawl,
    crawl_status,
    list_crawls,
)
from archive.follow import (
    FollowInfo,
    add_follow,
    format_interval,
    list_follows,
    parse_interval,
    remove_follow,
    run_due_follows,
)
from archive.scope import Scope

app = typer.Typer()
crawl_app = typer.Typer(
    cls=DefaultCommandGroup,
    no_args_is_help=True,
    help="Crawl sites: vestige crawl SEED_URL... (see vestige crawl start --help).",
)
follow_app = typer.Typer(
    cls=DefaultCommandGroup,
    no_args_is_help=True,
    help="Follow feeds and sites: vestige follow URL --every 1h, then vestige follow run.",
)
app.add_typer(crawl_app, name="crawl")
app.add_typer(follow_app, name="follow")

_stderr = Console(stderr=True)


def _progress_line(status: CrawlStatus) -> Text:
    return Text(
        f"crawl {status.id[:8]}  queued {status.queued:,}  captured {status.captured:,}  "
        f"skipped by scope {status.skipped_scope:,}  skipped {status.skipped:,}  "
        f"failed {status.failed:,}  {status.pages_per_second:.1f} pages/s"
    )


def _summary(status: CrawlStatus) -> None:
    typer.echo(
        f"crawl {status.id} {status.state}: {status.captured:,} pages captured "
        f"(and {status.fetched_other:,} robots.txt, sitemaps and feeds), "
        f"{status.queued:,} queued, {status.skipped_scope:,} skipped by scope, "
        f"{status.skipped:,} skipped otherwise, {status.failed:,} failed"
    )
    reasons = sorted(status.reasons.items(), key=lambda item: -item[1])
    for reason, count in reasons[:10]:
        typer.echo(f"  {count:>6,}  {reason}")
    if len(reasons) > 10:
        typer.echo(f"  ({len(reasons) - 10} more reasons: vestige crawl status {status.id})")


def _run(crawler: Crawler) -> CrawlStatus:
    with Live(console=_stderr, refresh_per_second=4, transient=True) as live:
        try:
            return crawler.run(progress=lambda status: live.update(_progress_line(status)))
        except KeyboardInterrupt:  # run() has stopped cleanly; say how to go on
            live.stop()
            typer.secho(
                f"interrupted: run the same command, or vestige crawl --resume {crawler.id}, "
                "to continue",
                fg=typer.colors.YELLOW,
                err=True,
            )
            raise typer.Exit(130) from None


@crawl_app.command()
def start(
    seeds: list[str] = typer.Argument(None, help="Seed URLs to start from (http or https)."),
    scope: Scope = typer.Option(
        Scope.prefix,
        help="What to capture: page (the seeds only), prefix (under the seed's directory), "
        "host, or domain (with subdomains).",
    ),
    depth: int = typer.Option(2, help="Links followed from a seed (0: the seeds only)."),
    max_pages: int | None = typer.Option(None, help="Stop after this many pages are captured."),
    include: list[str] = typer.Option(
        [], help="Also capture URLs matching this regular expression (repeatable)."
    ),
    exclude: list[str] = typer.Option(
        [], help="Never capture URLs matching this regular expression (repeatable)."
    ),
    collection: str = typer.Option("default", help="Collection to store the captures in."),
    note: str | None = typer.Option(None, help="A note stored with each capture."),
    delay: float | None = typer.Option(
        None, help="Seconds between two requests to one host (default: VESTIGE_CRAWL_DELAY)."
    ),
    ignore_robots: bool = typer.Option(
        False,
        help="Capture what robots.txt disallows (preservation work); recorded in each "
        "capture's WARC metadata record.",
    ),
    sitemaps: bool = typer.Option(True, help="Read the seeds' sitemaps (from robots.txt)."),
    feeds: bool = typer.Option(True, help="Read the RSS/Atom/JSON feeds pages link to."),
    skip_archived: bool = typer.Option(
        False, help="Skip pages (other than the seeds) already in the archive."
    ),
    language: str | None = typer.Option(
        None, help="Skip language variants of pages in other languages (ISO 639-1 code)."
    ),
    max_query_variants: int = typer.Option(
        50, help="Most URLs with a query string per path (a guard against calendar traps)."
    ),
    workers: int = typer.Option(4, help="Captures at once (across hosts)."),
    connections_per_host: int = typer.Option(1, help="Captures at once from one host."),
    resume: str | None = typer.Option(
        None, help="Continue the crawl with this id (seeds and options are its own)."
    ),
    ingest: bool = typer.Option(True, help="Ingest and index what was captured."),
    browser: bool = typer.Option(
        False, "--browser", help="Load pages in headless Chromium (see `capture --browser`)."
    ),
) -> None:
    """Crawl from seed URLs: capture the pages in scope, breadth-first.

    Pages are found in the links of captured pages, the site's sitemaps and
    its feeds. Running the same command again after an interruption continues the crawl
    without capturing anything twice. Prints a summary at the end.
    """
    with open_repository() as repository:
        on_stored = stored_callback(repository, ingest)
        try:
            if resume:
                crawler = Crawler.resume(
                    repository,
                    resume,
                    delay=delay,
                    workers=workers,
                    host_connections=connections_per_host,
                    on_stored=on_stored,
                )
            else:
                if not seeds:
                    raise fail("give seed URLs, or --resume ID", 2)
                options = CrawlOptions(
                    seeds=seeds,
                    scope=scope,
                    depth=depth,
                    max_pages=max_pages,
                    include=include,
                    exclude=exclude,
                    collection=collection,
                    note=note,
                    ignore_robots=ignore_robots,
                    sitemaps=sitemaps,
                    feeds=feeds,
                    skip_archived=skip_archived,
                    language=language,
                    max_query_variants=max_query_variants,
                    delay=delay,
                    workers=workers,
                    host_connections=connections_per_host,
                    browser=browser,
                )
                crawler = Crawler(repository, options, on_stored=on_stored)
            verb = "resuming" if crawler.resumed else "starting"
            typer.secho(f"{verb} crawl {crawler.id}", err=True)
            status = _run(crawler)
        except CrawlError as exc:
            raise fail(str(exc), 2) from exc
    _summary(status)


@crawl_app.command()
def cancel(crawl_id: str = typer.Argument(..., help="Id of the crawl.")) -> None:
    """Cancel a crawl; a running one stops after the pages in hand."""
    with open_repository() as repository:
        try:
            status = cancel_crawl(repository, crawl_id)
        except CrawlError as exc:
            raise fail(str(exc)) from exc
    typer.echo(f"crawl {status.id} {status.state}")


@crawl_app.command()
def status(crawl_id: str = typer.Argument(..., help="Id of the crawl.")) -> None:
    """Show a crawl's state, counts and skip and failure reasons."""
    with open_repository() as repository:
        try:
            current = crawl_status(repository, crawl_id)
        except CrawlError as exc:
            raise fail(str(exc)) from exc
    typer.echo(f"seeds: {' '.join(current.seeds)}")
    _summary(current)


@crawl_app.command("list")
def list_(limit: int = typer.Option(50, help="How many crawls, newest first.")) -> None:
    """List crawls: id, state, pages captured, seeds."""
    with open_repository() as repository:
        for current in list_crawls(repository, limit):
            typer.echo(
                f"{current.id}  {current.created:%Y-%m-%d %H:%M}  {current.state:<11}  "
                f"{current.captured:>7,} pages  {' '.join(current.seeds)}"
            )


@follow_app.command()
def add(
    url: str = typer.Argument(..., help="A feed (RSS, Atom, JSON Feed) or a site's front page."),
    every: str = typer.Option("1h", help="How often to look for new entries (30m, 1h, 1d)."),
    collection: str = typer.Option("default", help="Collection to store the captures in."),
    sitemaps: bool | None = typer.Option(
        None, help="Read the site's sitemaps too (default: for sites, not for feeds)."
    ),
    ignore_robots: bool = typer.Option(False, help="Capture what robots.txt disallows."),
    note: str | None = typer.Option(None, help="A note stored with each capture."),
    browser: bool = typer.Option(
        False, "--browser", help="Load its pages in headless Chromium (see `capture --browser`)."
    ),
) -> None:
    """Follow a feed or a site: each run captures the entries not archived yet.

    `vestige follow run` captures and ingests them; the first run is due at once.
    """
    try:
        seconds = parse_interval(every)
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    with open_repository() as repository:
        try:
            info = add_follow(
                repository,
                url,
                every=seconds,
                collection=collection,
                sitemaps=sitemaps,
                ignore_robots=ignore_robots,
                note=note,
                browser=browser,
            )
        except CrawlError as exc:
            raise fail(str(exc), 2) from exc
    how = " with a browser" if info.browser else ""
    typer.echo(f"following {info.url} every {format_interval(info.every)}{how} (id {info.id})")


@follow_app.command()
def run(
    now: bool = typer.Option(False, "--now", help="Run every follow, due or not."),
    delay: float | None = typer.Option(
        None, help="Seconds between two requests to one host (default: VESTIGE_CRAWL_DELAY)."
    ),
    ingest: bool = typer.Option(True, help="Ingest and index what was captured."),
) -> None:
    """Run the follows that are due: capture their new entries and ingest them."""
    with (
        open_repository() as repository,
        Live(console=_stderr, refresh_per_second=4, transient=True) as live,
    ):
        results = run_due_follows(
            repository,
            every=now,
            on_stored=stored_callback(repository, ingest),
            progress=lambda info, status: live.update(
                Text(f"{info.url}  ") + _progress_line(status)
            ),
            delay=delay,
        )
    if not results:
        typer.echo("no follows due")
    for info, status in results:
        typer.echo(
            f"{info.url}: {status.captured:,} new pages captured, {status.failed:,} failed "
            f"(crawl {status.id}); next run {info.next_run:%Y-%m-%d %H:%M} UTC"
        )


@follow_app.command("list")
def follow_list() -> None:
    """List followed sources: id, interval, last run and what it brought in."""
    with open_repository() as repository:
        follows = list_follows(repository)
    if not follows:
        typer.echo("no follows")
    for info in follows:
        typer.echo(_follow_line(info))


@follow_app.command()
def remove(follow_id: int = typer.Argument(..., help="Id of the follow (vestige follow list).")):
    """Stop following a source; what it brought in stays archived."""
    with open_repository() as repository:
        try:
            remove_follow(repository, follow_id)
        except CrawlError as exc:
            raise fail(str(exc)) from exc
    typer.echo(f"no longer following {follow_id}")


def _follow_line(info: FollowInfo) -> str:
    brought = (
        f"{info.last_crawl.captured:,} new pages, {info.last_crawl.failed:,} failed"
        if info.last_crawl
        else "-"
    )
    return (
        f"{info.id:>4}  every {format_interval(info.every):<4}  last {when(info.last_run)}  "
        f"next {when(info.next_run)}  {brought}  {info.url} [{info.collection}]"
    )
