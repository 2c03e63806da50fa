"""Exports round trips over a real archive: read back with json, csv, pyarrow/pandas/DuckDB,
warcio and the wacz validator, and compare every field and digest with the catalog."""

# ruff: noqa: RUF001 - Chinese text has full-width punctuation

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas
import pyarrow.parquet as pq
import pytest
from archive_tools import build_archive, catalog_documents
from warcio.archiveiterator import ArchiveIterator

from api.export.exporter import run_export
from api.export.selection import FIELDS, DocumentSource, Selection, Versions
from archive.config import get_settings
from archive.repository import Repository
from archive.store import Location
from conftest import Route, WebServer
from conftest import invoke as vestige

HTML_TYPE = ("Content-Type", "text/html; charset=utf-8")

PUBLIC = "https://archive.example.org"


@pytest.fixture
def archive(home, web: WebServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VESTIGE_PUBLIC_URL", PUBLIC)
    get_settings.cache_clear()
    return build_archive(web)


def export(tmp_path: Path, name: str, *args: str) -> Path:
    path = tmp_path / name
    vestige("export", *args, "--output", str(path))
    return path


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def stored_bytes(location: Location) -> bytes:
    repository = Repository(get_settings())
    try:
        with repository.store.open_record(location) as stream:
            return stream.read()
    finally:
        repository.close()


def test_relations_are_exported_with_direction_and_status(archive, tmp_path: Path) -> None:
    vestige("relate", archive.report, "covers", archive.chinese, "--note", "reported on it")
    rows = {row["final_url"]: row for row in jsonl(export(tmp_path, "r.jsonl", "--all"))}
    report, chinese = rows[archive.report], rows[archive.chinese]
    assert report["relations"] == [
        {"type": "covers", "id": chinese["id"], "direction": "outgoing", "status": "confirmed"}
    ]
    assert chinese["relations"] == [
        {"type": "covers", "id": report["id"], "direction": "incoming", "status": "confirmed"}
    ]
    table = pq.read_table(export(tmp_path, "r.parquet", "--all", "--format", "parquet"))
    urls, relations = table.column("final_url").to_pylist(), table.column("relations").to_pylist()
    by_url = dict(zip(urls, relations, strict=True))
    assert by_url[archive.report] == report["relations"]


def test_jsonl_has_every_field_as_in_the_catalog(archive, tmp_path: Path) -> None:
    path = export(tmp_path, "all.jsonl", "--all", "--versions", "all")
    rows = jsonl(path)
    documents, records = catalog_documents()
    assert len(rows) == len(documents) == 4  # english twice (a revisit), chinese, report
    assert [(r["final_url"], r["captured"], r["id"]) for r in rows] == sorted(
        (r["final_url"], r["captured"], r["id"]) for r in rows
    )
    for row in rows:
        assert list(row) == list(FIELDS)
        document = documents[row["id"]]
        record = records[document.record_id]
        assert row["final_url"] == document.url == record.url
        assert row["captured"] == document.captured.isoformat() + "Z"
        for name in ("title", "published", "site", "language", "script", "text"):
            assert row[name] == getattr(document, name), name
        assert row["text_simplified"] == document.text_simplified
        assert row["authors"] == document.authors and row["word_count"] == document.word_count
        assert row["relations"] == []
        assert row["warc_record_id"] == record.record_id
        assert (row["warc_file"], row["warc_offset"], row["warc_length"]) == (
            record.warc_file,
            record.offset,
            record.length,
        )
        assert row["payload_digest"] == record.payload_digest
        stamp = document.captured.strftime("%Y%m%d%H%M%S")
        assert row["archived_url"] == f"{PUBLIC}/web/{stamp}/{document.url}"
    by_url = {row["final_url"]: row for row in rows}
    assert by_url[archive.report]["url"] == archive.redirect  # asked for, then redirected
    assert by_url[archive.chinese]["url"] == archive.chinese
    chinese = by_url[archive.chinese]
    assert chinese["language"] == "zh" and "，" in chinese["text"] and '"' in chinese["text"]
    assert "第三段记录了证人的证词" in chinese["text_simplified"]
    assert [r["final_url"] for r in rows].count(archive.english) == 2

    manifest = json.loads((tmp_path / "all.jsonl.manifest.json").read_text())
    assert manifest["documents"] == 4 and manifest["selection"]["everything"] is True
    assert manifest["counts"]["language"] == {"en": 3, "zh": 1}
    assert manifest["files"][0]["path"] == "all.jsonl"
    assert manifest["files"][0]["bytes"] == path.stat().st_size
    assert list(manifest["fields"]) == list(FIELDS)
    readme = (tmp_path / "all.jsonl.README.md").read_text()
    assert manifest["files"][0]["sha256"] in readme and "Exported:" in readme
    # The dictionaries of cross-language search, with their licences.
    assert "CC-CEDICT (MDBG, CC BY-SA 4.0)" in readme and "names.tsv" in readme
    assert any("CC-CEDICT" in licence for licence in manifest["dictionaries"])


def test_latest_versions_keep_the_newest_capture_of_each_url(archive, tmp_path: Path) -> None:
    rows = jsonl(export(tmp_path, "latest.jsonl", "--collection", "reports"))
    assert sorted(r["final_url"] for r in rows) == sorted(
        [archive.english, archive.chinese, archive.report]
    )
    everything = jsonl(export(tmp_path, "every.jsonl", "--all", "--versions", "all"))
    english = [r for r in everything if r["final_url"] == archive.english]
    newest = max(english, key=lambda r: r["captured"])
    assert next(r for r in rows if r["final_url"] == archive.english) == newest


def test_csv_round_trip_keeps_chinese_quotes_and_newlines(archive, tmp_path: Path) -> None:
    rows = jsonl(export(tmp_path, "all.jsonl", "--all", "--versions", "all"))
    path = export(tmp_path, "all.csv", "--all", "--versions", "all", "--format", "csv", "--bom")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfid,url,final_url,captured,") and b"\r\n" in raw
    with open(path, encoding="utf-8-sig", newline="") as fh:
        read = list(csv.DictReader(fh))
    assert len(read) == len(rows)
    for expected, got in zip(rows, read, strict=True):
        for name, value in expected.items():
            if value is None:
                value = ""
            elif isinstance(value, list):
                value = json.dumps(value, ensure_ascii=False)
            assert got[name] == str(value), name
    chinese = next(r for r in read if r["language"] == "zh")
    assert "\n" in chinese["text"] and '"' in chinese["text"] and "," in chinese["text"]
    plain = export(tmp_path, "plain.csv", "--all", "--format", "csv")
    assert not plain.read_bytes().startswith(b"\xef\xbb\xbf")


def test_fields_choose_and_order_columns(archive, tmp_path: Path) -> None:
    rows = jsonl(export(tmp_path, "few.jsonl", "--all", "--fields", "title,id,text"))
    assert all(list(row) == ["title", "id", "text"] for row in rows)
    rows = jsonl(export(tmp_path, "notext.jsonl", "--all", "--without-text"))
    assert all("text" not in row and "text_simplified" not in row for row in rows)
    assert all(list(row)[:3] == ["id", "url", "final_url"] for row in rows)
    result = vestige("export", "--all", "--fields", "id,colour", "-o", str(tmp_path / "x"), code=2)
    assert "unknown field colour" in result.output


def test_parquet_has_typed_columns_read_by_pyarrow_pandas_and_duckdb(archive, tmp_path) -> None:
    rows = jsonl(export(tmp_path, "all.jsonl", "--all", "--versions", "all"))
    path = export(tmp_path, "all.parquet", "--all", "--versions", "all", "--format", "parquet")
    parquet = pq.ParquetFile(path)
    schema = parquet.schema_arrow
    assert schema.names == list(FIELDS)
    assert str(schema.field("captured").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("authors").type) == "list<element: string>"
    assert str(schema.field("relations").type).startswith("list<element: struct<type: string")
    assert str(schema.field("word_count").type) == "int64"
    assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"
    table = parquet.read().to_pylist()
    for expected, got in zip(rows, table, strict=True):
        captured = got.pop("captured")
        assert captured.tzinfo is not None
        assert captured.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z" == (
            expected.pop("captured")
        )
        assert got == expected
    frame = pandas.read_parquet(path)
    assert list(frame.columns) == list(FIELDS) and len(frame) == len(rows)
    assert str(frame["captured"].dtype).startswith("datetime64")
    found = duckdb.sql(
        f"SELECT title, len(authors) FROM read_parquet('{path}') WHERE language = 'zh'"
    ).fetchall()
    assert found == [(next(r["title"] for r in rows if r["language"] == "zh"), 0)]


