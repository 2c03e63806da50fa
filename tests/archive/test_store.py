"""The WARC store on real files: batches, rolling, crash repair, catalogue repair."""

from __future__ import annotations

import io
import secrets
import subprocess
import sys
import threading
import zlib
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import select

from archive.catalog import Record
from archive.config import Settings
from archive.repository import Repository
from archive.store import OPEN_SUFFIX, Location, RepairReport, WarcStore
from archive.verify import verify
from archive.warc import WarcRecord


def resource(text: str, *, block_digest: str | None = None) -> WarcRecord:
    body = text.encode()
    return WarcRecord(
        "resource",
        f"https://example.org/{abs(hash(text))}",
        datetime.now(UTC),
        "text/plain",
        body=io.BytesIO(body),
        body_length=len(body),
        block_digest=block_digest,
    )


def write(store: WarcStore, collection: str, *texts: str) -> list[Location]:
    with store.append(collection) as appender:
        return [appender.write_raw(resource(text).serialise()) for text in texts]


def read_text(store: WarcStore, location: Location) -> str:
    texts = [record.content_stream().read().decode() for record in store.read_record(location)]
    assert len(texts) == 1
    return texts[0]


def open_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{OPEN_SUFFIX}"))


def warcio_check(directory: Path) -> None:
    paths = sorted(str(path) for path in directory.iterdir())
    assert paths
    done = subprocess.run(
        [sys.executable, "-m", "warcio.cli", "check", "-v", *paths],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def gzip_member(raw: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    return compressor.compress(raw) + compressor.flush()


@pytest.fixture
def store(tmp_path: Path) -> WarcStore:
    return WarcStore(tmp_path / "warcs", max_size=1 << 30)


def test_batches_append_contiguously_and_read_back(store: WarcStore) -> None:
    first = write(store, "c", "one", "two")
    second = write(store, "c", "three")
    locations = first + second
    assert len({location.warc_file for location in locations}) == 1
    for before, after in pairwise(locations):
        assert after.offset == before.offset + before.length
    assert [read_text(store, location) for location in locations] == ["one", "two", "three"]
    # Readable while still open, and after closing under the final name.
    assert len(open_files(store.root / "c")) == 1
    store.close()
    assert open_files(store.root / "c") == []
    assert read_text(store, locations[1]) == "two"
    warcio_check(store.root / "c")


def test_failed_batch_leaves_the_file_as_before(store: WarcStore) -> None:
    (kept,) = write(store, "c", "kept")
    path = store.path(kept.warc_file)
    size = path.stat().st_size
    with pytest.raises(RuntimeError), store.append("c") as appender:
        appender.write_raw(resource("lost " * 10_000).serialise())
        appender.write_raw(resource("lost too").serialise())
        raise RuntimeError("the capture failed")
    assert path.stat().st_size == size
    (after,) = write(store, "c", "after")
    assert (after.warc_file, after.offset) == (kept.warc_file, size)
    store.close()
    warcio_check(store.root / "c")


def fail_after_sync(store: WarcStore, text: str) -> Location:
    with pytest.raises(RuntimeError), store.append("c") as appender:
        synced = appender.write_raw(resource(text).serialise())
        appender.sync()
        raise RuntimeError("the catalog commit failed")
    return synced


def test_error_after_sync_leaves_the_batch_to_recovery(store: WarcStore) -> None:
    synced = fail_after_sync(store, "synced")
    # The batch may have been catalogued: nothing is cut, and the store moves
    # on to a new file, leaving this one open (and unlocked) for recovery.
    assert read_text(store, synced) == "synced"
    (elsewhere,) = write(store, "c", "next batch")
    assert elsewhere.warc_file != synced.warc_file
    store.close()
    assert open_files(store.root / "c") == [store.path(synced.warc_file)]
    (report,) = store.recover()
    assert report.records[1:] == [synced]
    warcio_check(store.root / "c")


def test_repository_catalogues_records_on_disk_but_not_in_the_catalog(home: Settings) -> None:
    repository = Repository(home)
    synced = fail_after_sync(repository.store, "on disk only")
    repository.close()

    reopened = Repository(home)
    try:
        assert [report.warc_file for report in reopened.repairs] == [synced.warc_file]
        with reopened.catalog.session() as session:
            (row,) = session.scalars(select(Record))
        assert (row.warc_file, row.offset, row.length, row.record_type) == (
            synced.warc_file,
            synced.offset,
            synced.length,
            "resource",
        )
        assert verify(reopened).problems == []
    finally:
        reopened.close()
    # Opening again finds nothing left to repair and adds no second row.
    again = Repository(home)
    try:
        assert again.repairs == []
        with again.catalog.session() as session:
            assert len(list(session.scalars(select(Record)))) == 1
    finally:
        again.close()
    warcio_check(home.warc_dir / "c")


def test_files_roll_at_max_size(tmp_path: Path) -> None:
    store = WarcStore(tmp_path / "warcs", max_size=4000)
    # Random text, so that compression cannot keep the files small.
    pages = [f"page {n} {secrets.token_hex(800)}" for n in range(12)]
    locations = [loc for page in pages for loc in write(store, "c", page)]
    files = {location.warc_file for location in locations}
    assert len(files) > 2
    directory = store.root / "c"
    # A file is closed under its final name once it reaches the size; only
    # the one being written is still open, and it is not full yet.
    for warc_file in files:
        path = store.path(warc_file)
        if path.name.endswith(OPEN_SUFFIX):
            assert path.stat().st_size < 4000
        else:
            assert path.stat().st_size >= 4000
    assert len(open_files(directory)) <= 1
    store.close()
    assert open_files(directory) == []
    assert sorted(p.name for p in directory.iterdir()) == sorted(f.split("/")[1] for f in files)
    for warc_file in files:
        with open(store.root / warc_file, "rb") as fh:
            head = zlib.decompressobj(31).decompress(fh.read(4096))
        assert b"WARC-Type: warcinfo" in head
    assert [read_text(store, location) for location in locations] == pages
    warcio_check(directory)


def crashed_file(store: WarcStore, tail: bytes) -> tuple[Path, list[Location]]:
    """A file as a killed writer leaves it: ``.open``, unlocked, ``tail`` after its records."""
    locations = write(store, "c", "alpha", "beta")
    store.close()
    final = store.root / locations[0].warc_file
    crashed = final.with_name(final.name + OPEN_SUFFIX)
    final.rename(crashed)
    with open(crashed, "ab") as fh:
        fh.write(tail)
    return crashed, locations


TORN_TAILS = {
    "half-member": gzip_member(b"".join(resource(secrets.token_hex(5000)).serialise()))[:3000],
    "garbage": b"\x00\x13not a gzip member at all" * 40,
    "no-trailer": gzip_member(b"".join(resource("no trailer").serialise()))[:-4],
    "bad-digest": gzip_member(
        b"".join(resource("wrong", block_digest="sha1:" + "A" * 32).serialise())
    ),
    "short-record": gzip_member(b"".join(resource("short").serialise())[:-30]),
}


@pytest.mark.parametrize("kind", sorted(TORN_TAILS))
def test_recover_keeps_complete_records_and_cuts_the_tail(store: WarcStore, kind: str) -> None:
    tail = TORN_TAILS[kind]
    crashed, locations = crashed_file(store, tail)
    good_end = locations[-1].offset + locations[-1].length
    assert crashed.stat().st_size == good_end + len(tail)

    seen: list[RepairReport] = []
    reports = store.recover(seen.append)

    assert reports == seen
    (report,) = reports
    assert report.warc_file == locations[0].warc_file
    assert report.records[1:] == locations  # after the warcinfo
    assert report.truncated_bytes == len(tail)
    assert not crashed.exists()
    final = store.root / report.warc_file
    assert final.stat().st_size == good_end
    assert [read_text(store, location) for location in locations] == ["alpha", "beta"]
    warcio_check(store.root / "c")


def test_recover_leaves_the_file_open_when_cataloguing_fails(store: WarcStore) -> None:
    crashed, _ = crashed_file(store, b"torn")

    def broken_catalog(report: RepairReport) -> None:
        raise RuntimeError("database is down")

    with pytest.raises(RuntimeError):
        store.recover(broken_catalog)
    assert crashed.exists()  # recovered again on the next start
    (report,) = store.recover()
    assert report.truncated_bytes == 0  # the tail was already cut
    assert not crashed.exists()


def test_recover_removes_a_file_with_no_complete_record(store: WarcStore) -> None:
    directory = store.root / "c"
    directory.mkdir(parents=True)
    empty = directory / f"vestige-c-1-1-000000.warc.gz{OPEN_SUFFIX}"
    empty.write_bytes(TORN_TAILS["half-member"])
    (report,) = store.recover()
    assert (report.records, report.truncated_bytes) == ([], len(TORN_TAILS["half-member"]))
    assert list(directory.iterdir()) == []


LOCK_HOLDER = """
import fcntl, sys
fh = open(sys.argv[1], "rb")
fcntl.flock(fh, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.readline()
"""


def test_recover_skips_a_file_a_live_process_holds(store: WarcStore) -> None:
    crashed, locations = crashed_file(store, b"being written")
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(crashed)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        assert store.recover() == []
        assert crashed.read_bytes().endswith(b"being written")
    finally:
        holder.communicate("done\n", timeout=10)
    (report,) = store.recover()
    assert report.records[1:] == locations


def test_concurrent_threads_append_whole_batches(store: WarcStore) -> None:
    written: list[tuple[Location, str]] = []

    def worker(n: int) -> None:
        for i in range(15):
            texts = [f"thread {n} batch {i} record {j} " * (j + 1) for j in range(3)]
            written.extend(zip(write(store, "c", *texts), texts, strict=True))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(written) == 4 * 15 * 3
    for location, text in written:
        assert read_text(store, location) == text
    store.close()
    warcio_check(store.root / "c")


def test_two_stores_write_files_of_their_own(tmp_path: Path) -> None:
    first, second = (WarcStore(tmp_path / "warcs", max_size=1 << 30) for _ in range(2))
    (a,) = write(first, "c", "from the first")
    (b,) = write(second, "c", "from the second")
    assert a.warc_file != b.warc_file
    # Neither may repair the other's file while it is being written.
    assert first.recover() == [] and second.recover() == []
    assert read_text(first, b) == "from the second"
    first.close()
    second.close()
    warcio_check(tmp_path / "warcs" / "c")
