"""``POST /api/v1/imports``: uploaded documents and web archives."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import ocrset
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pypdf import PdfWriter
from servicetools import auth, new_token, service
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archive.config import Settings
from conftest import minimal_pdf, missing_part
from ingest.ocr import INSTALL


@pytest.fixture
def client(home: Settings) -> Iterator[TestClient]:
    with service(home.model_copy(update={"max_upload_size": 200_000})) as client:
        yield client


@pytest.fixture
def token(client: TestClient) -> str:
    return new_token(client, "uploader")


def warc_file(url: str, body: bytes) -> bytes:
    """A WARC (gzip per record) holding one response, as another crawler would write it."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    headers = StatusAndHeaders(
        "200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))], "HTTP/1.1"
    )
    writer.write_record(
        writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers)
    )
    return out.getvalue()


def test_document_upload_is_stored_and_replayed(client: TestClient, token: str) -> None:
    page = "<html><title>声明</title><p>Statement</p></html>".encode()
    form = {"url": "https://gov.example/声明", "date": "2024-05-01", "note": "from a source"}
    response = client.post(
        "/api/v1/imports",
        files={"file": ("statement.html", page, "text/html")},
        data=form,
        headers=auth(token),
    )
    assert response.status_code == 201, response.text
    (source,) = response.json()["sources"]
    assert source["imported"] == 2 and source["skipped"] == 0  # resource + metadata
    assert source["url"] == "https://gov.example/%E5%A3%B0%E6%98%8E"
    versions = client.get(source["versions"]).json()["versions"]
    assert [v["type"] for v in versions] == ["resource"]
    assert versions[0]["payload_digest"] == source["payload_digest"]
    replay = client.get(versions[0]["memento"])
    assert replay.content == page and replay.headers["content-type"] == "text/html"
    assert replay.headers["content-security-policy"].startswith("sandbox;")

    again = client.post(
        "/api/v1/imports",
        files={"file": ("statement.html", page, "text/html")},
        data=form,
        headers=auth(token),
    )
    assert again.json()["sources"][0]["skipped"] == 1


def test_text_upload_takes_url_and_date_from_its_first_line(client, token) -> None:
    text = b"date 2023-02-03 https://news.example/item\nThe text.\n"
    response = client.post(
        "/api/v1/imports", files={"file": ("item.txt", text)}, headers=auth(token)
    )
    assert response.status_code == 201, response.text
    assert response.json()["sources"][0]["url"] == "https://news.example/item"


def test_warc_upload_keeps_records(client: TestClient, token: str) -> None:
    body = b"<p>crawled elsewhere</p>"
    response = client.post(
        "/api/v1/imports",
        files={"file": ("../../crawl.warc.gz", warc_file("http://other.example/", body))},
        headers=auth(token),
    )
    assert response.status_code == 201, response.text
    payload = response.json()
    assert payload["filename"] == "crawl.warc.gz"
    assert payload["sources"][0]["imported"] >= 1 and payload["sources"][0]["stopped"] is None
    memento = client.get("/timegate/http://other.example/", follow_redirects=True)
    assert memento.status_code == 200 and memento.content == body


def test_upload_errors(client: TestClient, token: str) -> None:
    html = {"file": ("a.html", b"<p>x</p>")}
    assert client.post("/api/v1/imports", files=html).status_code == 401
    assert client.post("/api/v1/imports", files=html, headers=auth("vst_x")).status_code == 403
    # A document without a URL is not refused: it is stored under its digest.
    no_url = client.post("/api/v1/imports", files=html, headers=auth(token))
    assert no_url.status_code == 201, no_url.text
    assert no_url.json()["sources"][0]["url"].startswith("urn:sha256:")
    bad_date = client.post(
        "/api/v1/imports",
        files=html,
        data={"url": "https://a.example/", "date": "May 1st"},
        headers=auth(token),
    )
    assert bad_date.status_code == 422 and bad_date.json()["error"]["message"].startswith(
        "invalid input: date"
    )
    unknown = client.post(
        "/api/v1/imports", files={"file": ("tool.exe", b"MZ")}, headers=auth(token)
    )
    assert unknown.status_code == 422 and "unknown file type" in unknown.text
    damaged = client.post(
        "/api/v1/imports", files={"file": ("x.warc.gz", b"not a warc at all")}, headers=auth(token)
    )
    assert damaged.status_code == 422 and "nothing could be imported" in damaged.text
    assert client.post("/api/v1/imports", headers=auth(token)).status_code == 422
    too_large = client.post(
        "/api/v1/imports",
        files={"file": ("big.html", b"x" * 300_000)},
        data={"url": "https://a.example/big"},
        headers=auth(token),
    )
    assert too_large.status_code == 413
    assert too_large.json()["error"]["status"] == 413
    assert (
        client.get("/api/v1/urls/versions", params={"url": "https://a.example/big"}).status_code
        == 404
    )


