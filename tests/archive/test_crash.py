"""Killing ``vestige capture`` with SIGKILL at random points loses nothing it acknowledged.

Each round starts a real capture process against a real HTTP server on
loopback and kills it: after a random number of acknowledged captures, at a
random moment (possibly while it is still repairing the last round's file),
or while a large body is being written to its WARC file. The next round's
process starts on the crashed archive, as a restarted one would. Finally
``vestige verify`` must be clean and every acknowledged capture must be
catalogued and read back with its exact payload.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from warcio.archiveiterator import ArchiveIterator

from archive.catalog import Record
from archive.config import Settings
from archive.repository import Repository
from archive.store import OPEN_SUFFIX, Location
from conftest import Route, WebServer, missing_part

ROUNDS = 8
PAGES_PER_ROUND = 40
BIG_BODY = 6 * 1024 * 1024
CAPTURE = "from api.cli import main; main()"
# Captures from eight threads, each printed (as `vestige capture` prints it)
# once capture() returns: the batches of concurrent captures share fsyncs and
# catalog transactions.
CONCURRENT_CAPTURE = """
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from archive.capture import Capturer
from archive.config import get_settings
from archive.repository import Repository

capturer = Capturer(Repository(get_settings()))
with ThreadPoolExecutor(8) as pool:
    for done in as_completed([pool.submit(capturer.capture, url) for url in sys.argv[1:]]):
        result = done.result()
        where = f"{result.location.warc_file}:{result.location.offset}"
        print(result.status, result.final_url, where, result.payload_digest, flush=True)
"""


@dataclass(frozen=True)
class Ack:
    """One line ``vestige capture`` printed: the capture is acknowledged."""

    url: str
    location: Location
    payload_digest: str


def parse_ack(line: str) -> Ack:
    status, url, where, digest = line.split()[:4]
    assert status == "200", line
    warc_file, offset = where.rsplit(":", 1)
    return Ack(url, Location(warc_file, int(offset), 0), digest)


class CaptureProcess:
    """``vestige capture`` in a subprocess; its acknowledged lines arrive on a queue."""

    def __init__(
        self,
        urls: list[str],
        env: dict[str, str],
        command: tuple[str, ...] = (CAPTURE, "capture", "--no-ingest"),
    ) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", *command, *urls],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.acks: list[Ack] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for_acks(self, count: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acks) < count:
            line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if line is None:
                return
            self.acks.append(parse_ack(line))

    def kill(self) -> list[Ack]:
        """SIGKILL the process; every line it printed before dying is an ack."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        while (line := self.lines.get(timeout=10)) is not None:
            self.acks.append(parse_ack(line))
        assert self.process.stderr is not None
        errors = self.process.stderr.read()
        assert "Traceback" not in errors, errors
        return self.acks


def open_sizes(warc_dir: Path) -> int:
    total = 0
    for path in warc_dir.glob(f"*/*{OPEN_SUFFIX}"):
        with suppress(FileNotFoundError):  # closed or repaired meanwhile
            total += path.stat().st_size
    return total


def payload(repository: Repository, ack: Ack) -> tuple[bytes, Record]:
    """The payload of the acknowledged record and its catalog row, digests checked."""
    with repository.catalog.session() as session:
        row = session.scalars(
            select(Record).where(
                Record.warc_file == ack.location.warc_file,
                Record.offset == ack.location.offset,
            )
        ).one()
    assert (row.url, row.payload_digest) == (ack.url, ack.payload_digest)
    assert row.capture_id, "catalogued by recovery, not by the acknowledged capture"
    with repository.store.open_record(repository.location(row)) as stream:
        (record,) = [
            (record, record.raw_stream.read())
            for record in ArchiveIterator(stream, check_digests="raise")
        ]
    assert record[0].rec_headers.get_header("WARC-Payload-Digest") == ack.payload_digest
    return record[1], row


def verify_clean(env: dict[str, str]) -> None:
    """``vestige verify`` (whose start repairs the crashed files) finds no problem."""
    restart = subprocess.run(
        [sys.executable, "-c", CAPTURE, "verify"], env=env, capture_output=True, text=True
    )
    assert restart.returncode == 0, restart.stdout + restart.stderr
    assert restart.stdout.strip().endswith(" 0 problems")


