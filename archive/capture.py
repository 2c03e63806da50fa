"""Capturing URLs into the archive.

A capture is every redirect hop (request and response records, or a revisit
when the payload is already stored for that URL) plus one metadata record,
written as one batch, fsynced, then catalogued. Only then is it reported done.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from functools import partial

from archive.catalog import Record
from archive.fetch import Fetcher, FetchError, Hop
from archive.guard import RefusedURL, check_scheme
from archive.records import record_row
from archive.repository import Repository
from archive.store import Location, check_collection, gzip_member
from archive.urls import InvalidURL, normalise_url
from archive.warc import WarcRecord, check_note, warc_datetime, warc_fields

REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"


@dataclass
class CaptureResult:
    """What happened to one URL; ``error`` is set when nothing was stored."""

    url: str
    final_url: str | None = None
    status: int | None = None
    location: Location | None = None
    payload_digest: str | None = None
    revisit: bool = False
    truncated: bool = False
    error: str | None = None
    capture_id: str | None = None
    record_ids: list[int] = field(default_factory=list)
    # The catalog id of the final hop's response or revisit: the page itself.
    response_id: int | None = None
    warnings: list[str] = field(default_factory=list)  # stored, but something to know

    @property
    def ok(self) -> bool:
        return self.error is None


class Capturer:
    """Captures URLs into a repository. Thread-safe: one per process is enough."""

    def __init__(self, repository: Repository, fetcher: Fetcher | None = None) -> None:
        self.repository = repository
        self.fetcher = fetcher or Fetcher(repository.settings)

    def close(self) -> None:
        self.fetcher.close()

    def capture(
        self,
        url: str,
        *,
        collection: str = "default",
        note: str | None = None,
        trigger: str = "cli",
        truncate: bool = False,
        capture_id: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        fetched: Callable[[], None] | None = None,
    ) -> CaptureResult:
        """Fetch and store ``url``. Errors come back in the result, never raised,
        except an invalid collection name, which is the caller's mistake.

        ``capture_id`` (default: a new one) lets a caller find the capture in
        the catalog after a crash; ``metadata`` adds fields to its metadata record.
        ``fetched`` is called once every hop is read, before storing them: a
        crawler can give the host its next request while this one is made durable.
        A note that is not UTF-8 text raises :class:`InvalidText`, before fetching.
        """
        check_collection(collection)
        check_note(note)
        result = CaptureResult(url=url)
        try:
            check_scheme(url)  # first: javascript: and data: URLs have no host to normalise
            result.url = normalise_url(url)
            with self.fetcher.fetch(result.url, truncate=truncate) as hops:
                if fetched is not None:
                    fetched()
                self._store(
                    result,
                    hops,
                    collection=collection,
                    note=note,
                    trigger=trigger,
                    capture_id=capture_id or uuid.uuid4().hex,
                    metadata=metadata,
                )
        except (FetchError, RefusedURL, InvalidURL) as exc:
            result.error = str(exc)
        return result

    def _store(
        self,
        result: CaptureResult,
        hops: list[Hop],
        *,
        collection: str,
        note: str | None,
        trigger: str,
        capture_id: str,
        metadata: Sequence[tuple[str, str]],
    ) -> None:
        repository = self.repository
        records = exchange_records(repository, hops)
        final = hops[-1]
        metadata_record = WarcRecord(
            "metadata",
            final.url,
            final.fetched_at,
            "application/warc-fields",
            head=warc_fields(
                [
                    *capture_fields(repository, result.url, collection, note, trigger),
                    *(("via", hop.url) for hop in hops[:-1]),
                    ("truncated", "length" if final.truncated else ""),
                    *metadata,
                ]
            ),
            headers=[("WARC-Concurrent-To", records[-2][0].record_id)],
        )
        records.append((metadata_record, None))
        rows = store_records(repository, records, collection=collection, capture_id=capture_id)
        result.record_ids = [row.id for row in rows]
        settle(result, hops, rows[-3], capture_id)  # the final hop's response or revisit


def capture_fields(
    repository: Repository, url: str, collection: str, note: str | None, trigger: str
) -> list[tuple[str, str]]:
    """The metadata fields every capture's metadata record starts with."""
    return [
        ("collection", collection),
        ("note", note or ""),
        ("trigger", trigger),
        ("user-agent", repository.settings.user_agent),
        ("requested-url", url),
    ]


