"""``vestige capture``, ``import``, ``captures``, ``verify``: the archive stage's commands."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path

import typer

from api.cli.common import fail, open_repository, run_after_store, url_argument
from archive.browser import (
    BrowserResult,
    BrowserSummary,
    CaptureMode,
    ModeCapturer,
    browser_summaries,
)
from archive.cdxj import cdxj_line
from archive.importer import (
    Importer,
    ImportResult,
    InputError,
    Submission,
    Tally,
    brief,
    collect_sources,
    parse_published,
    source_size,
)
from archive.store import InvalidCollection, check_collection
from archive.verify import total_bytes
from archive.verify import verify as verify_archive
from archive.warc import InvalidText, check_note

app = typer.Typer(no_args_is_help=True)


def _collection(name: str) -> str:
    try:
        return check_collection(name)
    except InvalidCollection as exc:
        raise fail(str(exc), 2) from exc


@app.command()
def capture(
    urls: list[str] = typer.Argument(..., help="URLs to capture (http or https)."),
    collection: str = typer.Option("default", help="Collection to store the captures in."),
    note: str | None = typer.Option(None, help="A note stored with each capture."),
    truncate: bool = typer.Option(
        False, help="Keep the first VESTIGE_MAX_BODY_SIZE bytes of larger bodies."
    ),
    ingest: bool = typer.Option(True, help="Ingest and index what was captured."),
    browser: bool = typer.Option(
        False, "--browser", help="Load pages in headless Chromium (same as --mode browser)."
    ),
    mode: CaptureMode = typer.Option(
        CaptureMode.http,
        help="http: one GET; browser: headless Chromium with every resource the page "
        "loads and a screenshot; auto: HTTP, then the browser if the page is built by scripts.",
    ),
) -> None:
    """Fetch URLs over HTTP(S) (or with a browser) and store them as WARC records.

    Prints one line per URL: status, final URL, WARC file:offset, payload digest.
    Exits non-zero if any URL failed; the others are still stored.
    """
    collection = _collection(collection)
    for url in urls:
        url_argument(url, fetchable=True)
    try:
        check_note(note)
    except InvalidText as exc:
        raise fail(str(exc), 2) from exc
    failed = 0
    with open_repository() as repository:
        capturer = ModeCapturer(repository, CaptureMode.browser if browser else mode)
        try:
            for url in urls:
                result = capturer.capture(url, collection=collection, note=note, truncate=truncate)
                if not result.ok:
                    failed += 1
                    typer.secho(f"FAILED  {url}  {result.error}", fg=typer.colors.RED)
                    continue
                assert result.location is not None
                flags = " (revisit)" if result.revisit else ""
                flags += " (truncated)" if result.truncated else ""
                if isinstance(result, BrowserResult):
                    flags += f" (browser: {result.resources} resources, screenshot"
                    flags += f", {len(result.blocked)} blocked)" if result.blocked else ")"
                for warning in result.warnings:
                    typer.secho(f"warning: {url}: {warning}", fg=typer.colors.YELLOW, err=True)
                typer.echo(
                    f"{result.status}  {result.final_url}  "
                    f"{result.location.warc_file}:{result.location.offset}  "
                    f"{result.payload_digest}{flags}"
                )
                run_after_store(repository, result.record_ids, ingest)
        finally:
            capturer.close()
    if failed:
        raise typer.Exit(1)


class CapturesFormat(StrEnum):
    text = "text"
    json = "json"
    cdxj = "cdxj"


@app.command()
def captures(
    url: str = typer.Argument(..., help="URL, in any spelling (IRI or percent-encoded)."),
    format: CapturesFormat = typer.Option(CapturesFormat.text, help="Output format."),
) -> None:
    """List every stored version of a URL: timestamp, status, digest, size."""
    url_argument(url)
    with open_repository() as repository:
        versions = repository.catalog.versions(url)
        if not versions:
            raise fail(f"no captures of {url}")
        browsers = browser_summaries(repository, [row.capture_id or "" for row in versions])
        for row in versions:
            browser = browsers.get(row.capture_id or "")
            if format is CapturesFormat.cdxj:
                typer.echo(cdxj_line(row))
            elif format is CapturesFormat.json:
                typer.echo(
                    json.dumps(
                        {
                            "timestamp": row.timestamp.isoformat() + "Z",
                            "url": row.url,
                            "type": row.record_type,
                            "status": row.status,
                            "mime": row.mime,
                            "digest": row.payload_digest,
                            "length": row.length,
                            "collection": row.collection,
                            "warc_file": row.warc_file,
                            "offset": row.offset,
                            **_browser_fields(browser),
                        },
                        ensure_ascii=False,
                    )
                )
            else:
                kind = "" if row.record_type == "response" else f" ({row.record_type})"
                if browser is not None:
                    shot = browser.screenshot
                    kind += (
                        f"  browser: {browser.resources} resources, "
                        f"screenshot {shot.warc_file}:{shot.offset}"
                    )
                typer.echo(
                    f"{row.timestamp:%Y-%m-%d %H:%M:%S}  {row.status or '-':>3}  "
                    f"{row.payload_digest or '-'}  {row.length:>9,}  {row.collection}{kind}"
                )


def _browser_fields(browser: BrowserSummary | None) -> dict[str, object]:
    """A browser capture's screenshot and resource count, for ``captures --format json``."""
    if browser is None:
        return {"mode": "http"}
    shot = browser.screenshot
    return {
        "mode": "browser",
        "resources": browser.resources,
        "screenshot": {"warc_file": shot.warc_file, "offset": shot.offset, "length": shot.length},
    }


