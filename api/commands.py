"""``vestige serve`` and ``vestige token``: the service's commands."""

from __future__ import annotations

import typer

from api.tokens import TokenError, create_token, list_tokens, revoke_token
from archive.cli import fail, open_repository

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
) -> None:
    """Run the web service: JSON API, replay and Memento, browser pages."""
    import uvicorn

    from api.app import create_app

    typer.echo(f"Vestige serving on http://{host}:{port}/ (API docs at /api/v1/docs)")
    uvicorn.run(create_app(), host=host, port=port, proxy_headers=False, log_level="info")


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
