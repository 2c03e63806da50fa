"""Reading scanned pages and images with Tesseract OCR (through pytesseract).

Each page is read with the one model that fits its script, chosen on a sample
(the top of the page's content, or the whole page when it is short): the sample
is read with the first Han model (``chi_sim``), whose output the script detector
of :mod:`ingest.language` tells as Chinese or not; a Latin-script page is then
read with ``eng``, a Chinese one with whichever Han model read the sample with
the higher confidence (Tesseract reads Traditional text with ``chi_sim`` as
Simplified characters and the reverse, so the characters cannot tell; the
confidence can: on the test images, read whole, it picked the right model every time). One
model reads better than several together (measured on the test images: with
every model at once the errors of a Chinese page doubled at 150 dpi). Chinese
set in columns (vertical text) read by a horizontal model comes out as nonsense
of low confidence (measured: 15-18, where horizontal test pages score 60-90); such
a sample is read again with the vertical models (``chi_sim_vert``, ``chi_tra_vert``,
when installed), which read those columns at a confidence near 90. The models
tried and the one chosen are recorded with each page.

Every call is bounded: ``timeout`` seconds per page (Tesseract is killed after
it); images larger than ``max_pixels`` are refused before they are decoded
(:mod:`ingest.images`).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from ingest.language import detect

if TYPE_CHECKING:
    from PIL.Image import Image

INSTALL = "apt-get install tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-chi-tra"
ENGINE = "tesseract"
HAN_MODELS = {"Hans": "chi_sim", "Hant": "chi_tra"}
# The sample: this share of the content's height, at least _SAMPLE_INCHES (9 lines of
# 12 pt type: on two or three lines the confidences mislead); a sample reaching past
# _WHOLE_SHARE of the content is the whole page.
_SAMPLE_SHARE = 0.25
_SAMPLE_INCHES = 1.5
_WHOLE_SHARE = 0.7
_DEFAULT_DPI = 300  # assumed for an image that does not say
_INK = 96  # gray levels darker than 255 - _INK are ink
_MIXED = 0.2  # share of Han characters that makes a Latin-script page "mixed"
_VERTICAL_BELOW = 45.0  # a Chinese sample read less confidently may be vertical text
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# Spaces Tesseract puts between Han characters (and full-width punctuation) are not text.
_CJK = r"[\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]"
_CJK_SPACE = re.compile(rf"(?<={_CJK}) +(?={_CJK})")
_CJK_PAIR = re.compile(rf"{_CJK}{_CJK}")


class OcrError(Exception):
    """A page OCR could not read; ``reason`` is a short category (``timeout``...)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class OcrOptions:
    """How OCR runs (from the settings; crosses to ingest's worker processes)."""

    enabled: bool = True
    languages: str = "eng+chi_sim+chi_tra"
    max_pages: int = 100
    max_pixels: int = 90_000_000
    timeout: float = 60.0  # seconds per page

    @property
    def models(self) -> list[str]:
        return [name for name in self.languages.split("+") if name]


@dataclass
class PageText:
    """What OCR read on one page (1-based ``page``) and how it chose the model."""

    page: int
    text: str
    confidence: float | None  # mean word confidence, 0-100
    model: str  # the Tesseract model(s) the page was read with, e.g. ``chi_tra``
    script: str | None = None  # of the text read (ISO 15924)
    tried: dict[str, float | None] = field(default_factory=dict)  # sample confidence by model


@dataclass
class OcrInfo:
    """The OCR part of a document: engine, languages, pages read, mean confidence.

    ``reason`` says why a document that needed OCR has no OCR text
    (``ocr unavailable: ...``, ``ocr off``).
    """

    engine: str | None = None
    languages: str | None = None
    pages: list[PageText] = field(default_factory=list)
    reason: str | None = None

    @property
    def confidence(self) -> float | None:
        """Mean confidence over the pages read, weighted by their text length."""
        weighted = [(p.confidence, len(p.text)) for p in self.pages if p.confidence is not None]
        total = sum(size for _, size in weighted)
        if not total:
            return None
        return round(sum(conf * size for conf, size in weighted) / total, 1)

    def to_json(self) -> dict[str, Any]:
        """The ``ocr`` field stored with the document (the page texts are in its text)."""
        return {
            "engine": self.engine,
            "languages": self.languages,
            "confidence": self.confidence,
            "pages": [p.page for p in self.pages],
            "page_details": [
                {
                    "page": p.page,
                    "model": p.model,
                    "script": p.script,
                    "confidence": p.confidence,
                    "tried": p.tried,
                }
                for p in self.pages
            ],
            "reason": self.reason,
        }


@cache
def tesseract_version() -> str | None:
    """Tesseract's version, or None when it is not installed."""
    import pytesseract

    try:
        return str(pytesseract.get_tesseract_version())
    except (pytesseract.TesseractNotFoundError, OSError):
        return None


def unavailable(options: OcrOptions) -> str | None:
    """Why OCR cannot run with ``options`` (None when it can)."""
    if not options.enabled:
        return "ocr off (VESTIGE_OCR=0)"
    if tesseract_version() is None:
        return f"ocr unavailable: Tesseract is not installed ({INSTALL})"
    return None


@cache
def installed_models() -> frozenset[str]:
    """The models Tesseract has (none when it is not installed)."""
    import pytesseract

    if tesseract_version() is None:
        return frozenset()
    return frozenset(pytesseract.get_languages())


