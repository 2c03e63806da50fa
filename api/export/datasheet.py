"""The datasheet written with every export: ``README.md`` for people, ``manifest.json`` for tools.

It says what was selected and when, by which Vestige version, how many documents
by language, site and year, what each field means, and the SHA-256 of each
output file, so a dataset can be cited and checked later. The export time lives
here only, never in the data files.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from api.export.selection import FIELDS, TEXT_FIELDS, ExportDocument, Selection
from search.models import parse_published
from search.translate import LICENCES

_CHUNK = 1 << 20


@dataclass
class Counts:
    """Documents by language, site (host) and year (publication, else capture)."""

    language: Counter[str] = field(default_factory=Counter)
    site: Counter[str] = field(default_factory=Counter)
    year: Counter[str] = field(default_factory=Counter)

    def add(self, document: ExportDocument) -> None:
        self.language[document.language or "und"] += 1
        host = (urlsplit(document.final_url).hostname or "").removeprefix("www.")
        self.site[host or "-"] += 1
        published = parse_published(document.published)
        self.year[str((published or document.captured).year)] += 1

    def to_json(self) -> dict[str, dict[str, int]]:
        # Largest first, then by name: the same export always lists the same way.
        return {
            name: dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))
            for name, counter in (
                ("language", self.language),
                ("site", self.site),
                ("year", self.year),
            )
        }

    @classmethod
    def from_json(cls, data: dict[str, dict[str, int]]) -> Counts:
        return cls(*(Counter(data.get(name, {})) for name in ("language", "site", "year")))


def sha256_file(path: Path) -> tuple[str, int]:
    """Hex SHA-256 and size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@dataclass
class Datasheet:
    """Everything the datasheet says about one export."""

    selection: Selection
    format: str
    fields: list[str]
    exported_at: datetime  # UTC
    software: str
    documents: int
    counts: Counts
    files: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (sha256, bytes)
    text_max_chars: int | None = None  # CSV text cut to this many characters

    def text_note(self) -> str | None:
        """What the cut text is missing and where it is whole, if the text was cut."""
        if self.text_max_chars is None or not set(TEXT_FIELDS) & set(self.fields):
            return None
        return (
            f"`text` and `text_simplified` are cut to their first {self.text_max_chars:,} "
            "characters (a spreadsheet cell holds 32,767). The full text is in a jsonl or "
            "parquet export of the same selection, and in `vestige show ID`."
        )

    def manifest(self) -> dict[str, Any]:
        return {
            "software": self.software,
            "exported_at": self.exported_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "selection": self.selection.describe(),
            "format": self.format,
            "documents": self.documents,
            "counts": self.counts.to_json(),
            "fields": {name: FIELDS[name] for name in self.fields},
            "dictionaries": list(LICENCES),
            **({"text_max_chars": self.text_max_chars} if self.text_note() else {}),
            "files": [
                {"path": name, "sha256": digest, "bytes": size}
                for name, (digest, size) in self.files.items()
            ],
        }

    def manifest_json(self) -> str:
        return json.dumps(self.manifest(), ensure_ascii=False, indent=2) + "\n"

    def readme(self) -> str:
        lines = [
            "# Vestige export",
            "",
            f"- Selection: {self.selection.summary()}",
            f"- Exported: {self.exported_at:%Y-%m-%d %H:%M:%S} UTC by {self.software}",
            f"- Format: {self.format}",
            f"- Documents: {self.documents}",
            "",
            "Documents are ordered by final URL, capture time and id. Each row's `warc_file`,",
            "`warc_offset`, `warc_length` and `warc_record_id` locate the archived record it",
            "was extracted from; `archived_url` shows the archived copy.",
            *(["", note] if (note := self.text_note()) else []),
            "",
            "## Files",
            "",
            "| file | SHA-256 | bytes |",
            "|---|---|---|",
            *(f"| {name} | `{digest}` | {size} |" for name, (digest, size) in self.files.items()),
            "",
            "Check with `sha256sum`.",
            "",
            "## Dictionaries",
            "",
            "Vestige's cross-language search uses these data, under their licences (a",
            "selection by query matches the query's own words, untranslated):",
            "",
            *(f"- {licence}" for licence in LICENCES),
            "",
            "## Fields",
            "",
            "| field | meaning |",
            "|---|---|",
            *(f"| `{name}` | {FIELDS[name]} |" for name in self.fields),
            "",
            "## Counts",
        ]
        for name, counts in self.counts.to_json().items():
            lines += ["", f"### By {name}", "", "| value | documents |", "|---|---|"]
            lines += [f"| {_cell(value)} | {count} |" for value, count in counts.items()]
        return "\n".join(lines) + "\n"

    def write(self, readme: Path, manifest: Path) -> None:
        readme.write_text(self.readme(), encoding="utf-8")
        manifest.write_text(self.manifest_json(), encoding="utf-8")


def _cell(value: str) -> str:
    return value.replace("|", "\\|")
