"""Scanned-looking test images made from the corpus's ground-truth text (tests and benchmark).

English, Simplified and Traditional Chinese paragraphs from ``/work/shared/corpus``
are drawn with Debian's Noto CJK font (12 pt, as on a printed page) at 300 or
150 dpi, clean or "scanned" (salt-and-pepper noise and a 1.5 degree rotation).
The character error rate compares OCR output with the text drawn.
"""

from __future__ import annotations

import io
import json
import random
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
POINTS = 12  # type size of the drawn text
_NOISE = 0.005  # share of pixels flipped in a "scanned" image
_ROTATION = 1.5  # degrees


@dataclass(frozen=True)
class Sample:
    """A short text in one script and a phrase from it that search must find."""

    name: str
    script: str  # Latn, Hans, Hant
    text: str
    phrase: str


def samples(corpus: Path, *, full_pages: bool = False) -> list[Sample]:
    """One English, one Simplified and one Traditional Chinese sample: two short paragraphs,
    or (``full_pages``) about a page of text each."""
    english = (corpus / "en/newspaper4k/txt/cnn_article.txt").read_text("utf-8").split("\n\n")
    simplified = (corpus / "zh/cwced/cleaned/05e98007-d810-4036-b154-2ef2fe68c2af.txt").read_text(
        "utf-8"
    )
    taiwan = json.loads((corpus / "zh/taiwanese-news/ground-truth.json").read_text("utf-8"))
    traditional = [
        "".join(entry["title"].split()) + "。" + "".join(entry["with"])
        for entry in list(taiwan.values())[: 20 if full_pages else 2]
    ]
    han = "".join(simplified.split())
    if full_pages:
        paragraphs = [" ".join(p.split()) for p in english[1:] if p.strip()]
        han_lines = [han[start : start + 120] for start in range(0, 1200, 120)]
        return [
            Sample("english", "Latn", "\n".join(paragraphs)[:2000], "bullet"),
            Sample("simplified", "Hans", "\n".join(han_lines), "张家界"),
            Sample("traditional", "Hant", "\n".join(traditional), "內政部社會司"),
        ]
    return [
        Sample("english", "Latn", "\n".join(" ".join(p.split()) for p in english[1:3]), "bullet"),
        Sample("simplified", "Hans", han[:60] + "\n" + han[60:120], "张家界"),
        Sample("traditional", "Hant", "\n".join(traditional), "內政部社會司"),
    ]


def render(sample: Sample, dpi: int, *, scanned: bool = False) -> Image.Image:
    """The sample drawn on a white page 6.5 inches wide (grayscale)."""
    size = round(POINTS * dpi / 72)
    font = ImageFont.truetype(str(FONT), size, index=0)
    margin, width = dpi // 2, round(6.5 * dpi)
    lines: list[str] = []
    for paragraph in sample.text.split("\n"):
        lines += _wrap(paragraph, font, width)
        lines.append("")
    height = round((len(lines) + 1) * size * 1.6) + 2 * margin
    page = Image.new("L", (width + 2 * margin, height), 255)
    draw = ImageDraw.Draw(page)
    for number, line in enumerate(lines):
        draw.text((margin, margin + round(number * size * 1.6)), line, font=font, fill=0)
    if scanned:
        page = page.rotate(_ROTATION, resample=Image.Resampling.BILINEAR, fillcolor=255)
        noise = random.Random(16)
        pixels = page.load()
        for _ in range(int(page.width * page.height * _NOISE)):
            x, y = noise.randrange(page.width), noise.randrange(page.height)
            pixels[x, y] = 255 - pixels[x, y]
    page.info["dpi"] = (dpi, dpi)
    return page


def render_vertical(sample: Sample, dpi: int, *, per_column: int = 20) -> Image.Image:
    """The sample's Chinese text set in columns, right to left, as in a traditional book."""
    size = round(POINTS * dpi / 72)
    font = ImageFont.truetype(str(FONT), size, index=0)
    text = "".join(sample.text.split())
    columns = [text[start : start + per_column] for start in range(0, len(text), per_column)]
    margin, step, advance = dpi // 2, round(size * 1.6), round(size * 1.15)
    width, height = len(columns) * step + 2 * margin, per_column * advance + 2 * margin
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    for number, column in enumerate(columns):
        x = page.width - margin - (number + 1) * step
        for row, char in enumerate(column):
            draw.text((x, margin + row * advance), char, font=font, fill=0)
    page.info["dpi"] = (dpi, dpi)
    return page


def _wrap(paragraph: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Lines no wider than ``width``: at spaces for English, anywhere for Chinese."""
    units = paragraph.split(" ") if " " in paragraph else list(paragraph)
    joint = " " if " " in paragraph else ""
    lines, line = [], ""
    for unit in units:
        candidate = f"{line}{joint}{unit}" if line else unit
        if line and font.getlength(candidate) > width:
            lines.append(line)
            line = unit
        else:
            line = candidate
    return [*lines, line] if line else lines


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=image.info.get("dpi", (300, 300)))
    return buffer.getvalue()


def image_pdf(images: list[Image.Image], dpi: int) -> bytes:
    """A PDF of these images, one per page, with no text layer (as a scanner makes)."""
    buffer = io.BytesIO()
    first, *rest = images
    first.save(buffer, format="PDF", save_all=True, append_images=rest, resolution=dpi)
    return buffer.getvalue()


def comparable(text: str) -> str:
    """Text as the error rate compares it: NFKC (full-width and ASCII punctuation alike), no
    whitespace (OCR's line breaks and the spaces it puts between Han characters are layout)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: edit distance over the reference's length."""
    ref, hyp = comparable(reference), comparable(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, char in enumerate(ref, 1):
        current = [i]
        for j, other in enumerate(hyp, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other))
            )
        previous = current
    return previous[-1] / max(len(ref), 1)
