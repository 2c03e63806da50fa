"""Search benchmark: the embedded engine against a real OpenSearch node, side by side.

Builds one corpus of N documents (default 100,000) by deterministic recombination of the
paragraphs of the real pages in ``../shared/corpus`` (English and Chinese, extracted by
ingest), indexes it into the embedded tantivy engine and into OpenSearch, then runs a fixed
mix of 200 queries (words, phrases, Chinese words, Traditional queries, mixed, filtered,
faceted) at concurrency 1 and 8. Prints indexing docs/s, p50/p95/p99 latencies and the
ratios embedded/OpenSearch.

    python benchmarks/search.py            # 100,000 documents
    python benchmarks/search.py --n 5000   # a quick run
    python benchmarks/search.py --url http://localhost:9200   # an existing cluster
    python benchmarks/search.py --index /tmp/bench-index --engine embedded   # build once, reuse

With ``--catalog postgresql`` it also stores the documents in a SQLite catalog and in
a throwaway PostgreSQL cluster (as the tests start one) and indexes each catalog into
the embedded engine the way ``vestige index`` does, printing the SQLite/PostgreSQL ratio.
"""

from __future__ import annotations

import argparse
import gzip
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import opencc

ROOT = Path(__file__).resolve().parents[1]
# This file is named search.py: its folder must not shadow the ``search`` package.
sys.path[0] = str(ROOT)
sys.path += [str(ROOT / "benchmarks"), str(ROOT / "tests" / "search" / "opensearch_node")]

from _corpus import CORPUS, page_paths  # noqa: E402

from ingest.extract import extract  # noqa: E402
from ingest.extraction import ExtractionError, NotText, Payload  # noqa: E402
from search.analysis import chinese_words, fold  # noqa: E402
from search.backend import SearchBackend, batched  # noqa: E402
from search.cluster import ClusterBackend  # noqa: E402
from search.embedded import EmbeddedBackend  # noqa: E402
from search.engine import detect_distribution  # noqa: E402
from search.models import IndexDocument  # noqa: E402
from search.query import Node, parse  # noqa: E402

SITES = [f"{name}.example" for name in ("news", "daily", "times", "post", "herald", "wire")]
COLLECTIONS = ("reports", "press", "testimony")
QUERIES = 200


def paragraphs() -> dict[str, list[tuple[str, str]]]:
    """(paragraph, Simplified paragraph) by language, from the corpus pages' extracted text."""
    found: dict[str, list[tuple[str, str]]] = {"en": [], "zh": []}
    for path in page_paths():
        body = (CORPUS / path).read_bytes()
        if path.endswith(".gz"):
            body = gzip.decompress(body)
        try:
            document = extract(Payload(f"https://corpus.example/{path}", body, "text/html"))
        except (ExtractionError, NotText):
            continue
        language = document.language if document.language in found else None
        if language is None:
            continue
        for line in document.text.split("\n"):
            line = line.strip()
            if len(line) >= (20 if language == "zh" else 60):
                found[language].append((line, fold(line) if language == "zh" else line))
    return found


def corpus(n: int, pool: dict[str, list[tuple[str, str]]], seed: int = 7) -> list[IndexDocument]:
    """``n`` documents, 60% English and 40% Chinese, each 3-8 paragraphs of one language."""
    rng = random.Random(seed)
    start = datetime(2015, 1, 1)
    documents = []
    for i in range(n):
        language = "en" if rng.random() < 0.6 else "zh"
        chosen = [rng.choice(pool[language]) for _ in range(rng.randint(3, 8))]
        text = "\n".join(p for p, _ in chosen)
        simplified = "\n".join(s for _, s in chosen) if language == "zh" else None
        title = chosen[0][0][: 40 if language == "zh" else 90]
        published = start + timedelta(days=rng.randrange(3650))
        documents.append(
            IndexDocument(
                id=f"doc{i:07d}",
                url=f"https://www.{rng.choice(SITES)}/{language}/{i}",
                collection=rng.choice(COLLECTIONS),
                captured=datetime(2025, 1, 1),
                language=language,
                text=text,
                title=title,
                script="Hans" if language == "zh" else "Latn",
                published=published.date().isoformat(),
                text_simplified=simplified,
                seq=i + 1,
            )
        )
    return documents


