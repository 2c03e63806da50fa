"""Crawl throughput against plain fetching, and memory with a large frontier.

Serves a generated site of N linked pages (default 5,000; about 6 KiB each,
with robots.txt) from a local HTTP server in its own process, then, in one run:
fetches every page with plain httpx (one connection, nothing stored), crawls
the site with no per-host delay (every page captured: WARC, fsync, catalog;
links read back from the store; frontier in the catalog), and fetches the
pages plainly again. Prints pages/s of both (plain: the mean of the two
passes), the ratio (goal: 0.6x or better), and the peak memory of a crawl
whose frontier holds 100,000 queued URLs against one holding only its seed.
Both fetch ``--concurrency`` pages at a time (default 8, as
``benchmarks/capture.py``); the crawl then allows that many connections to
the one host (its default is 1, with a delay), with twice as many workers, so
that pages wait for their fsyncs while others are fetched.

    python benchmarks/crawl.py [--n 5000] [--queued 100000]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
from _corpus import LoopbackHandler, serve_until_stdin_closes, server_process

PARAGRAPH = (
    "Witnesses described the events of that night in detail; the report lists "
    "dates, places and the names of the officials who answered for them. "
) * 6


def page_links(number: int, total: int) -> list[int]:
    """A tree (so a crawl reaches every page) plus cross links (so it dedups)."""
    children = [2 * number + 1, 2 * number + 2]
    cross = [(number * 7 + k * 131) % total for k in range(1, 9)]
    return [n for n in children if n < total] + cross


class _Handler(LoopbackHandler):
    total = 0

    def do_GET(self) -> None:
        if self.path == "/robots.txt":
            body, kind = b"User-agent: *\nDisallow: /private/\n", "text/plain"
        elif self.path.startswith("/p/") and self.path[3:].isdigit():
            number = int(self.path[3:])
            links = "".join(
                f'<a href="/p/{n}">page {n}</a> ' for n in page_links(number, self.total)
            )
            body = (
                f"<!DOCTYPE html><html><head><title>Page {number}</title></head><body>"
                f"<h1>Page {number}</h1>{('<p>' + PARAGRAPH + '</p>') * 6}<nav>{links}</nav>"
                "</body></html>"
            ).encode()
            kind = "text/html; charset=utf-8"
        else:
            self.send_error(404)
            return
        self.send_body(kind, body)


def serve(total: int) -> None:
    """Serve the generated site until stdin closes; print the port first."""
    _Handler.total = total
    serve_until_stdin_closes(_Handler)


def site_server(total: int) -> AbstractContextManager[str]:
    return server_process(__file__, "serve", str(total))


def plain_rate(base: str, total: int, concurrency: int) -> tuple[float, float]:
    """Pages/s and this process's CPU seconds per page fetching the site plainly."""
    limits = httpx.Limits(max_connections=concurrency)
    with httpx.Client(limits=limits) as client, ThreadPoolExecutor(concurrency) as pool:

        def fetch(number: int) -> None:
            client.get(f"{base}/p/{number}").raise_for_status()

        began, began_cpu = time.perf_counter(), time.process_time()
        list(pool.map(fetch, range(total)))
        return total / (time.perf_counter() - began), (time.process_time() - began_cpu) / total


def crawl_rate(base: str, concurrency: int) -> tuple[float, int, float]:
    """Pages/s, pages captured and CPU seconds per page of a crawl of the site."""
    from archive.config import get_settings
    from archive.crawl import Crawler, CrawlOptions
    from archive.repository import Repository

    repository = Repository(get_settings())
    try:
        options = CrawlOptions(
            seeds=[f"{base}/p/0"],
            scope="host",
            depth=1000,
            delay=0.0,
            workers=2 * concurrency,
            host_connections=concurrency,
        )
        began, began_cpu = time.perf_counter(), time.process_time()
        status = Crawler(repository, options).run()
        elapsed, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    finally:
        repository.close()
    return status.captured / elapsed, status.captured, cpu / max(status.captured, 1)


def memory(base: str, queued: int) -> int:
    """Peak RSS (KiB) of a crawl of 200 pages whose frontier holds ``queued`` more URLs."""
    from archive.config import get_settings
    from archive.crawl import Crawler, CrawlOptions
    from archive.frontier import NewURL, URLKind
    from archive.repository import Repository

    repository = Repository(get_settings())
    try:
        options = CrawlOptions(
            seeds=[f"{base}/p/0"], scope="host", depth=1000, delay=0.0, max_pages=200
        )
        crawler = Crawler(repository, options)
        for start in range(0, queued, 10_000):
            crawler.frontier.add(
                [
                    NewURL(f"{base}/q/{n}", URLKind.page, 5, None)
                    for n in range(start, min(start + 10_000, queued))
                ]
            )
        crawler.run()
    finally:
        repository.close()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_memory(base: str, queued: int) -> int:
    """Run :func:`memory` in a fresh process (own VESTIGE_HOME), so peaks do not mix."""
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, VESTIGE_HOME=home, VESTIGE_CAPTURE_ALLOW_PRIVATE="1")
        output = subprocess.run(
            [sys.executable, __file__, "memory", base, str(queued)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    return int(output.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="pages in the site (default 5,000)")
    parser.add_argument(
        "--queued", type=int, default=100_000, help="queued URLs for the memory figure"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="connections at a time, for plain fetching and the crawl (which then allows "
        "that many per host); default 8, as benchmarks/capture.py",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home, site_server(args.n) as base:
        os.environ["VESTIGE_HOME"] = home
        os.environ["VESTIGE_CAPTURE_ALLOW_PRIVATE"] = "1"
        plain_before, cpu_before = plain_rate(base, args.n, args.concurrency)
        crawled, pages, crawl_cpu = crawl_rate(base, args.concurrency)
        plain_after, cpu_after = plain_rate(base, args.n, args.concurrency)
        warc_bytes = sum(f.stat().st_size for f in Path(home, "warcs").rglob("*.warc.gz"))
        small = child_memory(base, 0)
        large = child_memory(base, args.queued)

    plain = (plain_before + plain_after) / 2
    print(f"site:             {args.n:,} pages, {args.concurrency} connections at a time")
    print(f"crawl captured:   {pages:,} pages")
    print(
        f"plain httpx:      {plain:8.1f} pages/s  "
        f"({plain_before:.1f} before, {plain_after:.1f} after)"
    )
    print(f"crawl (no delay): {crawled:8.1f} pages/s  ({warc_bytes / 2**20:,.1f} MiB of WARC)")
    print(f"ratio:            {crawled / plain:8.2f}x of plain fetching (goal >= 0.60x)")
    print(
        f"client CPU:       {(cpu_before + cpu_after) / 2 * 1000:8.2f} ms/page plain, "
        f"{crawl_cpu * 1000:.2f} ms/page crawl"
    )
    print(
        f"peak memory:      {large / 1024:8.1f} MiB RSS with {args.queued:,} queued URLs "
        f"({small / 1024:.1f} MiB with the seed only)"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]))
    elif sys.argv[1:2] == ["memory"]:
        print(memory(sys.argv[2], int(sys.argv[3])))
    else:
        main()
