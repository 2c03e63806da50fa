"""Describing WARC records for the catalog."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from warcio.recordloader import ArcWarcRecord
from warcio.timeutils import iso_date_to_datetime

from archive.catalog import Record
from archive.store import Location
from archive.urls import InvalidURL, normalise_url, surt
from archive.warc import WarcRecord


def warc_date(record: ArcWarcRecord) -> datetime:
    """The record's WARC-Date as a naive UTC datetime (how the catalog stores time)."""
    value = record.rec_headers.get_header("WARC-Date")
    if not value:
        return datetime.now(UTC).replace(tzinfo=None)
    return iso_date_to_datetime(value)


@lru_cache(maxsize=1024)
def _url_and_key(target_uri: str) -> tuple[str, str]:
    """Stored form and SURT key of a record's target URI. Cached: the records
    of one capture (request, response, metadata) share it."""
    try:
        url = normalise_url(target_uri)
        return url, surt(url)
    except (InvalidURL, ValueError):
        return target_uri, target_uri  # keep what the file says; it is still findable by it


def new_row(
    *,
    record_id: str,
    record_type: str,
    target_uri: str | None,
    date: datetime,
    location: Location,
    collection: str,
    capture_id: str | None = None,
    status: int | None = None,
    mime: str | None = None,
    payload_digest: str | None = None,
    refers_to: str | None = None,
) -> Record:
    """A catalog row for a record stored at ``location``."""
    url, key = _url_and_key(target_uri) if target_uri else (None, None)
    if date.tzinfo is not None:
        date = date.astimezone(UTC).replace(tzinfo=None)
    return Record.new(
        record_id=record_id,
        record_type=record_type,
        url=url,
        surt=key,
        timestamp=date,
        status=status,
        mime=mime.split(";", 1)[0].strip().lower() if mime else None,
        payload_digest=payload_digest,
        refers_to=refers_to,
        collection=collection,
        warc_file=location.warc_file,
        offset=location.offset,
        length=location.length,
        capture_id=capture_id,
    )


def record_row(
    record: WarcRecord,
    location: Location,
    collection: str,
    capture_id: str,
    *,
    status: int | None = None,
    mime: str | None = None,
) -> Record:
    """A catalog row for a record Vestige wrote itself (capture, submitted file)."""
    return new_row(
        record_id=record.record_id,
        record_type=record.record_type,
        target_uri=record.target_uri,
        date=record.date,
        location=location,
        collection=collection,
        capture_id=capture_id,
        status=status,
        mime=mime,
        payload_digest=record.payload_digest,
        refers_to=dict(record.headers).get("WARC-Refers-To"),
    )


def catalog_row(
    record: ArcWarcRecord, location: Location, collection: str, capture_id: str | None = None
) -> Record:
    """A catalog row for a record read by warcio, stored at ``location``."""
    headers = record.rec_headers
    http = record.http_headers if record.rec_type in ("response", "revisit") else None
    status = None
    if http is not None:
        try:
            status = int(http.get_statuscode())
        except (TypeError, ValueError):
            status = None
    digest = headers.get_header("WARC-Payload-Digest")
    if digest is None and record.rec_type == "resource":
        digest = headers.get_header("WARC-Block-Digest")
    return new_row(
        record_id=headers.get_header("WARC-Record-ID"),
        record_type=record.rec_type,
        target_uri=headers.get_header("WARC-Target-URI"),
        date=warc_date(record),
        location=location,
        collection=collection,
        capture_id=capture_id,
        status=status,
        mime=(http or headers).get_header("Content-Type"),
        payload_digest=digest,
        refers_to=headers.get_header("WARC-Refers-To"),
    )
