"""Ingest throughput against trafilatura alone, and with more workers.

Replicates the real pages of ``../shared/corpus`` into a generated WARC of at
least ``--n`` response records (each copy its own URL; half with a charset in
the HTTP header), then measures in one run:

(a) ``trafilatura.extract`` alone on the same payload bytes;
(m) the same with ``with_metadata=True``: trafilatura doing all the
    extraction a document needs (text and metadata), the like-for-like base;
(b) the full ingest path (read WARC, decode, extract, language, catalog
    writes) with 1 worker;
(c) the same with 2 workers, on its own copy of the archive.

The machine is shared, so the phases are interleaved: the records are cut
into ``--rounds`` slices and each round runs (a), (b) and (c) on the same
slice, in an order that rotates from round to round. Each phase lives in its
own long-lived process (and its workers), so its peak memory is its own
(sampled proportional set size, summed over the process tree). The ratios
printed are medians of the per-round ratios: phases close in time see the
same load, so the ratios hold while other processes come and go. CPU time
of each phase's process tree is measured too: docs per CPU-second shows what
the path itself costs, and CPU cores obtained (CPU time / wall time) shows
what the machine allowed; on a loaded machine the cores obtained bound c/b
whatever the code does.

Prints docs/s for each phase, b/a (goal >= 0.85), b/m, c/b (goal >= 1.7), peak
memory, and the mean token F1 of (b) and of (a) on the ground-truth pages.

With ``--catalog postgresql`` it also runs (d), (b) with the catalog in a
throwaway PostgreSQL cluster (``initdb``/``pg_ctl`` on a temporary directory,
as the tests start one), and prints the SQLite/PostgreSQL throughput ratio b/d.

    python benchmarks/ingest.py                      # 5,000 records, 5 rounds
    python benchmarks/ingest.py --n 600 --rounds 3   # quick
    python benchmarks/ingest.py --n 600 --rounds 3 --catalog postgresql
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
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
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def copy_url(page: CorpusPage, copy: int) -> str:
    """The URL of the ``copy``-th copy of ``page`` in the generated archive."""
    return f"{page.url}{'&' if '?' in page.url else '?'}copy={copy}"


def build_archive(
    home: Path, pages: list[CorpusPage], n: int, database_url: str | None = None
) -> None:
    """Store ``n`` copies of the pages as response records (record i is page i mod pages)."""
    repository = Repository(Settings(home=home, database_url=database_url))
    rows = []
    with repository.store.append(COLLECTION) as appender:
        for i in range(n):
            page = pages[i % len(pages)]
            body = page.body()
            url = copy_url(page, i // len(pages))
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
    with repository.catalog.session() as session:
        session.add_all(rows)
    repository.close()


# -- process trees (Linux /proc) -----------------------------------------------


def _tree(root: int) -> list[int]:
    """``root`` and every live descendant of it."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found = []
    for pid in parents:
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == root:
            found.append(pid)
    return found


def _tree_pss_mib(root: int) -> float:
    """Proportional memory of ``root`` and its descendants, in MiB.

    PSS, not RSS: pages the workers share with the forkserver they were forked
    from count once in the sum, not once per process.
    """
    total = 0
    for pid in _tree(root):
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in rollup.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1])
    return total / 1024


def _tree_cpu_seconds(root: int) -> float:
    """CPU time of ``root`` and its descendants, including descendants already reaped.

    Pool workers are children of the forkserver: once it reaps them, their
    time shows in its cutime/cstime.
    """
    ticks = 0
    for pid in _tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / _CLOCK_TICKS


# -- the phase processes -------------------------------------------------------


