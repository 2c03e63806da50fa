"""``vestige doctor``: it reports what works and what is missing, and changes nothing."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.doctor import run_checks
from archive.config import Settings, get_settings
from archive.repository import Repository


def doctor() -> tuple[int, str]:
    result = CliRunner().invoke(app, ["doctor"], catch_exceptions=False)
    return result.exit_code, result.output


def lines_of(output: str, name: str) -> str:
    return "\n".join(line for line in output.splitlines() if f" {name} " in line)


def test_fresh_home_can_run_and_is_left_untouched(home: Settings) -> None:
    code, output = doctor()
    assert code == 0, output
    assert "the configured set-up can run" in output
    assert "new (made on first use)" in lines_of(output, "catalog")
    assert not home.home.exists()  # doctor looks; it creates no catalog or index


def test_unreachable_search_engine_fails(home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("VESTIGE_SEARCH_URL", f"http://127.0.0.1:{port}")
    get_settings.cache_clear()
    code, output = doctor()
    assert code == 1
    assert "FAIL" in lines_of(output, "search") and "cannot reach" in output
    assert "the configured set-up cannot run" in output


def test_catalog_behind_the_schema_says_migrate(home: Settings) -> None:
    Repository(home).close()  # a real catalog at the current revision
    code, output = doctor()
    assert code == 0 and "(current)" in lines_of(output, "catalog"), output
    with sqlite3.connect(home.home / "catalog.sqlite") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0001'")
    code, output = doctor()
    assert code == 1
    assert "revision 0001" in output and "-> vestige migrate" in output


def test_missing_optional_parts_name_their_install(
    home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no chromium, tesseract, java, mvn or wayback
    checks = {check.name: check for check in run_checks(home)}
    assert not checks["tesseract"].ok and not checks["tesseract"].required
    assert checks["tesseract"].fix and "tesseract-ocr-chi-tra" in checks["tesseract"].fix
    assert checks["chromium"].fix == "apt-get install chromium"
    assert not checks["java"].ok and "maven" in (checks["java"].fix or "")
    # Optional parts missing never make the configured set-up fail.
    assert all(check.ok for check in checks.values() if check.required)
