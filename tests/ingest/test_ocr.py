# ruff: noqa: F811 - the cluster_url fixture is imported from searchtools
"""OCR of submitted scans and images, end to end: `vestige import` + ingest + search.

The images are drawn from the corpus's ground truth (see ``tests/ocrset.py``). Error-rate
thresholds per condition are the rates measured with Tesseract 5.3 (Debian 12) on these
images, rounded up with headroom for other Tesseract builds; they still fail if the
wrong model reads a page (Simplified read with ``chi_tra`` measured 0.27-0.45, Traditional
with ``chi_sim`` 0.25-0.57), or if OCR stops working.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import uuid
from pathlib import Path

import ocrset
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from api.cli import app
from archive.config import Settings, get_settings
from conftest import missing_part
from search.engine import open_backend

sys.path.insert(0, str(Path(__file__).parents[1] / "search"))

from searchtools import cluster_url  # noqa: F401 - fixture

runner = CliRunner()
INSTALL = "apt-get install tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-chi-tra"
# Measured: clean 300 dpi 0.000-0.024; clean 150 dpi 0.000-0.107; scanned 300 dpi
# 0.005-0.16; scanned 150 dpi 0.027-0.14 (noise 0.5%, 1.5 degrees).
MAX_CER = {(300, False): 0.06, (150, False): 0.18, (300, True): 0.25, (150, True): 0.25}


@pytest.fixture
def tesseract() -> None:
    if shutil.which("tesseract") is None:
        missing_part("Tesseract", INSTALL)


def _show(path: Path) -> dict:
    """The document of a file imported without a URL (stored under its digest)."""
    urn = "urn:sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    shown = runner.invoke(app, ["show", "--json", urn])
    assert shown.exit_code == 0, shown.output
    return json.loads(shown.output)


def _export(path: Path, format: str) -> Path:
    done = runner.invoke(app, ["export", "--all", "-f", format, "-o", str(path)])
    assert done.exit_code == 0, done.output
    return path


def _search_ids(query: str) -> dict[str, dict]:
    found = runner.invoke(app, ["search", "--json", query])
    assert found.exit_code == 0, found.output
    return {hit["id"]: hit for hit in json.loads(found.output)["hits"]}


def test_scans_and_images_are_read_and_found_on_both_engines(
    tesseract: None,
    home: Settings,
    corpus: Path,
    tmp_path: Path,
    cluster_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    samples = ocrset.samples(corpus)
    files: list[tuple[Path, list[ocrset.Sample], int, bool]] = []
    for sample in samples:
        clean = tmp_path / f"{sample.name}-300.png"
        clean.write_bytes(ocrset.png(ocrset.render(sample, 300)))
        scan = tmp_path / f"{sample.name}-150-scan.jpg"
        ocrset.render(sample, 150, scanned=True).save(scan, quality=85, dpi=(150, 150))
        files += [(clean, [sample], 300, False), (scan, [sample], 150, True)]
    # Image-only PDFs (no text layer), one page per sample.
    for dpi, scanned in ((300, True), (150, False)):
        pdf = tmp_path / f"scan-{dpi}.pdf"
        pages = [ocrset.render(sample, dpi, scanned=scanned) for sample in samples]
        pdf.write_bytes(ocrset.image_pdf(pages, dpi))
        files.append((pdf, samples, dpi, scanned))

    imported = runner.invoke(app, ["import", *(str(path) for path, *_ in files)])
    assert imported.exit_code == 0, imported.output
    assert "not ingested" not in imported.output

    for path, expected, dpi, scanned in files:
        document = _show(path)
        assert document["title"] == path.name  # a file with no title is known by its name
        ocr = document["ocr"]
        assert ocr["engine"].startswith("tesseract 5") and ocr["reason"] is None
        assert ocr["pages"] == list(range(1, len(expected) + 1))
        assert 0 < ocr["confidence"] <= 100
        # Each page was read with the model of its script.
        models = {"Latn": "eng", "Hans": "chi_sim", "Hant": "chi_tra"}
        for detail, sample in zip(ocr["page_details"], expected, strict=True):
            assert detail["model"] == models[sample.script], (path.name, detail)
        reference = "\n".join(sample.text for sample in expected)
        rate = ocrset.cer(reference, document["text"])
        assert rate <= MAX_CER[dpi, scanned], (path.name, rate, document["text"])

    # `vestige show` says how the page was read.
    traditional = next(path for path, expected, *_ in files if expected[0].script == "Hant")
    shown = runner.invoke(app, ["show", _show(traditional)["id"]])
    assert "ocr:        tesseract 5" in shown.output and "pages 1 (chi_tra)" in shown.output

    # Exports carry the OCR text, its confidence and the pages OCR read.
    exported = _export(tmp_path / "ocr.jsonl", "jsonl")
    rows = {row["final_url"]: row for row in map(json.loads, exported.read_text().splitlines())}
    table = pq.read_table(_export(tmp_path / "ocr.parquet", "parquet"))
    parquet = dict(zip(table.column("final_url").to_pylist(), table.to_pylist(), strict=True))
    for path, expected, *_ in files:
        document = _show(path)
        row = rows[document["url"]]
        assert row["text"] == document["text"] and row["ocr_pages"] == document["ocr"]["pages"]
        assert row["ocr_confidence"] == document["ocr"]["confidence"] > 0
        assert row["extraction"] == ("pdf+ocr" if path.suffix == ".pdf" else "ocr")
        assert parquet[document["url"]]["ocr_pages"] == list(range(1, len(expected) + 1))
    assert str(table.schema.field("ocr_confidence").type) == "double"

    # Every page's distinctive phrase is found, on the embedded engine and on a cluster.
    ids = {path.name: _show(path)["id"] for path, *_ in files}
    expected_hits = {
        sample.phrase: {ids[path.name] for path, pages, *_ in files if sample in pages}
        for sample in samples
    }
    for engine in ("embedded", "opensearch"):
        if engine == "opensearch":
            monkeypatch.setenv("VESTIGE_SEARCH_URL", cluster_url)
            monkeypatch.setenv("VESTIGE_SEARCH_INDEX", f"vestige-test-{uuid.uuid4().hex[:12]}")
            get_settings.cache_clear()
            indexed = runner.invoke(app, ["index"])
            assert indexed.exit_code == 0, indexed.output
        try:
            for phrase, wanted in expected_hits.items():
                hits = _search_ids(phrase)
                assert wanted <= set(hits), (engine, phrase, wanted, hits)
                for hit_id in wanted:
                    hit = hits[hit_id]
                    assert hit["ocr"] is True and 0 < hit["ocr_confidence"] <= 100
                    assert "<mark>" in hit["snippet"]
        finally:
            if engine == "opensearch":
                backend = open_backend(get_settings())
                for index in backend.client.indices.get(index=f"{get_settings().search_index}-*"):
                    backend.client.indices.delete(index=index)
                backend.close()
                get_settings.cache_clear()


def test_chinese_in_columns_is_read_with_the_vertical_model(
    home: Settings, tmp_path: Path, corpus: Path, tesseract: None
) -> None:
    from ingest.ocr import installed_models

    if "chi_tra_vert" not in installed_models():
        missing_part("Tesseract's vertical Chinese", "apt-get install tesseract-ocr-chi-tra-vert")
    traditional = ocrset.samples(corpus)[2]
    page = tmp_path / "column-notice.png"
    page.write_bytes(ocrset.png(ocrset.render_vertical(traditional, 300)))
    imported = runner.invoke(app, ["import", str(page)])
    assert imported.exit_code == 0, imported.output
    document = _show(page)
    (detail,) = document["ocr"]["page_details"]
    assert detail["model"] == "chi_tra_vert", detail
    # Measured 0.107 (0.02 on another column page); read as rows by chi_tra: 1.0, nonsense.
    assert ocrset.cer(traditional.text, document["text"]) < 0.2
    assert document["id"] in _search_ids(traditional.phrase)
