"""Extracting a document from one payload: HTML, PDF, plain text, and submitted files.

PDF pages without a text layer (scans) are read by OCR (:mod:`ingest.ocr`), as
are submitted images (:mod:`ingest.images`); submitted Word, OpenDocument and
e-mail files are read by :mod:`ingest.office`. Images found by a crawl are not
documents (logos, photos): only submitted ones are read.

HTML goes through trafilatura (main text and metadata) after Vestige decodes
the bytes itself (see :mod:`ingest.decode`); pages where trafilatura finds no
main text keep their full visible text instead (``extraction="fallback"``).
What trafilatura drops is taken from the page's own ``<meta>`` tags.
"""

# ruff: noqa: RUF001, RUF003 - Chinese bylines have full-width punctuation

from __future__ import annotations

import io
import logging
import math
import re
from datetime import date
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html
import trafilatura
from lxml.html import HtmlElement

from archive.urls import InvalidURL, normalise_url
from ingest import limits
from ingest.decode import Decoded, decode, http_charset
from ingest.extraction import PDF_TYPES, Extraction, ExtractionError, NotText, Payload, mime_of
from ingest.images import IMAGE_TYPES, extract_image
from ingest.ocr import OcrError, OcrInfo, OcrOptions, engine_name, read_page, unavailable
from ingest.office import extract_office
from ingest.text import visible_text

HTML_TYPES = {"text/html", "application/xhtml+xml", "application/xml+html"}
TEXT_TYPES = {"text/plain", "text/markdown"}
OFFICE_TYPES = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.oasis.opendocument.text": "odt",
    "message/rfc822": "eml",
}
# A PDF page with fewer visible characters than this in its text layer is read by OCR.
_MIN_PAGE_TEXT = 10
_PDF_DPI = 300  # pages are rendered for OCR at this resolution (less if over max_pixels)
_MIN_PDF_DPI = 100
_MAX_OUTLINKS = 1000
# htmldate's extensive search (free-text date guessing) costs more than all the
# rest of the metadata; the page's own <meta> dates are read anyway.
_DATE_PARAMS = {"extensive_search": False, "original_date": True}
# Share of control characters above which "text" is really binary data.
_MAX_CONTROL_SHARE = 0.02
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


# Files for crawlers, not readers: archived and replayable, never documents.
_CRAWLER_FILE = re.compile(r"/(robots\.txt|sitemap[^/]*\.(xml|txt)(\.gz)?)$", re.IGNORECASE)


def not_a_document(url: str) -> str | None:
    """Why the record at ``url`` is not a document (None if it may be one).

    Crawler logs and manifests (``metadata://``, ``urn:X-wpull:log``...) are not web pages;
    robots.txt and sitemaps are for crawlers. Feeds have XML types, which are not text.
    """
    parts = urlsplit(url.strip("<>"))
    if parts.scheme.lower() not in ("http", "https"):
        return f"{parts.scheme or 'no'} URL, not a web page"
    match = _CRAWLER_FILE.search(parts.path)
    return match[1].lower().removesuffix(".gz") if match else None


def kind_of(payload: Payload) -> str:
    """``html``, ``pdf``, ``text``, ``image``, ``docx``, ``odt`` or ``eml``;
    raises :class:`NotText` for anything else."""
    # A submitted file is a document whatever its URL (urn:sha256:... when it had none).
    reason = None if payload.submitted else not_a_document(payload.url)
    if reason:
        raise NotText(reason)
    mime = mime_of(payload.content_type)
    if mime in HTML_TYPES:
        return "html"
    if mime in PDF_TYPES:
        return "pdf"
    if mime in TEXT_TYPES:
        return "text"
    if mime in IMAGE_TYPES and payload.submitted:  # a crawl's images are not documents
        return "image"
    if mime in OFFICE_TYPES:
        return OFFICE_TYPES[mime]
    if mime in ("", "application/octet-stream", "binary/octet-stream"):
        head = payload.body[:1024].lstrip().lower()
        if head.startswith(b"%pdf-"):
            return "pdf"
        if head.startswith((b"<!doctype html", b"<html")):
            return "html"
    raise NotText(mime or "unknown type")


