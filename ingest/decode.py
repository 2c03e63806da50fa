"""Turning the bytes of a page into text with the right character encoding.

Order of evidence: a byte-order mark; valid UTF-8 (legacy encodings of real
text almost never validate as UTF-8, while pages that wrongly declare GB2312
or ISO-8859-1 often are UTF-8); the HTTP ``charset``; the page's own
``<meta charset>``; statistical detection (charset-normalizer). Declared
legacy Chinese charsets are read with their supersets (GB18030, Big5-HKSCS)
because real pages labelled GB2312 or Big5 use the wider repertoire.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

# Labels a server or page declares -> the codec to read them with.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "gb18030": "gb18030",
    "hz-gb-2312": "hz",
    "big5": "big5hkscs",
    "big5hkscs": "big5hkscs",
    "cp950": "cp950",
    # WHATWG: these labels mean windows-1252 in browsers.
    "latin_1": "cp1252",
    "ascii": "cp1252",
    "cp1252": "cp1252",
}
# Servers send ISO-8859-1 by default, so a page's own <meta> overrides it.
_WEAK = {"cp1252"}
_CHINESE = {"gb18030", "big5hkscs", "cp950", "hz"}
_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE
)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Detection on a bounded sample keeps huge pages fast.
_DETECT_SAMPLE = 64 * 1024


@dataclass(frozen=True)
class Decoded:
    """Text and how it was decoded; ``replaced`` counts undecodable byte sequences."""

    text: str
    encoding: str
    source: str  # "bom", "utf-8", "http", "meta", "detected", "forced"
    replaced: int = 0


def codec_for(label: str | None) -> str | None:
    """The Python codec to read a declared charset ``label`` with, or None if unknown."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'").lower()).name
    except LookupError:
        return None
    name = {"iso8859-1": "latin_1", "us-ascii": "ascii", "windows-1252": "cp1252"}.get(name, name)
    return _SUPERSETS.get(name, name)


def meta_charset(body: bytes) -> str | None:
    """The charset declared by the page's ``<meta>`` in its first few KiB."""
    match = _META_CHARSET.search(body[:8192])
    return match.group(1).decode("ascii") if match else None


def http_charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of an HTTP Content-Type header."""
    if not content_type:
        return None
    match = re.search(r"charset\s*=\s*[\"']?([^\"';\s]+)", content_type, re.IGNORECASE)
    return match.group(1) if match else None


def decode(body: bytes, declared: str | None = None, *, html: bool = True) -> Decoded:
    """Decode ``body``; ``declared`` is the HTTP charset, if the server sent one."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return Decoded(body.decode(encoding, errors="replace"), encoding, "bom")
    try:
        return Decoded(body.decode("utf-8"), "utf-8", "utf-8")
    except UnicodeDecodeError:
        pass
    candidates: list[tuple[str, str]] = []
    from_http = codec_for(declared)
    from_meta = codec_for(meta_charset(body)) if html else None
    if from_http and not (from_http in _WEAK and from_meta and from_meta != from_http):
        candidates.append((from_http, "http"))
    if from_meta:
        candidates.append((from_meta, "meta"))
    for encoding, source in candidates:
        for variant in _variants(encoding):
            try:
                return Decoded(body.decode(variant), variant, source)
            except UnicodeDecodeError:
                continue
    # A few bad bytes (a torn character, a UTF-8 fragment pasted into a Big5
    # page) must not throw out a declaration that fits everything else.
    high = sum(1 for byte in body if byte >= 0x80)
    for encoding, source in candidates:
        for variant in _variants(encoding):
            decoded = _forced(body, variant, source)
            if decoded.replaced * 100 <= high:
                return decoded
    detected = _detect(body)
    if detected in _CHINESE:
        try:
            return Decoded(body.decode(detected), detected, "detected")
        except UnicodeDecodeError:
            pass
    # Undeclared Chinese pages with a few bad bytes defeat statistical
    # detection (it only considers codecs that decode every byte).
    for encoding in ("gb18030", "big5hkscs"):
        decoded = _forced(body, encoding, "detected")
        if decoded.replaced * 100 <= high:
            return decoded
    if detected:
        try:
            return Decoded(body.decode(detected), detected, "detected")
        except UnicodeDecodeError:
            pass
    # Nothing decodes every byte: use the best evidence and count the damage.
    encoding, source = candidates[0] if candidates else (detected or "utf-8", "forced")
    return _forced(body, encoding, source)


def _variants(encoding: str) -> tuple[str, ...]:
    # Big5 pages are written with Microsoft's or Hong Kong's extensions.
    if encoding in ("big5hkscs", "cp950"):
        return ("big5hkscs", "cp950")
    return (encoding,)


def _detect(body: bytes) -> str | None:
    best = from_bytes(body[:_DETECT_SAMPLE]).best()
    if best is None:
        return None
    return codec_for(best.encoding) or best.encoding


def _forced(body: bytes, encoding: str, source: str) -> Decoded:
    text = body.decode(encoding, errors="replace")
    return Decoded(text, encoding, source, text.count("\ufffd"))
