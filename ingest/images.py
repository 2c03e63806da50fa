"""Submitted images (PNG, JPEG, TIFF, WebP, GIF's first frame): OCR text and EXIF metadata.

Images are opened with Pillow, whose header is read before any pixel is decoded:
an image larger than ``max_pixels`` (a decompression bomb among them) is refused
as ``too large`` before it takes any memory. The camera and the time a photo was
taken are kept as ``properties``; its GPS position only when the submitter asked
for it (``--keep-gps``), since a photo's position can identify a source.
"""

from __future__ import annotations

import io
import warnings
from typing import TYPE_CHECKING, Any

from ingest import limits
from ingest.extraction import PDF_TYPES, Extraction, ExtractionError, Payload, mime_of
from ingest.ocr import OcrError, OcrInfo, OcrOptions, engine_name, read_page, unavailable

if TYPE_CHECKING:
    from PIL.Image import Image


IMAGE_TYPES = {"image/png", "image/jpeg", "image/tiff", "image/webp", "image/gif"}
# EXIF tags kept (numbers from the EXIF 2.3 specification).
_MAKE, _MODEL, _DATETIME, _EXIF_IFD, _GPS_IFD = 0x010F, 0x0110, 0x0132, 0x8769, 0x8825
_DATETIME_ORIGINAL = 0x9003
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4


def open_image(body: bytes, max_pixels: int) -> Image:
    """The first frame of the image in ``body``, decoded; :class:`ExtractionError` otherwise."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    PILImage.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            image = PILImage.open(io.BytesIO(body))
            width, height = image.size
            if width * height > max_pixels:
                raise ExtractionError("too large", _too_large(width, height, max_pixels))
            image.seek(0)
            image.load()
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        raise ExtractionError("too large", f"image over {max_pixels:,} pixels: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ExtractionError("undecodable", "not an image Pillow can read") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        # A truncated JPEG: "image file is truncated (N bytes not processed)".
        raise ExtractionError("undecodable", f"malformed image: {exc}") from exc
    return image


def _too_large(width: int, height: int, max_pixels: int) -> str:
    return f"{width}x{height} image over {max_pixels:,} pixels (VESTIGE_OCR_MAX_PIXELS)"


def exif_properties(image: Image, *, keep_gps: bool) -> dict[str, Any]:
    """Camera and time taken from the image's EXIF (and its GPS position if ``keep_gps``)."""
    exif = image.getexif()
    found: dict[str, Any] = {}
    camera = " ".join(str(exif.get(tag) or "").strip() for tag in (_MAKE, _MODEL)).strip()
    if camera:
        found["camera"] = camera
    taken = exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    if taken:
        found["taken"] = _exif_time(str(taken))
    if keep_gps:
        gps = exif.get_ifd(_GPS_IFD)
        if _GPS_LAT in gps and _GPS_LON in gps:
            found["gps"] = {
                "latitude": _degrees(gps[_GPS_LAT], gps.get(_GPS_LAT_REF), "S"),
                "longitude": _degrees(gps[_GPS_LON], gps.get(_GPS_LON_REF), "W"),
            }
    return found


def _exif_time(value: str) -> str:
    """``2024:05:01 10:20:30`` -> ``2024-05-01T10:20:30``."""
    date, _, time = value.strip().partition(" ")
    return date.replace(":", "-") + (f"T{time}" if time else "")


def _degrees(value: Any, ref: Any, negative: str) -> float:
    degrees, minutes, seconds = (float(part) for part in value)
    sign = -1 if str(ref or "").upper() == negative else 1
    return round(sign * (degrees + minutes / 60 + seconds / 3600), 6)


_SHOWN_WIDTH = 1400  # pixels: pages shown beside their text are scaled down to this
_SHOWN_DPI = 110  # scanned PDF pages are rendered at this resolution to be shown


def page_png(body: bytes, mime: str | None, page: int, max_pixels: int) -> bytes:
    """Page ``page`` (from 1) of a stored PDF, or a stored image, as a PNG to show beside
    the text OCR read from it; :class:`ExtractionError` when there is no such page."""
    if mime_of(mime) in PDF_TYPES:
        import pypdfium2

        try:
            document = pypdfium2.PdfDocument(body)
        except pypdfium2.PdfiumError as exc:
            raise ExtractionError("parser error", f"PDF: {exc}") from exc
        try:
            if not 1 <= page <= len(document):
                raise ExtractionError("no page", f"the PDF has {len(document)} pages")
            image = document[page - 1].render(scale=_SHOWN_DPI / 72).to_pil()
        finally:
            document.close()
    else:
        if page != 1:
            raise ExtractionError("no page", "an image has one page")
        image = open_image(body, max_pixels)
    image = image.convert("RGB" if image.mode not in ("L", "1") else "L")
    image.thumbnail((_SHOWN_WIDTH, _SHOWN_WIDTH * 4))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def extract_image(payload: Payload, options: OcrOptions) -> Extraction:
    """OCR text and EXIF properties of a submitted image."""
    image = open_image(payload.body, options.max_pixels)
    properties = exif_properties(image, keep_gps=payload.metadata.get("keep-gps") == "yes")
    properties["size"] = f"{image.width}x{image.height}"
    info = OcrInfo(reason=unavailable(options))
    text = ""
    if info.reason is None:
        info.engine, info.languages = engine_name(), options.languages
        dpi = image.info.get("dpi")
        limits.renew()
        try:
            page = read_page(image, options, 1, int(dpi[0]) if dpi and dpi[0] > 1 else None)
        except OcrError as exc:
            raise ExtractionError(exc.reason, exc.detail) from exc
        info.pages.append(page)
        text = page.text
    result = Extraction(text=text, extraction="ocr", ocr=info.to_json(), properties=properties)
    taken = properties.get("taken")
    result.published = payload.metadata.get("published") or (taken[:10] if taken else None)
    return result