def test_mixed_pdf_keeps_its_text_layer_and_shows_the_scanned_page(
    client: TestClient, token: str, corpus: Path
) -> None:
    if shutil.which("tesseract") is None:
        missing_part("Tesseract", INSTALL)
    english = ocrset.samples(corpus)[0]
    mixed = PdfWriter()
    mixed.append(io.BytesIO(minimal_pdf("Ruling", "The court", ["The appeal is dismissed."])))
    mixed.append(io.BytesIO(ocrset.image_pdf([ocrset.render(english, 150)], 150)))
    body = io.BytesIO()
    mixed.write(body)
    response = client.post(
        "/api/v1/imports", files={"file": ("ruling.pdf", body.getvalue())}, headers=auth(token)
    )
    assert response.status_code == 201, response.text
    source = response.json()["sources"][0]
    assert source["url"].startswith("urn:sha256:")
    document = client.get(f"/api/v1/documents/{source['document_id']}").json()
    assert document["extraction"] == "pdf+ocr" and document["ocr"]["pages"] == [2]
    assert document["ocr"]["page_details"][0]["model"] == "eng"
    text = client.get(document["text"]).text
    assert text.startswith("The appeal is dismissed.")  # the text layer, as it is
    assert ocrset.cer(english.text, text.split("\n\n", 1)[1]) < 0.05  # the scan, by OCR
    scan = client.get(f"/api/v1/documents/{document['id']}/pages/2.png")
    assert scan.status_code == 200 and scan.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(scan.content)).size[0] > 500
    # Page 1 was not read by OCR: there is no scan of it to show.
    assert client.get(f"/api/v1/documents/{document['id']}/pages/1.png").status_code == 404
    (hit,) = client.get("/api/v1/search", params={"q": "dodged a bullet"}).json()["hits"]
    assert hit["id"] == document["id"] and hit["ocr"] and hit["ocr_confidence"] > 0
    page = client.get(f"/documents/{document['id']}").text
    assert f'src="/api/v1/documents/{document["id"]}/pages/2.png"' in page
    assert "mean confidence" in page and "read with eng" in page


def test_photo_upload_keeps_gps_only_when_asked(client: TestClient, token: str) -> None:
    if shutil.which("tesseract") is None:
        missing_part("Tesseract", INSTALL)
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif.get_ifd(0x8825).update({1: "S", 2: (33.0, 52.0, 0.0), 3: "E", 4: (151.0, 12.0, 0.0)})
    shown = {}
    for keep, quality in ((False, 90), (True, 91)):  # two files: two documents
        photo = io.BytesIO()
        Image.new("RGB", (200, 80), "white").save(photo, format="JPEG", exif=exif, quality=quality)
        response = client.post(
            "/api/v1/imports",
            files={"file": ("crowd.jpg", photo.getvalue())},
            data={"keep_gps": str(keep).lower()},
            headers=auth(token),
        )
        assert response.status_code == 201, response.text
        (source,) = response.json()["sources"]
        shown[keep] = client.get(f"/api/v1/documents/{source['document_id']}").json()
    assert shown[False]["properties"]["camera"] == "Canon"
    assert "gps" not in shown[False]["properties"]
    assert shown[True]["properties"]["gps"] == {"latitude": -33.866667, "longitude": 151.2}