def test_warc_export_copies_original_records(archive, tmp_path: Path) -> None:
    path = export(tmp_path, "all.warc.gz", "--all", "--versions", "all", "--format", "warc")
    check = subprocess.run(
        [sys.executable, "-m", "warcio.cli", "check", str(path)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    documents, records = catalog_documents()
    raw = path.read_bytes()
    seen: list[tuple[str, str]] = []
    with open(path, "rb") as fh:
        iterator = ArchiveIterator(fh)
        for record in iterator:
            record.content_stream().read()
            kind = record.rec_headers.get_header("WARC-Type")
            record_id = record.rec_headers.get_header("WARC-Record-ID")
            seen.append((kind, record_id))
            if kind == "warcinfo":
                continue
            start, length = iterator.get_record_offset(), iterator.get_record_length()
            stored = records[record_id]
            # The gzip member exactly as stored: same bytes, hence same digests.
            assert raw[start : start + length] == stored_bytes(
                Location(stored.warc_file, stored.offset, stored.length)
            )
            assert record.rec_headers.get_header("WARC-Payload-Digest") == stored.payload_digest
    assert seen[0][0] == "warcinfo"
    ids = [record_id for _, record_id in seen]
    for document in documents.values():
        assert document.record_id in ids
        if document.revisit_of:
            # The record holding a revisit's payload comes with it, before it.
            assert ids.index(document.revisit_of) < ids.index(document.record_id)
    kinds = {kind for kind, _ in seen}
    assert {"response", "revisit", "request", "metadata"} <= kinds
    redirect = next(r for r in records.values() if r.url == archive.redirect)
    assert redirect.record_id in ids  # the whole capture, redirect hop included
    assert len(ids) == len(set(ids))


def wacz_validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wacz", "validate", "-f", str(path)], capture_output=True, text=True
    )


def test_wacz_is_valid_with_sorted_index_pointing_at_records(archive, tmp_path) -> None:
    path = export(tmp_path, "all.wacz", "--all", "--versions", "all", "--format", "wacz")
    result = wacz_validate(path)
    assert result.returncode == 0 and "is valid" in result.stdout, result.stdout + result.stderr
    documents, records = catalog_documents()
    with zipfile.ZipFile(path) as package:
        names = package.namelist()
        assert names[:3] == ["archive/data.warc.gz", "indexes/index.cdxj", "pages/pages.jsonl"]
        warc = package.read("archive/data.warc.gz")
        index = package.read("indexes/index.cdxj").decode().splitlines()
        pages = [json.loads(line) for line in package.read("pages/pages.jsonl").splitlines()]
        assert package.getinfo("archive/data.warc.gz").compress_type == zipfile.ZIP_STORED
    assert index == sorted(index)
    for line in index:
        surt, stamp, data = line.split(" ", 2)
        entry = json.loads(data)
        member = warc[int(entry["offset"]) : int(entry["offset"]) + int(entry["length"])]
        record = next(ArchiveIterator(io.BytesIO(member)))
        assert record.rec_headers.get_header("WARC-Target-URI") == entry["url"]
        stored = records[record.rec_headers.get_header("WARC-Record-ID")]
        assert (stored.surt, stored.timestamp.strftime("%Y%m%d%H%M%S")) == (surt, stamp)
        assert entry["filename"] == "data.warc.gz"
    assert pages[0]["format"] == "json-pages-1.0"
    assert sorted(p["id"] for p in pages[1:]) == sorted(documents)


def test_bundle_holds_captures_dataset_and_datasheet_signed(archive, tmp_path: Path) -> None:
    dataset = export(tmp_path, "all.jsonl", "--all")
    key = tmp_path / "key.pem"
    path = tmp_path / "bundle.wacz"
    result = vestige(
        "export", "--all", "-f", "bundle", "--sign", "--key", str(key), "-o", str(path)
    )
    assert "created signing key" in result.output and key.exists()
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    validation = wacz_validate(path)
    assert validation.returncode == 0, validation.stdout + validation.stderr
    with zipfile.ZipFile(path) as package:
        assert package.read("dataset/documents.jsonl") == dataset.read_bytes()
        table = pq.read_table(io.BytesIO(package.read("dataset/documents.parquet")))
        manifest = json.loads(package.read("dataset/manifest.json"))
        assert "# Vestige export" in package.read("dataset/README.md").decode()
    assert table.num_rows == len(jsonl(dataset)) == manifest["documents"]
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert set(listed) == {"dataset/documents.jsonl", "dataset/documents.parquet"}
    verified = vestige("verify-export", str(path))
    assert "signature valid" in verified.output and "0 problems" in verified.output

    other = tmp_path / "other.pem"
    vestige("export", "--all", "-f", "wacz", "--sign", "--key", str(other), "-o",
            str(tmp_path / "x.wacz"), code=None)  # fmt: skip
    public = tmp_path / "other.pub.pem"
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key(other.read_bytes(), None)
    public.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    wrong = vestige("verify-export", str(path), "--public-key", str(public), code=1)
    assert "different key" in wrong.output

    # A changed dataset file no longer matches the package.
    tampered = tmp_path / "tampered.wacz"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tampered, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "dataset/documents.jsonl":
                data = data.replace(b"tribunal", b"tribunax")
            target.writestr(info, data)
    failed = vestige("verify-export", str(tampered), code=1)
    assert "dataset/documents.jsonl: SHA-256 differs" in failed.output


def test_unsigned_package_verifies_without_signature(archive, tmp_path: Path) -> None:
    path = export(tmp_path, "p.wacz", "--all", "--format", "wacz")
    result = vestige("verify-export", str(path))
    assert "not signed" in result.output and "0 problems" in result.output
    with zipfile.ZipFile(path) as package:
        digest = json.loads(package.read("datapackage-digest.json"))
    assert "signedData" not in digest


def _run(tmp_path: Path, fmt: str, name: str, *, stop_after: int | None = None,
         resume: bool = False) -> Path:  # fmt: skip
    """Export through the Python API, one document per batch; interrupt after some."""
    repository = Repository(get_settings())
    written = 0

    def progress(count: int) -> None:
        nonlocal written
        written += count
        if stop_after is not None and written >= stop_after:
            raise KeyboardInterrupt

    selection = Selection(everything=True, versions=Versions.all)
    try:
        with DocumentSource(repository.catalog, selection, base_url=PUBLIC, batch=1) as source:
            run_export(
                repository,
                source,
                fmt,
                tmp_path / name,
                fields=list(FIELDS),
                resume=resume,
                exported_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
                progress=progress,
            )
    finally:
        repository.close()
    return tmp_path / name


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "warc", "bundle"])
def test_interrupted_export_resumes_to_the_same_bytes(archive, tmp_path, fmt: str) -> None:
    whole = _run(tmp_path, fmt, "whole")
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, fmt, "resumed", stop_after=2)
    assert not (tmp_path / "resumed").exists()
    state = json.loads((tmp_path / "resumed.partial.state").read_text())
    assert state["documents"] == 2
    # What a crash mid-batch leaves: bytes past the last saved state.
    part = tmp_path / ("resumed.partial" if fmt != "bundle" else "resumed.partial.d/archive")
    with open(part, "ab") as fh:
        fh.write(b'{"half a rec')
    _run(tmp_path, fmt, "resumed", resume=True)
    assert (tmp_path / "resumed").read_bytes() == whole.read_bytes()
    assert not (tmp_path / "resumed.partial").exists()
    assert not (tmp_path / "resumed.partial.state").exists()
    assert not (tmp_path / "resumed.partial.d").exists()


