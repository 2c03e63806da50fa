"""``vestige verify`` on a real archive, clean and after each kind of damage."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from api.cli import app
from archive.catalog import Record
from archive.config import Settings
from archive.records import catalog_row
from archive.repository import Repository
from archive.store import Location
from archive.verify import verify
from conftest import Route, WebServer

runner = CliRunner()


def capture(web: WebServer, path: str, body: bytes, collection: str = "default") -> None:
    url = web.route(path, Route(body=body, headers=[("Content-Type", "text/plain")]))
    done = runner.invoke(app, ["capture", "--no-ingest", "--collection", collection, url])
    assert done.exit_code == 0, done.output


def run_verify(*args: str) -> tuple[int, list[str]]:
    done = runner.invoke(app, ["verify", *args])
    return done.exit_code, done.stdout.strip().splitlines()


def rows(settings: Settings) -> list[Record]:
    repository = Repository(settings)
    try:
        with repository.catalog.session() as session:
            return list(session.scalars(select(Record).order_by(Record.id)))
    finally:
        repository.close()


def execute(settings: Settings, statement) -> None:
    repository = Repository(settings)
    try:
        with repository.catalog.session() as session:
            session.execute(statement)
    finally:
        repository.close()


def warc_path(settings: Settings, row: Record) -> Path:
    return settings.warc_dir / row.warc_file


@pytest.fixture
def archive(home: Settings, web: WebServer) -> Settings:
    """Two captures in ``default`` and one in ``other``, all closed."""
    capture(web, "/one", b"first page")
    capture(web, "/two", b"second page")
    capture(web, "/three", b"third page", collection="other")
    return home


def test_clean_archive_passes(archive: Settings) -> None:
    code, lines = run_verify()
    assert code == 0, lines
    # each capture run starts a file: a warcinfo, then 3 records per capture
    assert lines[-1] == "3 files, 12 records checked, 0 problems"


def test_python_api_counts_and_reports(archive: Settings) -> None:
    repository = Repository(archive)
    seen: list[int] = []
    try:
        report = verify(repository, "default", progress=seen.append)
    finally:
        repository.close()
    assert report.ok and (report.files, report.records) == (2, 8)
    size = sum(p.stat().st_size for p in (archive.warc_dir / "default").iterdir())
    assert sum(seen) == size


def test_changed_byte_is_a_digest_mismatch(archive: Settings) -> None:
    # Rewrite the last record of the file (the metadata) with one byte changed,
    # and give the catalog its new length, so only the digest is wrong.
    last = [r for r in rows(archive) if r.collection == "default"][-1]
    path = warc_path(archive, last)
    data = path.read_bytes()
    record = zlib.decompress(data[last.offset :], 31)
    assert b"collection: default" in record
    damaged = record.replace(b"collection: default", b"collection: defaulx")
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    member = compressor.compress(damaged) + compressor.flush()
    path.write_bytes(data[: last.offset] + member)
    execute(archive, update(Record).where(Record.id == last.id).values(length=len(member)))

    code, lines = run_verify()
    assert code == 1
    assert lines[-1].endswith(", 1 problems")
    assert lines[0].startswith(f"{last.warc_file}:{last.offset}  digest: {last.record_id}")
    assert "block digest failed" in lines[0]


def test_truncated_file_reports_torn_record_and_dangling_row(archive: Settings) -> None:
    last = [r for r in rows(archive) if r.collection == "default"][-1]
    path = warc_path(archive, last)
    with open(path, "r+b") as fh:
        fh.truncate(last.offset + last.length - 10)  # inside the gzip trailer

    code, lines = run_verify()
    assert code == 1
    where = f"{last.warc_file}:{last.offset}"
    assert f"{where}  unreadable: record {last.record_id} is cut short (torn)" in lines
    assert any(line.startswith(f"{where}  not-a-record:") for line in lines)
    assert lines[-1].endswith(", 2 problems")


def test_garbage_inside_a_file_is_unreadable(archive: Settings) -> None:
    row = next(r for r in rows(archive) if r.collection == "default")
    path = warc_path(archive, row)
    data = bytearray(path.read_bytes())
    data[row.offset + 20 : row.offset + 40] = b"\xff" * 20  # inside the deflate stream
    path.write_bytes(bytes(data))

    code, lines = run_verify()
    assert code == 1
    assert any(f"{row.warc_file}:{row.offset}  unreadable:" in line for line in lines), lines


def test_missing_file(archive: Settings) -> None:
    row = next(r for r in rows(archive) if r.collection == "other")
    warc_path(archive, row).unlink()

    code, lines = run_verify()
    assert code == 1
    assert lines[0] == f"{row.warc_file}  missing-file: file not found (3 records)"
    assert lines[-1] == "2 files, 8 records checked, 1 problems"


def test_uncatalogued_record_and_wrong_offset(archive: Settings) -> None:
    first, second = [r for r in rows(archive) if r.collection == "default"][:2]
    execute(archive, delete(Record).where(Record.id == first.id))
    execute(archive, update(Record).where(Record.id == second.id).values(offset=second.offset + 1))

    code, lines = run_verify("--collection", "default")
    assert code == 1
    assert lines[:-1] == [
        f"{second.warc_file}:{second.offset + 1}  not-a-record: catalogued request "
        f"{second.record_id} does not start a complete record here",
        f"{first.warc_file}:{first.offset}  uncatalogued: response {first.record_id} "
        "has no catalog row",
        f"{second.warc_file}:{second.offset}  uncatalogued: request {second.record_id} "
        "has no catalog row",
    ]


def test_wrong_length_in_catalog(archive: Settings) -> None:
    row = rows(archive)[0]
    execute(archive, update(Record).where(Record.id == row.id).values(length=row.length + 5))
    code, lines = run_verify()
    assert code == 1
    assert lines[0] == (
        f"{row.warc_file}:{row.offset}  length: record is {row.length} bytes, "
        f"catalog says {row.length + 5}"
    )


def test_collection_option_limits_the_check(archive: Settings) -> None:
    row = next(r for r in rows(archive) if r.collection == "other")
    warc_path(archive, row).unlink()
    code, lines = run_verify("--collection", "default")
    assert code == 0 and lines[-1] == "2 files, 8 records checked, 0 problems"
    code, lines = run_verify("--collection", "../other")
    assert code == 2


def test_catalogued_warcinfo_is_accepted(archive: Settings) -> None:
    # An import may catalogue the warcinfo records it copies; that is fine too.
    row = rows(archive)[0]
    repository = Repository(archive)
    try:
        first = zlib.decompressobj(31)
        data = warc_path(archive, row).read_bytes()
        first.decompress(data)
        location = Location(row.warc_file, 0, len(data) - len(first.unused_data))
        with repository.catalog.session() as session:
            for record in repository.store.read_record(location):
                assert record.rec_type == "warcinfo"
                session.add(catalog_row(record, location, "default"))
        assert verify(repository).ok
    finally:
        repository.close()


def test_file_being_written_is_checked_up_to_its_catalogued_end(home: Settings) -> None:
    writer = Repository(home)
    try:
        with writer.store.append("default") as appender:
            appender.write_raw(b"WARC/1.1\r\nWARC-Type: resource\r\n")  # a torn, unsettled tail
        checker = Repository(home)
        try:
            report = verify(checker)
        finally:
            checker.close()
        assert report.ok and report.files == 1
    finally:
        writer.close()
