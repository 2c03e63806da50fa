"""The ``vestige`` command: every stage's commands under one program."""

from __future__ import annotations

import typer

from archive import cli as archive_cli

app = typer.Typer(
    name="vestige",
    help="Vestige: a multilingual archive of web pages and documents with full-text search.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(archive_cli.app)


def main() -> None:
    """Console-script entry point."""
    app()
