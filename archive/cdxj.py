"""CDXJ lines (the index format pywb reads) for catalogued records."""

from __future__ import annotations

import json
from contextlib import suppress
from datetime import datetime

from archive.catalog import Record
from archive.urls import InvalidURL, surt


def timestamp14(moment: datetime) -> str:
    """The 14-digit web-archive timestamp of a catalog time (naive UTC)."""
    return moment.strftime("%Y%m%d%H%M%S")


def cdxj_line(row: Record) -> str:
    """``SURT TIMESTAMP {json}`` for one record, as pywb's CDXJ index expects."""
    fields = {
        "url": row.url,
        "mime": "warc/revisit" if row.record_type == "revisit" else (row.mime or "unk"),
        "status": str(row.status) if row.status is not None else "-",
        "digest": row.payload_digest or "-",  # ``sha1:BASE32``, as cdxj-indexer writes it
        "length": str(row.length),
        "offset": str(row.offset),
        "filename": row.warc_file,
    }
    key = row.surt
    if row.url:
        # Recomputed, not ``row.surt``: catalogs written before it matched pywb's keys.
        with suppress(InvalidURL):
            key = surt(row.url)
    return f"{key} {timestamp14(row.timestamp)} {json.dumps(fields, ensure_ascii=False)}"
