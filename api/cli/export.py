"""``vestige export`` and ``vestige verify-export``: the export commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from api.cli.common import fail, open_repository, open_search
from api.export.exporter import FORMATS, check_text_max_chars, run_export, writer_kind
from api.export.selection import DocumentSource, ExportError, Selection, Versions, choose_fields
from api.export.wacz import fingerprint, load_or_create_key, public_key_b64, verify_package
from archive.config import get_settings
from search.backend import SearchBackend

app = typer.Typer(no_args_is_help=True)


@contextmanager
def _backend(needed: bool) -> Iterator[SearchBackend | None]:
    if not needed:
        yield None
        return
    with open_search() as backend:
        yield backend


@app.command()
def export(
    query: str | None = typer.Argument(
        None, help="Search query selecting the documents (the search syntax)."
    ),
    collection: str | None = typer.Option(None, help="Export this collection (or filter QUERY)."),
    everything: bool = typer.Option(False, "--all", help="Export every document."),
    format: str = typer.Option(
        "jsonl", "--format", "-f", help=f"Output format: {', '.join(FORMATS)}."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="File to write."),
    fields: str | None = typer.Option(
        None, help="Comma-separated fields to export, in this order (default: all)."
    ),
    with_text: bool = typer.Option(
        True, "--with-text/--without-text", help="Include text and text_simplified."
    ),
    versions: Versions = typer.Option(
        Versions.latest, help="latest: the newest capture of each URL; all: every capture."
    ),
    bom: bool = typer.Option(False, help="Start a CSV with a UTF-8 BOM (for spreadsheets)."),
    text_max_chars: int | None = typer.Option(
        None, help="Cut a CSV's text to N characters (a spreadsheet cell holds 32,767)."
    ),
    resume: bool = typer.Option(False, help="Continue an interrupted export to the same file."),
    sign: bool = typer.Option(False, help="Sign a wacz or bundle package (ECDSA P-256)."),
    key: Path | None = typer.Option(
        None,
        help="Signing key (PEM); default $VESTIGE_HOME/export-signing-key.pem (made if absent).",
    ),
) -> None:
    """Export documents for research: datasets (jsonl, csv, parquet), captures (warc, wacz),
    or a bundle of both with provenance. Writes a datasheet (README, manifest) beside it."""
    settings = get_settings()
    try:
        selection = Selection(query, collection, everything, versions).check()
        names = [name.strip() for name in fields.split(",")] if fields else None
        chosen = choose_fields(names, with_text)
        kind = writer_kind(format)
        check_text_max_chars(format, text_max_chars)
        if sign and not kind.signable:
            raise ExportError("--sign applies to the wacz and bundle formats")
    except ExportError as exc:
        raise fail(str(exc), 2) from exc
    signing_key = None
    if sign:
        key_path = key or settings.home / "export-signing-key.pem"
        try:
            signing_key, created = load_or_create_key(key_path)
        except (OSError, ValueError) as exc:
            raise fail(f"cannot use signing key {key_path}: {exc}", 2) from exc
        if created:
            typer.echo(f"created signing key {key_path} (keep it private)", err=True)
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("exporting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    task = progress.add_task("export", total=None)
    with (
        open_repository() as repository,
        _backend(selection.query is not None) as backend,
        progress if console.is_terminal else nullcontext(),
    ):
        try:
            with DocumentSource(
                repository.catalog,
                selection,
                backend=backend,
                with_text=with_text,
                base_url=settings.public_url,
            ) as source:
                summary = run_export(
                    repository,
                    source,
                    format,
                    output,
                    fields=chosen,
                    bom=bom,
                    text_max_chars=text_max_chars,
                    resume=resume,
                    signing_key=signing_key,
                    total=lambda count: progress.update(task, total=count),
                    progress=lambda done: progress.advance(task, done),
                    notice=lambda message: console.print(f"note: {message}"),
                )
        except ExportError as exc:
            raise fail(str(exc)) from exc
        except KeyboardInterrupt as exc:
            raise fail("interrupted; run the same command with --resume to continue", 130) from exc
    resumed = f" ({summary.resumed_from} before resuming)" if summary.resumed_from else ""
    typer.echo(f"exported {summary.documents} documents{resumed} to {summary.path}")
    typer.echo(f"{summary.bytes:,} bytes, sha256 {summary.sha256}")
    typer.echo(f"datasheet: {summary.readme}, {summary.manifest}")
    if signing_key is not None:
        public = fingerprint(public_key_b64(signing_key.public_key()))
        typer.echo(f"signed with key {public}")


@app.command("verify-export")
def verify_export(
    file: Path = typer.Argument(..., help="A .wacz export or bundle."),
    public_key: Path | None = typer.Option(
        None, help="PEM public key the package must be signed with."
    ),
) -> None:
    """Check an exported package: every file's SHA-256 and size, the package digest, and
    the signature if it has one. Exits non-zero on any problem."""
    if not file.is_file():
        raise fail(f"{file} not found", 2)
    expected = None
    if public_key is not None:
        try:
            expected = public_key.read_text(encoding="ascii")
        except (OSError, ValueError) as exc:
            raise fail(f"cannot read {public_key}: {exc}", 2) from exc
    try:
        result = verify_package(file, expected)
    except ValueError as exc:
        raise fail(f"bad public key: {exc}", 2) from exc
    for problem in result.problems:
        typer.secho(f"problem: {problem}", fg=typer.colors.RED)
    if result.signed and result.public_key:
        state = "valid" if result.ok else "INVALID"
        typer.echo(f"signature {state}, key {fingerprint(result.public_key)}")
    else:
        typer.echo("not signed")
    typer.echo(f"{result.files} files checked, {len(result.problems)} problems")
    if not result.ok:
        raise typer.Exit(1)
