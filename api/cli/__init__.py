"""The ``vestige`` command: every stage's commands under one program."""

from __future__ import annotations

import logging

import typer
from pydantic import ValidationError

from api.cli import capture, crawl, export, ingest, migrate, provenance, search, serve
from api.cli.common import fail
from archive.config import get_settings

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
    try:
        get_settings()  # read once here, so a bad VESTIGE_* value is one line, not a traceback
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "VESTIGE_" + "_".join(str(part) for part in error["loc"]).upper()
        raise fail(f"invalid {name}={error.get('input')!r}: {error['msg']}", 2) from None


def main() -> None:
    """Console-script entry point."""
    app()
