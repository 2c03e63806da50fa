"""``vestige ingest``, ``show``, ``versions``: the ingest stage's commands."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from api.cli.common import document_argument, fail, open_repository, url_argument
from archive.store import InvalidCollection, check_collection
from ingest import documents, relations

if TYPE_CHECKING:
    from ingest.pipeline import IngestSummary

app = typer.Typer(no_args_is_help=True)
# Lines of text `show` prints before cutting off.
_SHOW_LINES = 12


@app.command()
def ingest(
    collection: str | None = typer.Option(None, help="Ingest only this collection."),
    workers: int = typer.Option(
        os.cpu_count() or 1, min=1, help="Processes extracting text (default: one per CPU)."
    ),
    retry_failed: bool = typer.Option(False, help="Also retry records that failed before."),
    rebuild: bool = typer.Option(
        False, help="Re-derive every document from the WARCs (indexes follow the changes)."
    ),
    ocr_languages: str | None = typer.Option(
        None,
        help="Tesseract models OCR chooses from, e.g. eng+chi_sim+chi_tra "
        "(default: VESTIGE_OCR_LANGUAGES).",
    ),
) -> None:
    """Turn archived records not yet ingested into documents (text, metadata, language).

    Prints a summary: documents created, records skipped (not text) and failed (with reasons).
    """
    from ingest.pipeline import Ingester  # trafilatura is slow to import: only when used

    if collection is not None:
        try:
            collection = check_collection(collection)
        except InvalidCollection as exc:
            raise fail(str(exc), 2) from exc
    from ingest.ocr import missing_models

    if ocr_languages is not None and (missing := missing_models(ocr_languages)):
        raise fail(
            f"Tesseract has no model {', '.join(missing)} (apt-cache search tesseract-ocr)", 2
        )
    with (
        open_repository() as repository,
        Ingester(repository, workers=workers, ocr_languages=ocr_languages) as ingester,
    ):
        options = {"collection": collection, "retry_failed": retry_failed, "rebuild": rebuild}
        total = ingester.count(record_ids=None, **options)
        with Progress(
            TextColumn("ingesting"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]} records/s"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as bar:
            task = bar.add_task("ingest", total=total, rate="-")

            def advance(count: int) -> None:
                bar.advance(task, count)
                speed = bar.tasks[task].speed
                bar.update(task, rate=f"{speed:,.1f}" if speed else "-")

            summary = ingester.run(progress=advance, **options)
    _print_summary(summary)


def _print_summary(summary: IngestSummary) -> None:
    line = f"{summary.created} documents created"
    if summary.updated or summary.unchanged:
        line += f", {summary.updated} updated, {summary.unchanged} unchanged"
    if summary.deleted:
        line += f", {summary.deleted} deleted"
    skipped, failed = sum(summary.skipped.values()), sum(summary.failed.values())
    typer.echo(f"{line}, {skipped} skipped, {failed} failed")
    for reason, count in summary.skipped.most_common():
        typer.echo(f"  skipped {count:>6}  {reason}")
    for reason, count in summary.failed.most_common():
        typer.echo(f"  failed  {count:>6}  {reason}")
    for reason, count in summary.without_ocr.items():
        typer.secho(f"  {count} documents stored without their OCR text: {reason}", fg="yellow")
    for failure in summary.failures[:20]:
        typer.secho(
            f"  FAILED {failure.url}  {failure.reason}: {failure.detail or ''}".rstrip(": "),
            fg=typer.colors.RED,
        )
    if len(summary.failures) > 20:
        typer.echo(f"  ... and {len(summary.failures) - 20} more failures")


@app.command()
def show(
    document: str = typer.Argument(..., help="Document id, or a URL (its latest version)."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Print a document: metadata, language, the start of its text, where its bytes live."""
    document_argument(document)
    with open_repository() as repository:
        found = documents.get(repository.catalog, document)
        if found is None:
            raise fail(f"no document {document}")
        data = relations.with_relations(repository.catalog, found)
    if json_output:
        typer.echo(json.dumps(data, ensure_ascii=False))
        return
    languages = ", ".join(f"{lang} {share:.0%}" for lang, share in data["languages"].items())
    rows = [
        ("id", data["id"] + (" (deleted)" if data["deleted"] else "")),
        ("url", data["url"]),
        ("captured", f"{data['captured']}  status {data['status'] or '-'}  {data['mime'] or ''}"),
        ("title", data["title"]),
        # The <title> as served, when the headline was taken from elsewhere or cut.
        ("<title>", data["page_title"] if data["page_title"] != data["title"] else None),
        ("authors", ", ".join(data["authors"])),
        ("published", data["published"]),
        ("publisher", data["site"]),
        ("language", f"{data['language'] or '-'} ({languages})" if languages else None),
        ("script", data["script"]),
        ("words", f"{data['word_count']:,}  ({len(data['outlinks']):,} outlinks)"),
        ("extraction", data["extraction"]),
        ("ocr", _ocr_line(data["ocr"])),
        *((name.replace("_", " "), _shown(value)) for name, value in data["properties"].items()),
        ("warc", f"{data['warc_file']}:{data['warc_offset']}"),
        ("digest", data["payload_digest"]),
        ("revisit of", data["revisit_of"]),
    ]
    for name, value in rows:
        if value:
            typer.echo(f"{name + ':':<11} {value}")
    lines = data["text"].splitlines()
    typer.echo("")
    for line in lines[:_SHOW_LINES]:
        typer.echo(f"  {line}")
    if len(lines) > _SHOW_LINES:
        typer.echo(f"  ... ({len(lines) - _SHOW_LINES} more lines)")


def _shown(value: object) -> str:
    """A document property on one line: a list's items, a mapping's ``name value`` pairs."""
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return ", ".join(f"{name} {item}" for name, item in value.items())
    return str(value or "")


def _ocr_line(ocr: dict | None) -> str | None:
    """``tesseract 5.3.0, pages 1, 3 (chi_tra), confidence 91.2`` or the reason there is none."""
    if not ocr:
        return None
    if ocr.get("reason"):
        return ocr["reason"]
    pages = ", ".join(str(page) for page in ocr.get("pages") or [])
    models = ", ".join(sorted({page["model"] for page in ocr.get("page_details") or []}))
    confidence = ocr.get("confidence")
    line = f"{ocr.get('engine')}, pages {pages or '-'} ({models})"
    return line + (f", mean confidence {confidence:.1f}%" if confidence is not None else "")


@app.command()
def versions(
    url: str = typer.Argument(..., help="URL, in any spelling."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object per version."),
) -> None:
    """List every capture of a URL and what changed from one version to the next."""
    url_argument(url)
    with open_repository() as repository:
        found = documents.versions(repository.catalog, url)
    if not found:
        raise fail(f"no captures of {url}")
    for version in found:
        if json_output:
            typer.echo(json.dumps(version.to_dict(), ensure_ascii=False))
            continue
        change = version.change
        if version.similarity is not None:
            change += f" (similarity {version.similarity:.1%})"
        if version.redirect_to:
            change += f" -> {version.redirect_to}"
        if version.title_change:
            change += f"; {documents.title_phrase(version.title_change)}"
        typer.echo(
            f"{version.captured[:19].replace('T', ' ')}  {version.status or '-':>3}  "
            f"{version.document_id or '-':<16}  {change}"
            + (f"  {version.title}" if version.title else "")
        )
