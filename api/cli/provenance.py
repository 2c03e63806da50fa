"""``vestige relate``, ``story``, ``suggest``, ``diff``, ``watch``, ``changes``: provenance."""

from __future__ import annotations

import json
from datetime import datetime

import typer
from rich.console import Console
from rich.status import Status

from api.cli.common import (
    DefaultCommandGroup,
    document_argument,
    fail,
    open_repository,
    run_after_relate,
    stored_callback,
    url_argument,
    when,
)
from api.watching import run_due
from ingest import diff as text_diff
from ingest import documents, relations
from ingest import story as stories
from ingest import watch as watching
from ingest.relations import RelationError

app = typer.Typer(no_args_is_help=True)
watch_app = typer.Typer(
    cls=DefaultCommandGroup,
    no_args_is_help=True,
    help="Watch pages: vestige watch URL --every 1d, then vestige watch run.",
)
app.add_typer(watch_app, name="watch")
_stderr = Console(stderr=True)

TYPE_HELP = "Relation type: " + ", ".join(relations.TYPES) + "."


@app.command()
def relate(
    source: str = typer.Argument(..., help="Document id or URL (the subject: A in 'A covers B')."),
    type_: str = typer.Argument(..., metavar="TYPE", help=TYPE_HELP),
    target: str = typer.Argument(..., help="Document id or URL (the object: B)."),
    note: str | None = typer.Option(None, help="Why they are related, kept with the relation."),
) -> None:
    """Relate two documents: vestige relate A covers B. Confirms a suggestion."""
    document_argument(source)
    document_argument(target)
    with open_repository() as repository:
        try:
            made = relations.relate(repository.catalog, source, type_, target, note=note)
        except RelationError as exc:
            raise fail(str(exc), 2) from exc
        run_after_relate(repository)
    typer.echo(f"{made.source_id} {made.type} {made.target_id} ({made.status}, id {made.id})")


@app.command()
def unrelate(
    source: str = typer.Argument(..., help="Document id or URL."),
    type_: str = typer.Argument(..., metavar="TYPE", help=TYPE_HELP),
    target: str = typer.Argument(..., help="Document id or URL."),
) -> None:
    """Remove a relation (a removed suggestion is not suggested again)."""
    document_argument(source)
    document_argument(target)
    with open_repository() as repository:
        try:
            removed = relations.unrelate(repository.catalog, source, type_, target)
        except RelationError as exc:
            raise fail(str(exc), 2) from exc
        run_after_relate(repository)
    typer.echo(f"removed {removed.source_id} {removed.type} {removed.target_id}")