def queries(pool: dict[str, list[tuple[str, str]]], seed: int = 11) -> list[Node]:
    """A fixed mix of 200 parsed queries drawn from the corpus's own words."""
    rng = random.Random(seed)
    to_traditional = opencc.OpenCC("s2t")

    def english_words(k: int) -> list[str]:
        words = [w.strip(".,;:!?\"'()") for w in rng.choice(pool["en"])[0].split()]
        words = [w for w in words if len(w) > 3 and w.isalpha()]
        start = rng.randrange(max(1, len(words) - k))
        return words[start : start + k] or ["report"]

    def chinese_word() -> str:
        words = [w for w in chinese_words(rng.choice(pool["zh"])[1]) if len(w) >= 2]
        return rng.choice(words) if words else "中国"

    makers: list[Callable[[], str]] = [
        lambda: english_words(1)[0],
        lambda: " ".join(english_words(2)),
        lambda: '"' + " ".join(english_words(2)) + '"',
        chinese_word,
        lambda: f'"{chinese_word()}{chinese_word()}"',
        lambda: to_traditional.convert(chinese_word()),
        lambda: f"{english_words(1)[0]} {chinese_word()}",
        lambda: f"{english_words(1)[0]} lang:en site:{rng.choice(SITES)}",
        lambda: f"{chinese_word()} after:2018 before:2022",
        lambda: f"{english_words(1)[0]} OR {english_words(1)[0]} -{english_words(1)[0]}",
        lambda: f"lang:zh collection:{rng.choice(COLLECTIONS)}",
    ]
    return [parse(makers[i % len(makers)]()) for i in range(QUERIES)]


def index_all(backend: SearchBackend, documents: list[IndexDocument]) -> float:
    """Index in committed batches (as ``vestige index`` does); returns docs/s."""
    started = time.perf_counter()
    for batch in batched(iter(documents), 5000):
        backend.index(batch)
        backend.commit(checkpoint=batch[-1].seq)
    return len(documents) / (time.perf_counter() - started)


def latencies(
    backend: SearchBackend, mix: list[Node], concurrency: int
) -> list[tuple[float, float]]:
    """Milliseconds per search (top 10 with snippets and facets), over the whole mix: wall
    time, and CPU time of the searching thread (the embedded engine searches in it; for a
    cluster it is the client's share). On a loaded machine the wall time includes waiting
    for a core; the CPU time does not."""

    def timed(query: Node) -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.thread_time()
        backend.search(query, limit=10)
        return (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000

    for query in mix[:20]:  # warm-up
        backend.search(query)
    if concurrency == 1:
        return [timed(query) for query in mix]
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(timed, mix * 2))


def percentiles(values: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


@contextmanager
def cluster(url: str | None) -> Iterator[str]:
    """The cluster at ``url``, or a fresh OpenSearch node for the duration."""
    if url:
        yield url
        return
    from node import OpenSearchNode

    node = OpenSearchNode(heap="2g")
    try:
        yield node.url
    finally:
        node.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="documents to index")
    parser.add_argument("--url", help="an existing Elasticsearch/OpenSearch instead of a node")
    parser.add_argument(
        "--catalog",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="postgresql: also index from a SQLite and a PostgreSQL catalog, side by side",
    )
    parser.add_argument(
        "--index",
        type=Path,
        help="keep the embedded index in this folder, and reuse it if it holds the N documents",
    )
    parser.add_argument(
        "--engine",
        choices=("both", "embedded", "cluster"),
        default="both",
        help="measure only one side (no ratios)",
    )
    args = parser.parse_args()

    t = time.perf_counter()
    pool = paragraphs()
    documents = corpus(args.n, pool)
    mix = queries(pool)
    print(
        f"corpus: {len(pool['en'])} English and {len(pool['zh'])} Chinese paragraphs -> "
        f"{len(documents):,} documents ({sum(len(d.text) for d in documents) / 1e6:.0f}M chars) "
        f"in {time.perf_counter() - t:.0f}s; {len(mix)} queries"
    )

    if args.catalog == "postgresql":
        compare_catalogs(documents)
    results: dict[str, dict[str, float]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="vestige-bench-"))
    try:
        if args.engine != "cluster":
            embedded = EmbeddedBackend(args.index or workdir / "index")
            results["embedded"] = measure("embedded", embedded, documents, mix)
            embedded.close()
            results["embedded"]["peak_rss_mb"] = (
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            )
        if args.engine != "embedded":
            with cluster(args.url) as url:
                distribution = detect_distribution(url)
                remote = ClusterBackend.connect(url, distribution, alias="vestige-bench")
                try:
                    results[distribution] = measure(distribution, remote, documents, mix)
                finally:
                    for index in remote.client.indices.get(index="vestige-bench-*"):
                        remote.client.indices.delete(index=index)
                    remote.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    names = list(results)
    print()
    print(f"{'':28}" + "".join(f"{name:>16}" for name in names))
    for key in results[names[0]]:
        if key in results[names[-1]]:
            print(f"{key:28}" + "".join(f"{results[name][key]:>16,.1f}" for name in names))
    if len(names) == 2:
        base, other = names
        print()
        print(f"ratios {base}/{other} (below 1 for latency, above 1 for docs/s, favour {base}):")
        for key in results[base]:
            if key in results[other] and results[other][key] and "CPU" not in key:
                print(f"  {key:26} {results[base][key] / results[other][key]:8.2f}")
    if "embedded" in results:
        p95, cpu = results["embedded"]["c1 p95 ms"], results["embedded"]["c1 thread CPU p95 ms"]
        print(
            f"\nembedded p95 at concurrency 1: {p95:.1f} ms, {cpu:.1f} ms of CPU "
            "(goal: under 20 ms at 100k docs)"
        )


