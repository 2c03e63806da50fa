"""``GET /api/v1/export``: the same bytes as the command, streamed, with clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from archive_tools import build_archive
from typer.testing import CliRunner

from api.cli import app
from api.export.exporter import FORMATS
from archive.config import Settings, get_settings
from archive.repository import Repository
from conftest import WebServer
from search import indexer
from search.engine import open_backend

sys.path.insert(0, str(Path(__file__).parents[1] / "api"))

from servicetools import service

sys.path.insert(0, str(Path(__file__).parents[1] / "search"))

from searchtools import cluster_url, search_home  # noqa: F401 - fixtures

runner = CliRunner()


@pytest.fixture
def client(home, web: WebServer):
    build_archive(web)
    with service(get_settings()) as client:
        yield client


def cli_export(tmp_path: Path, name: str, *args: str) -> bytes:
    path = tmp_path / name
    result = runner.invoke(app, ["export", *args, "-o", str(path)])
    assert result.exit_code == 0, result.output
    return path.read_bytes()


def download(client, **params) -> tuple[dict, bytes, int]:
    chunks = []
    with client.stream("GET", "/api/v1/export", params=params) as response:
        assert response.status_code == 200, response.read()
        chunks = list(response.iter_bytes())
        return dict(response.headers), b"".join(chunks), len(chunks)


def test_streams_the_same_bytes_as_the_command(client, tmp_path: Path) -> None:
    headers, body, _ = download(client, all="true", versions="all")
    assert headers["content-disposition"] == 'attachment; filename="vestige-export.jsonl"'
    assert headers["content-type"].startswith("application/x-ndjson")
    assert body == cli_export(tmp_path, "a.jsonl", "--all", "--versions", "all")
    headers, body, _ = download(client, all="true", format="csv", bom="true")
    assert headers["content-disposition"].endswith('vestige-export.csv"')
    assert body == cli_export(tmp_path, "a.csv", "--all", "--format", "csv", "--bom")
    _, body, _ = download(client, q="tribunal", fields="id,title", format="jsonl")
    assert [json.loads(line)["title"] for line in body.splitlines()] == ["Court hears testimony"]
    _, body, _ = download(client, collection="reports", format="warc")
    assert body == cli_export(tmp_path, "a.warc.gz", "--collection", "reports", "-f", "warc")
    _, body, _ = download(client, all="true", format="parquet", with_text="false")
    assert body == cli_export(tmp_path, "a.parquet", "--all", "-f", "parquet", "--without-text")


def test_packages_download_and_validate(client, tmp_path: Path) -> None:
    for fmt in ("wacz", "bundle"):
        headers, body, _ = download(client, all="true", format=fmt)
        assert headers["content-disposition"] == 'attachment; filename="vestige-export.wacz"'
        path = tmp_path / f"{fmt}.wacz"
        path.write_bytes(body)
        result = subprocess.run(
            [sys.executable, "-m", "wacz", "validate", "-f", str(path)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_errors_are_json(client) -> None:
    cases = [
        ({"all": "true", "format": "xml"}, 400, "unknown format 'xml'"),
        ({}, 400, "choose what to export"),
        ({"collection": "nothing-here"}, 404, "nothing to export"),
        ({"q": '"unbalanced'}, 400, "bad query"),
        ({"all": "true", "fields": "id,colour"}, 400, "unknown field colour"),
    ]
    for params, status, message in cases:
        response = client.get("/api/v1/export", params=params)
        assert response.status_code == status, response.text
        assert message in response.json()["error"]["message"]


def test_query_exports_on_both_engines_every_format(
    search_home: Settings,  # noqa: F811 - the fixture
    web: WebServer,
) -> None:
    """A query export in every format: 404 for no match, the match for one (no thread misuse).

    The query's keys sit in a temporary SQLite file opened in one worker thread; the
    response is produced (and the file closed) in others.
    """
    build_archive(web, index=False)
    with open_backend(search_home) as backend:
        indexer.sync(backend, Repository(search_home).catalog)
    with service(search_home) as client:
        for fmt in FORMATS:
            response = client.get("/api/v1/export", params={"q": "zzzqqq", "format": fmt})
            assert response.status_code == 404, (fmt, response.text)
            assert "nothing to export" in response.json()["error"]["message"]
            _, body, _ = download(client, q="tribunal", format=fmt)
            assert body, fmt
        _, body, _ = download(client, q="tribunal", format="jsonl", fields="title")
        assert [json.loads(line)["title"] for line in body.splitlines()] == [
            "Court hears testimony"
        ]
