"""The catalog in SQLite and in a real PostgreSQL: archive, ingest, search, jobs, migrations."""

# ruff: noqa: RUF001, F811 - Chinese punctuation; fixtures imported from pgtools

from __future__ import annotations

import io
import json
import re
import secrets
import shutil
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pgtools import catalog_home, postgres_url  # noqa: F401 - fixtures
from sqlalchemy import MetaData, create_engine, inspect, select, text
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from api.schema import METADATA, TABLES
from archive import migrations
from archive.catalog import Catalog, Record
from archive.config import Settings
from archive.migrations import SchemaOutOfDate
from conftest import Route, WebServer, invoke, vestige
from ingest.models import Document

sys.path.insert(0, str(Path(__file__).parents[1] / "api"))

from servicetools import new_token, preserve, service

PAGE = (
    "<html><head><title>Flood report</title></head><body><article><p>"
    + "The river flooded the lower town on Monday and residents were evacuated. " * 8
    + "</p><p>水位仍在上升，居民已經撤離。</p></article></body></html>"
).encode()


def html(web: WebServer, path: str) -> str:
    return web.route(path, Route(body=PAGE, headers=[("Content-Type", "text/html")]))


def warc_file(path: Path, url: str) -> Path:
    """A WARC with one response record, as another tool would have written it."""
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        record = writer.create_warc_record(
            url, "response", payload=io.BytesIO(PAGE), http_headers=headers
        )
        writer.write_record(record)
    return path


def records(settings: Settings) -> list[tuple]:
    catalog = Catalog(settings.catalog_url)
    try:
        with catalog.session() as session:
            rows = session.execute(select(Record).order_by(Record.id)).scalars()
            return [
                (r.record_id, r.record_type, r.url, r.warc_file, r.offset, r.length) for r in rows
            ]
    finally:
        catalog.dispose()


def test_archive_ingest_and_search(catalog_home: Settings, web: WebServer, tmp_path: Path) -> None:
    page = html(web, "/flood")
    # Past PostgreSQL's btree entry limit (2704 bytes) even compressed: the records'
    # URL indexes are hash indexes there. (Only captured: the documents' export order
    # index is a btree on the URL, see README "Deployment".)
    long_url = html(web, "/long?q=" + secrets.token_urlsafe(2400))
    vestige("capture", page)
    vestige("capture", page)  # same payload: a revisit
    vestige("import", str(warc_file(tmp_path / "other.warc.gz", "https://example.org/flood")))
    vestige("ingest")
    vestige("capture", "--no-ingest", long_url)
    assert "0 problems" in vestige("verify")

    catalog = Catalog(catalog_home.catalog_url)
    try:
        versions = catalog.versions(page)
        assert [row.record_type for row in versions] == ["response", "revisit"]
        assert [row.record_type for row in catalog.versions(long_url)] == ["response"]
        with catalog.session() as session:
            urls = set(session.scalars(select(Document.url).where(Document.deleted.is_(False))))
        assert {page, "https://example.org/flood"} <= urls
    finally:
        catalog.dispose()
    listed = vestige("captures", page).splitlines()
    assert len(listed) == 2 and listed[1].endswith("(revisit)")
    vestige("index")
    assert "Flood report" in vestige("search", "flooded")
    assert "Flood report" in vestige("search", "居民")


def test_capture_jobs(catalog_home: Settings, web: WebServer) -> None:
    urls = [html(web, f"/job/{n}") for n in range(4)]
    with service(catalog_home) as client:
        job = preserve(client, new_token(client), urls)
    assert job["state"] == "done", job
    assert sorted(item["url"] for item in job["urls"]) == sorted(urls)
    assert {item["state"] for item in job["urls"]} == {"done"}


def test_migrations_build_the_models_schema(catalog_home: Settings) -> None:
    """Migrating an empty database gives exactly the schema a new catalog gets from the models."""
    catalog_home.home.mkdir(parents=True, exist_ok=True)
    engine = create_engine(catalog_home.catalog_url)
    try:
        assert migrations.upgrade(engine) == (None, migrations.head())
        Catalog(catalog_home.catalog_url, TABLES).dispose()  # opens: at the current revision
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), METADATA)
        assert differences == []
    finally:
        engine.dispose()


def test_head_read_from_the_files_is_alembics() -> None:
    """Opening a catalog reads the newest revision without Alembic: the same one."""
    assert migrations.head() == migrations._scripts().get_current_head()


SECOND = '''"""records.reviewed

Revision ID: 9001
Revises: {down}
"""

import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as batch_op:
        batch_op.add_column(
            sa.Column("reviewed", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("records") as batch_op:
        batch_op.drop_column("reviewed")
'''


