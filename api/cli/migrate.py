"""``vestige migrate``: bring the catalog's schema up to date."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer
from sqlalchemy import create_engine

from api.cli.common import fail
from api.schema import METADATA
from archive import migrations
from archive.config import get_settings

app = typer.Typer()


@app.command()
def migrate(
    revision: str = typer.Option("head", help="Migrate to this revision (default: the newest)."),
    new: str | None = typer.Option(
        None,
        "--new",
        metavar="MESSAGE",
        help="For developers: write a new migration from the models' changes, then stop.",
    ),
) -> None:
    """Apply catalog schema migrations (SQLite or PostgreSQL). Back up the catalog first.

    Runs in one transaction: an interrupted or failed upgrade leaves the catalog as it was.
    """
    if new is not None:
        typer.echo(f"wrote {_new_revision(new)}")
        return
    settings = get_settings()
    if settings.database_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.catalog_url)
    try:
        before, after = migrations.upgrade(engine, revision)
    except Exception as exc:
        raise fail(f"migration failed, the catalog is unchanged: {exc}") from exc
    finally:
        engine.dispose()
    if before == after:
        typer.echo(f"the catalog is up to date (revision {after})")
    else:
        typer.echo(f"migrated the catalog from revision {before or 'none'} to {after}")


def _new_revision(message: str) -> Path:
    """Autogenerate a migration: the difference between the newest revision and the models."""
    from alembic import command
    from alembic.script import ScriptDirectory

    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{scratch}/catalog.sqlite")
        migrations.upgrade(engine)
        config = migrations.alembic_config(connection=None)
        # Numbered in order: 0001_initial_schema.py, 0002_...
        number = len(list(ScriptDirectory.from_config(config).walk_revisions())) + 1
        with engine.begin() as connection:
            script = command.revision(
                migrations.alembic_config(connection=connection, metadata=METADATA),
                message,
                autogenerate=True,
                rev_id=f"{number:04d}",
            )
        engine.dispose()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)
