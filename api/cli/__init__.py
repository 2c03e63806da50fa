"""The ``vestige`` command: every stage's commands under one program."""

from __future__ import annotations

import typer

from api import commands as api_commands
from api.export import cli as export_cli
from archive import cli as archive_cli
from archive import crawl_cli, migrate_cli
from ingest import cli as ingest_cli
from ingest import relate_cli
from search import cli as search_cli

app = typer.Typer(
    name="vestige",
    help="Vestige: a multilingual archive of web pages and documents with full-text search.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(archive_cli.app)
app.add_typer(crawl_cli.app)
app.add_typer(ingest_cli.app)
app.add_typer(api_commands.app)
app.add_typer(search_cli.app)
app.add_typer(export_cli.app)
app.add_typer(relate_cli.app)
app.add_typer(migrate_cli.app)


def main() -> None:
    """Console-script entry point."""
    app()
