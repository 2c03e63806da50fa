"""The ``vestige`` command: every stage's commands under one program."""

from __future__ import annotations

import logging

import typer

from api.cli import capture, crawl, export, ingest, migrate, provenance, search, serve

app = typer.Typer(
    name="vestige",
    help="Vestige: a multilingual archive of web pages and documents with full-text search.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# In this order in `vestige --help`.
for group in (capture, crawl, ingest, serve, search, export, provenance, migrate):
    app.add_typer(group.app)


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
