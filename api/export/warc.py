"""WARC export: the selected captures' original records, copied byte for byte.

Each record is the gzip member exactly as stored, read by offset and length, so
its digests are the archive's. For every document the records of its capture
(redirect hops, requests, the metadata record) are copied in stored order;
before a revisit comes the record holding its payload (once per export), and
before the first record taken from a WARC file comes that file's ``warcinfo``,
so replay tools can use the export on its own.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from api.export.formats import DATA, Chunk, Writer, WriterOptions
from api.export.selection import ExportDocument
from archive.catalog import CONTENT_TYPES, Record
from archive.repository import Repository
from archive.store import Location

_CHUNK = 1 << 16


@dataclass(frozen=True)
class Copied:
    """A record written to the export, and where: for indexing the exported file."""

    row: Record
    offset: int
    length: int


class Warc(Writer):
    """Original records of the selected captures with their warcinfo records."""

    name = "warc"
    extension = ".warc.gz"
    media_type = "application/warc"

    def __init__(self, fields: list[str], repository: Repository) -> None:
        super().__init__(fields)
        self.repository = repository
        self.offset = 0  # bytes written so far: where the next record starts
        self._files: set[str] = set()  # WARC files whose warcinfo is written
        self._originals: set[str] = set()  # revisit originals written
        # Records written for the current URL: its earlier captures come just before a
        # revisit (the export is in URL, time order), so their originals are mostly here.
        self._url: str | None = None
        self._url_records: set[str] = set()
        self.copied: list[Copied] = []  # records of the last batch, for indexes

    @classmethod
    def create(cls, fields: list[str], options: WriterOptions) -> Writer:
        return cls(fields, options.repository)

    def state(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "files": sorted(self._files),
            "originals": sorted(self._originals),
            "url": self._url,
            "url_records": sorted(self._url_records),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.offset = state["offset"]
        self._files = set(state["files"])
        self._originals = set(state["originals"])
        self._url = state["url"]
        self._url_records = set(state["url_records"])

    def write(self, batch: list[ExportDocument]) -> Iterator[Chunk]:
        self.copied = []
        groups = self._capture_records(batch)
        originals = self._originals_of([row for rows in groups for row in rows])
        for document, rows in zip(batch, groups, strict=True):
            if document.final_url != self._url:
                self._url, self._url_records = document.final_url, set()
            for row in rows:
                if row.record_type == "revisit":
                    original = originals.get(row.refers_to or "")
                    original = original or self.repository.catalog.original_of(row)
                    if original is not None and not self._written(original.record_id):
                        self._originals.add(original.record_id)
                        yield from self._copy(original)
                self._url_records.add(row.record_id)
                yield from self._copy(row)

    def _written(self, record_id: str) -> bool:
        return record_id in self._originals or record_id in self._url_records

    def _capture_records(self, batch: list[ExportDocument]) -> list[list[Record]]:
        """For each document, every record of its capture in stored order (or its own record)."""
        capture_ids = {d.capture_id for d in batch if d.capture_id}
        record_ids = [d.warc_record_id for d in batch if not d.capture_id]
        with self.repository.catalog.session() as session:
            by_capture: dict[str, list[Record]] = {}
            if capture_ids:
                query = select(Record).where(Record.capture_id.in_(capture_ids))
                for row in session.scalars(query.order_by(Record.id)):
                    by_capture.setdefault(row.capture_id or "", []).append(row)
            single = {}
            if record_ids:
                query = select(Record).where(Record.record_id.in_(record_ids))
                single = {row.record_id: row for row in session.scalars(query)}
        return [
            by_capture.get(d.capture_id, [])
            if d.capture_id
            else [single[d.warc_record_id]]
            if d.warc_record_id in single
            else []
            for d in batch
        ]

    def _originals_of(self, rows: list[Record]) -> dict[str, Record]:
        wanted = {row.refers_to for row in rows if row.record_type == "revisit" and row.refers_to}
        if not wanted:
            return {}
        with self.repository.catalog.session() as session:
            found = session.scalars(select(Record).where(Record.record_id.in_(wanted)))
            return {row.record_id: row for row in found}

    def _copy(self, row: Record) -> Iterator[Chunk]:
        if row.warc_file not in self._files:
            self._files.add(row.warc_file)
            info = warcinfo_member(self.repository, row.warc_file)
            if info:
                self.offset += len(info)
                yield DATA, info
        start = self.offset
        with self.repository.store.open_record(
            Location(row.warc_file, row.offset, row.length)
        ) as stream:
            while chunk := stream.read(_CHUNK):
                self.offset += len(chunk)
                yield DATA, chunk
        if self.offset - start != row.length:
            raise OSError(f"{row.warc_file} ends inside the record at offset {row.offset}")
        if row.record_type in CONTENT_TYPES:
            self.copied.append(Copied(row, start, row.length))


def warcinfo_member(repository: Repository, warc_file: str) -> bytes:
    """The gzip member at the start of ``warc_file`` if it holds a warcinfo record, else b''.

    Vestige starts every WARC file with its own warcinfo (never catalogued), so
    it is found by reading the file's first member.
    """
    decompressor = zlib.decompressobj(31)
    raw = bytearray()
    head = b""
    with repository.store.open_file(warc_file) as fh:
        while not decompressor.eof:
            chunk = fh.read(_CHUNK)
            if not chunk:
                return b""
            raw += chunk
            if len(head) < 512:
                head += decompressor.decompress(chunk, 512 - len(head))
                chunk = decompressor.unconsumed_tail
            while chunk and not decompressor.eof:
                decompressor.decompress(chunk, _CHUNK)
                chunk = decompressor.unconsumed_tail
        end = len(raw) - len(decompressor.unused_data)
    if b"\r\nWARC-Type: warcinfo\r\n" not in head.split(b"\r\n\r\n", 1)[0] + b"\r\n":
        return b""
    return bytes(raw[:end])
