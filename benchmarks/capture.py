"""Capture throughput against plain fetching, side by side in one run.

Captures N real pages from ``../shared/corpus`` (drawn at random, so sizes
follow the corpus; each at a URL of its own, so none is a revisit) from a
local HTTP server, fsync and catalog commit included, and fetches the same
pages with plain httpx without storing them. The two alternate in blocks, so
drift on the machine hits both alike. Prints pages/s for both, the ratio
(goal: capture at 0.7x of plain fetching or better), the CPU time this
process spent per page on each side (the server's is the same for both) and
their ratio (goal: capture at most 2x), which says where a busy machine's
ratio comes from, and peak memory.

    python benchmarks/capture.py [--n 2000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import page_server, sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="pages per pass (default 2,000)")
    parser.add_argument("--passes", type=int, default=2, help="passes over the pages")
    parser.add_argument(
        "--block",
        type=int,
        default=200,
        help="pages per alternating block; large enough that the pool is rarely part empty, "
        "which costs the side with the longer latency more (default 200)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="pages fetched at once, the same for both (as the service's and crawler's worker "
        "pools do); concurrent captures share fsyncs and catalog commits (default 8)",
    )
    parser.add_argument("--profile", action="store_true", help="print a profile of capturing")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home, page_server() as base:
        os.environ["VESTIGE_HOME"] = home
        os.environ["VESTIGE_CAPTURE_ALLOW_PRIVATE"] = "1"
        from archive.capture import Capturer
        from archive.config import get_settings
        from archive.fetch import Fetcher
        from archive.repository import Repository

        repository = Repository(get_settings())
        # The same pool on both sides, whose connections are never closed as
        # idle or surplus: after a block of the other side, httpcore 1.0's pool
        # can close a connection it has just handed to a request (its issue 1110).
        limits = httpx.Limits(
            max_connections=args.concurrency,
            max_keepalive_connections=args.concurrency,
            keepalive_expiry=None,
        )
        capturer = Capturer(repository, Fetcher(repository.settings, limits=limits))
        client = httpx.Client(limits=limits)
        pool = ThreadPoolExecutor(args.concurrency)
        profile = cProfile.Profile() if args.profile else None
        paths = sample(args.n)

        def plain(url: str) -> int:
            return client.get(url).raise_for_status().num_bytes_downloaded

        def capture(url: str) -> int:
            if profile:
                profile.enable()
            result = capturer.capture(url, collection="bench")
            if profile:
                profile.disable()
            assert result.ok and not result.revisit, result
            return result.location.length if result.location else 0

        for n in range(20):  # warm up connections, imports and the catalog
            plain(f"{base}/warm-{n}/{paths[n]}")
            capture(f"{base}/warm-{n}/{paths[n]}")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        timings = {plain: 0.0, capture: 0.0}
        cpu = {plain: 0.0, capture: 0.0}
        sizes = {plain: 0, capture: 0}
        for pass_ in range(args.passes):
            for start in range(0, args.n, args.block):
                block = list(enumerate(paths[start : start + args.block], start))
                order = (plain, capture) if (start // args.block + pass_) % 2 else (capture, plain)
                for fetch in order:
                    urls = [f"{base}/{fetch.__name__}-{pass_}-{n}/{path}" for n, path in block]
                    began, began_cpu = time.perf_counter(), time.process_time()
                    sizes[fetch] += sum(pool.map(fetch, urls))
                    timings[fetch] += time.perf_counter() - began
                    cpu[fetch] += time.process_time() - began_cpu
        pool.shutdown()
        capturer.close()
        client.close()
        repository.close()
        warc_bytes = sum(f.stat().st_size for f in Path(home, "warcs").rglob("*.warc.gz"))

    pages = args.n * args.passes
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    plain_rate, capture_rate = pages / timings[plain], pages / timings[capture]
    print(
        f"pages:            {pages:,} ({sizes[plain] / pages / 1024:,.1f} KiB mean on the wire), "
        f"{args.concurrency} at a time"
    )
    print(f"plain httpx:      {plain_rate:8.1f} pages/s")
    print(f"capture (fsync):  {capture_rate:8.1f} pages/s  ({warc_bytes / 2**20:,.1f} MiB of WARC)")
    print(f"ratio:            {capture_rate / plain_rate:8.2f}x of plain fetching (goal >= 0.70x)")
    print(
        f"client CPU:       {cpu[plain] / pages * 1000:8.2f} ms/page plain, "
        f"{cpu[capture] / pages * 1000:.2f} ms/page capture = {cpu[capture] / cpu[plain]:.2f}x "
        "(goal <= 2x)"
    )
    print(f"load average:     {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print(f"peak memory:      {peak / 1024:8.1f} MiB RSS ({rss_before / 1024:.1f} after warm-up)")
    if profile:
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
