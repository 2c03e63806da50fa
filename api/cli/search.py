"""``vestige search``, ``index``, ``reindex``, ``search-status``: the search stage's commands."""

from __future__ import annotations

import html
import json
import re

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from api.cli.common import fail, open_repository, open_search
from search import indexer
from search.backend import Sort
from search.models import markers, plural
from search.query import QuerySyntaxError, conjoin, filters, parse
from search.translate import search as translated_search

app = typer.Typer(no_args_is_help=True)

_MARK = re.compile(r"<mark>(.*?)</mark>")


def _snippet(marked: str) -> Text:
    """``<mark>`` spans in bold for the terminal."""
    out = Text()
    cursor = 0
    for match in _MARK.finditer(marked):
        out.append(html.unescape(marked[cursor : match.start()]))
        out.append(html.unescape(match.group(1)), style="bold yellow")
        cursor = match.end()
    out.append(html.unescape(marked[cursor:]))
    return out


@app.command()
def search(
    query: str = typer.Argument(
        "",
        help='Words (all must match), "phrases", -excluded, a OR b, '
        "lang:/site:/title:/after:/has:/role:",
    ),
    lang: str | None = typer.Option(None, help="Only documents in this language (en, zh)."),
    site: str | None = typer.Option(None, help="Only documents from this domain (and subdomains)."),
    after: str | None = typer.Option(None, help="Only documents dated on or after YYYY[-MM[-DD]]."),
    before: str | None = typer.Option(None, help="Only documents dated before YYYY[-MM[-DD]]."),
    collection: str | None = typer.Option(None, help="Only documents in this collection."),
    has: str | None = typer.Option(
        None, help="Only documents with related coverage, correction, retraction, ... (has:)."
    ),
    role: str | None = typer.Option(
        None, help="Only documents with this role in their story: primary, coverage, ... (role:)."
    ),
    collapse: bool = typer.Option(
        True, help="Show the copies of one story (same-story) as one hit with N more copies."
    ),
    same_language: bool = typer.Option(
        False,
        "--same-language",
        help="Search the query's own words only, not its Chinese or English translation.",
    ),
    sort: Sort = typer.Option(Sort.relevance, help="relevance, or date (newest first)."),
    limit: int = typer.Option(10, min=1, max=1000, help="How many hits to show."),
    offset: int = typer.Option(0, min=0, help="Skip this many hits (paging)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead."),
) -> None:
    """Search the archive's documents; prints ranked hits with highlighted snippets and facets.

    An English query also finds Chinese documents and a Chinese one English documents
    (its translation is printed, and how each hit matched), unless --same-language.
    """
    try:
        tree = conjoin(
            parse(query),
            filters(
                language=lang,
                site=site,
                collection=collection,
                after=after,
                before=before,
                has=has,
                role=role,
            ),
        )
    except QuerySyntaxError as exc:
        raise fail(f"bad query: {exc}", 2) from exc
    with open_search() as backend:
        result = translated_search(
            backend,
            tree,
            cross=not same_language,
            sort=sort,
            limit=limit,
            offset=offset,
            collapse=collapse,
        )
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
        return
    console = Console(highlight=False, soft_wrap=True)
    collapsed = (
        f" ({result.total} with copies collapsed)" if result.total != result.documents else ""
    )
    console.print(f"{result.documents} documents match{collapsed}", style="bold")
    for translation in result.translated:
        console.print(Text(f"also searched {translation}", style="dim"))
    for note in result.notes:
        console.print(Text(note, style="yellow"))
    for number, hit in enumerate(result.hits, start=offset + 1):
        console.print()
        console.print(Text(f"{number}. {hit.title or hit.url}", style="bold"))
        console.print(Text(hit.url, style="cyan"))
        published = f"  published {hit.published}" if hit.published else ""
        dates = f"captured {hit.captured:%Y-%m-%d}{published}"
        role = f"  role: {hit.role}" if hit.role else ""
        ocr = ""
        if hit.ocr:
            confidence = hit.ocr_confidence
            ocr = "  read by OCR" + (f" ({confidence:.0f}% confidence)" if confidence else "")
        console.print(Text(f"{dates}  [{hit.language}]  {hit.collection}{role}{ocr}"), style="dim")
        if found := markers(hit.related):
            console.print(Text(" · ".join(found), style="magenta"))
        console.print(_snippet(hit.snippet))
        if hit.matched_via:
            said = [via.describe() for via in hit.matched_via]
            said = (["matched its own words"] if hit.own_words else []) + said
            console.print(Text("; ".join(said), style="green"))
        if hit.copies:
            console.print(Text(f"{hit.copies} more {plural(hit.copies)}:", style="dim"))
            for copy in hit.copy_documents:
                line = f"   {copy.url}  captured {copy.captured:%Y-%m-%d}"
                console.print(Text(line, style="dim"))
            if hit.copies > len(hit.copy_documents):
                more = hit.copies - len(hit.copy_documents)
                console.print(Text(f"   and {more} more", style="dim"))
    if result.total:
        console.print()
        for name, counts in result.facets.items():
            shown = ", ".join(f"{value} ({count})" for value, count in counts[:8])
            console.print(Text(f"{name}: {shown}", style="dim"))


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
    )


@app.command()
def index() -> None:
    """Bring the search engine up to date with the catalog, resuming from the last change."""
    with open_repository() as repository, open_search() as backend, _progress() as progress:
        task = progress.add_task("indexing", total=None)
        applied = indexer.sync(
            backend,
            repository.catalog,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
        progress.update(task, total=max(applied, 1), completed=max(applied, 1))
        checkpoint = backend.checkpoint()
    typer.echo(f"applied {applied} changes; index at change {checkpoint}")


@app.command()
def reindex() -> None:
    """Rebuild the search index from scratch; searches use the old one until it is done."""
    with open_repository() as repository, open_search() as backend, _progress() as progress:
        task = progress.add_task("reindexing", total=None)
        applied = indexer.rebuild(
            backend,
            repository.catalog,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    typer.echo(f"reindexed {applied} changes")


@app.command("search-status")
def search_status(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead."),
) -> None:
    """Which search engine is configured, its analyzers, document count and checkpoint."""
    with open_search() as backend:
        status = backend.status()
    if as_json:
        typer.echo(json.dumps(status, ensure_ascii=False))
        return
    for key, value in status.items():
        typer.echo(f"{key}: {value}")
