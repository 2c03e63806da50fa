"""Catalog schema migrations (Alembic), for SQLite and PostgreSQL alike.

How a catalog's schema is kept current:

- A new, empty database gets the whole schema from the models (``create_all``)
  and is stamped with the newest revision: nothing to migrate.
- A database at the newest revision opens as it is (tables that the models
  gained without a migration, i.e. new tables, are created).
- Any other database (an older revision, or one made before migrations
  existed) is refused by :class:`~archive.catalog.Catalog` with a message to
  run ``vestige migrate``, which applies the migrations in order inside one
  transaction: an upgrade either completes or leaves the catalog as it was.

A catalog from before migrations existed is taken to be at the first revision.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import MetaData, Table, inspect, text
from sqlalchemy.engine import Connection, Engine

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

HERE = Path(__file__).parent
# Held (PostgreSQL) while a process creates or migrates the schema, so that
# replicas starting together do not both try.
_LOCK_KEY = 0x56455354  # "VEST"
# The two lines of a migration that name it and its parent.
_REVISION = re.compile(r"""^(revision|down_revision) = (?:["']([^"']+)["']|None)""", re.MULTILINE)


class SchemaOutOfDate(RuntimeError):
    """The catalog's schema is not the one this version of Vestige uses."""


def alembic_config(
    url: str | None = None,
    connection: Connection | None = None,
    location: Path = HERE,
    metadata: MetaData | None = None,
) -> Config:
    """Alembic's configuration for the migrations in ``location`` (no alembic.ini needed);
    ``metadata`` is the schema a new migration is written against (autogenerate)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(location))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    if metadata is not None:
        config.attributes["metadata"] = metadata
    return config


@lru_cache(maxsize=4)
def _scripts(location: Path = HERE) -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(location=location))


@cache
def _revisions() -> dict[str, str | None]:
    """Each migration's revision and its parent, read from the files.

    Opening a catalog only compares revisions, so it reads them here rather
    than importing Alembic (a large import every command would pay).
    """
    revisions: dict[str, str | None] = {}
    for path in (HERE / "versions").glob("[0-9]*.py"):
        fields = {name: value for name, value in _REVISION.findall(path.read_text("utf-8"))}
        revisions[fields["revision"]] = fields.get("down_revision") or None
    return revisions


def head() -> str:
    """The newest revision: the schema this version of Vestige uses."""
    revisions = _revisions()
    (newest,) = set(revisions) - set(revisions.values())
    return newest


def base(location: Path = HERE) -> str:
    """The first revision (a catalog from before migrations is stamped with it)."""
    revision = _scripts(location).get_base()
    assert revision is not None
    return revision


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _current(connection: Connection, tables: set[str]) -> str | None:
    if "alembic_version" not in tables:
        return None
    return connection.scalar(text("SELECT version_num FROM alembic_version"))


def prepare(engine: Engine, metadata: MetaData, tables: Sequence[Table] | None = None) -> None:
    """Create the schema of a new catalog (``tables``, default every table on
    ``metadata``), or check an existing one is current and add the tables it lacks.

    Raises :class:`SchemaOutOfDate` when the catalog needs ``vestige migrate``.
    """
    with engine.begin() as connection:
        _lock(connection)
        present = _tables(connection)
        current = _current(connection, present)
        if current is None and not present - {"alembic_version"}:
            from alembic.runtime.migration import MigrationContext

            metadata.create_all(connection, tables=tables)
            MigrationContext.configure(connection).stamp(_scripts(), "head")
            return
        if current != head():
            if current is not None and current not in _revisions():
                raise SchemaOutOfDate(
                    f"the catalog's schema (revision {current}) is newer than this version "
                    "of Vestige: upgrade Vestige"
                )
            raise SchemaOutOfDate(
                f"the catalog's schema is at revision {current or 'none'}, this version of "
                f"Vestige needs {head()}: back it up, then run `vestige migrate`"
            )
        metadata.create_all(connection, tables=tables)


def upgrade(
    engine: Engine, revision: str = "head", location: Path = HERE
) -> tuple[str | None, str]:
    """Apply the migrations in ``location`` up to ``revision``; returns (before, after)."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    with engine.begin() as connection:
        _lock(connection)
        tables = _tables(connection)
        before = _current(connection, tables)
        if before is None and tables - {"alembic_version"}:
            # Made before migrations existed: its schema is the first revision's.
            MigrationContext.configure(connection).stamp(_scripts(location), base(location))
        command.upgrade(alembic_config(connection=connection, location=location), revision)
        after = MigrationContext.configure(connection).get_current_revision()
    return before, after or ""
