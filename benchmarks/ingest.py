"""Ingest throughput against trafilatura alone, and with more workers.

Replicates the real pages of ``../shared/corpus`` into a generated WARC of at
least ``--n`` response records (each copy its own URL; half with a charset in
the HTTP header), then measures in one run:

(a) ``trafilatura.extract`` alone on the same payload bytes, in this process;
(b) the full ingest path (read WARC, decode, extract, language, catalog
    writes) with 1 worker;
(c) the same with 2 workers.

Each ingest runs in its own process on its own copy of the archive, so its
peak memory is its own (sampled, summed over its worker processes).
Prints docs/s, the ratios b/a (goal >= 0.85) and c/b (goal >= 1.7), peak
memory, and the mean token F1 of (b) and of (a) on the ground-truth pages.

With ``--catalog postgresql`` it also runs (d), (b) with the catalog in a
throwaway PostgreSQL cluster (``initdb``/``pg_ctl`` on a temporary directory,
as the tests start one), and prints the SQLite/PostgreSQL throughput ratio b/d.

    python benchmarks/ingest.py            # 5,000 records
    python benchmarks/ingest.py --n 500    # quick
    python benchmarks/ingest.py --n 500 --catalog postgresql
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
sys.path.insert(0, str(ROOT))

from archive.config import Settings  # noqa: E402
from archive.records import new_row  # noqa: E402
from archive.repository import Repository  # noqa: E402
from archive.urls import normalise_url  # noqa: E402
from archive.warc import Digest, WarcRecord  # noqa: E402
from ingest.evaluation import CorpusPage, corpus_pages, token_f1  # noqa: E402

COLLECTION = "bench"


def build_archive(
    home: Path, pages: list[CorpusPage], n: int, database_url: str | None = None
) -> list[tuple[str, int]]:
    """Store ``n`` copies of the pages as response records; returns (url, page index) of each."""
    repository = Repository(Settings(home=home, database_url=database_url))
    stored = []
    rows = []
    with repository.store.append(COLLECTION) as appender:
        for i in range(n):
            page = pages[i % len(pages)]
            body = page.body()
            url = f"{page.url}{'&' if '?' in page.url else '?'}copy={i // len(pages)}"
            content_type = "text/html" + (f"; charset={page.encoding}" if i % 2 else "")
            head = (
                f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode("latin-1")
            record = WarcRecord(
                "response",
                url,
                datetime(2024, 1, 1, tzinfo=UTC),
                "application/http; msgtype=response",
                head=head,
                body=io.BytesIO(body),
                body_length=len(body),
                payload_digest=str(Digest(body)),
            )
            location = appender.write_raw(record.serialise())
            rows.append(
                new_row(
                    record_id=record.record_id,
                    record_type="response",
                    target_uri=url,
                    date=record.date,
                    location=location,
                    collection=COLLECTION,
                    status=200,
                    mime=content_type,
                    payload_digest=record.payload_digest,
                )
            )
            stored.append((url, i % len(pages)))
    with repository.catalog.session() as session:
        session.add_all(rows)
    repository.close()
    return stored


def run_ingest(home: Path, workers: int) -> None:
    """Child process: ingest everything in ``home``; prints timing and memory as JSON."""
    from ingest.pipeline import Ingester

    # The catalog is VESTIGE_DATABASE_URL when set (the PostgreSQL variant).
    repository = Repository(Settings(home=home))
    start = time.perf_counter()
    summary = Ingester(repository, workers=workers).run()
    elapsed = time.perf_counter() - start
    repository.close()
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "documents": summary.created,
                "failed": sum(summary.failed.values()),
            }
        )
    )


def _tree_rss_mib(root: int) -> float:
    """Resident memory of ``root`` and all its descendants (Linux /proc), in MiB."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":", 1) for line in stat.read_text().splitlines() if ":" in line
            )
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields["PPid"])
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total = 0
    for pid in rss:
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == root:
            total += rss[pid]
    return total / 1024


def ingest_in_child(home: Path, workers: int, database_url: str | None = None) -> dict:
    """Run one ingest in a child process, sampling the memory of its process tree."""
    env = {key: value for key, value in os.environ.items() if key != "VESTIGE_DATABASE_URL"}
    if database_url:
        env["VESTIGE_DATABASE_URL"] = database_url
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", str(home), "--workers", str(workers)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    peak = 0.0
    while child.poll() is None:
        peak = max(peak, _tree_rss_mib(child.pid))
        time.sleep(0.25)
    assert child.stdout is not None and child.returncode == 0
    result = json.loads(child.stdout.read().strip().splitlines()[-1])
    # Sampled, not ru_maxrss: Linux carries a parent's high-water mark into children.
    result["peak_rss_mib"] = peak
    return result


