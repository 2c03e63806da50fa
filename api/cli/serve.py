"""``vestige serve`` and ``vestige token``: the service's commands."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import typer

from api.cli.common import fail, open_repository
from api.pywb import (
    COLLECTION,
    PywbMissing,
    catalog_mark,
    cdxj_path,
    find_wayback,
    wayback_command,
    write_cdxj,
    write_config,
)
from api.tokens import TokenError, create_token, list_tokens, revoke_token
from archive.config import get_settings

app = typer.Typer(no_args_is_help=True)
token_app = typer.Typer(
    help="Create, list and revoke API tokens (needed for captures and imports).",
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int | None = typer.Option(
        None,
        min=1,
        help="Service processes on the port (default: VESTIGE_SERVE_WORKERS, one per core).",
    ),
) -> None:
    """Run the web service: JSON API, replay and Memento, browser pages."""
    from api.app import serve_processes

    count = workers or get_settings().serve_workers
    typer.echo(
        f"Vestige serving on http://{host}:{port}/ (API docs at /api/v1/docs), "
        f"{count} process{'es' if count > 1 else ''}"
    )
    serve_processes(host, port, count)


@app.command()
def doctor() -> None:
    """Check this machine's set-up: what works, what is missing, the command that adds it.

    Exits 1 when the configured set-up (home, catalog, search engine) cannot run.
    """
    from api.doctor import run_checks

    failed = False
    for check in run_checks(get_settings()):
        mark = "ok" if check.ok else ("FAIL" if check.required else "missing")
        typer.echo(f"{mark:>7}  {check.name:<10} {check.detail}")
        if check.fix:
            typer.echo(f"{'':>7}  {'':<10} -> {check.fix}")
        failed |= check.required and not check.ok
    typer.echo("the configured set-up cannot run" if failed else "the configured set-up can run")
    if failed:
        raise typer.Exit(1)


@app.command()
def cdxj(
    output: Path | None = typer.Option(
        None, help="Where to write it (default: $VESTIGE_HOME/pywb/index.cdxj, as pywb reads it)."
    ),
) -> None:
    """Write the CDXJ index of every archived response, sorted for pywb."""
    settings = get_settings()
    target = output or cdxj_path(settings)
    with open_repository() as repository:
        count = write_cdxj(repository.catalog, target)
    typer.echo(f"wrote {count} CDXJ lines to {target}")


@app.command("replay-server")
def replay_server(
    host: str = typer.Option("127.0.0.1", help="Address pywb listens on."),
    port: int = typer.Option(8080, help="Port pywb listens on."),
    wayback: str | None = typer.Option(
        None, help="pywb's wayback program (default: from the replay extra, or on PATH)."
    ),
    refresh: float = typer.Option(
        5.0, min=0.5, help="Seconds between checks for new captures to add to the index."
    ),
) -> None:
    """Run pywb (high-fidelity replay) over the same WARC files, as a separate process.

    Writes $VESTIGE_HOME/pywb/config.yaml and index.cdxj and keeps the index up to
    date while pywb runs. Set VESTIGE_REPLAY_URL to the printed URL so that
    document pages link to it.
    """
    settings = get_settings()
    try:
        program = find_wayback(wayback)
    except PywbMissing as exc:
        raise fail(str(exc)) from exc
    with open_repository() as repository:
        catalog = repository.catalog
        mark = catalog_mark(catalog)
        count = write_cdxj(catalog, cdxj_path(settings))
        directory = write_config(settings).parent
        typer.echo(f"indexed {count} records for pywb in {directory}")
        typer.echo(f"pywb replay at http://{host}:{port}/{COLLECTION}/ (VESTIGE_REPLAY_URL)")
        # Stopped by a signal, stop pywb too (the finally below).
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        # pywb reads config.yaml from its working directory.
        child = subprocess.Popen(wayback_command(program, host, port), cwd=directory)
        try:
            while child.poll() is None:
                try:
                    child.wait(refresh)
                except subprocess.TimeoutExpired:
                    latest = catalog_mark(catalog)
                    if latest != mark:
                        mark = latest
                        write_cdxj(catalog, cdxj_path(settings))
        except KeyboardInterrupt:
            pass
        finally:
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()
    if child.returncode not in (0, -signal.SIGTERM, -signal.SIGINT):
        raise fail(f"pywb exited with status {child.returncode}")


@token_app.command("create")
def token_create(name: str = typer.Argument(..., help="A name for who or what uses it.")) -> None:
    """Create a token and print it, once, alone on the last line. Only its hash is kept."""
    with open_repository() as repository:
        try:
            token = create_token(repository.catalog, name)
        except TokenError as exc:
            raise fail(str(exc)) from exc
    typer.echo(f"Token {name!r} created. Copy it now: it is not shown again.", err=True)
    typer.echo(token)


@token_app.command("list")
def token_list() -> None:
    """List tokens by name, with when they were created and last used."""
    with open_repository() as repository:
        tokens = list_tokens(repository.catalog)
    for info in tokens:
        used = f"{info.last_used:%Y-%m-%d %H:%M}" if info.last_used else "never"
        typer.echo(f"{info.name}  created {info.created:%Y-%m-%d %H:%M}  last used {used}")


@token_app.command("revoke")
def token_revoke(name: str = typer.Argument(..., help="The token's name.")) -> None:
    """Revoke a token: requests using it are refused from now on."""
    with open_repository() as repository:
        try:
            revoke_token(repository.catalog, name)
        except TokenError as exc:
            raise fail(str(exc)) from exc
    typer.echo(f"revoked {name}")
