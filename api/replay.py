"""Reading an archived response back out of its WARC record, safely.

Archived content is hostile: it is served only from the replay paths, with a
sandboxing Content-Security-Policy, and with none of the archived headers that
could act on the application (cookies, security policies, framing, CORS...).
Those are kept visible as ``X-Archive-Orig-*`` headers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import BinaryIO
from urllib.parse import unquote, urlsplit, urlunsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader, ChunkedDataReader
from warcio.recordloader import ArcWarcRecord

from archive.catalog import Record
from archive.repository import Repository
from archive.urls import HOST_PATTERN, PORT_PATTERN, normalise_url

# Archived pages may not run scripts, reach the application with credentials,
# load anything from the live web (which would tell the site who is looking),
# or be framed by anything but the application's own archived-copy page.
ARCHIVED_FRAME_CSP = (
    "sandbox; default-src 'self' data: blob: 'unsafe-inline'; script-src 'none'; object-src 'none'"
)
ARCHIVED_CSP = ARCHIVED_FRAME_CSP + "; frame-ancestors 'self'"
# ARCHIVED_FRAME_CSP serves the frames of a replayed browser capture: their parent is
# the sandboxed page, an opaque origin that frame-ancestors 'self' never matches.
# Headers that would act on the application or describe the original framing.
_DROPPED = {
    "connection",
    "content-length",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "set-cookie",
    "set-cookie2",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
# Headers that describe the body and are served as they were.
_PASSED = {"content-type", "content-language"}
_DECODERS = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate", "br": "br"}
_NO_BODY = {204, 304}
_CHUNK = 1 << 16
_SCHEME = re.compile(r"^(https?):/*", re.IGNORECASE)
_ENCODED_SCHEME = re.compile(r"^https?%3A", re.IGNORECASE)
_TIMESTAMP = re.compile(r"^\d{4,14}$")
# Timestamps :func:`parse_timestamp` takes, as a JSON Schema pattern for the OpenAPI
# document: year, month, day, hour, minute, second, cut after any whole field (a subset:
# February 29 and years before 1000 are taken too).
_MONTH_DAY = r"(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])(29|30)|(0[13578]|1[02])31"
TIMESTAMP_SYNTAX = (
    rf"[1-9][0-9]{{3}}((0[1-9]|1[0-2])|({_MONTH_DAY})(([01][0-9]|2[0-3])([0-5][0-9]){{0,2}})?)?"
)
# An archived URL in a replay path: the scheme may be left out or its '//' collapsed.
ARCHIVED_URL_PATTERN = rf"^(https?:/{{0,2}})?{HOST_PATTERN}{PORT_PATTERN}(/[^\s]*)?$"
# An RFC 1123 date, as Accept-Datetime carries it (days up to the 28th: in every month).
HTTP_DATE_PATTERN = (
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (0[1-9]|1[0-9]|2[0-8]) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [1-9][0-9]{3} "
    r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9] GMT$"
)


class MissingPayload(LookupError):
    """A revisit whose original record is not in the archive."""


def parse_timestamp(value: str) -> datetime:
    """A 4- to 14-digit timestamp as a naive UTC datetime; missing digits pad to the start."""
    if not _TIMESTAMP.fullmatch(value):
        raise ValueError(f"invalid timestamp {value!r}: use 4 to 14 digits, YYYYMMDDhhmmss")
    try:
        return datetime.strptime(value + "0101000000"[len(value) - 4 :], "%Y%m%d%H%M%S")
    except ValueError as exc:
        raise ValueError(f"invalid timestamp {value!r}: {exc}") from exc


def http_date(moment: datetime) -> str:
    """RFC 1123 date of a catalog time, as Memento headers carry it."""
    return format_datetime(moment.replace(tzinfo=UTC), usegmt=True)


def closest(versions: list[Record], target: datetime) -> Record:
    """The version nearest to ``target``; on a tie, the earlier one.

    Distances are in whole seconds, as timestamps are, so every capture's own
    14-digit timestamp finds it (or the first capture of that second).
    """

    def distance(row: Record) -> tuple:
        return (abs(row.timestamp.replace(microsecond=0) - target), row.timestamp, row.id)

    return min(versions, key=distance)


def url_from_path(raw: str) -> str:
    """The archived URL given in a replay path, in its stored form.

    Clients collapse ``//`` and percent-encode IRIs (the host too), so the
    scheme separator is repaired and the host decoded before normalising.
    Raises ``archive.urls.InvalidURL`` (a ``ValueError``).
    """
    if _ENCODED_SCHEME.match(raw):  # the whole URL percent-encoded, as one path segment
        raw = unquote(raw)
    match = _SCHEME.match(raw)
    raw = f"{match.group(1)}://{raw[match.end() :]}" if match else "http://" + raw
    parts = urlsplit(raw)
    parts = parts._replace(netloc=unquote(parts.netloc))
    return normalise_url(urlunsplit(parts))


def _accepts(accept_encoding: str, encoding: str) -> bool:
    accepted = set()
    for item in accept_encoding.lower().split(","):
        name, _, params = item.partition(";")
        if params.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000"):
            continue
        accepted.add(name.strip())
    return encoding in accepted or "*" in accepted or (encoding == "x-gzip" and "gzip" in accepted)


@dataclass
class Memento:
    """An archived response ready to serve: status, safe headers, streamed body.

    The WARC file stays open until the body is read to the end or ``close``d.
    """

    record: Record
    status: int
    headers: list[tuple[str, str]]
    location: str | None
    _file: BinaryIO
    _reader: BinaryIO | None

    def iter_body(self) -> Iterator[bytes]:
        try:
            while self._reader is not None and (chunk := self._reader.read(_CHUNK)):
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        self._file.close()


def _first_record(fh: BinaryIO, offset: int) -> ArcWarcRecord:
    fh.seek(offset)
    return next(iter(ArchiveIterator(fh)))


def _original(repository: Repository, row: Record) -> Record:
    original = repository.catalog.original_of(row)
    if original is None:
        raise MissingPayload(
            f"the payload of this revisit ({row.refers_to or row.payload_digest}) "
            "is not in the archive"
        )
    return original


def open_memento(repository: Repository, row: Record, accept_encoding: str = "") -> Memento:
    """Open the response stored in ``row`` (resolving revisits to their payload).

    Chunked transfer coding is removed; a stored Content-Encoding is kept if the
    client accepts it, otherwise the body is decoded and the header dropped.
    """
    payload_row = _original(repository, row) if row.record_type == "revisit" else row
    fh = repository.store.open_file(row.warc_file)  # closed by Memento
    try:
        record = _first_record(fh, row.offset)
        http = record.http_headers
        if payload_row is not row:
            fh.close()
            fh = repository.store.open_file(payload_row.warc_file)
            payload = _first_record(fh, payload_row.offset)
        else:
            payload = record
    except BaseException:
        fh.close()
        raise
    if http is None:  # a resource record: the block is the file itself
        status = 200
        original_headers = [("Content-Type", record.rec_headers.get_header("Content-Type"))]
    else:
        try:
            status = int(http.get_statuscode())
        except (TypeError, ValueError):
            status = 200
        original_headers = list(http.headers)
    chunked = encoding = None
    headers: list[tuple[str, str]] = []
    location = None
    for name, value in original_headers:
        key = name.lower()
        if key == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif key == "content-encoding":
            encoding = value.strip().lower()
        elif key == "location":
            location = value.strip()
        if key in _PASSED:
            headers.append((name, value))
        elif key not in _DROPPED and key not in ("content-encoding", "location"):
            headers.append((f"X-Archive-Orig-{name}", value))
    decode = None
    if encoding in _DECODERS and not _accepts(accept_encoding, encoding):
        decode = _DECODERS[encoding]
    elif encoding and encoding != "identity":
        headers.append(("Content-Encoding", encoding))
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/octet-stream"))
    reader: BinaryIO = payload.raw_stream
    if chunked:
        reader = ChunkedDataReader(reader, decomp_type=decode)
    elif decode:
        reader = BufferedReader(reader, decomp_type=decode)
    if status in _NO_BODY or status < 200:
        return Memento(row, status, headers, location, fh, None)
    return Memento(row, status, headers, location, fh, reader)