def test_upgrade_keeps_every_record(catalog_home: Settings, web: WebServer, tmp_path: Path) -> None:
    """An archive at the current revision goes through a later migration with all its data."""
    for n in range(3):
        vestige("capture", "--no-ingest", html(web, f"/page/{n}"))
    before = records(catalog_home)
    assert len(before) == 9  # a response, a request and a metadata record each

    location = tmp_path / "migrations"
    shutil.copytree(migrations.HERE, location, ignore=shutil.ignore_patterns("__pycache__"))
    (location / "versions" / "9001_reviewed.py").write_text(
        SECOND.format(down=migrations.head()), encoding="utf-8"
    )
    engine = create_engine(catalog_home.catalog_url)
    try:
        assert migrations.upgrade(engine, location=location) == (migrations.head(), "9001")
        with engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("records")}
            reviewed = connection.scalars(text("SELECT reviewed FROM records")).all()
    finally:
        engine.dispose()
    assert "reviewed" in columns
    assert reviewed == [False] * 9
    # The upgrade kept every row and where its bytes are.
    engine = create_engine(catalog_home.catalog_url)
    try:
        with engine.connect() as connection:
            after = connection.execute(
                text(
                    'SELECT record_id, record_type, url, warc_file, "offset", length '
                    "FROM records ORDER BY id"
                )
            ).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in after] == before
    # This Vestige does not know revision 9001: it refuses rather than guess.
    with pytest.raises(SchemaOutOfDate, match="newer"):
        Catalog(catalog_home.catalog_url)


def tables(url: str) -> dict[str, list[dict]]:
    """Every row of every table (but Alembic's), in primary-key order."""
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            return {
                table.name: [
                    dict(row._mapping)
                    for row in connection.execute(
                        table.select().order_by(*table.primary_key.columns)
                    )
                ]
                for table in metadata.sorted_tables
                if table.name != "alembic_version"
            }
    finally:
        engine.dispose()


# Columns migrations after 0001 added to existing tables: what a migrated row holds there.
ADDED_COLUMNS = {"documents": {"ocr": None, "properties": None, "page_title": None}}


def in_old_shape(rows: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """``rows`` without the columns added since the first revision."""
    return {
        table: [{k: v for k, v in row.items() if k not in ADDED_COLUMNS.get(table, {})}
                for row in found]
        for table, found in rows.items()
    }  # fmt: skip


def migrated(rows: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Rows in the old shape as migrations leave them (added columns at their defaults)."""
    return {
        table: [row | ADDED_COLUMNS.get(table, {}) for row in found]
        for table, found in in_old_shape(rows).items()
    }


def rebuild_in_old_shape(url: str, rows: dict[str, list[dict]]) -> None:
    """Replace the catalog with the schema Vestige had before migrations, holding ``rows``."""
    engine = create_engine(url)
    try:
        current = MetaData()
        current.reflect(engine)
        current.drop_all(engine)
        path = Path(__file__).parent / f"catalog_0001.{engine.dialect.name}.sql"
        lines = path.read_text().splitlines()
        ddl = "\n".join(line for line in lines if not line.startswith("--"))
        with engine.begin() as connection:
            for statement in filter(str.strip, ddl.split(";")):
                connection.exec_driver_sql(statement)
            old = MetaData()
            old.reflect(connection)
            for table in old.sorted_tables:
                if rows.get(table.name):
                    connection.execute(table.insert(), rows[table.name])
    finally:
        engine.dispose()


def test_catalog_from_before_migrations(catalog_home: Settings, web: WebServer) -> None:
    """A catalog in the shape Vestige gave it before migrations existed is refused with
    what to do, then `vestige migrate` upgrades it in place with every row."""
    page = html(web, "/old")
    vestige("capture", page)
    vestige("capture", html(web, "/other"))
    rows = tables(catalog_home.catalog_url)
    assert len(rows["records"]) == 6 and len(rows["documents"]) == 2
    rows = in_old_shape(rows)
    rebuild_in_old_shape(catalog_home.catalog_url, rows)
    assert tables(catalog_home.catalog_url) == rows

    refused = invoke("captures", page, code=None)
    assert refused.exit_code != 0
    assert "vestige migrate" in refused.output
    assert "migrated the catalog from revision none" in vestige("migrate")
    assert "up to date" in vestige("migrate")
    assert tables(catalog_home.catalog_url) == migrated(rows)
    engine = create_engine(catalog_home.catalog_url)
    try:
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == (
                migrations.head()
            )
            indexes = {index["name"] for index in inspect(connection).get_indexes("records")}
    finally:
        engine.dispose()
    assert "ix_records_surt" in indexes and "ix_records_surt_timestamp" not in indexes
    # The migrated archive works as before: its records, their bytes, search.
    assert len(vestige("captures", page).splitlines()) == 1
    assert "0 problems" in vestige("verify")
    vestige("index")
    assert "Flood report" in vestige("search", "居民")


def test_follow_and_watch_ids_are_never_reused(catalog_home: Settings) -> None:
    """Deleting the newest follow or watch does not hand its id to the next one, in a new
    catalog and in one migrated from before migrations existed (rebuilt by 0003 on SQLite)."""

    def add_and_remove(n: int) -> tuple[int, int]:
        follow = vestige("follow", "add", f"https://feeds.example/{n}.xml")
        follow_id = int(re.search(r"\(id (\d+)\)", follow)[1])
        vestige("follow", "remove", str(follow_id))
        vestige("watch", "add", f"https://pages.example/{n}")
        watch_id = json.loads(vestige("watch", "list", "--json"))["id"]
        vestige("watch", "remove", f"https://pages.example/{n}")
        return follow_id, watch_id

    first = add_and_remove(1)
    second = add_and_remove(2)
    assert second[0] > first[0] and second[1] > first[1]
    rebuild_in_old_shape(catalog_home.catalog_url, tables(catalog_home.catalog_url))
    vestige("migrate")
    third = add_and_remove(3)
    fourth = add_and_remove(4)
    assert fourth[0] > third[0] and fourth[1] > third[1]
