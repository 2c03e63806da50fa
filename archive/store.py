"""WARC files on disk: appending records durably, rolling, and crash repair.

Files live under ``<root>/<collection>/`` as gzip-per-record WARC 1.1. A file
being written is named ``*.warc.gz.open`` and held under an exclusive
``flock`` by the process writing it; it is renamed when closed. A batch of
records (one capture) is fsynced before its locations are returned, so
whatever the caller acknowledges afterwards is on disk. A crashed writer leaves
an ``.open`` file nobody holds a lock on: :meth:`WarcStore.recover` keeps its
complete records, cuts the torn tail and closes it.
"""

from __future__ import annotations

import fcntl
import io
import os
import re
import secrets
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord
from warcio.warcwriter import WARCWriter

from archive.warc import WarcRecord, warc_fields

OPEN_SUFFIX = ".open"
WARC_SUFFIX = ".warc.gz"
_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_CHUNK = 1 << 16
WARC_1_1_SPEC = "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"


class InvalidCollection(ValueError):
    """A collection name that could escape the archive directory or is unusable."""


def check_collection(name: str) -> str:
    """Return ``name`` if it is a safe collection name (letters, digits, ``._-``)."""
    if not _COLLECTION_NAME.match(name) or ".." in name:
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

    def __init__(self, path: Path, warc_file: str) -> None:
        self.path = path
        self.warc_file = warc_file
        self.fh: BinaryIO = open(path, "ab+")  # noqa: SIM115 - lives as long as the file is open
        fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.fh.seek(0, io.SEEK_END)


class WarcAppender:
    """Writes records into one open WARC file during :meth:`WarcStore.append`."""

    def __init__(self, target: _OpenWarc) -> None:
        self._target = target
        self._writer = WARCWriter(target.fh, gzip=True, warc_version="1.1")

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
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
        for chunk in [raw] if isinstance(raw, bytes) else raw:
            fh.write(compressor.compress(chunk))
        fh.write(compressor.flush())
        return Location(self._target.warc_file, start, fh.tell() - start)

    def sync(self) -> None:
        """Make everything written so far durable (flush and fsync)."""
        self._target.fh.flush()
        os.fsync(self._target.fh.fileno())


class WarcStore:
    """The WARC files of every collection under one root directory."""

    def __init__(self, root: Path, *, max_size: int, software: str = "Vestige") -> None:
        self.root = root
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
        return final.with_name(final.name + OPEN_SUFFIX)

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
        yield from sorted(names)

    # -- writing -----------------------------------------------------------

    @contextmanager
    def append(self, collection: str) -> Iterator[WarcAppender]:
        """Append a batch of records to ``collection``'s current file.

        On success the batch is flushed and fsynced before the block exits; on
        error the file is cut back to where the batch began, so a failed batch
        leaves nothing behind.
        """
        check_collection(collection)
        with self._lock_for(collection):
            target = self._open.get(collection) or self._start_file(collection)
            start = target.fh.tell()
            try:
                appender = WarcAppender(target)
                yield appender
                appender.sync()
            except BaseException:
                target.fh.truncate(start)
                target.fh.seek(start)
                raise
            if target.fh.tell() >= self.max_size:
                self._close_file(collection)

    def _lock_for(self, collection: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(collection, threading.Lock())

    def _start_file(self, collection: str) -> _OpenWarc:
        directory = self.root / collection
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")[:17]
        name = f"vestige-{collection}-{stamp}-{os.getpid()}-{secrets.token_hex(3)}{WARC_SUFFIX}"
        target = _OpenWarc(directory / (name + OPEN_SUFFIX), f"{collection}/{name}")
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
        appender = WarcAppender(target)
        appender.write_raw(info.serialise())
        appender.sync()
        _fsync_dir(directory)
        self._open[collection] = target
        return target

    def _close_file(self, collection: str) -> None:
        target = self._open.pop(collection)
        final = target.path.with_name(target.path.name.removesuffix(OPEN_SUFFIX))
        target.fh.flush()
        os.fsync(target.fh.fileno())
        os.rename(target.path, final)
        _fsync_dir(final.parent)
        target.fh.close()  # releases the lock

    def close(self) -> None:
        """Close (rename) every file this store has open."""
        for collection in list(self._open):
            with self._lock_for(collection):
                self._close_file(collection)

    # -- reading -----------------------------------------------------------

    @contextmanager
    def open_record(self, location: Location) -> Iterator[BinaryIO]:
        """The compressed bytes of one record, as a stream limited to it."""
        with open(self.path(location.warc_file), "rb") as fh:
            fh.seek(location.offset)
            yield io.BytesIO(fh.read(location.length))

    def read_record(self, location: Location) -> Iterator[ArcWarcRecord]:
        """Yield the record at ``location``, parsed by warcio (HTTP headers too)."""
        with self.open_record(location) as stream:
            yield from ArchiveIterator(stream)

    # -- crash repair ------------------------------------------------------

    def recover(self) -> list[RepairReport]:
        """Repair and close every ``.open`` file no live process is writing.

        Complete records are kept; a torn last record is cut off.
        """
        reports = []
        for path in sorted(self.root.glob(f"*/*{WARC_SUFFIX}{OPEN_SUFFIX}")):
            with open(path, "rb+") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live writer holds it
                warc_file = f"{path.parent.name}/{path.name.removesuffix(OPEN_SUFFIX)}"
                records = [Location(warc_file, start, end - start) for start, end in _members(fh)]
                good_end = records[-1].offset + records[-1].length if records else 0
                size = fh.seek(0, io.SEEK_END)
                fh.truncate(good_end)
                fh.flush()
                os.fsync(fh.fileno())
                os.rename(path, path.with_name(path.name.removesuffix(OPEN_SUFFIX)))
                _fsync_dir(path.parent)
            reports.append(RepairReport(warc_file, records, size - good_end))
        return reports


def _members(fh: BinaryIO) -> Iterator[tuple[int, int]]:
    """(start, end) of each complete gzip member holding one intact WARC record.

    Stops at the first member that is torn, undecodable or whose record fails
    its block digest: everything after that point is the unfinished tail.
    """
    fh.seek(0)
    start = 0
    while True:
        fh.seek(start)
        decompressor = zlib.decompressobj(31)
        data = bytearray()
        consumed = 0
        while not decompressor.eof:
            chunk = fh.read(_CHUNK)
            if not chunk:
                return
            try:
                data += decompressor.decompress(chunk)
            except zlib.error:
                return
            consumed += len(chunk)
        end = start + consumed - len(decompressor.unused_data)
        if not _intact(bytes(data)):
            return
        yield start, end
        start = end


def _intact(raw: bytes) -> bool:
    """Whether ``raw`` is one complete WARC record whose block digest matches."""
    try:
        records = ArchiveIterator(io.BytesIO(raw), check_digests="raise")
        record = next(records)
        while record.raw_stream.read(_CHUNK):
            pass
        for _ in records:
            pass
    except Exception:
        return False
    return record.digest_checker.passed is not False


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