def extract(payload: Payload, ocr: OcrOptions | None = None) -> Extraction:
    """The document in ``payload``; raises :class:`ExtractionError` or :class:`NotText`.

    ``ocr`` says how scanned pages and images are read (default: the defaults).
    """
    kind = kind_of(payload)
    ocr = ocr or OcrOptions()
    if kind == "pdf":
        result = extract_pdf(payload, ocr)
    elif kind == "image":
        result = extract_image(payload, ocr)
    elif kind in ("docx", "odt", "eml"):
        result = extract_office(payload, kind)
    else:
        decoded = _decode_text(payload, html=kind == "html")
        if kind == "html":
            result = extract_html(payload, decoded)
        else:
            result = extract_text(payload, decoded)
    # A submitted file with no title of its own is known by its file name.
    result.title = result.title or payload.metadata.get("filename") or None
    if payload.metadata.get("attached-to"):  # an e-mail's attachment names the e-mail
        result.properties["attached_to"] = payload.metadata["attached-to"]
    return result.finish()


def _decode_text(payload: Payload, *, html: bool) -> Decoded:
    body = payload.body
    if b"\x00" in body[:65536] and not body.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ExtractionError("undecodable", "binary data (NUL bytes) in a text payload")
    decoded = decode(body, http_charset(payload.content_type), html=html)
    sample = decoded.text[:65536]
    if sample and (
        len(_CONTROL.findall(sample)) > _MAX_CONTROL_SHARE * len(sample)
        or sample.count("\ufffd") > _MAX_CONTROL_SHARE * len(sample)
    ):
        raise ExtractionError("undecodable", f"not text in any encoding (tried {decoded.encoding})")
    return decoded


# -- HTML ---------------------------------------------------------------------


def extract_html(payload: Payload, decoded: Decoded) -> Extraction:
    """Main text and metadata of an HTML page, with full visible text as fallback."""
    try:
        # trafilatura rejects fragments that do not look like a whole page;
        # lxml wraps them in <html><body> so their text is kept.
        tree = trafilatura.load_html(decoded.text)
        if tree is None:
            tree = lxml.html.document_fromstring(decoded.text)
    except Exception as exc:  # lxml raises many types on hostile markup
        raise ExtractionError("parser error", f"{type(exc).__name__}: {exc}") from exc
    page = _page_meta(tree)
    found = trafilatura.bare_extraction(
        tree,
        url=payload.url,
        with_metadata=True,
        include_comments=True,
        date_extraction_params=_DATE_PARAMS,
    )
    text = ""
    if found is not None:
        text = "\n".join(untable(part) for part in (found.text, found.comments) if part)
    result = Extraction(text=text, extraction="trafilatura", encoding=decoded.encoding)
    if not text.strip():
        result.text, result.extraction = visible_text(tree), "fallback"
    meta: dict[str, Any] = {} if found is None else found.as_dict()
    site = next(
        (name for name in (meta.get("sitename"), page.get("site")) if _is_site_name(name)), None
    )
    result.title = headline(meta.get("title") or page.get("title"), site, tree)
    result.page_title = page_title(tree)
    result.authors = (
        byline(result.text) or _authors(meta.get("author")) or _authors(page.get("author"))
    )
    result.published = meta.get("date") or page.get("published")
    result.site = site or urlsplit(payload.url).hostname
    result.description = meta.get("description") or page.get("description")
    result.tags = _unique([*(meta.get("categories") or []), *(meta.get("tags") or [])])
    result.outlinks = outlinks(tree, payload.url)
    return result


_TABLE_RULE = re.compile(r"^\|?(\s*:?-{3,}:?\s*\|?)+$")  # | --- | :---: |
_CELL_BORDER = re.compile(r"(?<!\\)\|")  # a pipe that is not an escaped one in a cell


def untable(text: str) -> str:
    """Text with trafilatura's Markdown table rows (``| a | b |``) reduced to their cells.

    Pages laid out with tables come out as rows of mostly empty cells (``| | |``) that
    would fill snippets; each row keeps its non-empty cells, one `` | `` between them.
    """
    lines = []
    for line in text.split("\n"):
        row = line.strip()
        if not row.startswith("|"):
            lines.append(line)
        elif not _TABLE_RULE.match(row):
            # A cell holding only an escaped pipe is a menu separator.
            cells = (cell.replace("\\|", "|").strip("| ") for cell in _CELL_BORDER.split(row))
            if kept := [cell for cell in cells if cell]:
                lines.append(" | ".join(kept))
    return "\n".join(lines)


def _page_meta(tree: HtmlElement) -> dict[str, str]:
    """Metadata straight from ``<title>`` and ``<meta>`` tags, first value wins."""
    names = {
        "author": "author",
        "article:author": "author",
        "dc.creator": "author",
        "byl": "author",
        "og:title": "title",
        "description": "description",
        "og:description": "description",
        "og:site_name": "site",
        "article:published_time": "published",
        "pubdate": "published",
        "publishdate": "published",
        "date": "published",
        "dc.date": "published",
    }
    found: dict[str, str] = {}
    for meta in tree.iterfind(".//meta"):
        key = (meta.get("name") or meta.get("property") or "").strip().lower()
        value = " ".join((meta.get("content") or "").split())
        field_name = names.get(key)
        if field_name and value and field_name not in found:
            if field_name == "author" and value.startswith(("http://", "https://")):
                continue  # a profile link, not a name
            found[field_name] = value
    if "title" not in found and (title := page_title(tree)):
        found["title"] = title
    return found


