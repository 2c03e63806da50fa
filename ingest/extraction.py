"""What extraction takes and gives: a payload in, an extraction (or a reason) out.

The records are shared by :mod:`ingest.extract` and the readers it calls for
submitted files (:mod:`ingest.images`, :mod:`ingest.office`), so they live below them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingest.language import detect, to_simplified
from ingest.models import Document
from ingest.text import content_hash, normalise_text, word_count


class ExtractionError(Exception):
    """A payload that cannot become a document; ``reason`` is a short category."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class NotText(Exception):
    """A payload that is not a document (an image, a script...): skipped, not failed."""


@dataclass(frozen=True)
class Payload:
    """What extraction needs: the decoded-transfer body and what is known about it."""

    url: str
    body: bytes
    content_type: str | None  # the full header, charset included
    metadata: dict[str, str] = field(default_factory=dict)  # submitter's metadata record

    @property
    def submitted(self) -> bool:
        """Whether the payload is a file submitted with ``vestige import`` (or the API)."""
        return self.metadata.get("trigger") == "import"


@dataclass
class Extraction:
    """Text and metadata derived from one payload (the derived fields of a document)."""

    text: str
    extraction: str  # "trafilatura", "fallback", "pdf", "pdf+ocr", "ocr", "text", "docx"...
    title: str | None = None
    page_title: str | None = None  # an HTML page's <title> as served
    authors: list[str] = field(default_factory=list)
    published: str | None = None
    site: str | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    outlinks: list[str] = field(default_factory=list)
    url: str | None = None  # set when the payload itself says where it was published
    language: str | None = None
    languages: dict[str, float] = field(default_factory=dict)
    script: str | None = None
    text_simplified: str | None = None
    word_count: int = 0
    content_hash: str = ""
    encoding: str | None = None
    ocr: dict[str, Any] | None = None  # engine, languages, pages read, confidence (OcrInfo)
    properties: dict[str, Any] = field(default_factory=dict)  # EXIF, e-mail headers...

    def finish(self) -> Extraction:
        """Normalise the text and derive language, script, folding, counts and hash."""
        self.text = normalise_text(self.text)
        found = detect(self.text or self.title or "")
        self.language, self.languages, self.script = found.language, found.languages, found.script
        if self.language == "zh":
            self.text_simplified = to_simplified(self.text)
        self.word_count = word_count(self.text)
        self.content_hash = content_hash(self.text)
        return self

    def fields(self) -> dict[str, Any]:
        """The fields stored on a :class:`~ingest.models.Document`."""
        return {name: getattr(self, name) for name in Document.EXTRACTED}


PDF_TYPES = {"application/pdf", "application/x-pdf"}


def mime_of(content_type: str | None) -> str:
    """The bare media type of a Content-Type header, lower case."""
    return (content_type or "").split(";", 1)[0].strip().lower()
