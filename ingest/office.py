"""Submitted Word (.docx), OpenDocument (.odt) and e-mail (.eml) files: text and properties.

A Word file is read with python-docx (paragraphs and tables, in document order,
and its core properties); an OpenDocument text is its ``content.xml`` and
``meta.xml`` (the zip's own XML, read with lxml); an e-mail is read with the
standard library: subject, from, to, cc, date and its plain-text body (or its
HTML body's visible text). An e-mail's attachments are documents of their own
(stored by the importer with ``attached-to``).
"""

from __future__ import annotations

import email
import email.policy
import io
import zipfile
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any
from zlib import error as ZlibError

import lxml.etree
import lxml.html

from ingest.extraction import Extraction, ExtractionError, Payload
from ingest.text import visible_text

_ODF = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "dc": "http://purl.org/dc/elements/1.1/",
    "meta": "urn:oasis:names:tc:opendocument:xmlns:meta:1.0",
}
_ODF_BLOCKS = {f"{{{_ODF['text']}}}{name}" for name in ("p", "h")}
_ADDRESSES = ("from", "to", "cc")


def extract_office(payload: Payload, kind: str) -> Extraction:
    """The text and properties of a ``docx``, ``odt`` or ``eml`` payload."""
    try:
        if kind == "docx":
            return _docx(payload)
        if kind == "odt":
            return _odt(payload)
        return _eml(payload)
    except ExtractionError:
        raise
    except (zipfile.BadZipFile, KeyError, ZlibError, lxml.etree.XMLSyntaxError) as exc:
        name = {"docx": "Word", "odt": "OpenDocument"}.get(kind, "e-mail")
        raise ExtractionError(
            "parser error", f"corrupt {name} file: {type(exc).__name__}: {exc}"
        ) from exc


def _docx(payload: Payload) -> Extraction:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(payload.body))
    except (PackageNotFoundError, ValueError) as exc:
        raise ExtractionError("parser error", f"corrupt Word file: {exc}") from exc
    blocks: list[str] = []
    for block in document.iter_inner_content():
        if hasattr(block, "rows"):  # a table: one line per row, cells separated by tabs
            for row in block.rows:
                blocks.append("\t".join(cell.text.strip() for cell in row.cells))
        else:
            blocks.append(block.text)
    core = document.core_properties
    result = Extraction(text="\n".join(blocks), extraction="docx")
    result.title = (core.title or "").strip() or None
    result.authors = [core.author.strip()] if core.author and core.author.strip() else []
    created = core.created.date().isoformat() if core.created else None
    result.published = payload.metadata.get("published") or created
    result.description = (core.subject or "").strip() or None
    result.tags = [tag.strip() for tag in (core.keywords or "").split(",") if tag.strip()]
    result.properties = {
        name: value.isoformat()
        for name, value in (("created", core.created), ("modified", core.modified))
        if value
    }
    if core.last_modified_by:
        result.properties["last_modified_by"] = core.last_modified_by
    return result


def _odt(payload: Payload) -> Extraction:

    with zipfile.ZipFile(io.BytesIO(payload.body)) as package:
        content = lxml.etree.fromstring(package.read("content.xml"))
        meta = (
            lxml.etree.fromstring(package.read("meta.xml"))
            if "meta.xml" in package.namelist()
            else None
        )
    blocks = [
        "".join(element.itertext())
        for element in content.iter()
        if element.tag in _ODF_BLOCKS
        and not any(parent.tag in _ODF_BLOCKS for parent in element.iterancestors())
    ]
    result = Extraction(text="\n".join(blocks), extraction="odt")
    if meta is not None:

        def first(path: str) -> str | None:
            found = meta.findtext(f".//{path}", namespaces=_ODF)
            return found.strip() if found and found.strip() else None

        result.title = first("dc:title")
        author = first("meta:initial-creator") or first("dc:creator")
        result.authors = [author] if author else []
        created = first("meta:creation-date")
        result.published = payload.metadata.get("published") or (created[:10] if created else None)
        result.description = first("dc:subject")
        result.properties = {
            name: value
            for name, value in (("created", created), ("modified", first("dc:date")))
            if value
        }
    return result


def _eml(payload: Payload) -> Extraction:

    message = email.message_from_bytes(payload.body, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    result = Extraction(text=_body(message), extraction="eml")
    result.title = str(message.get("subject") or "").strip() or None
    headers: dict[str, Any] = {}
    for name in _ADDRESSES:
        values = [str(value) for value in message.get_all(name, [])]
        if values:
            headers[name] = ", ".join(values)
    sender = message.get("from")
    if sender is not None:
        result.authors = [address.display_name or address.addr_spec for address in sender.addresses]
    sent = message.get("date")
    if sent:
        try:
            when = parsedate_to_datetime(str(sent))
            headers["date"] = when.isoformat()
            result.published = payload.metadata.get("published") or when.date().isoformat()
        except (TypeError, ValueError):
            headers["date"] = str(sent)
    if message.get("message-id"):
        headers["message_id"] = str(message["message-id"])
    headers["attachments"] = [part.get_filename() or "" for part in message.iter_attachments()]
    result.properties = headers
    return result


def _body(message: EmailMessage) -> str:
    """The plain-text body, else the visible text of the HTML body."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()
    if part.get_content_subtype() == "html":
        return visible_text(lxml.html.document_fromstring(content))
    return content