def test_exports_of_the_same_selection_are_deterministic(archive, tmp_path: Path) -> None:
    for fmt in ("jsonl", "parquet", "wacz"):
        first = export(tmp_path, f"a.{fmt}", "--all", "--format", fmt)
        second = export(tmp_path, f"b.{fmt}", "--all", "--format", fmt)
        if fmt != "wacz":
            assert first.read_bytes() == second.read_bytes()
            continue
        with zipfile.ZipFile(first) as one, zipfile.ZipFile(second) as two:
            for name in ("archive/data.warc.gz", "indexes/index.cdxj", "pages/pages.jsonl"):
                assert one.read(name) == two.read(name)


def test_query_selection_goes_through_the_search_engine(archive, tmp_path: Path) -> None:
    rows = jsonl(export(tmp_path, "q.jsonl", "tribunal", "--versions", "all"))
    assert {r["final_url"] for r in rows} == {archive.english} and len(rows) == 2
    rows = jsonl(export(tmp_path, "zh.jsonl", "法庭"))
    assert [r["final_url"] for r in rows] == [archive.chinese]
    rows = jsonl(export(tmp_path, "c.jsonl", "detentions", "--collection", "reports"))
    assert [r["url"] for r in rows] == [archive.redirect]
    empty = vestige(
        "export", "tribunal", "--collection", "other", "-o", str(tmp_path / "e"), code=1
    )
    assert "nothing to export" in empty.output
    bad = vestige("export", '"unbalanced', "-o", str(tmp_path / "b.jsonl"), code=2)
    assert "bad query" in bad.output


