"""WARC files in an S3-compatible bucket (S3Proxy on loopback): written locally, closed,
verified, uploaded, then read back by byte range for replay, export and verify."""

# ruff: noqa: F811 - fixtures imported from s3tools

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from s3tools import Bucket, s3_bucket  # noqa: F401 - fixtures

from archive.config import Settings, get_settings
from archive.remote import RemoteWarcs, UploadError
from archive.repository import Repository
from conftest import Route, WebServer, vestige

sys.path.insert(0, str(Path(__file__).parents[1] / "api"))

from servicetools import service

PAGES = {
    f"/report/{n}": (
        f"<html><head><title>Report {n}</title></head><body><article><p>"
        + f"Witness statement number {n} about the detention centre. " * 20
        + "</p></article></body></html>"
    ).encode()
    for n in range(3)
}


@pytest.fixture
def bucket_home(home: Settings, s3_bucket: Bucket, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """``home`` with its WARC files kept in the bucket; files roll after every capture."""
    monkeypatch.setenv("VESTIGE_WARC_STORE", f"s3://{s3_bucket.name}/archive")
    monkeypatch.setenv("VESTIGE_WARC_MAX_SIZE", "1")
    get_settings.cache_clear()
    return get_settings()


def warcio_check(path: Path) -> None:
    warcio = Path(sys.executable).parent / "warcio"
    result = subprocess.run([str(warcio), "check", "-v", str(path)], capture_output=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_closed_files_move_to_the_bucket_and_read_back(
    bucket_home: Settings, s3_bucket: Bucket, web: WebServer, tmp_path: Path
) -> None:
    urls = {
        path: web.route(path, Route(body=body, headers=[("Content-Type", "text/html")]))
        for path, body in PAGES.items()
    }
    for url in urls.values():
        vestige("capture", url)

    # Nothing closed stays local; the bucket has every file, each a valid WARC.
    assert list(bucket_home.warc_dir.glob("*/*.warc.gz")) == []
    uploaded = sorted((s3_bucket.objects / "archive" / "default").glob("*.warc.gz"))
    assert len(uploaded) >= len(urls)
    for path in uploaded:
        warcio_check(path)
    assert "0 problems" in vestige("verify")

    # Records are read back from the bucket: the exact bytes served.
    repository = Repository(bucket_home)
    try:
        for path, url in urls.items():
            row = next(r for r in repository.catalog.versions(url) if r.record_type == "response")
            assert repository.store.size(row.warc_file) > 0
            bodies = [
                record.content_stream().read()
                for record in repository.store.read_record(repository.location(row))
            ]
            assert bodies == [PAGES[path]]
        assert len(list(repository.store.files())) == len(uploaded)
    finally:
        repository.close()

    # Replay and export read the same bytes.
    with service(bucket_home) as client:
        page = client.get(f"/web/2100id_/{urls['/report/1']}", follow_redirects=True)
    assert page.status_code == 200
    assert page.content == PAGES["/report/1"]
    exported = tmp_path / "export.wacz"
    vestige("export", "--all", "--format", "wacz", "--output", str(exported))
    with zipfile.ZipFile(exported) as package:
        names = [name for name in package.namelist() if name.endswith(".warc.gz")]
        assert names
        (tmp_path / "out.warc.gz").write_bytes(package.read(names[0]))
    warcio_check(tmp_path / "out.warc.gz")


def test_a_damaged_file_stays_local(bucket_home: Settings, s3_bucket: Bucket) -> None:
    """A closed file that does not verify is never uploaded (nor removed)."""
    body = b"<html>statement</html>"
    record = (
        b"WARC/1.1\r\nWARC-Type: resource\r\nWARC-Record-ID: <urn:uuid:0>\r\n"
        b"WARC-Target-URI: https://example.org/\r\nWARC-Date: 2024-01-01T00:00:00Z\r\n"
        b"WARC-Block-Digest: sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n"
        b"Content-Type: text/html\r\nContent-Length: %d\r\n\r\n%s\r\n\r\n" % (len(body), body)
    )
    damaged = bucket_home.warc_dir / "default" / "damaged.warc.gz"
    damaged.parent.mkdir(parents=True)
    import gzip

    damaged.write_bytes(gzip.compress(record))
    remote = RemoteWarcs(bucket_home.warc_store or "", cache=bucket_home.home / "cache")
    with pytest.raises(UploadError, match="not an intact WARC"):
        remote.upload(damaged, "default/damaged.warc.gz")
    assert damaged.exists()
    assert not remote.exists("default/damaged.warc.gz")
