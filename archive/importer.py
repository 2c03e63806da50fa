"""Importing what people already have: WARC, ARC and WACZ files, and single documents.

WARC records are copied byte for byte, so their digests stay those of the
original crawl. Each record is read twice, from two streams over the same
source: the first parses it and checks its digests, the second copies its
exact bytes into the store once it is known to be intact. Both streams only
move forward, so nothing is held in memory and WARCs inside a WACZ zip are read
in place. Gzip input is decompressed as one stream whatever its members, so a
file gzipped whole, or several records per member, still copies exactly.

ARC records have no WARC form to keep, so they are converted: the ARC content
block (HTTP headers and body, as stored) becomes the block of a ``response``
record whose digests are computed here, with a record id derived from the
record's URL, date and content, so importing the same ARC again finds it.

A single document (web pages, PDFs, text, images, Word and OpenDocument
files, e-mails: see ``DOCUMENT_TYPES``) becomes a ``resource`` record holding
the file's bytes as submitted, plus a ``metadata`` record saying who submitted
it, when, and when it was published. A document with no URL (a scan, a photo,
a testimony) is stored under ``urn:sha256:<hex of its bytes>``, so the same
file submitted twice is found again. An e-mail's attachments are stored as
documents of their own whose metadata names the e-mail (``attached-to``).

Records are stored in batches; each batch is fsynced and catalogued before the
next one starts, so a crash loses at most one unacknowledged batch. Damaged
input (a parse error, a record cut short, a failed digest) stops the import of
that source after the last intact record; everything before it stays stored.

Hostile input gets an answer in bounded work: a header (the lines of a record
header, or of the HTTP head inside it) must end within ``HEADER_LIMIT`` bytes,
and so must a run of blank lines, or the source is refused as not a WARC/ARC;
gzip is inflated a bounded amount at a time; messages are cut to
``MESSAGE_LIMIT`` characters with binary shown escaped. A large valid record
still streams.
"""

from __future__ import annotations

import ast
import codecs
import email
import email.policy
import fnmatch
import getpass
import hashlib
import json
import re
import tempfile
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from sqlalchemy import select
from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import DecompressingBufferedReader
from warcio.recordloader import ArcWarcRecord
from warcio.timeutils import timestamp_to_datetime

from archive.catalog import Record
from archive.config import MiB
from archive.records import catalog_row, new_row, record_row
from archive.repository import Repository
from archive.store import WarcAppender, check_collection
from archive.urls import InvalidURL, normalise_url
from archive.warc import (
    Digest,
    InvalidText,
    WarcRecord,
    check_note,
    safe_name,
    warc_datetime,
    warc_fields,
)

DOCUMENT_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".eml": "message/rfc822",
}
# WAT and WET files are WARC files too (metadata and conversion records).
WARC_SUFFIXES = (".warc", ".warc.gz", ".wat.gz", ".wet.gz")
ARC_SUFFIXES = (".arc", ".arc.gz")
WACZ_SUFFIX = ".wacz"

BATCH_RECORDS = 100
BATCH_BYTES = 16 * MiB
_CHUNK = 1 << 16
_INFLATE_STEP = 4 * _CHUNK  # most bytes inflated from one read of gzip input
# Most bytes of header lines (or of blank lines between records) before the
# data is refused as not a WARC/ARC: real headers are a few KiB.
HEADER_LIMIT = 64 * 1024
# Most empty gzip members in a row (real files have none, or one at the end).
_EMPTY_MEMBERS = 1000
_TOO_MANY_EMPTY = f"more than {_EMPTY_MEMBERS} empty gzip members in a row: not a WARC or ARC"
# Most characters of an error message or warning about a source; where a
# source stopped is shorter, leaving room for the file name around it.
MESSAGE_LIMIT = 300
WHERE_LIMIT = 200
# Most bytes of a WACZ's datapackage.json (a few KiB in practice).
_DATAPACKAGE_LIMIT = 16 * MiB
# Deterministic record ids for converted ARC records and documents.
_ID_NAMESPACE = uuid.UUID("6f1f4c52-6a43-4f3c-9d3e-7a0c2b1e5d21")
# `date YYYY-MM-DD URL` opening a submitted text file (after a BOM or spaces).
_DATE_LINE = re.compile(rb"^(?:\xef\xbb\xbf)?\s*date\s+(\d{4}-\d{2}-\d{2})\s+(\S+)\s*$")
_HTTP_HEAD_END = re.compile(rb"\r?\n\r?\n")