def f1_against_trafilatura(home: Path, pages: list[CorpusPage]) -> tuple[float, float, int]:
    """Mean token F1 of ingested text and of trafilatura alone on ground-truth pages."""
    import trafilatura
    from sqlalchemy import select

    from ingest.models import Document

    repository = Repository(Settings(home=home))
    with repository.catalog.session() as session:
        texts = {doc.url: doc.text for doc in session.scalars(select(Document))}
    repository.close()
    ours = alone = 0.0
    count = 0
    for page in pages:
        if page.reference is None:
            continue
        url = f"{page.url}{'&' if '?' in page.url else '?'}copy=0"
        ours += token_f1(texts.get(normalise_url(url), ""), page.reference)
        alone += token_f1(trafilatura.extract(page.body(), url=page.url) or "", page.reference)
        count += 1
    return ours / count, alone / count, count


def ingest_on_postgresql(home: Path, pages: list[CorpusPage], n: int) -> dict:
    """(d): the same archive with its catalog in a throwaway PostgreSQL, ingested by 1 worker."""
    sys.path.insert(0, str(ROOT / "tests" / "deploy"))
    from pgtools import PostgresCluster

    cluster = PostgresCluster()
    try:
        url = cluster.create_database()
        build_archive(home, pages, n, database_url=url)
        return ingest_in_child(home, 1, database_url=url)
    finally:
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="records in the generated WARC")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument(
        "--catalog",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="postgresql: also ingest with the catalog in a throwaway PostgreSQL cluster",
    )
    args = parser.parse_args()
    if args.child:
        run_ingest(args.child, args.workers)
        return
    if not CORPUS.is_dir():
        sys.exit(f"error: the shared corpus is not at {CORPUS}")
    import logging

    import trafilatura

    logging.disable(logging.WARNING)  # trafilatura logs every page it finds odd
    pages = list(corpus_pages(CORPUS))
    with tempfile.TemporaryDirectory(prefix="vestige-bench-") as tmp:
        one, two = Path(tmp) / "one", Path(tmp) / "two"
        stored = build_archive(one, pages, max(args.n, 1))
        shutil.copytree(one, two)
        print(f"{len(stored):,} records from {len(pages)} corpus pages")

        bodies = [page.body() for page in pages]
        start = time.perf_counter()
        for url, index in stored:
            trafilatura.extract(bodies[index], url=url)
        alone = len(stored) / (time.perf_counter() - start)
        single = ingest_in_child(one, 1)
        double = ingest_in_child(two, 2)
        rate_1 = single["documents"] / single["seconds"]
        rate_2 = double["documents"] / double["seconds"]
        f1_ours, f1_alone, f1_pages = f1_against_trafilatura(one, pages)
        postgres = None
        if args.catalog == "postgresql":
            postgres = ingest_on_postgresql(Path(tmp) / "postgres", pages, len(stored))

    print(f"(a) trafilatura alone      {alone:8.1f} docs/s")
    print(
        f"(b) vestige ingest, 1 wkr  {rate_1:8.1f} docs/s  "
        f"({single['documents']:,} documents, {single['failed']} failed)"
    )
    print(f"(c) vestige ingest, 2 wkrs {rate_2:8.1f} docs/s  ({double['documents']:,} documents)")
    if postgres is not None:
        rate_pg = postgres["documents"] / postgres["seconds"]
        print(
            f"(d) vestige ingest, 1 wkr, PostgreSQL catalog {rate_pg:8.1f} docs/s  "
            f"({postgres['documents']:,} documents, {postgres['failed']} failed)"
        )
    print(f"b/a = {rate_1 / alone:.2f}  (goal >= 0.85)")
    print(f"c/b = {rate_2 / rate_1:.2f}  (goal >= 1.7)")
    if postgres is not None:
        print(f"SQLite/PostgreSQL ingest throughput b/d = {rate_1 / rate_pg:.2f}")
    print(
        f"peak memory (resident, process and its workers): (b) {single['peak_rss_mib']:.0f} MiB, "
        f"(c) {double['peak_rss_mib']:.0f} MiB"
    )
    print(
        f"extraction F1 on {f1_pages} ground-truth pages: vestige {f1_ours:.3f}, "
        f"trafilatura alone {f1_alone:.3f} (ratio {f1_ours / f1_alone:.3f})"
    )


if __name__ == "__main__":
    main()
