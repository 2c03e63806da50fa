"""Serialising WARC 1.1 records from parts whose digests are already known.

Captures compute digests while the body downloads, so the record can be
streamed from its spool file straight into the gzip member, and HTTP header
bytes are kept exactly as received (warcio's writer would re-encode them).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO
from urllib.parse import quote

_CHUNK = 1 << 16


def new_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def warc_datetime(moment: datetime) -> str:
    """WARC 1.1 date with microseconds, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Digest:
    """An incremental sha1 written the way WARC tools expect: ``sha1:BASE32``."""

    def __init__(self, data: bytes = b"") -> None:
        self._hash = hashlib.sha1(data)

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def __str__(self) -> str:
        return "sha1:" + base64.b32encode(self._hash.digest()).decode("ascii")


@dataclass
class WarcRecord:
    """One record to write: WARC headers, a head (e.g. HTTP headers) and a body stream."""

    record_type: str
    target_uri: str | None
    date: datetime
    content_type: str
    head: bytes = b""
    body: BinaryIO | None = None
    body_length: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    record_id: str = field(default_factory=new_record_id)
    payload_digest: str | None = None
    block_digest: str | None = None

    def serialise(self) -> Iterator[bytes]:
        """Yield the record's bytes: header block, content block, closing CRLFs."""
        length = len(self.head) + self.body_length
        block_digest = self.block_digest or self._digest_block()
        lines = [
            ("WARC-Type", self.record_type),
            ("WARC-Record-ID", self.record_id),
            ("WARC-Date", warc_datetime(self.date)),
        ]
        if self.target_uri:
            lines.append(("WARC-Target-URI", self.target_uri))
        lines += self.headers
        lines.append(("WARC-Block-Digest", block_digest))
        if self.payload_digest:
            lines.append(("WARC-Payload-Digest", self.payload_digest))
        lines += [("Content-Type", self.content_type), ("Content-Length", str(length))]
        yield _header_block(lines)
        yield self.head
        yield from _chunks(self.body)
        yield b"\r\n\r\n"

    def _digest_block(self) -> str:
        digest = Digest(self.head)
        for chunk in _chunks(self.body):
            digest.update(chunk)
        return str(digest)


def _header_block(lines: Iterable[tuple[str, str]]) -> bytes:
    text = "WARC/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in lines) + "\r\n"
    return text.encode("utf-8")


def _chunks(body: BinaryIO | None) -> Iterator[bytes]:
    if body is None:
        return
    body.seek(0)
    while chunk := body.read(_CHUNK):
        yield chunk


class InvalidText(ValueError):
    """Text given to store in a record (a note) that is not valid UTF-8."""


def check_note(note: str | None) -> str | None:
    """``note`` if it can be stored; else :class:`InvalidText`, before anything is fetched.

    A command-line argument that is not UTF-8 arrives with its bytes as lone
    surrogates, which no record (nor the catalog) can hold.
    """
    if note is not None:
        try:
            note.encode("utf-8")
        except UnicodeEncodeError as exc:
            shown = note.encode("utf-8", "surrogateescape") if _escaped_only(note) else note
            raise InvalidText(f"the note is not valid UTF-8 text: {shown!a:.100}") from exc
    return note


def _escaped_only(text: str) -> bool:
    """Whether every surrogate in ``text`` stands for an undecodable byte."""
    return all(0xDC80 <= ord(c) <= 0xDCFF for c in text if 0xD800 <= ord(c) <= 0xDFFF)


def safe_name(name: str) -> str:
    """A file name as UTF-8 text: itself if it is, else percent-encoded (``x%FF.html``)."""
    raw = name.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return quote(raw, safe="/ !$&'()*+,;=:@~")


def warc_fields(fields: Iterable[tuple[str, str]]) -> bytes:
    """``application/warc-fields`` content: one ``name: value`` line per field.

    A value holding undecodable bytes (a raw file name) is written as those bytes.
    """
    return "".join(
        f"{name}: {' '.join(value.split())}\r\n" for name, value in fields if value
    ).encode("utf-8", "surrogateescape")
