"""Checking that the archive still holds what it acknowledged.

Every record of every WARC file is re-read and its block and payload digests
recomputed; the catalog is compared with the files in both directions: a row
must point at the start of a complete record of the same length and id, and
every record (except a file's leading ``warcinfo``, which the store writes
without a row) must have a row.
"""

from __future__ import annotations

import fcntl
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from sqlalchemy import func, select
from warcio.archiveiterator import ArchiveIterator

from archive.catalog import Record
from archive.repository import Repository
from archive.store import OPEN_SUFFIX, check_collection

_CHUNK = 1 << 16

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the archive, at a file (and offset, when known)."""

    kind: str  # digest, missing-file, not-a-record, length, record-id, uncatalogued, unreadable
    warc_file: str
    offset: int | None
    message: str

    def __str__(self) -> str:
        where = self.warc_file if self.offset is None else f"{self.warc_file}:{self.offset}"
        return f"{where}  {self.kind}: {self.message}"


@dataclass
class VerifyReport:
    """What :func:`verify` looked at and found."""

    files: int = 0
    records: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Found:
    """A complete record read from a file."""

    offset: int
    length: int
    record_id: str | None
    record_type: str


def verify(
    repository: Repository, collection: str | None = None, progress: Progress | None = None
) -> VerifyReport:
    """Re-read every WARC record of ``collection`` (default: all) and check it
    against its digests and the catalog. ``progress`` is called with the number
    of bytes read as reading advances (total: :func:`total_bytes`)."""
    report = VerifyReport()
    if collection is not None:
        check_collection(collection)
    on_disk = list(repository.store.files(collection))
    with repository.catalog.session() as session:
        query = select(Record.warc_file, func.count()).group_by(Record.warc_file)
        if collection is not None:
            query = query.where(Record.collection == collection)
        catalogued: dict[str, int] = dict(session.execute(query).all())
    for warc_file in sorted(set(catalogued) - set(on_disk)):
        report.problems.append(
            Problem(
                "missing-file", warc_file, None, f"file not found ({catalogued[warc_file]} records)"
            )
        )
    for warc_file in on_disk:
        report.files += 1
        report.problems += _verify_file(repository, warc_file, report, progress)
    return report


def total_bytes(repository: Repository, collection: str | None = None) -> int:
    """Size of the files :func:`verify` reads, for a progress bar."""
    store = repository.store
    return sum(store.size(name) for name in store.files(collection))


def _verify_file(
    repository: Repository, warc_file: str, report: VerifyReport, progress: Progress | None
) -> list[Problem]:
    with repository.catalog.session() as session:
        rows = {
            row.offset: row
            for row in session.scalars(select(Record).where(Record.warc_file == warc_file))
        }
    path = repository.store.path(warc_file)
    problems: list[Problem] = []
    found: dict[int, _Found] = {}
    with open(path, "rb") as fh:
        limit = None
        if path.name.endswith(OPEN_SUFFIX) and _being_written(fh):
            # A live writer appends and fsyncs a batch before cataloguing it:
            # only what is catalogued is settled.
            limit = max((row.offset + row.length for row in rows.values()), default=0)
        for item in _records(fh, warc_file, limit, progress):
            if isinstance(item, Problem):
                problems.append(item)
            else:
                report.records += 1
                found[item.offset] = item
    for offset, row in sorted(rows.items()):
        record = found.get(offset)
        if record is None:
            problems.append(
                Problem(
                    "not-a-record",
                    warc_file,
                    offset,
                    f"catalogued {row.record_type} {row.record_id} does not start "
                    "a complete record here",
                )
            )
        elif record.length != row.length:
            problems.append(
                Problem(
                    "length",
                    warc_file,
                    offset,
                    f"record is {record.length} bytes, catalog says {row.length}",
                )
            )
        elif record.record_id != row.record_id:
            problems.append(
                Problem(
                    "record-id",
                    warc_file,
                    offset,
                    f"record is {record.record_id}, catalog says {row.record_id}",
                )
            )
    for offset, record in sorted(found.items()):
        if offset in rows or (offset == 0 and record.record_type == "warcinfo"):
            continue
        problems.append(
            Problem(
                "uncatalogued",
                warc_file,
                offset,
                f"{record.record_type} {record.record_id} has no catalog row",
            )
        )
    return problems


def _being_written(fh: BinaryIO) -> bool:
    try:
        fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    return False


def _records(
    fh: BinaryIO, warc_file: str, limit: int | None, progress: Progress | None
) -> Iterator[_Found | Problem]:
    """Read every record of ``fh`` (up to ``limit``), yielding the complete
    ones and a problem for each digest failure or unreadable part."""
    size = os.fstat(fh.fileno()).st_size
    iterator = ArchiveIterator(fh, check_digests=True)
    position = 0  # where the next record starts: the end of the last good one
    try:
        for record in iterator:
            offset = iterator.get_record_offset()
            if limit is not None and offset >= limit:
                break
            record_id = record.rec_headers.get_header("WARC-Record-ID")
            while record.raw_stream.read(_CHUNK):
                pass
            iterator.read_to_end(record)
            length = iterator.get_record_length()
            torn = record.raw_stream.limit > 0
            if offset + length >= size:  # only the last member can lack its trailer unnoticed
                torn = torn or not _member_complete(fh, offset, length)
            if torn:
                yield Problem(
                    "unreadable", warc_file, offset, f"record {record_id} is cut short (torn)"
                )
                return
            for message in record.digest_checker.problems:
                yield Problem("digest", warc_file, offset, f"{record_id}: {message}")
            yield _Found(offset, length, record_id, record.rec_type)
            if progress is not None:
                progress(offset + length - position)
            position = offset + length
    except Exception as exc:  # warcio and zlib raise many kinds on damaged data
        yield Problem(
            "unreadable",
            warc_file,
            position,
            f"cannot read past here: {' '.join(str(exc).split())[:200]}",
        )


def _member_complete(fh: BinaryIO, offset: int, length: int) -> bool:
    """Whether the gzip member at ``offset`` ends with its trailer (warcio
    does not check it, so a record cut inside the trailer would pass)."""
    here = fh.tell()
    try:
        fh.seek(offset)
        decompressor = zlib.decompressobj(31)
        remaining = length
        while remaining > 0 and not decompressor.eof:
            chunk = fh.read(min(_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            decompressor.decompress(chunk)
        return decompressor.eof
    except zlib.error:
        return False
    finally:
        fh.seek(here)
