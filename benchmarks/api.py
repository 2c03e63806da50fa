"""Service benchmark: searches, document views and archived copies under concurrent use.

Builds a WARC of N generated pages (default 20,000; English and Chinese, recombined from
the paragraphs of the real pages in ``../shared/corpus``), loads it as a user would
(``vestige import``, ``vestige ingest``, ``vestige index``, ``vestige token create``),
starts ``vestige serve`` on loopback, measures latencies idle (one client), then runs
C concurrent clients (default 16) for S seconds (default 60) issuing a mix of searches,
document pages and archived copies (the page and its framed copy) while capture jobs fetch
real pages from a local server. Prints requests/s, p50/p95/p99 per endpoint, errors, CPU
per request (service and clients), and the ratio of search p95 under load to search p95
idle (goal: 2 or less with ``--think 0.5``). With ``--workers 1,2`` (the default) it does
this for ``vestige serve --workers 1`` and then ``--workers 2`` on the same archive, and
prints the figures side by side, with the cores the service obtained and what its CPU per
request says more cores would give.

The loaded clients do not pause (unless ``--think``): they keep the service saturated, so
each request waits about clients / throughput (Little's law), which the run prints too.

    python benchmarks/api.py                          # 20,000 documents, 16 clients, 60 s
    python benchmarks/api.py --n 2000 --seconds 15    # a quick run
    python benchmarks/api.py --think 0.5 --workers 1,2,4
    python benchmarks/api.py --home /tmp/bench        # keep the archive; reuse it next time
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import importlib.util
import io
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parents[1]
# The benchmarks folder holds a search.py: it must not shadow the ``search`` package.
sys.path[0] = str(ROOT)
sys.path.append(str(ROOT / "benchmarks"))

from _corpus import page_paths, page_server  # noqa: E402
from sqlalchemy import select  # noqa: E402

from archive.config import Settings  # noqa: E402
from archive.repository import Repository  # noqa: E402
from archive.warc import Digest, WarcRecord  # noqa: E402
from ingest.models import Document  # noqa: E402

# Fixed query mix: words of the corpus's subject in both languages, phrases, exclusions,
# Traditional queries for Simplified text, filters.
QUERIES = [
    "tribunal",
    "witness",
    "detention",
    "evidence",
    "hospital",
    "organ transplant",
    '"human rights"',
    "prisoners -police",
    "government lang:en",
    "report after:2018",
    "器官",
    "法轮功",
    "法輪功",
    "人权 报告",
    "证据 lang:zh",
    '"中国共产党"',
    "迫害 before:2020",
    "police OR court",
]
CLIENT = "bench"
VESTIGE = [sys.executable, "-c", "from api.cli import main; main()"]


def _benchmark(name: str):
    """benchmarks/<name>.py as a module (its own name would shadow the package of that name)."""
    module_name = f"{name}_benchmark"
    if module_name not in sys.modules:
        path = ROOT / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(module_name, path)
        sys.modules[module_name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[module_name])
    return sys.modules[module_name]


def build_warc(path: Path, count: int) -> None:
    """Write ``count`` generated HTML pages as response records (gzip per record) to ``path``."""
    bench = _benchmark("search")
    documents = bench.corpus(count, bench.paragraphs())
    start = datetime(2025, 1, 1)
    with open(path, "wb") as out:
        for number, document in enumerate(documents):
            paragraphs = "".join(f"<p>{escape(p)}</p>" for p in document.text.split("\n"))
            html = (
                f"<html lang='{document.language}'><head><meta charset='utf-8'>"
                f"<title>{escape(document.title)}</title>"
                f"<meta property='article:published_time' content='{document.published}'>"
                f"</head><body><article><h1>{escape(document.title)}</h1>{paragraphs}"
                "</article></body></html>"
            )
            body = html.encode()
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode("latin-1")
            record = WarcRecord(
                "response",
                document.url,
                start + timedelta(minutes=number),
                "application/http; msgtype=response",
                head=head,
                body=io.BytesIO(body),
                body_length=len(body),
                payload_digest=str(Digest(body)),
            )
            out.write(gzip.compress(b"".join(record.serialise()), compresslevel=1))


def vestige(env: dict[str, str], *args: str | Path) -> str:
    """Run a ``vestige`` command; its standard output (fails the benchmark if it fails)."""
    done = subprocess.run(
        [*VESTIGE, *args],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"error: vestige {' '.join(map(str, args))} failed:\n{done.stderr}")
    return done.stdout


def load(env: dict[str, str], folder: Path, count: int) -> None:
    """Import, ingest and index ``count`` generated pages, as a user would."""
    warc = folder / "pages.warc.gz"
    steps = {
        "generated the WARC": lambda: build_warc(warc, count),
        "imported": lambda: vestige(env, "import", "--no-ingest", f"--collection={CLIENT}", warc),
        "ingested": lambda: vestige(env, "ingest"),
        "indexed": lambda: vestige(env, "index"),
    }
    for step, action in steps.items():
        started = time.perf_counter()
        action()
        print(f"  {step} in {time.perf_counter() - started:.1f} s", flush=True)


def targets_and_token(env: dict[str, str], settings: Settings) -> tuple[list, str]:
    """(document id, captured, URL) of every document, and a new API token."""
    name = f"benchmark-{datetime.now():%Y%m%d%H%M%S}"
    token = vestige(env, "token", "create", name).strip().splitlines()[-1]
    repository = Repository(settings)
    try:
        with repository.catalog.session() as session:
            targets = session.execute(
                select(Document.id, Document.captured, Document.url).where(
                    Document.deleted.is_(False)
                )
            ).all()
    finally:
        repository.close()
    return [tuple(row) for row in targets], token


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


class Tally:
    """Latencies and errors per endpoint."""

    def __init__(self) -> None:
        self.timings: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)

    async def get(self, client: httpx.AsyncClient, kind: str, path: str) -> None:
        started = time.perf_counter()
        try:
            response = await client.get(path)
            if response.status_code != 200:
                self.errors[kind].append(f"{response.status_code} {path}")
        except httpx.HTTPError as exc:
            self.errors[kind].append(f"{type(exc).__name__} {path}")
        self.timings[kind].append(time.perf_counter() - started)

    def report(self, title: str, seconds: float) -> None:
        total = sum(len(v) for v in self.timings.values())
        print(f"\n{title}: {total:,} requests in {seconds:.0f} s = {total / seconds:,.1f}/s")
        columns = ("count", "p50 ms", "p95 ms", "p99 ms")
        print(f"  {'endpoint':<9} " + " ".join(f"{c:>8}" for c in columns) + f" {'errors':>6}")
        for kind in sorted(self.timings):
            values = self.timings[kind]
            print(
                f"  {kind:<9} {len(values):>8,} {percentile(values, 0.5) * 1000:>8.1f} "
                f"{percentile(values, 0.95) * 1000:>8.1f} {percentile(values, 0.99) * 1000:>8.1f} "
                f"{len(self.errors.get(kind, [])):>6}"
            )
        for kind, problems in self.errors.items():
            for problem in problems[:3]:
                print(f"  error ({kind}): {problem}")

    def cpu(self, used: dict[str, float], elapsed: float) -> None:
        """CPU time (of the service's processes, of these clients) per request and per second."""
        requests = max(1, sum(len(v) for v in self.timings.values()))
        print(
            "  CPU per request: "
            + ", ".join(
                f"{who} {seconds / requests * 1000:.1f} ms ({seconds / elapsed:.0%} of a core)"
                for who, seconds in used.items()
            )
        )


async def visit(client: httpx.AsyncClient, tally: Tally, rng: random.Random, targets: list) -> None:
    """Half searches, a quarter document pages, a quarter archived copies (page and frame)."""
    roll = rng.random()
    if roll < 0.5:
        await tally.get(client, "search", "/api/v1/search?" + urlencode({"q": rng.choice(QUERIES)}))
        return
    doc_id, captured, url = rng.choice(targets)
    if roll < 0.75:
        await tally.get(client, "document", f"/documents/{doc_id}")
        return
    stamp = f"{captured:%Y%m%d%H%M%S}"
    await tally.get(client, "archived", f"/archive/{stamp}/{url}")
    await tally.get(client, "replay", f"/web/{stamp}id_/{url}")


async def run_clients(
    base: str, clients: int, seconds: float, targets: list, think: float = 0
) -> Tally:
    """``clients`` clients visiting again and again for ``seconds``, pausing ``think``
    seconds on average between visits (none: the service is saturated)."""
    tally = Tally()
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def worker(number: int) -> None:
            rng = random.Random(number)
            while time.monotonic() < deadline:
                await visit(client, tally, rng, targets)
                if think:
                    await asyncio.sleep(rng.uniform(0, 2 * think))

        await asyncio.gather(*(worker(n) for n in range(clients)))
    return tally


def capture_load(base: str, token: str, site: str, stop: threading.Event, done: list) -> None:
    """Capture jobs of 4 real pages each, one after another, until told to stop."""
    paths = page_paths()
    headers = {"Authorization": f"Bearer {token}"}
    number = 0
    with httpx.Client(base_url=base, timeout=60, headers=headers) as client:
        while not stop.is_set():
            pages = (paths[(number * 4 + n) % len(paths)] for n in range(4))
            urls = [f"{site}/live-{number}-{n}/{page}" for n, page in enumerate(pages)]
            number += 1
            started = time.monotonic()
            accepted = client.post("/api/v1/captures", json={"urls": urls})
            if accepted.status_code != 202:
                done.append(("refused", f"{accepted.status_code} {accepted.text[:200]}", 0))
                time.sleep(1)
                continue
            job_id = accepted.json()["id"]
            while not stop.is_set():
                state = client.get(f"/api/v1/jobs/{job_id}").json()
                if state["state"] in ("done", "failed"):
                    done.append((state["state"], state["urls"], time.monotonic() - started))
                    break
                time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="Documents to load.")
    parser.add_argument("--clients", type=int, default=16, help="Concurrent clients.")
    parser.add_argument("--seconds", type=float, default=60, help="Length of the loaded run.")
    parser.add_argument("--idle-seconds", type=float, default=30, help="Length of the idle run.")
    parser.add_argument(
        "--think",
        type=float,
        default=0,
        help="Seconds each loaded client pauses between visits, on average, as a reader "
        "would (default 0: no pause, the clients saturate the service).",
    )
    parser.add_argument(
        "--no-captures", action="store_true", help="Run the load without background captures."
    )
    parser.add_argument(
        "--workers",
        default="1,2",
        help="Service process counts to measure one after another (default 1,2).",
    )
    parser.add_argument(
        "--home",
        type=Path,
        help="Keep the archive here, and reuse it if a run already loaded it "
        "(default: a temporary folder).",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vestige-bench-api-") as folder:
        home = args.home or Path(folder) / "home"
        env = {
            **os.environ,
            "VESTIGE_HOME": str(home),
            "VESTIGE_CAPTURE_ALLOW_PRIVATE": "1",
            "PYTHONPATH": str(ROOT),
        }
        for name in ("VESTIGE_SEARCH_URL", "VESTIGE_DATABASE_URL", "VESTIGE_REPLAY_URL"):
            env.pop(name, None)
        settings = Settings(home=home, capture_allow_private=True)
        loaded = home / "benchmark-loaded"  # written once a run has loaded the archive
        if loaded.exists():
            print(f"reusing the archive in {home}")
        else:
            print(f"loading {args.n:,} documents (generated from the corpus's paragraphs)...")
            started = time.perf_counter()
            load(env, Path(folder), args.n)
            loaded.touch()
            print(f"loaded in {time.perf_counter() - started:.1f} s")
        targets, token = targets_and_token(env, settings)
        print(f"{len(targets):,} documents")

        figures = {}
        with page_server() as site:
            for workers in [int(count) for count in args.workers.split(",")]:
                print(f"\n== vestige serve --workers {workers}")
                port = _free_port()
                base = f"http://127.0.0.1:{port}"
                log = Path(folder) / f"serve-{workers}.log"
                with open(log, "w") as output:
                    server = subprocess.Popen(
                        [*VESTIGE, "serve", f"--port={port}", f"--workers={workers}"],
                        env=env,
                        stdout=output,
                        stderr=output,
                    )
                    try:
                        wait_until_up(base, server)
                        figures[workers] = measure(args, base, site, token, targets, server.pid)
                    finally:
                        server.terminate()
                        server.wait(60)
                report_tracebacks(log.read_text())
        side_by_side(figures, args)


def side_by_side(figures: dict[int, dict[str, float]], args: argparse.Namespace) -> None:
    """The figures of each process count in one table, and what more cores would give."""
    think = f", {args.think:g} s think time" if args.think else ", no think time"
    print(f"\nside by side ({args.clients} clients{think}; load average {_loadavg()}):")
    print(
        f"  {'workers':>7} {'idle p95':>9} {'load p95':>9} {'ratio':>6} {'req/s':>7} "
        f"{'CPU/req':>8} {'cores got':>9}"
    )
    for workers, f in figures.items():
        print(
            f"  {workers:>7} {f['idle_p95'] * 1000:>7.1f}ms {f['load_p95'] * 1000:>7.1f}ms "
            f"{f['load_p95'] / f['idle_p95']:>6.2f} {f['rate']:>7.1f} "
            f"{f['cpu_per_request'] * 1000:>6.1f}ms {f['cores']:>9.2f}"
        )
    print(f"  goal: search p95 under load / idle <= 2 (with --think 0.5); {os.cpu_count()} cores")
    # Capacity by the same measure: requests/s that N cores serve at this CPU per request.
    cost = min(f["cpu_per_request"] for f in figures.values())
    print(
        "  capacity at the lowest CPU per request: "
        + ", ".join(f"{cores} cores {cores / cost:,.0f} req/s" for cores in (2, 4, 8))
    )


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def report_tracebacks(log: str) -> None:
    """How many tracebacks the service logged, and the first one; processes that died."""
    for line in log.splitlines():
        if "died" in line:
            print(f"service log: {line.strip()}")
    tracebacks = log.split("Traceback (most recent call last):")[1:]
    if tracebacks:
        print(f"\nservice log: {len(tracebacks)} tracebacks; the first:")
        print("\n".join(tracebacks[0].strip().splitlines()[-16:]))


def wait_until_up(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(base + "/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            sys.exit("error: the service did not start")
        time.sleep(0.2)


def measure(
    args: argparse.Namespace, base: str, site: str, token: str, targets: list, server: int
) -> dict[str, float]:
    """The idle run, the loaded run, and the figures."""
    tree_cpu = _benchmark("ingest")._tree_cpu_seconds

    def cpu_since(start: dict[str, float] | None = None) -> dict[str, float]:
        now = {"service": tree_cpu(server), "clients": time.process_time()}
        return {who: seconds - (start or {}).get(who, 0) for who, seconds in now.items()}

    # Warm up: the first queries load the index, tokenizer dictionaries and templates.
    asyncio.run(run_clients(base, 2, 5, targets))
    cpu = cpu_since()
    idle = asyncio.run(run_clients(base, 1, args.idle_seconds, targets))
    idle.report("idle (1 client, the same mix, no captures)", args.idle_seconds)
    idle.cpu(cpu_since(cpu), args.idle_seconds)

    cpu = cpu_since()
    stop = threading.Event()
    jobs: list = []
    capturer = threading.Thread(target=capture_load, args=(base, token, site, stop, jobs))
    if not args.no_captures:
        capturer.start()
    loaded = asyncio.run(run_clients(base, args.clients, args.seconds, targets, args.think))
    cpu = cpu_since(cpu)
    stop.set()
    if capturer.is_alive():
        capturer.join(120)
    captures = "" if args.no_captures else ", captures running"
    think = f", {args.think:g} s pauses" if args.think else ""
    loaded.report(f"load ({args.clients} clients{think}, mixed{captures})", args.seconds)
    loaded.cpu(cpu, args.seconds)
    if not args.think:
        # Little's law: with every client always waiting, each waits clients / throughput.
        rate = sum(len(v) for v in loaded.timings.values()) / args.seconds
        print(
            f"  saturated: {args.clients} clients / {rate:.1f} requests/s = "
            f"{args.clients / rate * 1000:.0f} ms per request on average"
        )

    finished = [urls for state, urls, _ in jobs if state in ("done", "failed")]
    refused = [detail for state, detail, _ in jobs if state == "refused"]
    durations = [seconds for state, _, seconds in jobs if state != "refused"]
    items = [item for urls in finished for item in urls]
    failed = [item for item in items if item["state"] != "done" or item.get("after_store_error")]
    if not args.no_captures:
        print(
            f"  captures during the run: {len(finished)} jobs, {len(items)} URLs, "
            f"{sum(1 for item in items if item['searchable'])} searchable when the job ended, "
            f"{len(failed)} failed, {len(refused)} jobs refused; "
            f"{sum(durations) / max(1, len(durations)):.1f} s per job"
        )
        for item in failed[:3]:
            print(f"  capture failed: {item['url']}: {item['error'] or item['after_store_error']}")
        for detail in refused[:3]:
            print(f"  capture refused: {detail}")

    idle_p95 = percentile(idle.timings["search"], 0.95)
    load_p95 = percentile(loaded.timings["search"], 0.95)
    errors = sum(len(v) for v in loaded.errors.values()) + len(failed) + len(refused)
    print(f"\nerrors under load: {errors} (goal: 0)")
    print(
        f"search p95 under load / idle: {load_p95 * 1000:.1f} ms / {idle_p95 * 1000:.1f} ms "
        f"= {load_p95 / idle_p95:.2f} (goal: 2 or less with --think 0.5)"
    )
    requests = sum(len(v) for v in loaded.timings.values())
    return {
        "idle_p95": idle_p95,
        "load_p95": load_p95,
        "rate": requests / args.seconds,
        "cpu_per_request": cpu["service"] / max(1, requests),
        "cores": cpu["service"] / args.seconds,
    }


if __name__ == "__main__":
    main()
