"""Capturing over real HTTP on loopback: records, digests, revisits.

Also the helpers the other ``test_capture_*`` modules share: running the CLI,
setting variables, and reading back every WARC record after ``warcio check``.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import Result
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders

from archive.config import Settings, get_settings
from conftest import Route, WebServer, invoke


def vestige(*args: str) -> Result:
    """Run ``vestige ARGS`` in-process, whatever its exit code (captures skip ingest)."""
    if args and args[0] == "capture":
        args = ("capture", "--no-ingest", *args[1:])
    return invoke(*args, code=None)


def configure(monkeypatch: pytest.MonkeyPatch, **variables: object) -> Settings:
    """Set ``VESTIGE_<NAME>`` variables and re-read the settings."""
    for name, value in variables.items():
        monkeypatch.setenv(f"VESTIGE_{name.upper()}", str(value))
    get_settings.cache_clear()
    return get_settings()


def sha1(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def warcio_check(paths: list[Path | str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "warcio.cli", "check", "-v", *map(str, paths)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@dataclass
class Stored:
    """One record read back from a WARC file."""

    type: str
    headers: dict[str, str]
    http: StatusAndHeaders | None
    payload: bytes  # the raw bytes after the HTTP head, exactly as stored
    file: Path

    def __getitem__(self, name: str) -> str:
        return self.headers[name]


def warc_files(settings: Settings, collection: str = "default") -> list[Path]:
    directory = settings.warc_dir / collection
    return sorted(directory.iterdir()) if directory.exists() else []


def stored_records(
    settings: Settings, collection: str = "default", *, check: bool = True
) -> list[Stored]:
    """Every record of ``collection``, in file order, after ``warcio check`` passes."""
    files = warc_files(settings, collection)
    if files and check:
        warcio_check(files)
    records = []
    for path in files:
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                records.append(
                    Stored(
                        record.rec_type,
                        dict(record.rec_headers.headers),
                        record.http_headers,
                        record.raw_stream.read(),
                        path,
                    )
                )
    return records


def of_type(records: list[Stored], record_type: str) -> list[Stored]:
    return [r for r in records if r.type == record_type]


def test_capture_prints_location_and_second_capture_is_revisit(home, web: WebServer) -> None:
    url = web.route(
        "/a.html", Route(body=b"<title>A</title>hello", headers=[("Content-Type", "text/html")])
    )
    first = vestige("capture", url)
    assert first.exit_code == 0, first.output
    status, final, location, digest = first.output.split()[:4]
    assert (status, final) == ("200", url)
    assert location.startswith("default/") and ":" in location
    assert digest == sha1(b"<title>A</title>hello")
    second = vestige("capture", url)
    assert "(revisit)" in second.output
    listing = vestige("captures", url)
    lines = listing.output.strip().splitlines()
    assert len(lines) == 2 and "(revisit)" in lines[1] and digest in lines[0]
    types = [r.type for r in stored_records(home)]
    assert types == [
        *("warcinfo", "response", "request", "metadata"),  # first run's file
        *("warcinfo", "revisit", "request", "metadata"),
    ]


def test_printed_location_is_where_the_response_is(home, web: WebServer) -> None:
    url = web.route("/loc", Route(body=b"located"))
    done = vestige("capture", url)
    warc_file, offset = done.output.split()[2].rsplit(":", 1)
    with open(home.warc_dir / warc_file, "rb") as fh:
        fh.seek(int(offset))
        record = next(iter(ArchiveIterator(fh)))
        assert record.rec_type == "response"
        assert record.rec_headers.get_header("WARC-Target-URI") == url
        assert record.raw_stream.read() == b"located"


def test_fetched_is_called_once_after_every_hop_is_read_and_before_storing(
    home: Settings, web: WebServer
) -> None:
    from archive.capture import Capturer
    from archive.repository import Repository

    target = web.route("/target", Route(body=b"<p>after the redirect</p>"))
    start = web.route("/start", Route(status=302, headers=[("Location", target)]))
    repository = Repository(home)
    capturer = Capturer(repository)
    seen: list[tuple[list[str], int]] = []

    def fetched() -> None:  # what the server had answered, what the catalog holds
        seen.append((list(web.hits), len(repository.catalog.versions(target))))

    try:
        result = capturer.capture(start, fetched=fetched)
        refused = capturer.capture("ftp://example.org/file", fetched=fetched)
    finally:
        capturer.close()
        repository.close()
    assert result.ok and result.final_url == target
    assert seen == [(["/start", "/target"], 0)]  # once, both hops read, nothing stored yet
    assert not refused.ok  # nothing fetched: not called