def page_title(tree: HtmlElement) -> str | None:
    """The text of the page's ``<title>``, spaces collapsed; None without one."""
    element = tree.find(".//title")
    if element is None:
        return None
    return " ".join(element.text_content().split()) or None


# A title's trailing parts after a separator: the section and site (`` | 聯合新聞網``).
_TITLE_PARTS = re.compile(r"\s+[|\-\u2013\u2014_\u00bb]\s+|\s*[|\uff5c]\s*")
# Before a site's name only: TMZ's "Oscar Dress -- STOLEN!!!" is one headline.
_SITE_DASHES = " -- "
_NOT_A_NAME = re.compile(r"(?i)https?\b|www\.|@|://|\.(com|net|org)\b|^[\d\W_]+$")
_LINK_AFTER_NAME = re.compile(r"\s*\(\s*https?://[^)\s]*\s*\)")
_LABELS = {"作者", "username", "admin", "by", "author"}  # field labels, not names
_NOT_A_SITE = re.compile(r"(?i)©|\(c\)|copyright|all rights|^\d{4}")
_HAN_NAME = "[\u4e00-\u9fff]{2,4}"
_SPACED_NAME = re.compile(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")
# Chinese news bylines: 【王家俊／台北報導】, 〔記者施曉光、吳亮儀／台北報導〕, 记者 XXX 报道,
# （中央社記者楊思瑞台南4日電）; a credit such as 記者鄭清元／攝影 is not one.
_BYLINES = (
    re.compile(
        rf"(?:[記记]者\s*)?({_HAN_NAME}(?:[、，, ]{_HAN_NAME})*)\s*[／/╱]\s*"
        r"[\u4e00-\u9fff]{0,6}(?:報導|报道)"
    ),
    re.compile(r"中央社[記记]者([\u4e00-\u9fff]{2,3}?)[\u4e00-\u9fff]{2}\d{1,2}日[電电]"),
    re.compile(rf"[【\[]\s*[記记]者\s*({_HAN_NAME})\s*[】\]]"),
)
_BYLINE_SCAN = 1500  # characters: a byline opens the article


def byline(text: str) -> list[str]:
    """Reporters named in a Chinese byline near the start of ``text``, if there is one."""
    head = text[:_BYLINE_SCAN]
    for pattern in _BYLINES:
        if match := pattern.search(head):
            return _unique(re.split(r"[、，, ]", match[1]))
    return []


def headline(title: str | None, site: str | None, tree: HtmlElement) -> str | None:
    """The page's title without the section and site it ends with; the first ``<h1>``
    when the title is only the site's name."""
    if not title:
        return None
    whole = [part.strip() for part in _TITLE_PARTS.split(page_title(tree) or "") if part.strip()]
    keywords = _keywords(tree)
    # Sites list their own names among the keywords, but some list the headline too
    # ("Una solución ... - 07.12.2017 - LA NACION"): a keyword that is the longest
    # part of <title> is the headline.
    longest = max(map(len, whole), default=0)
    if _norm(title) == _norm(site or "") or (_norm(title) in keywords and len(title) < longest):
        # trafilatura kept the site's part: "自由電子報 - 果汁？..."
        rest = [part for part in whole if _norm(part) != _norm(title)]
        heading = tree.find(".//h1")
        text = " ".join(heading.text_content().split()) if heading is not None else ""
        return max(rest, key=len) if rest else (text or title)
    while (cut := title.rfind(_SITE_DASHES)) > 0 and _names_site(title[cut:], site, keywords):
        title = title[:cut].rstrip()  # "... Julian Assange -- Sott.net"
    separators = list(_TITLE_PARTS.finditer(title))
    ends = [found.start() for found in separators] + [len(title)]
    starts = [0] + [found.end() for found in separators]
    parts = [title[start:end].strip() for start, end in zip(starts, ends, strict=True)]
    # The site's name ends it, however long: "... | 重點新聞 | 中央社即時新聞 CNA NEWS".
    kept = len(parts)
    while kept > 1 and _names_site(parts[kept - 1], site, keywords):
        kept -= 1
    head, tail = parts[0], parts[1:kept]
    if len(head) < 4:
        return title
    # Sections and authors before it go when the first part is the longest ("Python - A
    # Guide" keeps its tail) and they are short ("ATF - an async task framework" stays).
    if tail and len(head) > max(map(len, tail)) and all(map(_short_name, tail)):
        return head
    return title[: ends[kept - 1]].strip()


def _names_site(part: str, site: str | None, keywords: set[str]) -> bool:
    """Whether a title's trailing part is the site's name: in it or containing it, one
    of the keywords, or holding its host's name (``CNA NEWS`` on ``cna.com.tw``)."""
    name, site_name = _norm(part), _norm(site or "")
    if not name or not site_name:
        return bool(name) and name in keywords
    if name in keywords or name in site_name or site_name in name:
        return True
    labels = site_name.split(".")
    host = labels[1] if labels[0] == "www" and len(labels) > 2 else labels[0]
    return len(labels) > 1 and " " not in site_name and host in re.split(r"\W+", name)


def _short_name(part: str) -> bool:
    """A section or author's name: three words and twenty characters at most."""
    return len(part.split()) <= 3 and len(part) <= 20


def _keywords(tree: HtmlElement) -> set[str]:
    """The page's ``<meta name="keywords">``, where sites list their own names."""
    found = tree.xpath('//meta[translate(@name, "KEYWORDS", "keywords")="keywords"]/@content')
    return {_norm(word) for text in found for word in re.split(r"[,，、]", str(text)) if word}


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def _is_site_name(value: str | None) -> bool:
    return bool(value) and not _NOT_A_SITE.search(value or "")


def _authors(value: str | None) -> list[str]:
    """Names in an author field; none when a part is not a name (a URL cut up, a number)."""
    if not value:
        return []
    value = _LINK_AFTER_NAME.sub("", value)  # "Bradley M. Kuhn (http://ebb.org/bkuhn/)"
    parts = [part.strip() for part in re.split(r"\s*[;\uff1b\u3001]\s*|\s+and\s+", value)]
    if any(_NOT_A_NAME.search(part) or part.lower() in _LABELS for part in parts if part):
        return []
    return _unique(map(_unspaced, parts))


def _unspaced(name: str) -> str:
    """A Chinese name spaced out to fill a cell ("赵 培") without its spaces; two names
    ("王建宏 张文攀") stay apart."""
    joined = _SPACED_NAME.sub("", name)
    return joined if len(joined) <= 4 else name


def _unique(values: Any) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        if value and value not in seen:
            seen[value] = None
    return list(seen)


def outlinks(tree: HtmlElement, base: str) -> list[str]:
    """Absolute http(s) links of the page, without fragments, in order, without repeats."""
    found: dict[str, None] = {}
    for href in tree.xpath(".//a/@href"):
        href = href.strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:")):
            continue
        if not href.startswith(("http://", "https://")):
            try:
                href = urljoin(base, href)
            except ValueError:
                continue
            if not href.startswith(("http://", "https://")):
                continue
        found.setdefault(href.split("#", 1)[0], None)
        if len(found) >= _MAX_OUTLINKS:
            break
    return list(found)


# -- PDF ----------------------------------------------------------------------

log = logging.getLogger(__name__)


class _PdfRepairs(logging.Handler):
    """pypdf reports damage it worked around ("EOF marker not found") as warnings
    printed to stderr; they are details of one document, so they go to Vestige's
    log at INFO (``vestige -v`` shows them)."""

    def emit(self, record: logging.LogRecord) -> None:
        log.info("PDF: %s", record.getMessage())


logging.getLogger("pypdf").addHandler(_PdfRepairs())
logging.getLogger("pypdf").propagate = False


def extract_pdf(payload: Payload, ocr: OcrOptions) -> Extraction:
    """Text of every page (OCR for pages without a text layer) and the document information."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(payload.body))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionError("undecodable", "password-protected PDF (no text can be read)")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata or {}
    except ExtractionError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ExtractionError("parser error", f"PDF: {type(exc).__name__}: {exc}") from exc
    scanned = [i for i, text in enumerate(pages) if len("".join(text.split())) < _MIN_PAGE_TEXT]
    ocr_info = _ocr_pdf(payload.body, scanned, pages, ocr) if scanned else None
    result = Extraction(text="\n\n".join(pages), extraction="pdf", ocr=ocr_info)
    if ocr_info and ocr_info["pages"]:
        result.extraction = "pdf+ocr"
    title = info.get("/Title")
    result.title = str(title).strip() or None if title else None
    result.authors = _authors(str(info.get("/Author") or ""))
    created = _pdf_date(str(info.get("/CreationDate") or ""))
    result.published = payload.metadata.get("published") or created
    result.site = urlsplit(payload.url).hostname
    result.tags = _authors(str(info.get("/Keywords") or "").replace(",", ";"))
    return result


def _ocr_pdf(
    body: bytes, scanned: list[int], pages: list[str], options: OcrOptions
) -> dict[str, Any]:
    """Render the ``scanned`` pages and read them by OCR into ``pages``; the OCR record."""
    info = OcrInfo(reason=unavailable(options))
    if info.reason is not None:
        return info.to_json()
    if len(scanned) > options.max_pages:
        raise ExtractionError(
            "too large",
            f"{len(scanned)} pages to read by OCR, over {options.max_pages} "
            "(VESTIGE_OCR_MAX_PAGES)",
        )
    import pypdfium2

    info.engine, info.languages = engine_name(), options.languages
    try:
        document = pypdfium2.PdfDocument(body)
    except pypdfium2.PdfiumError as exc:
        raise ExtractionError("parser error", f"PDF: cannot render pages: {exc}") from exc
    try:
        for index in scanned:
            limits.renew()
            page = document[index]
            width, height = page.get_size()  # points: 1/72 inch
            dpi = min(_PDF_DPI, int(72 * math.sqrt(options.max_pixels / max(width * height, 1))))
            if dpi < _MIN_PDF_DPI:
                raise ExtractionError(
                    "too large", f"page {index + 1} ({width:.0f}x{height:.0f} pt) is too large"
                )
            image = page.render(scale=dpi / 72, grayscale=True).to_pil()
            try:
                read = read_page(image, options, index + 1, dpi)
            except OcrError as exc:
                raise ExtractionError(exc.reason, f"page {index + 1}: {exc.detail}") from exc
            info.pages.append(read)
            # A page's scrap of text layer (a page number) is kept before its OCR text.
            pages[index] = "\n".join(part for part in (pages[index].strip(), read.text) if part)
    finally:
        document.close()
    return info.to_json()


def _pdf_date(value: str) -> str | None:
    match = re.match(r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?", value)
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2] or 1), int(match[3] or 1)).isoformat()
    except ValueError:
        return None


# -- plain text ---------------------------------------------------------------

_DATE_LINE = re.compile(r"^\ufeff?\s*date\s+(\d{4}-\d{2}-\d{2})\s+(\S+)\s*$")
# Full stops, exclamation and question marks, colons, ASCII and full-width.
_SENTENCE_END = (".", "!", "?", ":", "\u2026", "\u3002", "\uff01", "\uff1f", "\uff1a")
_MAX_TITLE = 200
# Words kept lower case in a title made from a URL slug (headline style).
_SMALL_WORDS = {"a", "an", "the", "and", "but", "or", "nor", "for", "of", "in", "on", "at", "to",
                "by", "as", "up", "vs"}  # fmt: skip


def extract_text(payload: Payload, decoded: Decoded) -> Extraction:
    """A plain-text file as it is; a submitted article's own header is read.

    Submitted articles start with an optional ``date YYYY-MM-DD URL`` line and
    then, when it is there, a title line (short, not ending like a sentence).
    """
    lines = decoded.text.splitlines()
    published = payload.metadata.get("published") or None
    url = None
    if lines and (dated := _DATE_LINE.match(lines[0])):
        published = published or dated[1]
        url = dated[2]
        lines = lines[1:]
    while lines and not lines[0].strip():
        lines = lines[1:]
    title = None
    if lines and _looks_like_title(lines[0]):
        title = lines[0].strip()
        lines = lines[1:]
    result = Extraction(text="\n".join(lines), extraction="text", encoding=decoded.encoding)
    result.title = title or _title_from_url(url or payload.url)
    result.published = published
    result.site = urlsplit(url or payload.url).hostname
    if url:
        try:
            result.url = normalise_url(url)
        except (InvalidURL, ValueError):
            result.url = None
    return result


def _looks_like_title(line: str) -> bool:
    line = line.strip()
    return bool(line) and len(line) <= _MAX_TITLE and not line.endswith(_SENTENCE_END)


def _title_from_url(url: str) -> str | None:
    """``/relative-of-a-doctor_3682420.html`` -> ``Relative of a Doctor``."""
    segment = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    slug = re.sub(r"\.\w{1,5}$", "", segment)
    slug = re.sub(r"[_-]\d+$", "", slug)
    words = [word for word in re.split(r"[-_+]+", slug) if word]
    if len(words) < 2 or any(word.isdigit() for word in words[:1]):
        return None
    return " ".join(
        word if i and word.lower() in _SMALL_WORDS else word[:1].upper() + word[1:]
        for i, word in enumerate(words)
    )