def test_clear_errors_and_no_file_under_the_final_name(archive, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = vestige("export", "--all", "--format", "xml", "-o", str(out), code=2)
    assert "unknown format 'xml'" in result.output
    result = vestige("export", "--all", "--format", "csv", "--sign", "-o", str(out), code=2)
    assert "--sign applies to the wacz and bundle formats" in result.output
    result = vestige("export", "-o", str(out), code=2)
    assert "choose what to export" in result.output
    result = vestige("export", "--collection", "nothing-here", "-o", str(out), code=1)
    assert "nothing to export" in result.output
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = vestige("export", "--all", "-o", str(blocker / "out.jsonl"), code=1)
    assert "does not exist" in result.output
    result = vestige("export", "--all", "-o", str(tmp_path), code=1)
    assert "is a folder" in result.output
    # A real full disk: the partial file is the kernel's /dev/full.
    (tmp_path / "out.jsonl.partial").symlink_to("/dev/full")
    result = vestige("export", "--all", "-o", str(out), code=1)
    assert "disk full while writing" in result.output and "--resume" in result.output
    assert not out.exists()
    (tmp_path / "out.jsonl.partial").unlink()
    vestige("export", "--all", "-o", str(out))
    result = vestige("export", "--all", "--format", "csv", "-o", str(out), "--resume")
    assert "nothing to resume" in result.output


def test_resume_refuses_different_options(archive, tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, "jsonl", "out.jsonl", stop_after=1)
    result = vestige(
        "export", "--collection", "reports", "-o", str(tmp_path / "out.jsonl"), "--resume", code=1
    )
    assert "different selection" in result.output
    result = vestige(
        "export", "--all", "--versions", "all", "-f", "csv", "-o", str(tmp_path / "out.jsonl"),
        "--resume", code=1,
    )  # fmt: skip
    assert "different format" in result.output


def indexed(lines: list[str]) -> set[tuple[str, str, str, str]]:
    """(SURT key, timestamp, digest, status) of each CDXJ line."""
    out = set()
    for line in lines:
        key, stamp, data = line.split(" ", 2)
        entry = json.loads(data)
        out.add((key, stamp, entry["digest"], entry["status"]))
    return out


def test_every_cdxj_output_matches_cdxj_indexer(archive, corpus: Path, tmp_path: Path) -> None:
    """``captures --format cdxj``, ``vestige cdxj`` and the WACZ index key records as the
    cdxj-indexer pywb and py-wacz use does on the same WARC files: IP hosts reversed,
    ``sha1:`` digests (loopback captures and an imported corpus WARC)."""
    vestige("import", str(corpus / "warc" / "pywb" / "example.warc.gz"))
    warcs = sorted(str(path) for path in (get_settings().home / "warcs").rglob("*.warc.gz"))
    indexer = Path(sys.executable).with_name("cdxj-indexer")
    reference = indexed(
        subprocess.run([indexer, *warcs], capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()
    )
    assert any(key.startswith("1,0,0,127:") for key, *_ in reference)  # the loopback captures
    assert any(key.startswith("com,example)/") for key, *_ in reference)  # the corpus WARC
    index = tmp_path / "index.cdxj"
    vestige("cdxj", "--output", str(index))
    whole = indexed(index.read_text(encoding="utf-8").splitlines())
    assert whole and whole <= reference, whole - reference
    captured = set()
    for url in (archive.english, archive.chinese, archive.report, "http://example.com?example=1"):
        lines = vestige("captures", url, "--format", "cdxj").output.strip().splitlines()
        captured |= indexed(lines)
    assert captured and captured <= reference, captured - reference
    package = export(tmp_path, "all.wacz", "--all", "--versions", "all", "--format", "wacz")
    with zipfile.ZipFile(package) as wacz:
        packed = indexed(wacz.read("indexes/index.cdxj").decode().splitlines())
    assert packed and packed <= reference, packed - reference


def test_csv_text_can_be_cut_for_spreadsheets_and_says_so(home, web: WebServer, corpus, tmp_path):
    """A long real article (Wikipedia, ~28,000 characters): CSV cut to N with the datasheet
    saying so; JSON Lines keeps the whole text; the option is refused for other formats."""
    source = corpus / "en" / "readability" / "wikipedia" / "source.html"
    url = web.route("/wiki/Mozilla", Route(body=source.read_bytes(), headers=[HTML_TYPE]))
    vestige("capture", url)
    whole = jsonl(export(tmp_path, "all.jsonl", "--all"))[0]["text"]
    assert len(whole) > 20_000
    path = export(tmp_path, "cut.csv", "--all", "-f", "csv", "--text-max-chars", "10000")
    csv.field_size_limit(10_500)  # well under the text: a longer cell would raise
    try:
        [row] = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    finally:
        csv.field_size_limit(131_072)
    assert row["text"] == whole[:10_000]
    readme = path.with_name("cut.csv.README.md").read_text(encoding="utf-8")
    assert "cut to their first 10,000 characters" in readme and "jsonl" in readme
    manifest = json.loads(path.with_name("cut.csv.manifest.json").read_text(encoding="utf-8"))
    assert manifest["text_max_chars"] == 10_000
    refused = vestige("export", "--all", "-f", "jsonl", "--text-max-chars", "5", "-o",
                      str(tmp_path / "x.jsonl"), code=2)  # fmt: skip
    assert "applies to csv only" in refused.output


def test_signed_packages_are_checked_by_verify_export_not_wacz_verify_auth(
    archive, tmp_path: Path
) -> None:
    """py-wacz's ``--verify-auth`` checks only domain-signed packages; Vestige's anonymous
    signatures are checked by ``vestige verify-export``, as the README says."""
    path = tmp_path / "signed.wacz"
    vestige("export", "--all", "-f", "wacz", "--sign", "--key", str(tmp_path / "k.pem"),
            "-o", str(path))  # fmt: skip
    auth = subprocess.run(
        [sys.executable, "-m", "wacz", "validate", "--verify-auth", "-f", str(path)],
        capture_output=True,
        text=True,
    )
    # Not valid to py-wacz (if it learns anonymous signatures, update the README).
    assert auth.returncode != 0 or "is invalid" in auth.stdout, auth.stdout
    assert "signature valid" in vestige("verify-export", str(path)).output
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    signing = readme[readme.index("**Signing.**") :].split("\n\n")[0]
    assert "--verify-auth" in signing and "vestige verify-export" in signing