def catalog_rows(documents: list[IndexDocument]) -> Iterator[dict]:
    """The documents as rows of the catalog's documents table (what ingest writes)."""
    for document in documents:
        yield {
            "id": document.id,
            "record_id": f"<urn:bench:{document.id}>",
            "url": document.url,
            "collection": document.collection,
            "captured": document.captured,
            "mime": document.mime,
            "title": document.title,
            "authors": list(document.authors),
            "published": document.published,
            "site": document.site,
            "tags": [],
            "language": document.language,
            "languages": {document.language: 1.0},
            "script": document.script,
            "text": document.text,
            "text_simplified": document.text_simplified,
            "word_count": len(document.text.split()),
            "outlinks": [],
            "extraction": "bench",
            "content_hash": document.id,
            "warc_file": "bench/bench.warc.gz",
            "warc_offset": 0,
            "warc_length": 0,
            "seq": document.seq,
            "deleted": False,
        }


def compare_catalogs(documents: list[IndexDocument]) -> None:
    """Index the documents from a SQLite and from a PostgreSQL catalog into the embedded
    engine (``search.indexer.rebuild``, as ``vestige index`` does); print docs/s and the ratio."""
    sys.path.append(str(ROOT / "tests" / "deploy"))
    from pgtools import PostgresCluster
    from sqlalchemy import insert

    from archive.catalog import Catalog
    from ingest.models import Document
    from search.indexer import rebuild

    workdir = Path(tempfile.mkdtemp(prefix="vestige-bench-catalog-"))
    cluster = PostgresCluster(fsync=True)  # durable, as SQLite is
    rates = {}
    try:
        # Warm up (dictionaries, analyzers) so that neither catalog pays for it.
        warm = EmbeddedBackend(workdir / "warm-up")
        index_all(warm, documents[:200])
        warm.close()
        urls = {"sqlite": f"sqlite:///{workdir / 'catalog.sqlite'}"}
        urls["postgresql"] = cluster.create_database()
        for name, url in urls.items():
            catalog = Catalog(url)
            with catalog.session() as session:
                for chunk in batched(catalog_rows(documents), 1000):
                    session.execute(insert(Document), chunk)
            backend = EmbeddedBackend(workdir / f"index-{name}")
            start = time.perf_counter()
            indexed = rebuild(backend, catalog)
            rates[name] = indexed / (time.perf_counter() - start)
            assert indexed == len(documents), f"{name}: indexed {indexed}"
            backend.close()
            catalog.dispose()
            print(f"index from the {name} catalog: {rates[name]:,.1f} docs/s", flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    ratio = rates["sqlite"] / rates["postgresql"]
    print(f"SQLite/PostgreSQL catalog -> index throughput: {ratio:.2f}")


def measure(
    name: str, backend: SearchBackend, documents: list[IndexDocument], mix: list[Node]
) -> dict[str, float]:
    figures = {}
    if backend.checkpoint() == documents[-1].seq:
        print(f"{name}: reusing the index of {len(documents):,} documents", flush=True)
    else:
        print(f"{name}: indexing {len(documents):,} documents...", flush=True)
        figures["index docs/s"] = index_all(backend, documents)
    total = backend.search(parse(""), limit=1).total
    assert total == len(documents), f"{name} holds {total} documents"
    for concurrency in (1, 8):
        times = latencies(backend, mix, concurrency)
        p50, p95, p99 = percentiles([wall for wall, _ in times])
        figures |= {
            f"c{concurrency} p50 ms": p50,
            f"c{concurrency} p95 ms": p95,
            f"c{concurrency} p99 ms": p99,
        }
        print(f"  concurrency {concurrency}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms")
        if concurrency == 1:
            p50, p95, p99 = percentiles([cpu for _, cpu in times])
            figures["c1 thread CPU p95 ms"] = p95
            print(f"    CPU of the searching thread: p50 {p50:.1f}, p95 {p95:.1f}, p99 {p99:.1f}")
    return figures


if __name__ == "__main__":
    main()