def missing_models(languages: str) -> list[str]:
    """The models of ``languages`` (``eng+chi_sim``) Tesseract lacks (none if it is absent)."""
    if tesseract_version() is None:
        return []
    return [name for name in languages.split("+") if name and name not in installed_models()]


def engine_name() -> str:
    """``tesseract 5.3.0``."""
    return f"{ENGINE} {tesseract_version()}"


def read_page(image: Image, options: OcrOptions, page: int, dpi: int | None = None) -> PageText:
    """Read one page (a Pillow image) with the model its sample chose (module docstring)."""
    gray = image.convert("L")
    models = options.models
    han = [model for model in models if model in HAN_MODELS.values()]
    latin = [model for model in models if model not in han]
    model = options.languages
    tried: dict[str, tuple[str, float | None]] = {}
    sample, whole = _sample(gray, dpi or _DEFAULT_DPI)
    if han and len(models) > 1:
        tried[han[0]] = _read(sample, han[0], options, dpi)
        found = detect(tried[han[0]][0])
        if found.language == "zh" or not latin:
            for other in han[1:]:
                tried[other] = _read(sample, other, options, dpi)
            if max(reading[1] or 0.0 for reading in tried.values()) < _VERTICAL_BELOW:
                for vertical in [f"{name}_vert" for name in han]:
                    if vertical in installed_models():
                        tried[vertical] = _read(sample, vertical, options, dpi)
            # The most confident model; on a tie the first configured.
            model = max(tried, key=lambda name: tried[name][1] or -1.0)
        else:
            # A Latin-script page quoting Chinese keeps a Han model beside the Latin ones.
            mixed = _han_share(tried[han[0]][0]) >= _MIXED
            model = "+".join([*latin, han[0]] if mixed else latin)
    text, confidence = (
        tried[model] if whole and model in tried else _read(gray, model, options, dpi)
    )
    return PageText(
        page,
        text,
        confidence,
        model,
        detect(text).script,
        {name: reading[1] for name, reading in tried.items()},
    )


def _han_share(text: str) -> float:
    """The share of Han characters among the letters of ``text``."""
    letters = [char for char in text if char.isalpha()]
    return len(_HAN.findall(text)) / len(letters) if letters else 0.0


def _sample(gray: Image, dpi: int) -> tuple[Image, bool]:
    """The top of the page's content (a few lines), and whether that is all of it."""
    from PIL import ImageFilter, ImageOps

    ink = ImageOps.invert(gray).point(lambda v: 255 if v > _INK else 0)
    box = ink.filter(ImageFilter.MedianFilter(5)).getbbox()  # specks are not content
    if box is None:
        return gray, True
    _, top, _, bottom = box
    height = max(int((bottom - top) * _SAMPLE_SHARE), int(_SAMPLE_INCHES * dpi))
    if height >= (bottom - top) * _WHOLE_SHARE:
        return gray, True
    margin = dpi // 10
    return gray.crop((0, max(0, top - margin), gray.width, top + height + margin)), False


def _read(
    gray: Image, model: str, options: OcrOptions, dpi: int | None
) -> tuple[str, float | None]:
    """Text and mean word confidence of one Tesseract run (TSV output, one process)."""
    import pytesseract

    config = f"--dpi {dpi}" if dpi else ""
    # PGM: written and read without compression (a PNG costs more than the OCR of a small page).
    with tempfile.NamedTemporaryFile(suffix=".pgm", delete=False) as handle:
        path = handle.name
    try:
        gray.save(path, format="PPM")
        data = pytesseract.image_to_data(
            path,
            lang=model,
            config=config,
            timeout=max(1, int(options.timeout)),
            output_type=pytesseract.Output.DICT,
        )
    except RuntimeError as exc:  # pytesseract's timeout
        raise OcrError("timeout", f"OCR of a page took over {options.timeout:g}s") from exc
    except pytesseract.TesseractError as exc:
        raise OcrError("ocr error", f"Tesseract: {exc.message}".strip()) from exc
    finally:
        os.unlink(path)
    return _text(data), _confidence(data["conf"], data["text"])


def _text(data: dict[str, list[Any]]) -> str:
    """The words of Tesseract's TSV: a blank line between paragraphs; the lines of a
    paragraph joined with no space between two Han characters (Chinese has none)."""
    paragraphs: dict[tuple[int, int], dict[int, list[str]]] = {}
    for block, par, line, word in zip(
        data["block_num"], data["par_num"], data["line_num"], data["text"], strict=True
    ):
        word = (word or "").strip()
        if word:
            paragraphs.setdefault((block, par), {}).setdefault(line, []).append(word)
    texts = []
    for lines in paragraphs.values():
        text = ""
        for words in lines.values():
            line = " ".join(words)
            joint = "" if _CJK_PAIR.match((text[-1:] or " ") + line[0]) else "\n"
            text = f"{text}{joint}{line}" if text else line
        texts.append(_CJK_SPACE.sub("", text))
    return "\n\n".join(texts)


def _confidence(confidences: Iterable[Any], words: Iterable[Any]) -> float | None:
    values = [
        float(conf)
        for conf, word in zip(confidences, words, strict=True)
        if (word or "").strip() and float(conf) >= 0
    ]
    return round(sum(values) / len(values), 1) if values else None
