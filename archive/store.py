"""WARC files on disk: appending records durably, rolling, and crash repair.

Files live under ``<root>/<collection>/`` as gzip-per-record WARC 1.1. A file
being written is named ``*.warc.gz.open`` and held under an exclusive
``flock`` by the process writing it; it is renamed when closed. A batch of
records (one capture) is fsynced before its locations are returned, so
whatever the caller acknowledges afterwards is on disk. A crashed writer leaves
an ``.open`` file nobody holds a lock on: :meth:`WarcStore.recover` keeps its
complete records, cuts the torn tail and closes it.

Callers commit their catalog rows once the batch is durable (an
:meth:`WarcAppender.after_sync` callback, or inside the block after
:meth:`WarcAppender.sync`). A file is only closed (renamed) when every batch in
it has finished, so every record in a closed file is catalogued, and a record
that is on disk but not in the catalog can only be in an ``.open`` file, where
recovery finds it. Concurrent batches share fsyncs (group commit).
"""

from __future__ import annotations

import fcntl
import io
import os
import re
import secrets
import shutil
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from isal import isal_zlib
from warcio.archiveiterator import ArchiveIterator
from warcio.limitreader import LimitReader
from warcio.recordloader import ArcWarcRecord
from warcio.warcwriter import WARCWriter

from archive.remote import RemoteWarcs
from archive.warc import WarcRecord, warc_fields

OPEN_SUFFIX = ".open"
WARC_SUFFIX = ".warc.gz"
# A letter or digit, then letters, digits and '._-', never '..'; at most 100 characters.
# ECMA-262 and Python alike: the API's OpenAPI document states the same rule.
COLLECTION_PATTERN = r"^[A-Za-z0-9](\.?[A-Za-z0-9_-])*\.?$"
COLLECTION_MAX_LENGTH = 100
_COLLECTION_NAME = re.compile(COLLECTION_PATTERN)
_CHUNK = 1 << 16
_SPOOL_IN_MEMORY = 4 * 1024 * 1024
# Compression is the largest CPU cost of a capture, so it is ISA-L's deflate
# (standard gzip output): on the corpus pages its level 2 is about 4x as fast
# as zlib's fastest level for slightly smaller files, and it gets through
# bodies that are compressed already (gzip-encoded pages, images) in a tenth
# of the time zlib spends on them.
COMPRESS_LEVEL = 2
# Records up to this size are compressed in one call: setting up a compressor
# object costs more than compressing a small record (request, metadata).
_ONE_CALL = 1 << 20
WARC_1_1_SPEC = "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"


class InvalidCollection(ValueError):
    """A collection name that could escape the archive directory or is unusable."""


def check_collection(name: str) -> str:
    """Return ``name`` if it is a safe collection name (letters, digits, ``._-``)."""
    if len(name) > COLLECTION_MAX_LENGTH or not _COLLECTION_NAME.fullmatch(name):
        raise InvalidCollection(
            f"invalid collection name {name!r}: use letters, digits, '.', '_' and '-' "
            "(at most 100, starting with a letter or digit)"
        )
    return name


@dataclass(frozen=True)
class Location:
    """Where one record lives: file (relative to the store root), offset, length."""

    warc_file: str
    offset: int
    length: int


@dataclass(frozen=True)
class RepairReport:
    """What :meth:`WarcStore.recover` did to one unclosed file."""

    warc_file: str
    records: list[Location]
    truncated_bytes: int