def serve_phase(phase: str, home: Path, workers: int) -> None:
    """Child process: for each ``start end`` line on stdin, process that slice of the
    records and print its wall time, CPU time and counts as one JSON line."""
    import logging

    logging.disable(logging.WARNING)  # trafilatura logs every page it finds odd
    if phase in ("a", "m"):
        import trafilatura

        pages = list(corpus_pages(CORPUS))
        bodies = [page.body() for page in pages]

        def work(start: int, end: int) -> tuple[int, int]:
            for i in range(start, end):
                page = i % len(pages)
                trafilatura.extract(
                    bodies[page],
                    url=copy_url(pages[page], i // len(pages)),
                    with_metadata=phase == "m",
                )
            return end - start, 0
    else:
        from sqlalchemy import select

        from archive.catalog import Record
        from ingest.pipeline import Ingester

        # The catalog is VESTIGE_DATABASE_URL when set (the PostgreSQL variant).
        repository = Repository(Settings(home=home))
        with repository.catalog.session() as session:
            ids = list(session.scalars(select(Record.id).order_by(Record.id)))

        # One ingester for every round: its worker processes start once and stay.
        ingester = Ingester(repository, workers=workers)

        def work(start: int, end: int) -> tuple[int, int]:
            summary = ingester.run(record_ids=ids[start:end])
            return summary.created, sum(summary.failed.values())

    for line in sys.stdin:
        start, end = map(int, line.split())
        cpu, wall = _tree_cpu_seconds(os.getpid()), time.perf_counter()
        main_cpu = time.process_time()
        documents, failed = work(start, end)
        wall = time.perf_counter() - wall
        cpu = _tree_cpu_seconds(os.getpid()) - cpu
        main_cpu = time.process_time() - main_cpu
        counts = {"documents": documents, "failed": failed, "main_cpu": main_cpu}
        print(json.dumps({"seconds": wall, "cpu": cpu, **counts}))
        sys.stdout.flush()


@dataclass
class Phase:
    """One measured phase, served by a long-lived child process."""

    name: str
    label: str
    home: Path
    workers: int = 1
    database_url: str | None = None
    rounds: list[dict] = field(default_factory=list)
    peak_pss_mib: float = 0.0
    process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {key: value for key, value in os.environ.items() if key != "VESTIGE_DATABASE_URL"}
        if self.database_url:
            env["VESTIGE_DATABASE_URL"] = self.database_url
        command = [sys.executable, __file__, "--child", self.name, "--home", str(self.home)]
        self.process = subprocess.Popen(
            [*command, "--workers", str(self.workers)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def run(self, start: int, end: int) -> None:
        assert self.process is not None and self.process.stdin and self.process.stdout
        self.process.stdin.write(f"{start} {end}\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            sys.exit(f"error: phase ({self.name}) died (exit status {self.process.wait()})")
        self.rounds.append(json.loads(line))

    def stop(self) -> None:
        if self.process is not None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait()

    def sample_memory(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.peak_pss_mib = max(self.peak_pss_mib, _tree_pss_mib(self.process.pid))

    def rates(self) -> list[float]:
        """docs/s of each round."""
        return [r["documents"] / r["seconds"] for r in self.rounds]

    @property
    def documents(self) -> int:
        return sum(r["documents"] for r in self.rounds)

    @property
    def failed(self) -> int:
        return sum(r["failed"] for r in self.rounds)

    def rate(self) -> float:
        return self.documents / sum(r["seconds"] for r in self.rounds)

    def cores(self) -> float:
        """CPU cores the phase obtained on average (CPU time / wall time)."""
        return sum(r["cpu"] for r in self.rounds) / sum(r["seconds"] for r in self.rounds)

    def per_cpu_second(self) -> float:
        return self.documents / max(sum(r["cpu"] for r in self.rounds), 1e-9)

    def main_share(self) -> float:
        """The share of the phase's CPU time spent in its main process (not in workers)."""
        main = sum(r["main_cpu"] for r in self.rounds)
        return main / max(sum(r["cpu"] for r in self.rounds), 1e-9)


def median_ratio(top: Phase, bottom: Phase) -> tuple[float, list[float]]:
    """The median of the per-round throughput ratios top/bottom, and each round's."""
    ratios = [t / b for t, b in zip(top.rates(), bottom.rates(), strict=True)]
    return statistics.median(ratios), ratios


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
        url = normalise_url(copy_url(page, 0))
        if page.reference is None or url not in texts:
            continue
        ours += token_f1(texts[url], page.reference)
        alone += token_f1(trafilatura.extract(page.body(), url=page.url) or "", page.reference)
        count += 1
    return ours / max(count, 1), alone / max(count, 1), count


def _postgres(stack: ExitStack) -> str:
    """A database in a throwaway PostgreSQL cluster, stopped when ``stack`` closes."""
    sys.path.insert(0, str(ROOT / "tests" / "deploy"))
    from pgtools import PostgresCluster

    cluster = PostgresCluster(fsync=True)  # durable, as SQLite is
    stack.callback(cluster.stop)
    return cluster.create_database()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="records in the generated WARC")
    parser.add_argument(
        "--rounds", type=int, default=5, help="slices of the records; phases alternate per slice"
    )
    parser.add_argument(
        "--catalog",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="postgresql: also ingest with the catalog in a throwaway PostgreSQL cluster",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        serve_phase(args.child, args.home, args.workers)
        return
    if not CORPUS.is_dir():
        sys.exit(f"error: the shared corpus is not at {CORPUS}")
    n, rounds = max(args.n, 1), max(1, min(args.rounds, args.n))
    pages = list(corpus_pages(CORPUS))
    with tempfile.TemporaryDirectory(prefix="vestige-bench-") as tmp, ExitStack() as stack:
        one, two = Path(tmp) / "one", Path(tmp) / "two"
        build_archive(one, pages, n)
        shutil.copytree(one, two)
        phases = [
            Phase("a", "trafilatura alone", one),
            Phase("m", "trafilatura + metadata", one),
            Phase("b", "vestige ingest, 1 wkr", one, 1),
            Phase("c", "vestige ingest, 2 wkrs", two, 2),
        ]
        if args.catalog == "postgresql":
            url = _postgres(stack)
            build_archive(Path(tmp) / "postgres", pages, n, database_url=url)
            phases.append(Phase("d", "ingest, 1 wkr, PostgreSQL", Path(tmp) / "postgres", 1, url))
        load = os.getloadavg()[0]
        print(
            f"{n:,} records from {len(pages)} corpus pages, {rounds} rounds of "
            f"~{n // rounds:,}; load average {load:.1f} on {os.cpu_count()} CPUs"
        )
        for phase in phases:
            phase.start()
            stack.callback(phase.stop)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.25):
                for phase in phases:
                    phase.sample_memory()

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        bounds = [n * r // rounds for r in range(rounds + 1)]
        for r in range(rounds):
            # Rotate the order so that no phase always runs first (or last).
            for phase in phases[r % len(phases) :] + phases[: r % len(phases)]:
                phase.run(bounds[r], bounds[r + 1])
            figures = "  ".join(f"({p.name}) {p.rates()[-1]:.1f}" for p in phases)
            print(f"  round {r + 1}: {figures} docs/s", flush=True)
        done.set()
        sampler.join()
        f1_ours, f1_alone, f1_pages = f1_against_trafilatura(one, pages)
        load = os.getloadavg()[0]

    by_name = {phase.name: phase for phase in phases}
    a, b, c, m = by_name["a"], by_name["b"], by_name["c"], by_name["m"]
    print(f"{'':28s} {'docs/s':>8s} {'CPU cores':>10s} {'docs/CPU-s':>11s} {'peak PSS':>9s}")
    for phase in phases:
        print(
            f"({phase.name}) {phase.label:24s} {phase.rate():8.1f} {phase.cores():10.2f} "
            f"{phase.per_cpu_second():11.1f} {phase.peak_pss_mib:6.0f} MiB"
        )
    if b.failed or c.failed:
        print(f"failed records: (b) {b.failed}, (c) {c.failed}")
    ratios = {"b/a": (b, a, 0.85), "b/m": (b, m, 0.85), "c/b": (c, b, 1.7)}
    for name, (top, bottom, goal) in ratios.items():
        ratio, each = median_ratio(top, bottom)
        rounds_text = " ".join(f"{value:.2f}" for value in each)
        print(f"{name} = {ratio:.2f}  (goal >= {goal}; median of rounds: {rounds_text})")
    print(
        f"  b/a by CPU time (docs per CPU-second, steady under load) = "
        f"{b.per_cpu_second() / a.per_cpu_second():.2f}"
    )
    print(
        f"  c/b split: CPU cores obtained {c.cores() / b.cores():.2f}, "
        f"CPU cost per document {b.per_cpu_second() / c.per_cpu_second():.2f} "
        f"(1.00 = workers add no CPU work); load average now {load:.1f}"
    )
    # With the cores it can use, a pool's rate is its docs per CPU-second times its
    # workers, unless the main process (reading, catalog writes) is the bottleneck.
    main = c.main_share() / max(c.per_cpu_second(), 1e-9)  # main-process CPU-s per document
    workers_cpu = (1 - c.main_share()) / max(c.per_cpu_second(), 1e-9)
    projected = min(c.workers / workers_cpu, 1 / max(main, 1e-9)) / b.per_cpu_second()
    on_two = 2 * c.per_cpu_second() / b.per_cpu_second()
    print(
        f"c/b normalised by CPU = {on_two:.2f} with 2 cores each busy, {projected:.2f} with "
        f"{c.workers + 1} (goal >= 1.7): CPU per document {main * 1000:.1f} ms in the main "
        f"process + {workers_cpu * 1000:.1f} ms in workers, against {1000 / b.per_cpu_second():.1f}"
        " ms for (b)"
    )
    if "d" in by_name:
        ratio, _ = median_ratio(b, by_name["d"])
        print(f"SQLite/PostgreSQL ingest throughput b/d = {ratio:.2f}")
    print(
        f"extraction F1 on {f1_pages} ground-truth pages: vestige {f1_ours:.3f}, "
        f"trafilatura alone {f1_alone:.3f} (ratio {f1_ours / max(f1_alone, 1e-9):.3f})"
    )


if __name__ == "__main__":
    main()