@app.command()
def verify(
    collection: str | None = typer.Option(None, help="Verify only this collection."),
) -> None:
    """Re-read every WARC record, recompute its digests and check it against the catalog.

    Reports digest mismatches, missing files, truncated or torn records and
    records without catalog rows, one per line. Exits non-zero on any problem.
    """
    if collection is not None:
        collection = _collection(collection)
    with (
        open_repository() as repository,
        typer.progressbar(
            length=total_bytes(repository, collection), label="verifying", file=sys.stderr
        ) as bar,
    ):
        report = verify_archive(repository, collection, progress=bar.update)
    for problem in report.problems:
        typer.secho(str(problem), fg=typer.colors.RED)
    typer.echo(
        f"{report.files} files, {report.records} records checked, {len(report.problems)} problems"
    )
    if not report.ok:
        raise typer.Exit(1)


# Files larger than this get a progress bar while they are imported.
PROGRESS_FROM = 4 * 1024 * 1024


@app.command("import")
def import_(
    paths: list[Path] = typer.Argument(
        ...,
        help="WARC, WARC.GZ, ARC, ARC.GZ or WACZ files, or single documents (.html, .pdf, "
        ".txt, .png, .jpg, .tiff, .webp, .gif, .docx, .odt, .eml), or folders of them "
        "(imported recursively).",
    ),
    glob: str | None = typer.Option(
        None, "--glob", help="In folders, import only files whose name matches (e.g. '*.warc.gz')."
    ),
    collection: str = typer.Option("default", help="Collection to store the records in."),
    url: str | None = typer.Option(None, help="Where the single document was published."),
    date: str | None = typer.Option(
        None, help="When the single document was published (YYYY-MM-DD)."
    ),
    note: str | None = typer.Option(None, help="A note stored with a single document."),
    submitter: str | None = typer.Option(
        None, help="Who submitted the document (default: your user name)."
    ),
    keep_gps: bool = typer.Option(
        False, help="Keep a photo's GPS position in its metadata (dropped by default)."
    ),
    ingest: bool = typer.Option(True, help="Ingest and index what was imported."),
) -> None:
    """Import web archives and documents people already have.

    WARC records are copied exactly (their digests stay the original ones);
    ARC records become WARC records. A document becomes a resource record plus
    a metadata record (submitter, time, publication date, note); a .txt file
    starting with a line 'date YYYY-MM-DD URL' needs no --url or --date, and a
    document with no URL is stored as urn:sha256:<its digest>.
    Prints per file the records imported and those already present. A damaged
    file keeps the intact records before the damage, says where it stopped,
    and makes the command exit non-zero. A folder is imported whole, with a
    progress bar and a summary of the files imported, skipped and refused.
    """
    collection = _collection(collection)
    if url is not None:
        url_argument(url, fetchable=True)
    try:
        sources = collect_sources(paths, glob)
    except InputError as exc:
        raise fail(str(exc), 2) from exc
    try:
        check_note(note)
        published = parse_published(date) if date else None
        submission = Submission(url, published, note, submitter, keep_gps=keep_gps)
    except (InputError, InvalidText) as exc:
        raise fail(str(exc), 2) from exc
    tally = Tally(skipped=len(sources.skipped))
    record_ids: list[int] = []
    folders = len(sources.files) > len(sources.named)
    total = sum(path.stat().st_size for path in sources.files)
    with (
        open_repository() as repository,
        # One bar for a folder's files, else one per large file.
        typer.progressbar(
            length=total, label="importing", file=sys.stderr, hidden=not folders
        ) as overall,
    ):
        importer = Importer(repository)
        for path in sources.files:
            size = path.stat().st_size
            try:
                if folders or size <= PROGRESS_FROM:
                    results = importer.import_path(
                        path, collection=collection, submission=submission
                    )
                else:
                    with typer.progressbar(
                        length=source_size(path), label=f"importing {path.name}", file=sys.stderr
                    ) as bar:
                        results = importer.import_path(
                            path, collection=collection, submission=submission, progress=bar.update
                        )
            except InputError as exc:
                typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
                results = [ImportResult(str(path), stopped=str(exc))]
            else:
                for result in results:
                    _report_import(result)
                    record_ids += result.record_ids
            tally.add(results)
            overall.update(size)
        run_after_store(repository, record_ids, ingest)
    for path in sources.skipped:
        typer.secho(brief(f"skipped: {path} (not an archive or document)"), err=True)
    if folders:
        typer.echo(str(tally))
    if tally.refused:
        raise typer.Exit(1)


def _report_import(result: ImportResult) -> None:
    for warning in result.warnings:
        typer.secho(brief(f"warning: {result.source}: {warning}"), fg=typer.colors.YELLOW, err=True)
    line = f"{result.source}: {result.imported} records imported, {result.skipped} already present"
    if result.url:
        line += f"  {result.url}  {result.payload_digest}"
    typer.echo(line)
    for attachment in result.attachments:
        typer.echo(f"  attachment {attachment}")
    if result.stopped:
        typer.secho(
            brief(
                f"error: {result.source}: stopped at {result.stopped} "
                f"(the {result.imported} records before it are stored)"
            ),
            fg=typer.colors.RED,
            err=True,
        )
