"""API tokens: the ``vestige token`` commands, and who may write or read."""

from __future__ import annotations

from servicetools import auth, service
from typer.testing import CliRunner

from api.cli import app
from archive.config import Settings

runner = CliRunner()
CAPTURE = {"urls": ["http://127.0.0.1:1/x"]}


def create(name: str) -> str:
    result = runner.invoke(app, ["token", "create", name])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def test_token_commands_and_write_access(home: Settings) -> None:
    token = create("alice")
    assert token.startswith("vst_") and len(token) > 40
    assert token not in (home.home / "catalog.sqlite").read_bytes().decode("latin-1")
    duplicate = runner.invoke(app, ["token", "create", "alice"])
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    assert runner.invoke(app, ["token", "create", "bad name!"]).exit_code == 1
    other = create("bob")
    listing = runner.invoke(app, ["token", "list"])
    assert [line.split()[0] for line in listing.stdout.splitlines()] == ["alice", "bob"]
    assert token not in listing.stdout

    with service(home) as client:
        missing = client.post("/api/v1/captures", json=CAPTURE)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert "vestige token create" in missing.json()["error"]["message"]
        wrong = client.post("/api/v1/captures", json=CAPTURE, headers=auth("vst_nope"))
        assert wrong.status_code == 403
        assert wrong.json()["error"]["message"] == "invalid or revoked API token"
        basic = client.post(
            "/api/v1/captures", json=CAPTURE, headers={"Authorization": "Basic YTpi"}
        )
        assert basic.status_code == 401
        assert client.post("/api/v1/captures", json=CAPTURE, headers=auth(token)).status_code == (
            202
        )
        # Reading is public by default.
        assert client.get("/api/v1/status").status_code == 200

        revoked = runner.invoke(app, ["token", "revoke", "alice"])
        assert revoked.exit_code == 0, revoked.output
        after = client.post("/api/v1/captures", json=CAPTURE, headers=auth(token))
        assert after.status_code == 403
        assert client.post("/api/v1/captures", json=CAPTURE, headers=auth(other)).status_code == (
            202
        )
    unknown = runner.invoke(app, ["token", "revoke", "alice"])
    assert unknown.exit_code == 1 and "no token named 'alice'" in unknown.output
    listing = runner.invoke(app, ["token", "list"]).stdout
    assert "alice" not in listing and "bob" in listing


def test_private_reading_needs_a_token(home: Settings) -> None:
    token = create("reader")
    with service(home.model_copy(update={"public_read": False})) as client:
        for path in (
            "/api/v1/status",
            "/api/v1/urls/versions?url=http://example.org/",
            "/api/v1/jobs/x",
            "/web/2024/http://example.org/",
            "/timemap/link/http://example.org/",
            "/timegate/http://example.org/",
            "/archive/2024/http://example.org/",
        ):
            assert client.get(path).status_code == 401, path
            assert client.get(path, headers=auth("vst_bad")).status_code == 403, path
            assert client.get(path, headers=auth(token)).status_code in (200, 404), path
        assert client.get("/api/v1/health").status_code == 200
