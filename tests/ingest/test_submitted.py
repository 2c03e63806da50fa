"""Submitted files that are not web pages: Word, OpenDocument, e-mail, photos, bad files.

Files are built with their own libraries (python-docx, the standard library's email,
Pillow, pypdf), imported with `vestige import` and ingested as a user would.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import docx
import ocrset
import pytest
from PIL import Image
from pypdf import PdfWriter
from typer.testing import CliRunner

from api.cli import app
from archive.config import Settings, get_settings
from conftest import minimal_pdf, missing_part
from ingest import ocr

runner = CliRunner()


def _urn(path: Path) -> str:
    return "urn:sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _show(document: str) -> dict:
    shown = runner.invoke(app, ["show", "--json", document])
    assert shown.exit_code == 0, shown.output
    return json.loads(shown.output)


def _import(*paths: Path, args: tuple[str, ...] = ()) -> str:
    result = runner.invoke(app, ["import", *args, *(str(path) for path in paths)])
    assert result.exit_code == 0, result.output
    return result.output


def _hits(query: str) -> list[dict]:
    found = runner.invoke(app, ["search", "--json", query])
    assert found.exit_code == 0, found.output
    return json.loads(found.output)["hits"]


def test_word_opendocument_and_email_with_attachment(home: Settings, tmp_path: Path) -> None:
    word = docx.Document()
    word.core_properties.title = "Witness statement"
    word.core_properties.author = "Li Wei"
    word.core_properties.created = datetime(2024, 3, 5, 9, 30)
    word.add_paragraph("I saw the demolition of the chapel on the morning of 4 March.")
    table = word.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "证人", "李伟"
    statement = tmp_path / "statement.docx"
    word.save(statement)

    letter = EmailMessage()
    letter["Subject"] = "Notice from the district court"
    letter["From"] = "Chen Mei <chen@example.org>"
    letter["To"] = "archive@example.net"
    letter["Date"] = "Tue, 07 May 2024 10:15:00 +0800"
    letter.set_content("Attached is the notice we received about the hearing.\n")
    letter.add_attachment(
        statement.read_bytes(),
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
        filename="forwarded-statement.docx",
    )
    mail = tmp_path / "letter.eml"
    mail.write_bytes(bytes(letter))

    odt = tmp_path / "petition.odt"
    with zipfile.ZipFile(odt, "w") as package:
        package.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        package.writestr(
            "content.xml",
            '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:'
            'office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0">'
            "<office:body><office:text><text:h>Petition</text:h>"
            "<text:p>We ask for the release of the <text:span>detained</text:span>"
            " lawyers.</text:p>"
            "</office:text></office:body></office:document-content>",
        )
        package.writestr(
            "meta.xml",
            '<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
            ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:meta="urn:oasis:names:tc:'
            'opendocument:xmlns:meta:1.0"><office:meta><dc:title>Open petition</dc:title>'
            "<meta:initial-creator>Zhang San</meta:initial-creator>"
            "<meta:creation-date>2023-11-02T08:00:00</meta:creation-date>"
            "</office:meta></office:document-meta>",
        )

    output = _import(statement, mail, odt)
    assert "attachment forwarded-statement.docx urn:sha256:" in output

    word_doc = _show(_urn(statement))
    assert word_doc["title"] == "Witness statement" and word_doc["authors"] == ["Li Wei"]
    assert word_doc["published"] == "2024-03-05" and word_doc["extraction"] == "docx"
    assert "demolition of the chapel" in word_doc["text"] and "证人 李伟" in word_doc["text"]

    mail_doc = _show(_urn(mail))
    assert mail_doc["title"] == "Notice from the district court"
    assert mail_doc["authors"] == ["Chen Mei"] and mail_doc["published"] == "2024-05-07"
    assert mail_doc["properties"]["to"] == "archive@example.net"
    assert mail_doc["properties"]["from"] == "Chen Mei <chen@example.org>"
    assert mail_doc["properties"]["attachments"] == ["forwarded-statement.docx"]
    assert mail_doc["text"].startswith("Attached is the notice")
    shown = runner.invoke(app, ["show", _urn(mail)]).output
    assert "\nattachments: forwarded-statement.docx\n" in shown
    # The attachment is a document of its own that names the e-mail.
    attachment = _show(_urn(statement))
    assert attachment["id"] == word_doc["id"]  # the same bytes: stored once
    assert len(_hits("demolition chapel")) == 1

    odt_doc = _show(_urn(odt))
    assert odt_doc["title"] == "Open petition" and odt_doc["authors"] == ["Zhang San"]
    assert odt_doc["text"] == "Petition\nWe ask for the release of the detained lawyers."
    assert odt_doc["published"] == "2023-11-02"

    assert [hit["title"] for hit in _hits("district court")] == ["Notice from the district court"]
    assert [hit["title"] for hit in _hits("detained lawyers")] == ["Open petition"]


def test_attachment_names_its_email(home: Settings, tmp_path: Path) -> None:
    letter = EmailMessage()
    letter["Subject"] = "Testimony"
    letter["From"] = "a@example.org"
    letter.set_content("See the attached testimony.")
    letter.add_attachment(
        b"I was held for nine days without charge.\n",
        maintype="text",
        subtype="plain",
        filename="testimony.txt",
    )
    mail = tmp_path / "testimony.eml"
    mail.write_bytes(bytes(letter))
    _import(mail)
    body = b"I was held for nine days without charge.\n"
    document = _show("urn:sha256:" + hashlib.sha256(body).hexdigest())
    assert document["properties"]["attached_to"] == _urn(mail)
    email = _show(_urn(mail))
    (relation,) = document["relations"]
    assert (relation["type"], relation["direction"]) == ("attaches", "incoming")
    assert relation["other"]["id"] == email["id"] and relation["status"] == "confirmed"
    assert document["title"] == "testimony.txt"
    assert "nine days without charge" in document["text"]


def test_bad_files_fail_clearly_and_stay_stored(home: Settings, tmp_path: Path) -> None:
    # A decompression bomb: a small PNG of 96 million pixels.
    bomb = tmp_path / "bomb.png"
    Image.new("1", (12_000, 8_000)).save(bomb, optimize=True)
    assert bomb.stat().st_size < 1_000_000
    # A truncated JPEG.
    photo = io.BytesIO()
    Image.new("RGB", (400, 300), (200, 10, 10)).save(photo, format="JPEG")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(photo.getvalue()[: len(photo.getvalue()) // 2])
    # A password-protected PDF, and a Word file that is not one.
    writer = PdfWriter()
    writer.append(io.BytesIO(minimal_pdf("Secret", "Court", ["Sealed ruling."])))
    writer.encrypt("s3cret")
    locked = tmp_path / "locked.pdf"
    with open(locked, "wb") as handle:
        writer.write(handle)
    corrupt = tmp_path / "broken.docx"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip archive")

    result = runner.invoke(app, ["import", *(str(p) for p in (bomb, truncated, locked, corrupt))])
    assert result.exit_code == 0, result.output  # stored; ingest reports, never stops
    assert "not ingested: parser error (corrupt Word file: BadZipFile" in result.output
    reasons = runner.invoke(app, ["ingest", "--retry-failed"])
    assert reasons.exit_code == 0, reasons.output
    assert "4 failed" in reasons.output
    assert "too large" in reasons.output and "over 90,000,000 pixels" in reasons.output
    assert "malformed image: image file is truncated" in reasons.output
    assert "password-protected PDF" in reasons.output
    assert "corrupt Word file" in reasons.output
    # Nothing stored is lost: each file is still in the archive, byte for byte.
    for path in (bomb, truncated, locked, corrupt):
        listing = runner.invoke(app, ["captures", _urn(path)])
        assert listing.exit_code == 0 and "(resource)" in listing.output


def test_long_scans_are_too_large(
    home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("tesseract") is None:
        missing_part("Tesseract", ocr.INSTALL)
    monkeypatch.setenv("VESTIGE_OCR_MAX_PAGES", "3")
    get_settings.cache_clear()
    blank = Image.new("L", (200, 200), 255)
    scan = tmp_path / "long-scan.pdf"
    scan.write_bytes(ocrset.image_pdf([blank] * 5, 72))
    _import(scan, args=("--no-ingest",))
    result = runner.invoke(app, ["ingest"])
    assert "failed  " in result.output and "too large" in result.output, result.output
    assert "5 pages to read by OCR, over 3 (VESTIGE_OCR_MAX_PAGES)" in result.output


def test_photo_exif_without_gps_unless_kept(home: Settings, tmp_path: Path) -> None:
    if shutil.which("tesseract") is None:
        missing_part("Tesseract", ocr.INSTALL)
    photo = Image.new("RGB", (320, 120), "white")
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0132] = "Canon", "EOS 80D", "2024:06:04 21:05:00"
    exif.get_ifd(0x8825).update({1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 0.0)})
    paths = []
    for name in ("crowd.jpg", "crowd-kept.jpg"):
        path = tmp_path / name
        photo.save(path, exif=exif, quality=90 if name == "crowd.jpg" else 91)
        paths.append(path)
    _import(paths[0])
    _import(paths[1], args=("--keep-gps",))
    dropped, kept = _show(_urn(paths[0])), _show(_urn(paths[1]))
    assert dropped["properties"]["camera"] == "Canon EOS 80D"
    assert dropped["properties"]["taken"] == "2024-06-04T21:05:00"
    assert dropped["published"] == "2024-06-04"
    assert "gps" not in dropped["properties"] and "gps" not in json.dumps(dropped)
    assert kept["properties"]["gps"] == {"latitude": 39.9075, "longitude": 116.383333}
    shown = runner.invoke(app, ["show", _urn(paths[1])]).output
    assert "\ncamera:     Canon EOS 80D\n" in shown
    assert "\ngps:        latitude 39.9075, longitude 116.383333\n" in shown


def test_without_ocr_the_document_says_why(
    home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corpus: Path
) -> None:
    sample = ocrset.samples(corpus)[0]
    image = tmp_path / "page.png"
    image.write_bytes(ocrset.png(ocrset.render(sample, 150)))
    monkeypatch.setenv("VESTIGE_OCR", "0")
    get_settings.cache_clear()
    _import(image)
    off = _show(_urn(image))
    assert off["text"] == "" and off["ocr"]["reason"] == "ocr off (VESTIGE_OCR=0)"
    # With no Tesseract on the PATH, the reason says how to install it.
    monkeypatch.setenv("VESTIGE_OCR", "1")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    get_settings.cache_clear()
    ocr.tesseract_version.cache_clear()
    try:
        rebuilt = runner.invoke(app, ["ingest", "--rebuild", "--workers", "1"])
        assert rebuilt.exit_code == 0, rebuilt.output
        assert "1 documents stored without their OCR text: ocr unavailable" in rebuilt.output
        missing = _show(_urn(image))
        assert (
            missing["ocr"]["reason"]
            == f"ocr unavailable: Tesseract is not installed ({ocr.INSTALL})"
        )
        shown = runner.invoke(app, ["show", _urn(image)])
        assert "ocr unavailable" in shown.output
    finally:
        ocr.tesseract_version.cache_clear()