def exchange_records(
    repository: Repository, hops: Sequence[Hop]
) -> list[tuple[WarcRecord, Hop | None]]:
    """A response (or revisit, when the payload is already stored for that URL)
    and its request for each hop, the request tied to it by WARC-Concurrent-To."""
    records: list[tuple[WarcRecord, Hop | None]] = []
    for hop in hops:
        response = _response_record(
            hop, repository.catalog.find_original(hop.url, hop.payload_digest)
        )
        request = WarcRecord(
            "request",
            hop.url,
            hop.fetched_at,
            "application/http; msgtype=request",
            head=hop.request_head,
            headers=[("WARC-Concurrent-To", response.record_id)],
        )
        records += [(response, hop), (request, None)]
    return records


def store_records(
    repository: Repository,
    records: Sequence[tuple[WarcRecord, Hop | None]],
    *,
    collection: str,
    capture_id: str,
) -> list[Record]:
    """Write one capture's records as a batch; returns their catalog rows once
    the batch is fsynced and catalogued (only then may it be acknowledged)."""
    # Compressed before taking the collection's lock, so that concurrent
    # captures compress in parallel and the lock only covers copying bytes.
    members = [gzip_member(record.serialise()) for record, _ in records]
    try:
        with repository.store.append(collection) as appender:
            rows = [
                record_row(
                    record,
                    appender.write_member(member),
                    collection,
                    capture_id,
                    status=hop.status if hop else None,
                    mime=hop.content_type if hop else _resource_mime(record),
                )
                for (record, hop), member in zip(records, members, strict=True)
            ]
            appender.after_sync(partial(repository.catalog.add, rows))
    finally:
        for member in members:
            member.close()
    return rows


def _resource_mime(record: WarcRecord) -> str | None:
    """A resource record's block is the file itself: its type is the record's."""
    return record.content_type if record.record_type == "resource" else None


def settle(result: CaptureResult, hops: Sequence[Hop], last: Record, capture_id: str) -> None:
    """Fill ``result`` from the stored capture: ``last`` is the final hop's row."""
    final = hops[-1]
    result.final_url = final.url
    result.status = final.status
    result.location = Location(last.warc_file, last.offset, last.length)
    result.payload_digest = final.payload_digest
    result.revisit = last.record_type == "revisit"
    result.truncated = final.truncated
    result.capture_id = capture_id
    result.response_id = last.id


def _response_record(hop: Hop, original: Record | None) -> WarcRecord:
    headers = [("WARC-IP-Address", hop.ip_address)] if hop.ip_address else []
    if original is None:
        if hop.truncated:
            headers.append(("WARC-Truncated", "length"))
        return WarcRecord(
            "response",
            hop.url,
            hop.fetched_at,
            "application/http; msgtype=response",
            head=hop.response_head,
            body=hop.body,
            body_length=hop.body_length,
            headers=headers,
            payload_digest=hop.payload_digest,
            block_digest=hop.block_digest,
        )
    # Identical payload already stored for this URL: keep the headers only.
    headers += [
        ("WARC-Profile", REVISIT_PROFILE),
        ("WARC-Refers-To", original.record_id),
        ("WARC-Refers-To-Target-URI", original.url or hop.url),
        ("WARC-Refers-To-Date", warc_datetime(original.timestamp.replace(tzinfo=UTC))),
    ]
    return WarcRecord(
        "revisit",
        hop.url,
        hop.fetched_at,
        "application/http; msgtype=response",
        head=hop.response_head,
        headers=headers,
        payload_digest=hop.payload_digest,
    )
