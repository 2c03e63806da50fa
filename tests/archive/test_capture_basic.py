"""Capturing over real HTTP on loopback: records, digests, revisits."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from api.cli import app
from conftest import Route, WebServer

runner = CliRunner()


def warcio_check(paths: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "warcio.cli", "check", "-v", *paths],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_capture_prints_location_and_second_capture_is_revisit(home, web: WebServer) -> None:
    url = web.route(
        "/a.html", Route(body=b"<title>A</title>hello", headers=[("Content-Type", "text/html")])
    )
    first = runner.invoke(app, ["capture", "--no-ingest", url])
    assert first.exit_code == 0, first.output
    status, final, location, digest = first.output.split()[:4]
    assert (status, final) == ("200", url)
    assert location.startswith("default/") and ":" in location
    assert digest.startswith("sha1:")
    second = runner.invoke(app, ["capture", "--no-ingest", url])
    assert "(revisit)" in second.output
    listing = runner.invoke(app, ["captures", url])
    lines = listing.output.strip().splitlines()
    assert len(lines) == 2 and "(revisit)" in lines[1] and digest in lines[0]
    warcio_check([str(p) for p in (home.warc_dir / "default").iterdir()])
