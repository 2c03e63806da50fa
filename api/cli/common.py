"""What the command modules share: errors, opening the archive and the search engine,
the after-store chain with its messages, command groups with a default command."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import partial

import click
import typer
from typer.core import TyperGroup

from api import pipeline
from api.schema import TABLES
from archive.config import get_settings
from archive.migrations import SchemaOutOfDate
from archive.repository import Repository
from archive.urls import InvalidURL, checked_url
from ingest import documents
from search.backend import SearchBackend, SearchError
from search.engine import open_backend


def report_error(message: str) -> None:
    """Print a one-line error on stderr."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error and return the exit to raise."""
    report_error(message)
    return typer.Exit(code)


def url_argument(url: str, *, fetchable: bool = False) -> str:
    """``url`` in its stored form; a malformed one exits 2 with one line saying why."""
    try:
        return checked_url(url, fetchable=fetchable)
    except InvalidURL as exc:
        raise fail(str(exc), 2) from exc


def document_argument(ref: str) -> str:
    """``ref`` unchanged: a document id, or a URL (a malformed one exits 2 saying why)."""
    if not documents.is_document_id(ref):
        url_argument(ref)
    return ref


@contextmanager
def open_repository() -> Iterator[Repository]:
    """The archive under ``$VESTIGE_HOME``, repaired if a writer crashed."""
    try:
        repository = Repository(get_settings(), TABLES)
    except SchemaOutOfDate as exc:
        raise fail(str(exc)) from exc
    for report in repository.repairs:
        typer.secho(
            f"repaired {report.warc_file}: kept {len(report.records)} records, "
            f"cut {report.truncated_bytes} bytes of unfinished tail",
            fg=typer.colors.YELLOW,
            err=True,
        )
    try:
        yield repository
    finally:
        repository.close()


def run_after_store(repository: Repository, record_ids: Sequence[int], enabled: bool) -> None:
    """Ingest and index what a command stored (unless ``--no-ingest``), saying what failed.

    An engine failure is printed and the command goes on: ``vestige index`` catches up.
    """
    if not (enabled and record_ids):
        return
    error = None
    try:
        summary = pipeline.after_store(repository, record_ids)
    except pipeline.NotIndexed as exc:
        summary, error = exc.summary, exc
    for failure in summary.failures:
        why = f"{failure.reason} ({failure.detail})" if failure.detail else failure.reason
        typer.secho(f"warning: {failure.url} not ingested: {why}", fg="yellow", err=True)
    if error is not None:
        report_error(str(error))


def stored_callback(repository: Repository, enabled: bool) -> Callable[[Sequence[int]], None]:
    """The ``on_stored`` of a crawl, a follow run or a watch run: :func:`run_after_store`."""
    return partial(run_after_store, repository, enabled=enabled)


def run_after_relate(repository: Repository) -> None:
    """Re-index the documents whose relations changed; an engine failure is printed."""
    try:
        pipeline.after_relate(repository)
    except SearchError as exc:
        report_error(str(exc))


@contextmanager
def open_search() -> Iterator[SearchBackend]:
    """The configured engine; engine failures become one-line errors."""
    try:
        backend = open_backend(get_settings())
    except SearchError as exc:
        raise fail(str(exc)) from exc
    try:
        yield backend
    except SearchError as exc:
        raise fail(str(exc)) from exc
    finally:
        backend.close()


class DefaultCommandGroup(TyperGroup):
    """A group whose arguments go to its first command unless they name one:
    ``vestige crawl URL`` is ``vestige crawl start URL``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [next(iter(self.commands)), *args]
        return super().parse_args(ctx, args)


def when(moment: datetime | None) -> str:
    """A moment to the minute, or ``never``."""
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "never"