@app.command("relations")
def list_relations(
    document: str = typer.Argument(..., help="Document id, or a URL (every version of it)."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object per relation."),
) -> None:
    """List a document's relations: type, direction, status, other document, who made it."""
    document_argument(document)
    with open_repository() as repository:
        try:
            found = relations.relations_of(repository.catalog, document)
        except RelationError as exc:
            raise fail(str(exc)) from exc
    if not found and not json_output:
        typer.echo("no relations")
    for view in found:
        if json_output:
            typer.echo(json.dumps(view.to_dict(), ensure_ascii=False))
            continue
        arrow = "->" if view.direction == "outgoing" else "<-"
        typer.echo(
            f"{view.id:>5}  {view.document} {arrow} {view.type:<10} {view.other.id}  "
            f"{view.status:<9}  {view.made_by}  {view.other.title or view.other.url}"
        )


@app.command()
def story(
    document: str = typer.Argument(..., help="Document id or URL to start from."),
    json_output: bool = typer.Option(False, "--json", help="Print the story as one JSON object."),
) -> None:
    """The timeline of everything related to a document: primary source first, then
    coverage, copies, updates, corrections, retractions, translations."""
    document_argument(document)
    with open_repository() as repository:
        try:
            found = stories.story(repository.catalog, document)
        except RelationError as exc:
            raise fail(str(exc)) from exc
    if json_output:
        typer.echo(json.dumps(found.to_dict(), ensure_ascii=False))
        return
    for entry in found.entries:
        mark = "*" if entry.document.url == found.start_url else " "
        typer.echo(
            f"{mark} {entry.date}  {entry.role:<11}  {entry.document.language or '--':<3} "
            f"{entry.document.id}  {entry.document.title or entry.document.url}"
        )
        for line in entry.relations:
            typer.echo(f"{'':31}{line}")


@app.command()
def suggest(
    confirm: list[int] = typer.Option([], help="Confirm the suggestion with this id (repeatable)."),
    reject: list[int] = typer.Option([], help="Reject the suggestion with this id (repeatable)."),
    kind: list[str] = typer.Option(
        [], help="Only suggest these types (cites, corrects, retracts, translates, same-story)."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object per suggestion."),
) -> None:
    """Find relations automatically and list the suggestions waiting for review.

    With --confirm or --reject, review suggestions by id instead.
    """
    from ingest.suggest import KINDS
    from ingest.suggest import suggest as run_suggesters

    unknown = set(kind) - set(KINDS)
    if unknown:
        raise fail(f"unknown suggestion kind {', '.join(sorted(unknown))}", 2)
    with open_repository() as repository:
        if confirm or reject:
            try:
                for relation_id in confirm:
                    done = relations.review(repository.catalog, relation_id, confirm=True)
                    typer.echo(f"confirmed {done.source_id} {done.type} {done.target_id}")
                for relation_id in reject:
                    done = relations.review(repository.catalog, relation_id, confirm=False)
                    typer.echo(f"rejected {done.source_id} {done.type} {done.target_id}")
            except RelationError as exc:
                raise fail(str(exc)) from exc
            finally:
                run_after_relate(repository)
            return
        with Status("finding relations", console=_stderr):
            added = run_suggesters(repository, kind or KINDS)
        if added:
            run_after_relate(repository)
        pending = relations.suggestions(repository.catalog)
    if not json_output:
        typer.echo(f"{len(added)} new suggestions, {len(pending)} waiting for review")
    for relation, source, target in pending:
        if json_output:
            typer.echo(
                json.dumps(
                    {
                        "id": relation.id,
                        "source": relation.source_id,
                        "type": relation.type,
                        "target": relation.target_id,
                        "evidence": relation.evidence,
                        "made_by": relation.made_by,
                        "made_at": relation.made_at.isoformat() + "Z",
                    },
                    ensure_ascii=False,
                )
            )
            continue
        typer.echo(
            f"{relation.id:>5}  {source.url if source else relation.source_id}  {relation.type}  "
            f"{target.url if target else relation.target_id}  {_evidence(relation.evidence)}"
        )


def _evidence(evidence: dict) -> str:
    for key in ("notice", "link", "similarity", "how"):
        if key in evidence:
            return f"[{key}: {evidence[key]}]"
    return ""


@app.command("diff")
def diff_command(
    old: str = typer.Argument(..., help="Document id or URL of the earlier version."),
    new: str = typer.Argument(..., help="Document id or URL of the later version."),
    by: text_diff.Unit = typer.Option(
        "word", help="Compare by word (Chinese segmented by rjieba) or by character."
    ),
) -> None:
    """Show what changed between two documents: [-removed-] {+added+}."""
    document_argument(old)
    document_argument(new)
    with open_repository() as repository:
        left = documents.get(repository.catalog, old)
        right = documents.get(repository.catalog, new)
    if left is None or right is None:
        raise fail(f"no document {old if left is None else new}")
    if titles := documents.title_change(left, right):
        typer.echo(documents.title_phrase(titles))
    ops = text_diff.diff(left.text, right.text, right.language, by)
    typer.echo(text_diff.inline(ops))


# -- watching -----------------------------------------------------------------


@watch_app.command("add")
def watch_add(
    url: str = typer.Argument(..., help="Page to watch (http or https)."),
    every: str = typer.Option("1d", help="How often to capture it: 30m, 6h, 1d, 1w."),
    collection: str = typer.Option("default", help="Collection to store the captures in."),
    note: str | None = typer.Option(None, help="A note stored with each capture."),
) -> None:
    """Watch a page: capture it again every interval and record what changed."""
    with open_repository() as repository:
        try:
            made = watching.add_watch(
                repository.catalog, url, every, collection=collection, note=note
            )
        except watching.WatchError as exc:
            raise fail(str(exc), 2) from exc
    typer.echo(f"watching {made.url} every {every}; next capture {when(made.next_due)}")


@watch_app.command("remove")
def watch_remove(
    url: str = typer.Argument(..., help="Watched page."),
    collection: str = typer.Option("default", help="Collection of the watch."),
) -> None:
    """Stop watching a page (its captures and changes stay)."""
    url_argument(url)
    with open_repository() as repository:
        try:
            watching.remove_watch(repository.catalog, url, collection)
        except watching.WatchError as exc:
            raise fail(str(exc)) from exc
    typer.echo(f"no longer watching {url}")


@watch_app.command("list")
def watch_list(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object per watch."),
) -> None:
    """List watched pages: interval, last run and what it found, next capture."""
    with open_repository() as repository:
        found = watching.list_watches(repository.catalog)
    if not found and not json_output:
        typer.echo("no watches")
    for watch in found:
        if json_output:
            typer.echo(
                json.dumps(
                    {
                        "id": watch.id,
                        "url": watch.url,
                        "collection": watch.collection,
                        "every": watch.every,
                        "last_run": _iso(watch.last_run),
                        "last_kind": watch.last_kind,
                        "next_due": _iso(watch.next_due),
                    }
                )
            )
            continue
        typer.echo(
            f"{watch.id:>4}  every {watch.every:>7}s  last {when(watch.last_run)} "
            f"({watch.last_kind or '-'})  next {when(watch.next_due)}  {watch.url}"
        )


@watch_app.command("run")
def watch_run(
    now: bool = typer.Option(False, "--now", help="Capture every watched page now, due or not."),
    delay: float | None = typer.Option(
        None, help="Seconds between two requests to one host (default: VESTIGE_CRAWL_DELAY)."
    ),
    ingest: bool = typer.Option(True, help="Index what was captured."),
) -> None:
    """Capture the watched pages (and followed feeds) that are due; print each change."""
    with (
        open_repository() as repository,
        Status("capturing watched pages", console=_stderr) as status,
    ):
        run = run_due(
            repository,
            every=now,
            on_stored=stored_callback(repository, ingest),
            progress=lambda change: status.update(f"{change.kind}: {change.url}"),
            delay=delay,
        )
    for change in run.changes:
        typer.echo(_change_line(change))
    for info, crawl in run.follows:
        typer.echo(f"followed {info.url}: {crawl.captured:,} new pages (crawl {crawl.id})")
    if not run.changes and not run.follows:
        typer.echo("nothing due")
    for error in run.webhook_errors:
        typer.secho(f"warning: webhook failed: {error}", fg=typer.colors.YELLOW, err=True)


@app.command()
def changes(
    atom: bool = typer.Option(False, "--atom", help="Print an Atom feed instead of lines."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object per change."),
    all_kinds: bool = typer.Option(
        False, "--all", help="Also list unchanged pages and first captures."
    ),
    url: str | None = typer.Option(None, help="Only changes of this page."),
    limit: int = typer.Option(100, min=1, help="How many changes, newest first."),
) -> None:
    """List what watched pages did: changed, removed (404/410, soft-404, redirect
    to the home page) or unreachable, newest first."""
    kinds = (
        (watching.FIRST, watching.UNCHANGED, *watching.NOTABLE) if all_kinds else watching.NOTABLE
    )
    if url is not None:
        url_argument(url)
    with open_repository() as repository:
        found = watching.list_changes(repository.catalog, kinds=kinds, url=url, limit=limit)
    if atom:
        typer.echo(watching.atom_feed(found))
        return
    for change in found:
        if json_output:
            typer.echo(json.dumps(change.to_dict(), ensure_ascii=False))
        else:
            typer.echo(_change_line(change))


def _change_line(change: watching.PageChange) -> str:
    line = f"{when(change.detected)}  {change.kind:<11}  {change.url}"
    if change.reason:
        line += f"  ({change.reason})"
    if change.similarity is not None:
        line += f"  similarity {change.similarity:.1%}"
    if titles := change.evidence.get("title"):
        line += f"  {documents.title_phrase(titles)}"
    return line


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() + "Z" if moment else None
