"""Dataset formats: JSON Lines, CSV and Parquet, each written batch by batch.

Every writer turns batches of :class:`ExportDocument` into chunks of bytes for
named parts of the output (a one-file format has the single part ``data``), so
the same writer feeds a file, a resumable partial file, or an HTTP response.
A format with several parts (WACZ) packs them into one file at the end
(:meth:`Writer.assemble`). :class:`Writer` is the whole interface the exporter
knows: it picks a writer by format name and makes it with :meth:`Writer.create`.
Nothing here depends on the export time, so the same selection gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
from cryptography.hazmat.primitives.asymmetric import ec

from api.export.datasheet import Datasheet
from api.export.selection import TEXT_FIELDS, ExportDocument
from archive.repository import Repository

Chunk = tuple[str, bytes]  # (part name, bytes to append to it)
DATA = "data"


@dataclass(frozen=True)
class WriterOptions:
    """What an export gives every writer besides the fields; each takes what it needs."""

    repository: Repository  # formats that copy records read them from here
    bom: bool = False  # CSV only
    text_max_chars: int | None = None  # CSV only


class Writer:
    """Base of every format: chunks for the start, each batch, and the end of an export."""

    name: ClassVar[str]
    extension: ClassVar[str]
    media_type: ClassVar[str]
    parts: ClassVar[tuple[str, ...]] = (DATA,)
    resumable: ClassVar[bool] = True  # whether a partial output can be continued
    cuts_text: ClassVar[bool] = False  # whether it takes ``text_max_chars``
    signable: ClassVar[bool] = False  # whether :meth:`assemble` can sign the package

    def __init__(self, fields: list[str]) -> None:
        self.fields = fields

    @classmethod
    def create(cls, fields: list[str], options: WriterOptions) -> Writer:
        """The writer of an export of ``fields``."""
        return cls(fields)

    def start(self) -> Iterator[Chunk]:
        """Chunks written once, before the first batch."""
        return iter(())

    def write(self, batch: list[ExportDocument]) -> Iterator[Chunk]:
        """Chunks for one batch of documents."""
        raise NotImplementedError

    def finish(self) -> Iterator[Chunk]:
        """Chunks written once, after the last batch."""
        return iter(())

    def state(self) -> dict[str, Any]:
        """What the writer needs to continue a partial output (JSON-serialisable)."""
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state` of an interrupted export."""

    def assemble(
        self,
        parts: dict[str, Path],
        out: BinaryIO,
        datasheet: Datasheet,
        signing_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> None:
        """Pack the finished part files into the one output file ``out``: what a format
        of several :attr:`parts` must do (a one-part format is written in place)."""
        raise NotImplementedError(f"{self.name} exports have one part: nothing to assemble")


def json_value(document: ExportDocument, name: str) -> Any:
    """A field as JSON: times as ISO 8601 UTC with ``Z``, lists as lists."""
    value = document.value(name)
    if isinstance(value, datetime):
        return value.isoformat() + "Z"
    return value


def json_record(document: ExportDocument, fields: Iterable[str]) -> dict[str, Any]:
    return {name: json_value(document, name) for name in fields}


class JsonLines(Writer):
    """One JSON object per line, UTF-8, fields in the export order."""

    name = "jsonl"
    extension = ".jsonl"
    media_type = "application/x-ndjson"

    def write(self, batch: list[ExportDocument]) -> Iterator[Chunk]:
        lines = [
            json.dumps(json_record(document, self.fields), ensure_ascii=False) + "\n"
            for document in batch
        ]
        yield DATA, "".join(lines).encode("utf-8")


class Csv(Writer):
    """RFC 4180 CSV: CRLF line ends, fields with commas, quotes or newlines quoted.

    Lists (authors, relations) are JSON text in their cell; a missing value is empty.
    ``bom`` starts the file with a UTF-8 byte order mark, which spreadsheets need to
    recognise UTF-8 (and so show Chinese correctly). ``text_max_chars`` cuts ``text`` and
    ``text_simplified`` to that many characters: a spreadsheet cell holds 32,767, and
    Python's ``csv`` reads fields of at most 131,072 unless told otherwise.
    """

    name = "csv"
    extension = ".csv"
    media_type = "text/csv; charset=utf-8"
    cuts_text = True

    def __init__(
        self, fields: list[str], *, bom: bool = False, text_max_chars: int | None = None
    ) -> None:
        super().__init__(fields)
        self.bom = bom
        self.text_max_chars = text_max_chars

    @classmethod
    def create(cls, fields: list[str], options: WriterOptions) -> Writer:
        return cls(fields, bom=options.bom, text_max_chars=options.text_max_chars)

    def _rows(self, rows: Iterable[list[str]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(rows)
        return buffer.getvalue().encode("utf-8")

    def start(self) -> Iterator[Chunk]:
        yield DATA, ("\ufeff".encode() if self.bom else b"") + self._rows([self.fields])

    def write(self, batch: list[ExportDocument]) -> Iterator[Chunk]:
        yield (
            DATA,
            self._rows(
                [[self._value(document, name) for name in self.fields] for document in batch]
            ),
        )

    def _value(self, document: ExportDocument, name: str) -> str:
        cell = _cell(json_value(document, name))
        if self.text_max_chars is not None and name in TEXT_FIELDS:
            return cell[: self.text_max_chars]
        return cell


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


_RELATION = pa.struct(
    [
        ("type", pa.string()),
        ("id", pa.string()),
        ("direction", pa.string()),
        ("status", pa.string()),
    ]
)
ARROW_TYPES: dict[str, pa.DataType] = {
    "id": pa.string(),
    "url": pa.string(),
    "final_url": pa.string(),
    "captured": pa.timestamp("us", tz="UTC"),
    "published": pa.string(),  # may be partial (2020, 2020-05), so not a date type
    "title": pa.string(),
    "authors": pa.list_(pa.string()),
    "site": pa.string(),
    "language": pa.string(),
    "script": pa.string(),
    "text": pa.string(),
    "text_simplified": pa.string(),
    "word_count": pa.int64(),
    "extraction": pa.string(),
    "ocr_engine": pa.string(),
    "ocr_confidence": pa.float64(),
    "ocr_pages": pa.list_(pa.int64()),
    "relations": pa.list_(_RELATION),
    "warc_file": pa.string(),
    "warc_offset": pa.int64(),
    "warc_length": pa.int64(),
    "warc_record_id": pa.string(),
    "payload_digest": pa.string(),
    "archived_url": pa.string(),
}


def arrow_schema(fields: list[str]) -> pa.Schema:
    return pa.schema([pa.field(name, ARROW_TYPES[name]) for name in fields])


class _Drain(io.RawIOBase):
    """A write-only stream whose bytes are taken out as they are written (no file)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks = []
        return out


class Parquet(Writer):
    """Apache Parquet with typed columns (timestamps, lists), zstd, one row group per batch.

    Streams: each row group's bytes are handed on as soon as it is written. Not
    resumable, since the footer must describe every row group.
    """

    name = "parquet"
    extension = ".parquet"
    media_type = "application/vnd.apache.parquet"
    resumable = False

    def __init__(self, fields: list[str]) -> None:
        super().__init__(fields)
        self.schema = arrow_schema(fields)
        self._sink = _Drain()
        self._writer: pq.ParquetWriter | None = None

    def start(self) -> Iterator[Chunk]:
        self._writer = pq.ParquetWriter(
            self._sink, self.schema, compression="zstd", write_statistics=True
        )
        yield DATA, self._sink.take()

    def write(self, batch: list[ExportDocument]) -> Iterator[Chunk]:
        yield DATA, self.write_rows([{n: d.value(n) for n in self.fields} for d in batch])

    def write_rows(self, rows: list[dict[str, Any]]) -> bytes:
        """Write rows of Python values (times as naive UTC datetimes) as one row group."""
        assert self._writer is not None
        for row in rows:
            captured = row.get("captured")
            if isinstance(captured, datetime) and captured.tzinfo is None:
                row["captured"] = captured.replace(tzinfo=UTC)
        self._writer.write_table(pa.Table.from_pylist(rows, schema=self.schema))
        return self._sink.take()

    def finish(self) -> Iterator[Chunk]:
        assert self._writer is not None
        self._writer.close()
        yield DATA, self._sink.take()


def jsonl_to_parquet(lines: Iterable[bytes], fields: list[str], batch: int) -> Iterator[bytes]:
    """Parquet bytes for the JSON Lines export of the same fields (used by bundles)."""
    writer = Parquet(fields)
    for _, chunk in writer.start():
        yield chunk
    rows: list[dict[str, Any]] = []
    for line in lines:
        row = json.loads(line)
        if "captured" in row:
            row["captured"] = datetime.fromisoformat(row["captured"].removesuffix("Z"))
        rows.append(row)
        if len(rows) >= batch:
            yield writer.write_rows(rows)
            rows = []
    if rows:
        yield writer.write_rows(rows)
    for _, chunk in writer.finish():
        yield chunk