class _OpenWarc:
    """A WARC file this process is appending to, locked against other writers."""

    def __init__(self, path: Path, warc_file: str, fh: BinaryIO) -> None:
        self.path = path
        self.warc_file = warc_file
        self.fh = fh
        self.written = 0  # bytes handed to the OS (flushed)
        self.synced = 0  # bytes known durable
        self.inflight = 0  # batches written but not yet finished (synced, catalogued)
        self.full = False  # over the size limit: no new batches; close when idle
        self.broken = False  # a batch failed after its bytes were kept: leave to recover()
        self._sync_lock = threading.Lock()

    @classmethod
    def create(cls, path: Path, warc_file: str) -> _OpenWarc | None:
        """Create and lock a new file; ``None`` if a recovery removed it first."""
        fh = open(path, "xb+")  # noqa: SIM115 - lives as long as the file is open
        # Between creating and locking, another process's recover() can take the
        # lock, see an empty file and delete it: then the name is no longer ours.
        fcntl.flock(fh, fcntl.LOCK_EX)
        if not _same_file(fh, path):
            fh.close()
            return None
        return cls(path, warc_file, fh)

    def sync_to(self, end: int) -> None:
        """Make the first ``end`` bytes durable. Group commit: one fsync serves
        every batch flushed before it, so concurrent captures share the cost."""
        if self.synced >= end:
            return
        with self._sync_lock:
            if self.synced >= end:
                return
            covered = self.written  # everything flushed so far is covered by this fsync
            os.fsync(self.fh.fileno())
            self.synced = max(self.synced, covered)


def gzip_member(raw: Iterable[bytes]) -> BinaryIO:
    """One serialised record compressed as a gzip member, ready for
    :meth:`WarcAppender.write_member`; spooled to disk past a few MiB."""
    member = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - returned
    pending: list[bytes] = []
    size = 0
    compressor = None
    for chunk in raw:
        if compressor is None:
            pending.append(chunk)
            size += len(chunk)
            if size < _ONE_CALL:
                continue
            compressor = isal_zlib.compressobj(COMPRESS_LEVEL, isal_zlib.DEFLATED, 31)
            chunk = b"".join(pending)
        member.write(compressor.compress(chunk))
    if compressor is None:
        member.write(isal_zlib.compress(b"".join(pending), COMPRESS_LEVEL, 31))
    else:
        member.write(compressor.flush())
    member.seek(0)
    return member


