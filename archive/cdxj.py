"""CDXJ lines (the index format pywb reads) for catalogued records."""

from __future__ import annotations

import json

from archive.catalog import Record


def cdxj_line(row: Record) -> str:
    """``SURT TIMESTAMP {json}`` for one record, as pywb's CDXJ index expects."""
    fields = {
        "url": row.url,
        "mime": "warc/revisit" if row.record_type == "revisit" else (row.mime or "unk"),
        "status": str(row.status) if row.status is not None else "-",
        "digest": (row.payload_digest or "-").removeprefix("sha1:"),
        "length": str(row.length),
        "offset": str(row.offset),
        "filename": row.warc_file,
    }
    return f"{row.surt} {row.timestamp:%Y%m%d%H%M%S} {json.dumps(fields, ensure_ascii=False)}"
