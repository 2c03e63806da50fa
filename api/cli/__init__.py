"""The ``vestige`` command: every stage's commands under one program."""

from __future__ import annotations

import logging

import typer

from api.cli import capture as archive_cli
from api.cli import crawl as crawl_cli
from api.cli import export as export_cli
from api.cli import ingest as ingest_cli
from api.cli import migrate as migrate_cli
from api.cli import provenance as relate_cli
from api.cli import search as search_cli
from api.cli import serve as api_commands

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


@app.callback()
def _options(
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Show details in the log (e.g. damage a PDF had)."
    ),
) -> None:
    """Vestige: a multilingual archive of web pages and documents with full-text search."""
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    """Console-script entry point."""
    app()
