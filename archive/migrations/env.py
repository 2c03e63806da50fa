"""Alembic's environment for the catalog: run by ``vestige migrate`` (see ``archive.migrations``).

Every stage adds tables to ``archive.catalog.Base``, so this imports every
stage's models: the only place in ``archive`` that imports later stages, as
migrations describe the whole catalog.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

# Imported for their tables (registered on Base.metadata).
import api.models  # noqa: F401
import archive.frontier  # noqa: F401
import ingest.models
import ingest.relations
import ingest.watch  # noqa: F401
from archive.catalog import Base

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as connection:
        _migrate(connection)
    engine.dispose()


def _migrate(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