def test_sigkill_at_random_points_loses_no_acknowledged_capture(
    home: Settings, web: WebServer
) -> None:
    rng = random.Random(20261123)
    bodies: dict[str, bytes] = {}

    def page(path: str, body: bytes | list[bytes], delay: float = 0.0) -> str:
        route = Route(body=body, headers=[("Content-Type", "text/html")], delay=delay)
        url = web.route(path, route)
        bodies[url] = body if isinstance(body, bytes) else b"".join(body)
        return url

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    acks: list[Ack] = []
    revisited = [page(f"/same/{n}", rng.randbytes(2000)) for n in range(5)]
    for round_ in range(ROUNDS):
        urls = [
            page(f"/r{round_}/p{n}", rng.randbytes(rng.choice((300, 5_000, 60_000, 250_000))))
            for n in range(PAGES_PER_ROUND)
        ]
        urls[5:5] = revisited  # captured again each round: revisit records
        big = round_ % 4 == 3
        if big:  # a large body arriving slowly, then written to the WARC file
            chunks = [rng.randbytes(64 * 1024) for _ in range(BIG_BODY // (64 * 1024))]
            urls.insert(3, page(f"/r{round_}/big", chunks, delay=0.001))
        capture = CaptureProcess(urls, env)
        if big:
            capture.wait_for_acks(3)
            before = open_sizes(home.warc_dir)
            threshold = rng.randrange(256 * 1024, BIG_BODY - 256 * 1024)
            deadline = time.monotonic() + 20
            while open_sizes(home.warc_dir) - before < threshold and time.monotonic() < deadline:
                time.sleep(0.0005)
        elif rng.random() < 0.25:
            time.sleep(rng.uniform(0.2, 1.5))  # maybe still starting or repairing
        else:
            capture.wait_for_acks(rng.randrange(1, PAGES_PER_ROUND))
            time.sleep(rng.uniform(0, 0.03))
        acks += capture.kill()

    assert len(acks) > ROUNDS * 5  # the kills did land mid-run, after real work
    verify_clean(env)

    repository = Repository(home)
    try:
        assert repository.repairs == []  # verify's start repaired everything
        kinds = set()
        for ack in acks:
            body, row = payload(repository, ack)
            kind = row.record_type
            kinds.add(kind)
            if kind == "response":
                assert body == bodies[ack.url]
        assert kinds == {"response", "revisit"}
    finally:
        repository.close()
    files = sorted(home.warc_dir.glob("*/*"))
    assert not [path for path in files if path.name.endswith(OPEN_SUFFIX)]
    checked = subprocess.run(
        [sys.executable, "-m", "warcio.cli", "check", *map(str, files)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_sigkill_during_concurrent_captures_loses_no_acknowledged_capture(
    home: Settings, web: WebServer
) -> None:
    rng = random.Random(20261124)
    bodies: dict[str, bytes] = {}

    def page(path: str, body: bytes) -> str:
        url = web.route(path, Route(body=body, headers=[("Content-Type", "text/html")]))
        bodies[url] = body
        return url

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    acks: list[Ack] = []
    revisited = [page(f"/same/{n}", rng.randbytes(3000)) for n in range(8)]
    for round_ in range(4):
        urls = [
            page(f"/c{round_}/p{n}", rng.randbytes(rng.choice((300, 5_000, 60_000, 250_000))))
            for n in range(60)
        ]
        urls[10:10] = revisited
        capture = CaptureProcess(urls, env, command=(CONCURRENT_CAPTURE,))
        capture.wait_for_acks(rng.randrange(8, 50))
        acks += capture.kill()

    assert len(acks) >= 4 * 8
    verify_clean(env)
    repository = Repository(home)
    try:
        for ack in acks:
            body, row = payload(repository, ack)
            if row.record_type == "response":
                assert body == bodies[ack.url]
    finally:
        repository.close()


def test_sigkill_during_browser_captures_loses_no_acknowledged_capture(
    home: Settings, web: WebServer
) -> None:
    if not Path("/usr/bin/chromium").is_file():
        missing_part("Chromium", "apt-get install chromium")
    rng = random.Random(20261203)
    bodies: dict[str, bytes] = {}
    for n in range(12):
        web.route(
            f"/img/{n}.bin",
            Route(body=rng.randbytes(200_000), headers=[("Content-Type", "image/png")]),
        )

    def page(path: str) -> str:
        images = "".join(f'<img src="/img/{n}.bin">' for n in rng.sample(range(12), 4))
        body = f"<html><body><p>{path}</p>{images}</body></html>".encode()
        url = web.route(path, Route(body=body, headers=[("Content-Type", "text/html")]))
        bodies[url] = body
        return url

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    acks: list[Ack] = []
    for round_ in range(3):
        urls = [page(f"/b{round_}/p{n}") for n in range(6)]
        capture = CaptureProcess(
            urls, env, command=(CAPTURE, "capture", "--no-ingest", "--browser")
        )
        capture.wait_for_acks(rng.randrange(1, 5), timeout=120)
        time.sleep(rng.uniform(0, 1.0))  # maybe while the next page's batch is written
        acks += capture.kill()

    assert len(acks) >= 3
    verify_clean(env)
    repository = Repository(home)
    try:
        for ack in acks:
            body, row = payload(repository, ack)
            assert row.record_type == "response" and body == bodies[ack.url]
            # The whole batch was acknowledged: resources, screenshot, DOM and metadata.
            with repository.catalog.session() as session:
                types = list(
                    session.scalars(
                        select(Record.record_type).where(Record.capture_id == row.capture_id)
                    )
                )
            assert types.count("resource") == 2 and types.count("metadata") == 1
            assert types.count("response") + types.count("revisit") == 5  # the page, 4 images
    finally:
        repository.close()
    files = sorted(home.warc_dir.glob("*/*"))
    checked = subprocess.run(
        [sys.executable, "-m", "warcio.cli", "check", *map(str, files)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