class WarcAppender:
    """Writes records into one open WARC file during :meth:`WarcStore.append`."""

    def __init__(self, target: _OpenWarc) -> None:
        self._target = target
        self._writer = WARCWriter(target.fh, gzip=True, warc_version="1.1")
        self.start = target.fh.tell()
        self.synced = False  # part of the batch is durable (and may be catalogued)
        self._after_sync: list[Callable[[], None]] = []

    @property
    def writer(self) -> WARCWriter:
        """The warcio writer, for building records (``create_warc_record``...)."""
        return self._writer

    def write(self, record: ArcWarcRecord) -> Location:
        """Append ``record`` as its own gzip member and return where it went."""
        fh = self._target.fh
        start = fh.tell()
        self._writer.write_record(record)
        return Location(self._target.warc_file, start, fh.tell() - start)

    def write_raw(self, raw: Iterator[bytes] | bytes) -> Location:
        """Append an already serialised, uncompressed WARC record as-is (gzipped)."""
        fh = self._target.fh
        start = fh.tell()
        compressor = isal_zlib.compressobj(COMPRESS_LEVEL, isal_zlib.DEFLATED, 31)
        for chunk in [raw] if isinstance(raw, bytes) else raw:
            fh.write(compressor.compress(chunk))
        fh.write(compressor.flush())
        return Location(self._target.warc_file, start, fh.tell() - start)

    def write_member(self, member: BinaryIO) -> Location:
        """Append a record already compressed by :func:`gzip_member`."""
        fh = self._target.fh
        start = fh.tell()
        shutil.copyfileobj(member, fh, _CHUNK)
        return Location(self._target.warc_file, start, fh.tell() - start)

    def sync(self) -> None:
        """Make everything written so far durable (flush and fsync), now."""
        target = self._target
        target.fh.flush()
        target.written = target.fh.tell()
        if target.written > self.start:
            target.sync_to(target.written)
            self.synced = True

    def after_sync(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the batch is durable, outside the collection lock.

        This is where a batch's catalog rows are committed: concurrent batches
        then share fsyncs, and a failing callback leaves the file to recovery.
        """
        self._after_sync.append(callback)


class WarcStore:
    """The WARC files of every collection under one root directory.

    Thread-safe: batches to one collection are serialised; each process (and
    each store) appends to files of its own.
    """

    def __init__(
        self,
        root: Path,
        *,
        max_size: int,
        software: str = "Vestige",
        remote: RemoteWarcs | None = None,
    ) -> None:
        self.root = root
        # Closed files go to the bucket, if any (archive.remote); reads fall back to it.
        self.remote = remote
        self.max_size = max_size
        self.software = software
        self._open: dict[str, _OpenWarc] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    # -- paths -------------------------------------------------------------

    def path(self, warc_file: str) -> Path:
        """The file on disk for a catalogued ``warc_file`` (open or closed)."""
        final = self._inside(warc_file)
        if final.exists():
            return final
        if self.remote is not None and not _open_name(final).exists():
            return self.remote.download(warc_file)
        return _open_name(final)

    def size(self, warc_file: str) -> int:
        """The size in bytes of a catalogued ``warc_file``, wherever it is."""
        final = self._inside(warc_file)
        for path in (final, _open_name(final)):
            with suppress(FileNotFoundError):
                return path.stat().st_size
        if self.remote is None:
            raise FileNotFoundError(f"WARC file not found: {warc_file}")
        return self.remote.size(warc_file)

    def _inside(self, warc_file: str) -> Path:
        path = (self.root / warc_file).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise InvalidCollection(f"{warc_file!r} is outside the archive")
        return path

    def files(self, collection: str | None = None) -> Iterator[str]:
        """Every WARC file (relative name, as catalogued), sorted."""
        pattern = f"{check_collection(collection)}/*" if collection else "*/*"
        names = set()
        for path in self.root.glob(pattern):
            name = path.name.removesuffix(OPEN_SUFFIX)
            if name.endswith(WARC_SUFFIX):
                names.add(f"{path.parent.name}/{name}")
        if self.remote is not None:
            names.update(self.remote.files(collection))
        yield from sorted(names)

    # -- writing -----------------------------------------------------------

    @contextmanager
    def append(self, collection: str) -> Iterator[WarcAppender]:
        """Append a batch of records to ``collection``'s current file.

        Records are written under the collection's lock. When the block ends,
        the lock is released, the batch is made durable (an fsync shared with
        concurrent batches) and then its :meth:`WarcAppender.after_sync`
        callbacks run: commit catalog rows there (or inside the block, after
        :meth:`WarcAppender.sync`). A file is closed only when no batch in it
        is unfinished, so every record in a closed file is catalogued.

        On error before anything of the batch was synced, the file is cut back
        to where the batch began, so a failed batch leaves nothing behind.
        After a sync its rows may already be committed, so nothing is cut:
        the file is left ``.open`` for the next :meth:`recover`, which keeps and
        catalogues whatever of it is complete.
        """
        check_collection(collection)
        lock = self._lock_for(collection)
        lock.acquire()
        try:
            target = self._open.get(collection) or self._start_file(collection)
            appender = WarcAppender(target)
            target.inflight += 1
        except BaseException:
            lock.release()
            raise
        try:
            try:
                yield appender
                target.fh.flush()
                target.written = target.fh.tell()
            except BaseException:
                if appender.synced or not _cut_back(target.fh, appender.start):
                    target.broken = True
                raise
            finally:
                if target.written >= self.max_size:
                    target.full = True
                if (target.full or target.broken) and self._open.get(collection) is target:
                    del self._open[collection]  # later batches start a new file
                lock.release()
            try:
                target.sync_to(target.written)
                appender.synced = True
                for callback in appender._after_sync:
                    callback()
            except BaseException:
                target.broken = True
                raise
        finally:
            with lock:
                if target.broken and self._open.get(collection) is target:
                    del self._open[collection]
                target.inflight -= 1
                if not target.inflight and (target.full or target.broken):
                    self._close(target)

    def _lock_for(self, collection: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(collection, threading.Lock())

    def _start_file(self, collection: str) -> _OpenWarc:
        directory = self.root / collection
        _make_dirs(directory)
        target = None
        while target is None:
            stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")[:17]
            name = f"vestige-{collection}-{stamp}-{os.getpid()}-{secrets.token_hex(3)}{WARC_SUFFIX}"
            target = _OpenWarc.create(directory / (name + OPEN_SUFFIX), f"{collection}/{name}")
        info = WarcRecord(
            "warcinfo",
            None,
            datetime.now(UTC),
            "application/warc-fields",
            headers=[("WARC-Filename", name)],
            head=warc_fields(
                [
                    ("software", self.software),
                    ("format", "WARC File Format 1.1"),
                    ("conformsTo", WARC_1_1_SPEC),
                    ("isPartOf", collection),
                ]
            ),
        )
        WarcAppender(target).write_raw(info.serialise())
        target.fh.flush()
        target.written = target.fh.tell()
        target.sync_to(target.written)
        _fsync_dir(directory)
        self._open[collection] = target
        return target

    def _close(self, target: _OpenWarc) -> None:
        """Close ``target``: renamed to its final name, or, if a batch in it
        failed after being kept, left ``.open`` for :meth:`recover`."""
        if target.broken:
            # Closing releases the lock; an unflushed tail that cannot be
            # written is what recovery cuts anyway.
            with suppress(OSError):
                target.fh.close()
            return
        final = target.path.with_name(target.path.name.removesuffix(OPEN_SUFFIX))
        target.fh.flush()
        os.fsync(target.fh.fileno())
        os.rename(target.path, final)
        _fsync_dir(final.parent)
        target.fh.close()  # releases the lock
        if self.remote is not None:
            self.remote.submit(final, target.warc_file)

    def close(self) -> None:
        """Close (rename) every file this store has open; files with batches
        still in flight are closed when their last batch finishes."""
        for collection in list(self._open):
            with self._lock_for(collection):
                target = self._open.pop(collection, None)
                if target is None:
                    continue
                target.full = True
                if not target.inflight:
                    self._close(target)
        if self.remote is not None:
            self.remote.close()

    # -- reading -----------------------------------------------------------

    @contextmanager
    def open_record(self, location: Location) -> Iterator[BinaryIO]:
        """The compressed bytes of one record, as a stream limited to it."""
        with self.open_file(location.warc_file) as fh:
            fh.seek(location.offset)
            yield LimitReader(fh, location.length)

    def open_file(self, warc_file: str) -> BinaryIO:
        """A catalogued WARC file, open for reading (seekable; from the bucket if
        it is no longer local, where reads fetch byte ranges)."""
        final = self._inside(warc_file)
        # The writer may rename (or upload and remove) the file between two of these attempts.
        for path in (final, _open_name(final), final):
            try:
                return open(path, "rb")
            except FileNotFoundError:
                continue
        if self.remote is not None:
            return self.remote.open(warc_file)
        raise FileNotFoundError(f"WARC file not found: {warc_file}")

    def read_record(self, location: Location) -> Iterator[ArcWarcRecord]:
        """Yield the record at ``location``, parsed by warcio (HTTP headers too)."""
        with self.open_record(location) as stream:
            yield from ArchiveIterator(stream)

    # -- crash repair ------------------------------------------------------

    def recover(
        self, catalogue: Callable[[RepairReport], None] | None = None
    ) -> list[RepairReport]:
        """Repair and close every ``.open`` file no live process is writing.

        Complete records are kept; a torn last record is cut off; a file left
        with no complete record is removed. ``catalogue`` is called with each
        repaired file's report before the file is closed, so that a crash
        during recovery leaves the file ``.open`` to be recovered again.
        """
        reports = []
        for path in sorted(self.root.glob(f"*/*{WARC_SUFFIX}{OPEN_SUFFIX}")):
            report = _repair(path, catalogue)
            if report is not None:
                reports.append(report)
        if self.remote is not None:
            self.remote.upload_pending(self.root)
        return reports


def _repair(path: Path, catalogue: Callable[[RepairReport], None] | None) -> RepairReport | None:
    try:
        fh = open(path, "rb+")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return None  # closed by its writer since the directory was listed
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # a live writer holds it
        if not _same_file(fh, path):
            return None  # renamed or removed between opening and locking
        warc_file = f"{path.parent.name}/{path.name.removesuffix(OPEN_SUFFIX)}"
        records = [Location(warc_file, start, end - start) for start, end in _members(fh)]
        good_end = records[-1].offset + records[-1].length if records else 0
        size = fh.seek(0, io.SEEK_END)
        report = RepairReport(warc_file, records, size - good_end)
        if not records:
            path.unlink()
            _fsync_dir(path.parent)
            return report
        if good_end < size:
            fh.truncate(good_end)
            os.fsync(fh.fileno())
        if catalogue is not None:
            catalogue(report)
        os.rename(path, path.with_name(path.name.removesuffix(OPEN_SUFFIX)))
        _fsync_dir(path.parent)
    return report


def _members(fh: BinaryIO) -> Iterator[tuple[int, int]]:
    """(start, end) of each complete gzip member holding one intact WARC record.

    Stops at the first member that is torn, undecodable or whose record fails
    its block digest: everything after that point is the unfinished tail.
    """
    fh.seek(0)
    start = 0
    pending = b""  # bytes read past the end of the previous member
    while True:
        decompressor = zlib.decompressobj(31)
        consumed = 0
        # Spooled, so a large record is checked without holding it in memory.
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as record:
            while not decompressor.eof:
                chunk = pending or fh.read(_CHUNK)
                pending = b""
                if not chunk:
                    return
                try:
                    record.write(decompressor.decompress(chunk))
                except zlib.error:
                    return
                consumed += len(chunk)
            pending = decompressor.unused_data
            end = start + consumed - len(pending)
            record.seek(0)
            if not _intact(record):
                return
        yield start, end
        start = end


def _intact(stream: BinaryIO) -> bool:
    """Whether ``stream`` is one complete WARC record whose block digest matches."""
    try:
        records = ArchiveIterator(stream, check_digests="raise")
        record = next(records)
        while record.raw_stream.read(_CHUNK):
            pass
        if record.raw_stream.limit > 0:
            return False  # shorter than its Content-Length
        for _ in records:
            return False  # a member holds exactly one record
    except Exception:  # warcio raises many kinds on damaged data
        return False
    return record.digest_checker.passed is not False


def _cut_back(fh: BinaryIO, size: int) -> bool:
    """Truncate ``fh`` to ``size``; whether that worked."""
    try:
        fh.truncate(size)
        fh.seek(size)
    except OSError:
        return False
    return True


def _open_name(final: Path) -> Path:
    return final.with_name(final.name + OPEN_SUFFIX)


def _same_file(fh: BinaryIO, path: Path) -> bool:
    """Whether ``path`` still names the file ``fh`` has open."""
    try:
        return os.stat(path).st_ino == os.fstat(fh.fileno()).st_ino
    except FileNotFoundError:
        return False


def _make_dirs(directory: Path) -> None:
    """Create ``directory`` and missing parents, making each new entry durable."""
    if directory.is_dir():
        return
    _make_dirs(directory.parent)
    try:
        directory.mkdir()
    except FileExistsError:
        return  # another process or thread made it
    _fsync_dir(directory.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
