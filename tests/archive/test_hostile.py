"""Hostile and careless input to `vestige import`: bounded work, short clear errors,
good records before them kept (the timings are in benchmarks/hostile.py)."""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
import uuid
import zipfile
import zlib
from pathlib import Path

import pytest
from test_import import runner, warc_files

from api.cli import app
from archive.config import Settings
from archive.importer import HEADER_LIMIT, MESSAGE_LIMIT, brief

MiB = 1024 * 1024


def record(url: str, body: bytes = b"body", status_line: bytes = b"HTTP/1.1 200 OK") -> bytes:
    http = status_line + b"\r\nContent-Type: application/octet-stream\r\n\r\n" + body
    return (
        b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:%s>\r\n"
        b"WARC-Date: 2024-01-02T03:04:05Z\r\nWARC-Target-URI: %s\r\n"
        b"Content-Type: application/http; msgtype=response\r\nContent-Length: %d\r\n\r\n"
        % (str(uuid.uuid5(uuid.NAMESPACE_URL, url)).encode(), url.encode(), len(http))
        + http
        + b"\r\n\r\n"
    )


def gzip_of(block: bytes, total: int) -> bytes:
    """A gzip member of ``block`` repeated to ``total`` bytes, made in little memory."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    piece = block * (MiB // len(block))
    return b"".join(packer.compress(piece) for _ in range(total // MiB)) + packer.flush()


def wacz(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in members.items():
            package.writestr(name, data)
    return path


PACKAGE = json.dumps({"profile": "data-package", "resources": []}).encode()


def vestige_import(*paths: Path):
    return runner.invoke(app, ["import", "--no-ingest", *map(str, paths)])


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.warc.gz"
    path.write_bytes(gzip.compress(record("http://good.example/")))
    return path


def assert_refused(done, path: Path, reason: str) -> str:
    """The error line about ``path``: says ``reason``, short, no raw control bytes."""
    assert done.exit_code != 0, done.output
    lines = [line for line in done.stderr.splitlines() if line.startswith(f"error: {path}")]
    assert len(lines) == 1, done.stderr
    assert reason in lines[0]
    assert len(lines[0]) <= MESSAGE_LIMIT
    assert lines[0].isprintable()
    assert len(done.stderr) < 2000  # nothing else floods it
    return lines[0]


def assert_verify_clean() -> None:
    verified = runner.invoke(app, ["verify"])
    assert verified.exit_code == 0, verified.output


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        # 16 KiB of gzip expanding to 16 MiB of zeros, not a WARC (a gzip bomb)
        ("bomb.warc.gz", gzip_of(b"\0", 16 * MiB), "no record header ends within 64 KiB"),
        ("newlines.warc.gz", gzip_of(b"\n", 16 * MiB), "not a WARC record"),
        ("spaces.warc.gz", gzip_of(b" ", 16 * MiB), "more than 64 KiB of blank lines"),
        ("zeros.warc", bytes(8 * MiB), "no record header ends within 64 KiB"),
        (
            "endless-header.warc.gz",
            gzip.compress(b"WARC/1.0\r\n" + b"X-Padding: aaaaaaaa\r\n" * 400_000),
            "no record header ends within 64 KiB",
        ),
        (
            "endless-http-head.warc",
            record("http://h.example/", status_line=b"HTTP/1.1 200 " + b"O" * 4 * MiB),
            "no record header ends within 64 KiB",
        ),
        ("empties.warc.gz", gzip.compress(b"") * 5000, "more than 1000 empty gzip members"),
        ("empty.warc", b"", "the file is empty"),
        ("empty.warc.gz", b"", "the file is empty"),
        ("blank.warc.gz", gzip.compress(b""), "the file holds only empty gzip"),
        ("escapes.warc", b"\x1b[2J\x1b]0;owned\x07\xff\xfe" * 40 + b"\n", "unknown archive format"),
        ("random.warc.gz", random.Random(10).randbytes(3000), "unknown archive format"),
    ],
)
def test_hostile_files_are_refused_and_the_good_one_kept(
    home: Settings, tmp_path: Path, good: Path, name: str, content: bytes, reason: str
) -> None:
    hostile = tmp_path / name
    hostile.write_bytes(content)
    done = vestige_import(good, hostile)
    assert f"{good}: 1 records imported" in done.stdout
    line = assert_refused(done, hostile, reason)
    if name == "escapes.warc":
        assert "\x1b" not in done.stderr and "\\x1b[2J" in line
    if name.startswith(("escapes", "random")):  # a short excerpt of the bytes, escaped
        assert line.replace("…", "").isascii() and "first line: b" in line, line
    assert_verify_clean()


def test_zeros_inside_a_wacz_are_refused(home: Settings, tmp_path: Path, good: Path) -> None:
    package = wacz(
        tmp_path / "zeros.wacz",
        {"datapackage.json": PACKAGE, "archive/data.warc": bytes(8 * MiB)},
    )
    done = vestige_import(good, package)
    assert f"{good}: 1 records imported" in done.stdout
    assert_refused(done, package, "no record header ends within 64 KiB")
    bomb = wacz(
        tmp_path / "bomb.wacz",
        {"datapackage.json": PACKAGE, "archive/data.warc.gz": gzip_of(b"\0", 16 * MiB)},
    )
    assert_refused(vestige_import(bomb), bomb, "no record header ends within 64 KiB")
    assert_verify_clean()


def test_a_datapackage_bomb_is_refused(home: Settings, tmp_path: Path) -> None:
    package = tmp_path / "bomb.wacz"
    with (
        zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED) as zipped,
        zipped.open("datapackage.json", "w", force_zip64=True) as member,
    ):
        for _ in range(20):
            member.write(b" " * MiB)
    done = vestige_import(package)
    assert done.exit_code == 2
    assert "datapackage.json is over 16 MiB" in done.stderr


def test_unsafe_wacz_member_names_are_named_in_a_warning(home: Settings, tmp_path: Path) -> None:
    package = wacz(
        tmp_path / "names.wacz",
        {
            "datapackage.json": PACKAGE,
            "archive/data.warc": record("http://fine.example/"),
            "archive/../../escape.warc": record("http://escape.example/"),
            "/archive/absolute.warc": record("http://absolute.example/"),
        },
    )
    done = vestige_import(package)
    assert done.exit_code == 0, done.output
    assert f"{package}!archive/data.warc: 1 records imported" in done.stdout
    warning = next(line for line in done.stderr.splitlines() if line.startswith("warning:"))
    assert "unsafe names" in warning
    assert "'archive/../../escape.warc'" in warning and "'/archive/absolute.warc'" in warning
    only_unsafe = wacz(
        tmp_path / "unsafe.wacz",
        {"datapackage.json": PACKAGE, "archive/../x.warc": record("http://x.example/")},
    )
    refused = vestige_import(only_unsafe)
    assert refused.exit_code == 2 and "skipped as unsafe: 'archive/../x.warc'" in refused.stderr


def test_a_large_record_without_line_ends_still_streams(home: Settings, tmp_path: Path) -> None:
    # Bodies are not headers: no limit applies to them.
    path = tmp_path / "large.warc.gz"
    path.write_bytes(gzip.compress(record("http://large.example/", bytes(4 * HEADER_LIMIT * 16))))
    done = vestige_import(path)
    assert done.exit_code == 0, done.output
    assert f"{path}: 1 records imported" in done.stdout
    assert len(warc_files(home)) == 1
    assert_verify_clean()


def test_brief_escapes_binary_and_cuts() -> None:
    assert brief("a\x1b[2Jb\nc") == "a\\x1b[2Jb c"
    assert brief("x\udcff") == "x\\xff"  # a byte that was not UTF-8
    assert len(brief("é" * 1000)) == MESSAGE_LIMIT


# -- odd bytes ------------------------------------------------------------------


def test_a_file_name_that_is_not_utf8_is_stored(home: Settings, tmp_path: Path) -> None:
    raw = b"x\xff\xfe.html"
    (tmp_path / raw.decode("utf-8", "surrogateescape")).write_bytes(b"<p>odd</p>")
    name = str(tmp_path / raw.decode("utf-8", "surrogateescape"))
    done = runner.invoke(
        app, ["import", "--no-ingest", name, "--url", "http://d.example/x", "--date", "2024-01-02"]
    )
    assert done.exit_code == 0, done.output
    assert "2 records imported" in done.stdout
    with gzip.open(warc_files(home)[0]) as fh:
        stored = fh.read()
    assert b"filename: x%FF%FE.html\r\n" in stored  # percent-encoded, valid UTF-8
    assert b"filename-raw: " + raw + b"\r\n" in stored  # and the name's own bytes
    assert_verify_clean()


@pytest.mark.parametrize(
    "command",
    [
        ["capture", "--no-ingest"],
        ["crawl", "start"],
        ["follow", "add"],
        ["watch", "add"],
        ["import", "--no-ingest", "--url", "http://d.example/a"],
    ],
)
def test_a_note_that_is_not_utf8_is_refused_before_fetching(
    home: Settings, web, tmp_path: Path, command: list[str]
) -> None:
    from conftest import Route

    url = web.route("/page", Route(body=b"<p>page</p>", headers=[("Content-Type", "text/html")]))
    page = tmp_path / "a.html"
    page.write_bytes(b"<p>a</p>")
    target = str(page) if command[0] == "import" else url
    done = runner.invoke(app, [*command, target, "--note", "bad\udcff"])
    assert done.exit_code == 2, done.output
    assert "the note is not valid UTF-8 text: b'bad\\xff'" in done.stderr
    assert web.hits == []
    assert warc_files(home) == []


# -- careless input ---------------------------------------------------------------


def test_a_folder_is_imported_recursively_with_a_summary(home: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "evidence"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "a.warc.gz").write_bytes(gzip.compress(record("http://one.example/")))
    (folder / "sub" / "deeper" / "b.warc.gz").write_bytes(
        gzip.compress(record("http://two.example/"))
    )
    (folder / "sub" / "seed.txt").write_bytes(b"date 2024-01-02 http://three.example/\nText\n")
    # A damaged Word file is still evidence: stored (its ingest says why it has no text).
    (folder / "sub" / "notes.docx").write_bytes(b"PK")
    (folder / "sub" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (folder / "empty.warc").write_bytes(b"")
    done = vestige_import(folder)
    assert done.exit_code == 1, done.output  # one refused
    assert f"{folder / 'sub/deeper/b.warc.gz'}: 1 records imported" in done.stdout
    assert "seed.txt: 2 records imported" in done.stdout
    assert "notes.docx: 2 records imported" in done.stdout
    assert (
        "6 files: 4 imported, 0 already present, 1 skipped (not an archive or document), 1 refused"
        in done.stdout
    )
    assert f"skipped: {folder / 'sub/Thumbs.db'}" in done.stderr
    assert f"error: {folder / 'empty.warc'}: stopped at byte 0: the file is empty" in done.stderr

    again = runner.invoke(app, ["import", "--no-ingest", "--glob", "*.warc.gz", str(folder)])
    assert again.exit_code == 0, again.output
    assert "2 files: 0 imported, 2 already present, 0 skipped" in again.stdout
    for name in ("seed.txt", "notes.docx", "Thumbs.db"):
        assert name not in again.output


def test_pypdf_warnings_go_to_the_log_shown_with_verbose(home: Settings, tmp_path: Path) -> None:
    from conftest import minimal_pdf

    pdf = tmp_path / "broken.pdf"
    pdf.write_bytes(minimal_pdf("T", "A", ["hello"]).rsplit(b"%%EOF", 1)[0])  # no EOF marker
    command = [sys.executable, "-c", "from api.cli import main; main()"]
    quiet, verbose = (
        subprocess.run(
            [*command, *flags, "import", str(pdf), "--url", f"http://d.example/{n}.pdf"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
        )
        for n, flags in enumerate([[], ["-v"]])
    )
    assert "2 records imported" in quiet.stdout, quiet.stderr
    assert "EOF marker" not in quiet.stderr
    assert "INFO ingest.extract: PDF: EOF marker not found" in verbose.stderr
