"""``vestige replay-server``: pywb in its own process over the same WARC files."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from servicetools import store_response

from api.pywb import write_cdxj
from archive.config import Settings
from archive.repository import Repository


@contextmanager
def opened(settings: Settings) -> Iterator[Repository]:
    repository = Repository(settings)
    try:
        yield repository
    finally:
        repository.close()


ROOT = Path(__file__).resolve().parents[2]
VESTIGE = [sys.executable, "-c", "from api.cli import main; main()"]


def _wayback() -> str:
    """pywb's program: $VESTIGE_TEST_WAYBACK, or the .venv-pywb that .ci/run makes."""
    path = Path(os.environ.get("VESTIGE_TEST_WAYBACK") or ROOT / ".venv-pywb/bin/wayback")
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have pywb's wayback at {path}")
        pytest.skip(f"pywb not installed at {path}")
    return str(path)


def test_replay_server_without_pywb_says_so(home: Settings) -> None:
    result = subprocess.run(
        [*VESTIGE, "replay-server", "--wayback", str(home.home / "missing")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: no wayback program at")


def test_cdxj_is_sorted_with_pywb_keys(home: Settings) -> None:
    with opened(home) as repository:
        for url in ("http://127.0.0.1:9/b", "https://example.org/a", "http://127.0.0.1:9/a"):
            store_response(repository, url, datetime(2024, 5, 6, 7, 8, 9), b"x")
        count = write_cdxj(repository.catalog, home.home / "index.cdxj")
    lines = (home.home / "index.cdxj").read_text().splitlines()
    assert count == 3 and lines == sorted(lines)
    assert [line.split()[0] for line in lines] == [
        "1,0,0,127:9)/a",
        "1,0,0,127:9)/b",
        "org,example)/a",
    ]


def test_replay_server_serves_captures_and_picks_up_new_ones(home: Settings) -> None:
    wayback = _wayback()
    with opened(home) as repository:
        store_response(
            repository,
            "https://example.org/first",
            datetime(2024, 5, 6, 7, 8, 9),
            "<p>first 第一</p>".encode(),
            [("Content-Type", "text/html; charset=utf-8")],
        )
    port = 18000 + os.getpid() % 1000
    server = subprocess.Popen(
        [*VESTIGE, "replay-server", "--port", str(port), "--wayback", wayback, "--refresh", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/vestige"
    try:
        first = _get_when_up(f"{base}/20240506070809id_/https://example.org/first")
        assert first.status_code == 200 and first.text == "<p>first 第一</p>"
        with opened(home) as repository:
            store_response(
                repository,
                "https://example.org/second",
                datetime(2024, 5, 7),
                b"<p>second</p>",
                [("Content-Type", "text/html")],
            )
        second = _get_when_up(f"{base}/20240507000000id_/https://example.org/second")
        assert second.status_code == 200 and second.text == "<p>second</p>"
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "indexed 1 records for pywb" in output
    assert (home.home / "pywb" / "config.yaml").is_file()


def _get_when_up(url: str) -> httpx.Response:
    """pywb takes a while to start and the index refreshes every second: retry for a bound."""
    deadline = time.monotonic() + 90
    while True:
        try:
            response = httpx.get(url, timeout=10)
            if response.status_code == 200 or time.monotonic() > deadline:
                return response
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def test_replay_server_replays_a_browser_capture_with_its_scripts_data(home: Settings) -> None:
    """pywb runs the archived page's scripts: the article they fetch comes from the archive."""
    from browsersite import ARTICLE, Listener, serve_site
    from playwright.sync_api import expect, sync_playwright

    from archive.browser import BrowserCapturer
    from archive.cdxj import timestamp14
    from conftest import WebServer, missing_part

    wayback = _wayback()
    if not Path("/usr/bin/chromium").is_file():
        missing_part("Chromium", "apt-get install chromium")
    web, secret = WebServer(), Listener()
    try:
        url = serve_site(web, secret.port)
        with opened(home) as repository:
            capturer = BrowserCapturer(repository)
            try:
                assert capturer.capture(url).ok
            finally:
                capturer.close()
            stamp = timestamp14(repository.catalog.versions(url)[-1].timestamp)
    finally:
        web.close()  # replay has only the archive
        secret.close()
    port = 18000 + (os.getpid() + 500) % 1000
    server = subprocess.Popen(
        [*VESTIGE, "replay-server", "--port", str(port), "--wayback", wayback],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/vestige"
    try:
        assert _get_when_up(f"{base}/{stamp}id_/{url}").status_code == 200
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page()
            page.goto(f"{base}/{stamp}/{url}")
            replayed = page.frame_locator("iframe#replay_iframe")
            expect(replayed.locator("#article p")).to_have_text(ARTICLE, timeout=60_000)
            browser.close()
    finally:
        server.terminate()
        server.communicate(timeout=30)