def brief(message: str, limit: int = MESSAGE_LIMIT) -> str:
    """``message`` on one line, control characters and undecodable bytes escaped,
    cut to ``limit`` characters: hostile input must not flood a terminal or log."""
    text = " ".join(message.split())
    text = "".join(c if c.isprintable() else _escape(c) for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return char.encode("unicode_escape").decode("ascii")


class InputError(ValueError):
    """Input that cannot be imported at all; nothing was stored for it."""

    def __init__(self, message: str) -> None:
        super().__init__(brief(message))


@dataclass
class ImportResult:
    """What importing one source (file, WACZ member or upload) did."""

    source: str
    imported: int = 0
    skipped: int = 0
    record_ids: list[int] = field(default_factory=list)
    stopped: str | None = None  # where and why a damaged source stopped
    warnings: list[str] = field(default_factory=list)
    url: str | None = None  # a single document's normalised URL (or urn:sha256:...)
    payload_digest: str | None = None  # a single document's digest
    attachments: list[str] = field(default_factory=list)  # an e-mail's, as "name url"

    @property
    def ok(self) -> bool:
        return self.stopped is None


@dataclass(frozen=True)
class Submission:
    """What a submitter says about a single document."""

    url: str | None = None
    published: date | None = None
    note: str | None = None
    submitter: str | None = None
    keep_gps: bool = False  # keep a photo's GPS position in its derived metadata


def content_urn(sha256_hex: str) -> str:
    """The identifier of a document that has no URL: ``urn:sha256:<hex>`` of its bytes."""
    return f"urn:sha256:{sha256_hex}"


def source_kind(name: str) -> str:
    """``warc``, ``arc``, ``wacz`` or ``document`` for a file name; else :class:`InputError`."""
    lower = name.lower()
    if lower.endswith(WARC_SUFFIXES):
        return "warc"
    if lower.endswith(ARC_SUFFIXES):
        return "arc"
    if lower.endswith(WACZ_SUFFIX):
        return "wacz"
    if PurePosixPath(lower).suffix in DOCUMENT_TYPES:
        return "document"
    known = ", ".join([*WARC_SUFFIXES, *ARC_SUFFIXES, WACZ_SUFFIX, *DOCUMENT_TYPES])
    raise InputError(f"{name}: unknown file type (expected one of {known})")


def source_size(path: Path) -> int:
    """Bytes an import of ``path`` reads, for progress bars; checks it can be imported."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if source_kind(path.name) == "wacz":
        with _open_wacz(path) as package:
            names, _ = _wacz_warcs(package, path)
            return sum(package.getinfo(name).file_size for name in names)
    return path.stat().st_size


@dataclass
class Sources:
    """What ``vestige import PATH...`` covers."""

    files: list[Path]  # to import, in order
    named: set[Path]  # those named on the command line (the rest came from folders)
    skipped: list[Path]  # files in folders that are of no type Vestige imports


def collect_sources(paths: Iterable[Path], pattern: str | None = None) -> Sources:
    """The files named and every file under the folders named (recursively, sorted),
    those in folders filtered by ``pattern`` (a glob on the name, e.g. ``*.warc.gz``).

    A named file that cannot be imported raises :class:`InputError` (nothing is
    stored then); a file in a folder of an unknown type is skipped.
    """
    sources = Sources([], set(), [])
    for path in paths:
        if not path.is_dir():
            source_size(path)  # exists, and of a known type
            sources.files.append(path)
            sources.named.add(path)
            continue
        for found in sorted(p for p in path.rglob("*") if p.is_file()):
            if pattern and not fnmatch.fnmatch(found.name, pattern):
                continue
            try:
                source_kind(found.name)
            except InputError:
                sources.skipped.append(found)
                continue
            sources.files.append(found)
    return sources


@dataclass
class Tally:
    """Files an import command imported, found already present, skipped and refused."""

    imported: int = 0
    present: int = 0
    skipped: int = 0
    refused: int = 0

    def add(self, results: list[ImportResult]) -> None:
        """Count one file from its results (a WACZ has one per WARC inside)."""
        if not all(result.ok for result in results):
            self.refused += 1
        elif any(result.imported for result in results):
            self.imported += 1
        else:
            self.present += 1

    def __str__(self) -> str:
        files = self.imported + self.present + self.skipped + self.refused
        return (
            f"{files:,} files: {self.imported:,} imported, {self.present:,} already present, "
            f"{self.skipped:,} skipped (not an archive or document), {self.refused:,} refused"
        )


def parse_date_line(first_line: bytes) -> tuple[date, str] | None:
    """The publication date and URL of a ``date YYYY-MM-DD URL`` line, if it is one."""
    match = _DATE_LINE.match(first_line.rstrip(b"\r\n"))
    if not match:
        return None
    try:
        return date.fromisoformat(match[1].decode()), match[2].decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def parse_published(value: str) -> date:
    """A publication date given as ``YYYY-MM-DD``; else :class:`InputError`."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise InputError(f"{value!r} is not a date in the form YYYY-MM-DD") from exc


Progress = Callable[[int], None]


class Importer:
    """Imports files into a repository (see the module docstring)."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository

    # -- entry points --------------------------------------------------------

    def import_path(
        self,
        path: Path,
        *,
        collection: str = "default",
        submission: Submission | None = None,
        progress: Progress | None = None,
    ) -> list[ImportResult]:
        """Import one file; a WACZ gives one result per WARC inside it.

        Raises :class:`InputError` (before storing anything) for a missing
        file, an unknown type, a WACZ that is not one, or a document's bad URL.
        """
        check_collection(collection)
        source_size(path)  # exists, and of a known type
        kind = source_kind(path.name)
        if kind == "document":
            with open(path, "rb") as fh:
                return [
                    self.import_document(
                        fh, path.name, collection=collection, submission=submission
                    )
                ]
        if kind == "wacz":
            return self._import_wacz(path, collection, progress)
        result = ImportResult(safe_name(str(path)))

        def opener() -> BinaryIO:
            return open(path, "rb")

        self._store(self._read(opener, result, kind, progress), collection, result)
        return [result]

    def import_document(
        self,
        stream: BinaryIO,
        filename: str,
        *,
        collection: str = "default",
        submission: Submission | None = None,
    ) -> ImportResult:
        """Store a submitted document (seekable ``stream``) as resource + metadata records.

        ``filename`` gives the type; a ``.txt`` whose first line is
        ``date YYYY-MM-DD URL`` supplies URL and date that ``submission`` lacks;
        without a URL the document is stored under :func:`content_urn`. An
        e-mail's attachments are stored too (their URLs in ``attachments``).
        """
        check_collection(collection)
        submission = submission or Submission()
        try:
            check_note(submission.note)
        except InvalidText as exc:
            raise InputError(f"{safe_name(filename)}: {exc}") from exc
        if source_kind(filename) != "document":
            raise InputError(f"{filename}: not a single document ({', '.join(DOCUMENT_TYPES)})")
        result = self._store_document(stream, filename, collection, submission, [])
        if PurePosixPath(filename.lower()).suffix == ".eml" and result.url:
            for name, body in _attachments(stream):
                attachment = Submission(
                    published=submission.published,
                    submitter=submission.submitter,
                    keep_gps=submission.keep_gps,
                )
                with tempfile.SpooledTemporaryFile(max_size=BATCH_BYTES) as part:
                    part.write(body)
                    stored = self._store_document(
                        part, name, collection, attachment, [("attached-to", result.url)]
                    )
                result.imported += stored.imported
                result.skipped += stored.skipped
                result.record_ids += stored.record_ids
                result.attachments.append(f"{name} {stored.url}")
        return result

    def _store_document(
        self,
        stream: BinaryIO,
        filename: str,
        collection: str,
        submission: Submission,
        extra: list[tuple[str, str]],
    ) -> ImportResult:
        suffix = PurePosixPath(filename.lower()).suffix
        digest, sha256, length, first_line, utf8 = _scan(stream)
        url, published = submission.url, submission.published
        dated = parse_date_line(first_line) if suffix == ".txt" else None
        if dated:
            published = published or dated[0]
            url = url or dated[1]
        if url:
            try:
                url = normalise_url(url)
            except InvalidURL as exc:
                raise InputError(f"{filename}: {exc}") from exc
            if not url.startswith(("http://", "https://")):
                raise InputError(f"{filename}: --url must be an http or https URL, not {url!r}")
        else:
            url = content_urn(sha256)
        result = ImportResult(safe_name(filename), url=url, payload_digest=str(digest))
        if self.repository.catalog.find_original(url, str(digest)):
            result.skipped = 1
            return result
        content_type = DOCUMENT_TYPES.get(suffix, "application/octet-stream")
        if suffix == ".txt" and utf8:
            content_type += "; charset=utf-8"
        now = datetime.now(UTC)
        resource = WarcRecord(
            "resource",
            url,
            now,
            content_type,
            body=stream,
            body_length=length,
            block_digest=str(digest),
            payload_digest=str(digest),
        )
        fields = [
            ("submitter", submission.submitter or getpass.getuser()),
            ("submitted", warc_datetime(now)),
            ("published", published.isoformat() if published else ""),
            ("filename", safe_name(filename)),
            # the name's own bytes, when it is not UTF-8 (percent-encoded above)
            ("filename-raw", filename if safe_name(filename) != filename else ""),
            ("collection", collection),
            ("note", submission.note or ""),
            ("trigger", "import"),
            *extra,
        ]
        if submission.keep_gps:
            fields.append(("keep-gps", "yes"))
        metadata = WarcRecord(
            "metadata",
            url,
            now,
            "application/warc-fields",
            head=warc_fields(fields),
            headers=[("WARC-Concurrent-To", resource.record_id)],
        )
        capture_id = uuid.uuid4().hex
        copies = (
            _Copy(record.record_id, record.body_length, _document_writer(record, capture_id))
            for record in (resource, metadata)
        )
        self._store(copies, collection, result)
        return result

    # -- storing -------------------------------------------------------------

    def _store(self, copies: Iterator[_Copy], collection: str, result: ImportResult) -> None:
        """Write ``copies`` in batches, each fsynced and catalogued before the next."""
        try:
            self._store_batches(self._unknown(copies, result), collection, result)
        except _Damage as damage:
            # The source changed between reading and copying: that batch is undone.
            result.stopped = brief(f"{damage} (did the file change during the import?)")

    def _store_batches(self, fresh: Iterator[_Copy], collection: str, result: ImportResult) -> None:
        while (first := next(fresh, None)) is not None:
            rows: list[Record] = []
            with self.repository.store.append(collection) as appender:
                rows.append(first.write(appender, collection))
                size = first.size
                for copy in fresh:
                    rows.append(copy.write(appender, collection))
                    size += copy.size
                    if len(rows) >= BATCH_RECORDS or size >= BATCH_BYTES:
                        break
                appender.after_sync(partial(self.repository.catalog.add, rows))
            result.record_ids += [row.id for row in rows]
            result.imported += len(rows)

    def _unknown(self, copies: Iterator[_Copy], result: ImportResult) -> Iterator[_Copy]:
        """The copies whose record id is not catalogued yet; counts the others."""
        seen: dict[str, str | None] = {}  # id -> block digest, this run (maybe uncommitted)
        for copy in copies:
            if copy.record_id in seen:
                if seen[copy.record_id] != copy.block_digest:
                    # wget writes two of its resource records with one id; the
                    # catalog keys records by id, so only the first is kept.
                    result.warnings.append(
                        brief(
                            f"{copy.record_id} is the id of two different records; kept the first"
                        )
                    )
                result.skipped += 1
                continue
            with self.repository.catalog.session() as session:
                known = session.scalar(select(Record.id).where(Record.record_id == copy.record_id))
            if known:
                result.skipped += 1
                continue
            seen[copy.record_id] = copy.block_digest
            yield copy

    # -- reading sources -----------------------------------------------------

    def _read(
        self,
        opener: Callable[[], BinaryIO],
        result: ImportResult,
        kind: str,
        progress: Progress | None,
    ) -> Iterator[_Copy]:
        """The intact records of one WARC or ARC source; damage ends it in ``result``."""
        with ExitStack() as stack:
            parsed = stack.enter_context(_Source(opener(), progress))
            copier = stack.enter_context(_Source(opener())) if kind == "warc" else None
            found, empty = False, 0
            # Each gzip member is parsed on its own, as warcio does: a record
            # ends at its member's end even if its closing blank lines are missing.
            while parsed.next_member():
                if copier is not None:
                    copier.next_member()
                if parsed.member_is_empty():
                    empty += 1
                    if empty > _EMPTY_MEMBERS:  # each costs a little; a bomb has millions
                        result.stopped = parsed.where(parsed.tell(), _TOO_MANY_EMPTY)
                        return
                    continue
                empty = 0
                records = _Records(parsed, no_record_parse=kind == "arc")
                while True:
                    records.read_to_end()  # so that ``offset`` is where the next record starts
                    start = records.offset
                    try:
                        record = next(records)
                        if copier is None:
                            copy = _converted_copy(record)
                        else:
                            copy = _verified_copy(record, records, copier, parsed)
                    except StopIteration:
                        break
                    except Exception as exc:  # any failure to parse untrusted input is damage
                        result.stopped = parsed.where(start, parsed.damage or _reason(exc))
                        return
                    found = True
                    yield copy
                    if records.err_count:
                        result.warnings.append(
                            parsed.where(records.offset, "record not followed by a blank line")
                        )
                        records.err_count = 0
            if parsed.damage:
                result.stopped = parsed.where(parsed.tell(), parsed.damage)
            elif not found:
                # Not "0 records imported": an empty file is a mistake worth an error.
                result.stopped = f"byte 0: {parsed.emptiness()}"

    def _import_wacz(
        self, path: Path, collection: str, progress: Progress | None
    ) -> list[ImportResult]:
        results = []
        with _open_wacz(path) as package:
            names, unsafe = _wacz_warcs(package, path)
            for name in names:
                result = ImportResult(safe_name(f"{path}!{name}"))
                if unsafe and not results:
                    unsafe_names = ", ".join(map(repr, unsafe))
                    result.warnings.append(
                        brief(f"skipped members with unsafe names: {unsafe_names}")
                    )

                def opener(name: str = name) -> BinaryIO:
                    return package.open(name)

                self._store(self._read(opener, result, "warc", progress), collection, result)
                results.append(result)
                if result.stopped:
                    break
        return results


# -- records to write ----------------------------------------------------------


@dataclass
class _Copy:
    """One intact record, ready to be written: ``write`` stores it and returns its row."""

    record_id: str
    size: int
    write: Callable[[WarcAppender, str], Record]
    block_digest: str | None = None


class _Damage(Exception):
    """A record that cannot be kept; the import of its source stops there."""


class _HeaderLines(DecompressingBufferedReader):
    """warcio's reader with the reading of headers bounded by ``HEADER_LIMIT``.

    warcio reads record headers, HTTP heads and the blank lines between
    records with ``readline()``, and bodies with ``read()``. It would gather
    a line of any length (quadratically: 200 MB of zeros took over 11 minutes);
    here a line, a block of header lines or a run of blank lines longer than
    the limit is refused.
    """

    def __init__(self, stream: BinaryIO, block_size: int) -> None:
        super().__init__(stream, block_size=block_size)
        self._header_bytes = 0  # header lines since the last blank line or body read
        self._blank_bytes = 0  # blank lines in a row

    def read(self, length: int | None = None) -> bytes:
        self._header_bytes = self._blank_bytes = 0
        return super().read(length)

    def readline(self, length: int | None = None) -> bytes:
        cap = HEADER_LIMIT + 1 if length is None or not 0 <= length <= HEADER_LIMIT else length
        line = super().readline(cap)
        # warcio's readline may stop short of ``cap`` without a line end; go on to it
        while line and not line.endswith(b"\n") and len(line) < cap:
            more = super().readline(cap - len(line))
            if not more:
                break
            line += more
        if line.strip():
            self._header_bytes += len(line)
            self._blank_bytes = 0
        else:
            self._header_bytes = 0
            self._blank_bytes += len(line)
        if self._header_bytes > HEADER_LIMIT:
            raise _Damage(
                f"no record header ends within {HEADER_LIMIT // 1024} KiB: "
                f"not a WARC or ARC record (first bytes: {line[:40]!r})"
            )
        if self._blank_bytes > HEADER_LIMIT:
            raise _Damage(f"more than {HEADER_LIMIT // 1024} KiB of blank lines: not a WARC or ARC")
        return line


class _Records(ArchiveIterator):
    """warcio's record iterator, reading through :class:`_HeaderLines`, with
    digests checked; without warcio's warning that copies a whole input line
    to stderr (the importer's own warning says where)."""

    INC_RECORD = ""

    def __init__(self, source: _Source, *, no_record_parse: bool) -> None:
        super().__init__(source, check_digests=True, no_record_parse=no_record_parse)
        self.reader = _HeaderLines(self.fh, self.reader.block_size)


_UNKNOWN_FORMAT = "Unknown archive format, first line: "
_EXCERPT = 60  # characters of a hostile file's first line quoted in its error


def _reason(exc: Exception) -> str:
    message = str(exc)
    if message.startswith(_UNKNOWN_FORMAT):
        # warcio quotes the whole first line (a list of its Latin-1 decoded parts):
        # quote a short excerpt of its bytes, escaped, so binary reads as binary.
        quoted = message[len(_UNKNOWN_FORMAT) :]
        try:
            line = repr("".join(ast.literal_eval(quoted)).encode("latin-1"))
        except (ValueError, SyntaxError, TypeError, UnicodeEncodeError):
            line = ascii(quoted)
        excerpt = line if len(line) <= _EXCERPT else line[:_EXCERPT] + "…"
        return f"not a WARC or ARC record (unknown archive format; first line: {excerpt})"
    return brief(message) or type(exc).__name__


def _drain(record: ArcWarcRecord) -> None:
    """Read ``record`` to its end (so its digests get checked) and check it is whole."""
    stream = record.raw_stream
    while stream.read(_CHUNK):
        pass
    missing = getattr(stream, "limit", 0)
    if missing:
        raise _Damage(f"record cut short: {missing} bytes missing")
    if record.digest_checker.passed is False:
        raise _Damage("; ".join(record.digest_checker.problems))


def _verified_copy(
    record: ArcWarcRecord, records: ArchiveIterator, copier: _Source, parsed: _Source
) -> _Copy:
    """Check a WARC record, then copy its original bytes from ``copier``."""
    record_id = record.rec_headers.get_header("WARC-Record-ID")
    if not record_id:  # before reading the block: it may be a GiB of anything
        raise _Damage("not a WARC record (no WARC-Record-ID)")
    _drain(record)
    offset, length = records.get_record_offset(), records.get_record_length()
    if parsed.damage:
        raise _Damage(parsed.damage)  # the record may run into the damage

    def write(appender: WarcAppender, collection: str) -> Record:
        location = appender.write_raw(_with_end(copier.slice(offset, length)))
        return catalog_row(record, location, collection)

    return _Copy(record_id, length, write, record.rec_headers.get_header("WARC-Block-Digest"))


def _with_end(chunks: Iterator[bytes]) -> Iterator[bytes]:
    # Offsets from warcio exclude the blank lines closing a record; they are
    # not part of any digest, so the standard CRLFCRLF is written back.
    yield from chunks
    yield b"\r\n\r\n"


def _converted_copy(record: ArcWarcRecord) -> _Copy:
    """An ARC record as a WARC record whose block is the ARC content, exactly."""
    headers = record.rec_headers
    uri = (headers.get_header("uri") or "").replace(" ", "%20")
    try:
        when = timestamp_to_datetime(headers.get_header("archive-date") or "")
    except ValueError as exc:
        raise _Damage(f"bad ARC date: {exc}") from exc
    mime = headers.get_header("content-type") or "application/octet-stream"
    spool = tempfile.SpooledTemporaryFile(max_size=BATCH_BYTES)  # noqa: SIM115 - closed after writing
    block = Digest()
    stream = record.raw_stream
    while chunk := stream.read(_CHUNK):
        spool.write(chunk)
        block.update(chunk)
    if getattr(stream, "limit", 0):
        spool.close()
        raise _Damage(f"record cut short: {stream.limit} bytes missing")
    length = spool.tell()
    status = payload = None
    if uri.startswith(("http:", "https:")):
        status, payload = _http_response(spool)
    ip = headers.get_header("ip-address")
    extra = [("WARC-IP-Address", ip)] if ip else []
    if record.rec_type == "arc_header":
        record_type, target, content_type = "warcinfo", None, mime
        extra = [("WARC-Filename", uri.removeprefix("filedesc://"))]
    elif payload is not None:
        record_type, target = "response", uri
        content_type = "application/http; msgtype=response"
    else:
        # Not an HTTP response (dns:, ftp:, HTTP/0.9): the block is the resource.
        record_type, target, content_type = "resource", uri, mime
        payload = str(block)
    key = f"arc {uri} {when.isoformat()} {block}"
    record_id = f"<urn:uuid:{uuid.uuid5(_ID_NAMESPACE, key)}>"
    converted = WarcRecord(
        record_type,
        target,
        when.replace(tzinfo=UTC),
        content_type,
        body=spool,
        body_length=length,
        headers=extra,
        record_id=record_id,
        block_digest=str(block),
        payload_digest=payload,
    )

    def write(appender: WarcAppender, collection: str) -> Record:
        try:
            location = appender.write_raw(converted.serialise())
        finally:
            spool.close()
        return new_row(
            record_id=record_id,
            record_type=record_type,
            target_uri=target,
            date=converted.date,
            location=location,
            collection=collection,
            status=status,
            mime=mime,
            payload_digest=payload,
        )

    return _Copy(record_id, length, write, str(block))


def _http_response(spool: BinaryIO) -> tuple[int | None, str | None]:
    """Status and payload digest of an HTTP response block, or (None, None)."""
    spool.seek(0)
    head = spool.read(_CHUNK)
    end = _HTTP_HEAD_END.search(head)
    if not head.startswith(b"HTTP/") or end is None:
        return None, None
    parts = head.split(None, 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    spool.seek(end.end())
    payload = Digest()
    while chunk := spool.read(_CHUNK):
        payload.update(chunk)
    return status, str(payload)


def _document_writer(record: WarcRecord, capture_id: str) -> Callable[[WarcAppender, str], Record]:
    def write(appender: WarcAppender, collection: str) -> Record:
        location = appender.write_raw(record.serialise())
        return record_row(record, location, collection, capture_id, mime=record.content_type)

    return write


def _scan(stream: BinaryIO) -> tuple[Digest, str, int, bytes, bool]:
    """Digest, SHA-256 (hex), length, first line and UTF-8 validity of a document, in one pass."""
    stream.seek(0)
    digest = Digest()
    sha256 = hashlib.sha256()
    text = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    length = 0
    head = b""
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
        sha256.update(chunk)
        length += len(chunk)
        if len(head) < _CHUNK:
            head += chunk[: _CHUNK - len(head)]
        if utf8:
            try:
                text.decode(chunk)
            except UnicodeDecodeError:
                utf8 = False
    if utf8:
        try:
            text.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    return digest, sha256.hexdigest(), length, head.split(b"\n", 1)[0], utf8


def _attachments(stream: BinaryIO) -> Iterator[tuple[str, bytes]]:
    """(file name, bytes) of each attachment of the e-mail in ``stream``."""
    stream.seek(0)
    message = email.message_from_binary_file(stream, policy=email.policy.default)
    for number, part in enumerate(message.walk(), 1):
        if part.is_multipart() or part.get_content_disposition() != "attachment":
            continue
        body = part.get_payload(decode=True) or b""
        name = PurePosixPath((part.get_filename() or "").replace("\\", "/")).name
        yield name or f"attachment-{number}", body


# -- reading bytes -------------------------------------------------------------


class _Source:
    """A forward-only stream of a WARC/ARC source, gunzipped one member at a time.

    :meth:`next_member` moves to the next gzip member (a plain file is one
    member), and :meth:`read` returns ``b""`` at the end of each. Positions
    count uncompressed bytes from the start of the file. A torn or corrupt gzip
    stream ends the data early and sets ``damage``. ``progress`` is told how
    many source bytes were read.
    """

    def __init__(self, raw: BinaryIO, progress: Progress | None = None) -> None:
        self._raw = raw
        self._progress = progress
        self._consumed = 0  # source bytes read
        self._position = 0  # uncompressed bytes delivered or skipped
        self._buffer = bytearray()
        self._pending = self._read_raw(2)
        self._gzip = self._pending == b"\x1f\x8b"
        self._decompressor = zlib.decompressobj(31)
        self._member_done = True  # until next_member() starts the first
        self._finished = False
        self._member = (0, 0)  # (source offset, position) where the member began
        self.damage: str | None = None

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self._raw.close()

    def _read_raw(self, size: int) -> bytes:
        data = self._raw.read(size)
        self._consumed += len(data)
        if self._progress and data:
            self._progress(len(data))
        return data

    def tell(self) -> int:
        return self._position

    def next_member(self) -> bool:
        """Skip the rest of the current member and start the next; False at the end."""
        if not self._gzip:
            started, self._member_done = self._member_done, False
            return started and not self._finished
        while not self._member_done and not self._finished:
            self._fill()
        self._position += len(self._buffer)
        self._buffer.clear()
        if self._finished:
            return False
        self._pending = self._pending or self._read_raw(_CHUNK)
        if not self._pending:
            self._finished = True
            return False
        self._member = (self._consumed - len(self._pending), self._position)
        self._decompressor = zlib.decompressobj(31)
        self._member_done = False
        return True

    def read(self, size: int = -1) -> bytes:
        while not (self._finished or self._member_done) and (size < 0 or len(self._buffer) < size):
            self._fill()
        if size < 0:
            size = len(self._buffer)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        self._position += len(out)
        return out

    def _fill(self) -> None:
        chunk = self._pending or self._read_raw(_CHUNK)
        self._pending = b""
        if not self._gzip:
            self._buffer += chunk
            self._finished = not chunk
            return
        start = self._member[0]
        try:
            # Bounded: 64 KiB of a gzip bomb would otherwise inflate to 64 MiB at once.
            out = self._decompressor.decompress(chunk, _INFLATE_STEP)
        except zlib.error as exc:
            self.damage = f"corrupt gzip data in the member at byte {start}: {exc}"
            self._finished = True
            return
        if not chunk and not out:
            self.damage = f"the gzip member at byte {start} is cut short (file truncated?)"
            self._finished = True
            return
        self._buffer += out
        if self._decompressor.eof:
            self._pending = self._decompressor.unused_data
            self._member_done = True
        else:
            self._pending = self._decompressor.unconsumed_tail

    def member_is_empty(self) -> bool:
        """Whether the current member has no data at all (reads at most its first bytes)."""
        while not self._buffer and not (self._member_done or self._finished):
            self._fill()
        return not self._buffer

    def emptiness(self) -> str:
        """What a source that gave no record held."""
        if self._position:
            return "no records in it"
        return "the file is empty" if not self._consumed else "the file holds only empty gzip"

    def where(self, offset: int, reason: str) -> str:
        """``byte N: reason`` for the record at uncompressed ``offset``, cut short."""
        source_offset, position = self._member
        if not self._gzip:
            return brief(f"byte {offset}: {reason}", WHERE_LIMIT)
        if offset == position:
            return brief(f"byte {source_offset}: {reason}", WHERE_LIMIT)
        inside = offset - position
        return brief(
            f"byte {source_offset} (uncompressed byte {inside} of that gzip member): {reason}",
            WHERE_LIMIT,
        )

    def slice(self, offset: int, length: int) -> Iterator[bytes]:
        """The ``length`` bytes at ``offset`` (not before the current position)."""
        if offset < self._position:
            raise _Damage(f"records overlap at byte {offset}")
        while self._position < offset:
            if not self.read(min(offset - self._position, _CHUNK)):
                raise _Damage(f"data ends before byte {offset}")
        while length:
            chunk = self.read(min(length, _CHUNK))
            if not chunk:
                raise _Damage(f"data ends {length} bytes before the record does")
            length -= len(chunk)
            yield chunk


# -- WACZ ----------------------------------------------------------------------


def _open_wacz(path: Path) -> zipfile.ZipFile:
    try:
        package = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{path}: not a WACZ package (not a zip file: {exc})") from exc
    try:
        with package.open("datapackage.json") as member:
            data = member.read(_DATAPACKAGE_LIMIT + 1)  # bounded: it may be a zip bomb
        if len(data) <= _DATAPACKAGE_LIMIT:
            json.loads(data)
            return package
        problem = f"not a WACZ package (datapackage.json is over {_DATAPACKAGE_LIMIT // MiB} MiB)"
    except KeyError:
        problem = "not a WACZ package (no datapackage.json)"
    except (ValueError, zipfile.BadZipFile, zlib.error) as exc:
        problem = f"unreadable datapackage.json: {exc}"
    package.close()
    raise InputError(f"{path}: {problem}")


def _unsafe_member(name: str) -> bool:
    """A member name that is absolute or climbs out (``..``): not read, but named."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return name.startswith(("/", "\\")) or ".." in parts or (bool(parts) and ":" in parts[0])


def _wacz_warcs(package: zipfile.ZipFile, path: Path) -> tuple[list[str], list[str]]:
    """The WARC members of a WACZ, and the names of members skipped as unsafe."""
    unsafe = [name for name in package.namelist() if _unsafe_member(name)]
    names = [
        name
        for name in package.namelist()
        if name.startswith("archive/")
        and name.lower().endswith((".warc", ".warc.gz"))
        and name not in unsafe
    ]
    if not names:
        skipped = f" (skipped as unsafe: {', '.join(map(repr, unsafe))})" if unsafe else ""
        raise InputError(
            f"{path}: WACZ package has no archive/*.warc or archive/*.warc.gz{skipped}"
        )
    return sorted(names), unsafe
