"""Alembic's environment for the catalog: run by ``vestige migrate`` (see ``archive.migrations``).

The migrations are explicit operations; the models' metadata is needed only to
write a new one (``vestige migrate --new``), and the caller hands it over
(``api.schema.METADATA``) rather than this importing every stage.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

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
        target_metadata=config.attributes.get("metadata"),
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
