"""Export throughput and memory: 10,000 and 100,000 documents to every format.

For each size, a fresh archive is generated in bulk: one real WARC response record
per document (written with the store, so WARC/WACZ exports copy real records)
and its document row, with text recombined from the shared corpus's pages
(60% English, 40% Chinese). Each export then runs in its own process, so its
peak memory (max RSS) is its own. Prints documents per second per format and
peak memory at each size, with the ratio of the largest size's peak to the
smallest's (goal: at most 1.2) and jsonl's rate (goal: at least 5,000 docs/s).

    python benchmarks/export.py                    # 10,000 and 100,000
    python benchmarks/export.py --sizes 2000 20000 --formats jsonl warc
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _corpus import CORPUS, page_paths

FORMATS = ("jsonl", "csv", "parquet", "warc", "wacz", "bundle")
SITES = [f"{name}.example" for name in ("news", "daily", "times", "post", "herald", "wire")]
PAGES = 150  # corpus pages whose text is recombined into documents
BATCH = 1000


def paragraphs() -> dict[str, list[str]]:
    """Paragraphs by language from the extracted text of some corpus pages."""
    from ingest.extract import extract
    from ingest.extraction import ExtractionError, NotText, Payload

    found: dict[str, list[str]] = {"en": [], "zh": []}
    paths = page_paths()
    random.Random(3).shuffle(paths)
    for path in paths[:PAGES]:
        body = (CORPUS / path).read_bytes()
        if path.endswith(".gz"):
            body = gzip.decompress(body)
        try:
            document = extract(Payload(f"https://corpus.example/{path}", body, "text/html"))
        except (ExtractionError, NotText):
            continue
        if document.language not in found:
            continue
        minimum = 20 if document.language == "zh" else 60
        found[document.language] += [p for p in document.text.split("\n") if len(p) >= minimum]
    return found


def generate(home: Path, n: int, pool: dict[str, list[str]]) -> None:
    """``n`` documents, each with a real WARC response record, written in bulk."""
    from sqlalchemy import insert

    from archive.config import Settings
    from archive.records import new_row
    from archive.repository import Repository
    from archive.warc import Digest, WarcRecord
    from ingest.models import Document, document_id
    from search.analysis import fold

    repository = Repository(Settings(home=home))
    rng = random.Random(n)
    start = datetime(2018, 1, 1, tzinfo=UTC)
    seq = 0
    for first in range(0, n, BATCH):
        records, documents = [], []
        with repository.store.append("bench") as appender:
            for number in range(first, min(n, first + BATCH)):
                language = "zh" if rng.random() < 0.4 else "en"
                text = "\n".join(rng.choice(pool[language]) for _ in range(rng.randint(3, 8)))
                site = rng.choice(SITES)
                url = f"https://{site}/{number % (n // 2 or 1)}/article.html"  # some revisited
                captured = start + timedelta(minutes=number * 7)
                body = f"<html><body><article><p>{text}</p></article></body></html>".encode()
                head = (
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
                payload = str(Digest(body))
                record = WarcRecord(
                    "response",
                    url,
                    captured,
                    "application/http; msgtype=response",
                    head=head,
                    body=io.BytesIO(body),
                    body_length=len(body),
                    payload_digest=payload,
                    block_digest=str(Digest(head + body)),
                )
                location = appender.write_raw(record.serialise())
                row = new_row(
                    record_id=record.record_id,
                    record_type="response",
                    target_uri=url,
                    date=captured,
                    location=location,
                    collection="bench",
                    status=200,
                    mime="text/html",
                    payload_digest=payload,
                )
                records.append(row)
                seq += 1
                documents.append(
                    {
                        "id": document_id(record.record_id),
                        "record_id": record.record_id,
                        "url": row.url,
                        "collection": "bench",
                        "captured": row.timestamp,
                        "status": 200,
                        "mime": "text/html",
                        "title": text.split("\n", 1)[0][:80],
                        "authors": ["Bench Author"] if number % 3 == 0 else [],
                        "published": f"{2015 + number % 9}-0{1 + number % 9}-1{number % 9}",
                        "site": site,
                        "language": language,
                        "script": "Hans" if language == "zh" else "Latn",
                        "text": text,
                        "text_simplified": fold(text) if language == "zh" else None,
                        "word_count": len(text.split()),
                        "extraction": "html",
                        "content_hash": payload,
                        "warc_file": location.warc_file,
                        "warc_offset": location.offset,
                        "warc_length": location.length,
                        "payload_digest": payload,
                        "seq": seq,
                        "deleted": False,
                    }
                )
            appender.sync()
            with repository.catalog.session() as session:
                session.add_all(records)
                session.execute(insert(Document), documents)
    repository.close()


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM, reset by exec unlike ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(home: Path, fmt: str, output: Path) -> None:
    """In a child process: one export; prints its timing and peak memory as JSON."""
    from api.export.exporter import run_export
    from api.export.selection import FIELDS, DocumentSource, Selection, Versions
    from archive.config import Settings
    from archive.repository import Repository

    repository = Repository(Settings(home=home))
    selection = Selection(collection="bench", versions=Versions.all)
    started = time.perf_counter()
    with DocumentSource(repository.catalog, selection) as source:
        summary = run_export(repository, source, fmt, output, fields=list(FIELDS))
    elapsed = time.perf_counter() - started
    peak = peak_rss_mib()
    print(json.dumps({"documents": summary.documents, "seconds": elapsed, "peak_mib": peak,
                      "bytes": summary.bytes}))  # fmt: skip
    repository.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument(
        "--run", nargs=3, metavar=("HOME", "FORMAT", "OUTPUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.run:
        run_one(Path(args.run[0]), args.run[1], Path(args.run[2]))
        return
    pool = paragraphs()
    results: dict[tuple[int, str], dict] = {}
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="vestige-export-bench-") as folder:
            home = Path(folder) / "home"
            started = time.perf_counter()
            generate(home, n, pool)
            print(f"generated {n:,} documents and records in {time.perf_counter() - started:.1f}s")
            for fmt in args.formats:
                output = Path(folder) / f"export.{fmt}"
                child = subprocess.run(
                    [sys.executable, __file__, "--run", str(home), fmt, str(output)],
                    capture_output=True,
                    text=True,
                    env=os.environ | {"VESTIGE_HOME": str(home)},
                )
                if child.returncode != 0:
                    sys.exit(f"export {fmt} at {n} failed:\n{child.stderr}")
                result = json.loads(child.stdout.strip().splitlines()[-1])
                results[(n, fmt)] = result
                print(
                    f"  {fmt:8} {result['documents'] / result['seconds']:9,.0f} docs/s  "
                    f"peak {result['peak_mib']:7.1f} MiB  {result['bytes'] / 2**20:8.1f} MiB out"
                )
                output.unlink()
    small, large = min(args.sizes), max(args.sizes)
    print()
    print(f"{'format':8} " + " ".join(f"{f'docs/s @{n:,}':>16}" for n in args.sizes)
          + " " + " ".join(f"{f'peak MiB @{n:,}':>18}" for n in args.sizes)
          + f" {'peak ratio':>11}")  # fmt: skip
    for fmt in args.formats:
        rates = " ".join(
            f"{results[(n, fmt)]['documents'] / results[(n, fmt)]['seconds']:16,.0f}"
            for n in args.sizes
        )
        peaks = " ".join(f"{results[(n, fmt)]['peak_mib']:18.1f}" for n in args.sizes)
        ratio = results[(large, fmt)]["peak_mib"] / results[(small, fmt)]["peak_mib"]
        print(f"{fmt:8} {rates} {peaks} {ratio:11.2f}")
    if "jsonl" in args.formats:
        rate = results[(large, "jsonl")]["documents"] / results[(large, "jsonl")]["seconds"]
        print(f"\njsonl at {large:,}: {rate:,.0f} docs/s (goal >= 5,000)")


if __name__ == "__main__":
    main()
