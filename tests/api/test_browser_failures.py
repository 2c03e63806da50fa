"""Browser captures that go wrong inside the service: Chromium killed mid-capture,
Playwright's driver hung, a page that never finishes. Each fails its URL with one
clear error, nothing of it is acknowledged or stored, the service stays up, and the
next browser capture works (with a fresh browser where the old one died)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from browsersite import chromium_processes, kill_chromium
from fastapi.testclient import TestClient
from servicetools import auth, new_token, service, wait_for_job
from warcio.archiveiterator import ArchiveIterator

from archive.config import Settings
from conftest import Route, WebServer, missing_part

HTML = [("Content-Type", "text/html")]


@pytest.fixture(autouse=True)
def chromium() -> None:
    if not Path("/usr/bin/chromium").is_file():
        missing_part("Chromium", "apt-get install chromium")


@pytest.fixture
def stuck(web: WebServer) -> Iterator[tuple[str, threading.Event]]:
    """A page whose image is answered only once the test releases it."""
    release = threading.Event()

    def image(_handler) -> Route:
        release.wait(120)
        return Route(body=b"", headers=[("Content-Type", "image/png")])

    web.route("/stuck.png", image)
    yield web.route("/page", Route(body=b'<p>x</p><img src="/stuck.png">', headers=HTML)), release
    release.set()


def browser_capture(client: TestClient, token: str, url: str) -> dict:
    """One URL captured with the browser through the API; its finished job's URL."""
    accepted = client.post(
        "/api/v1/captures", json={"urls": [url], "mode": "browser"}, headers=auth(token)
    )
    assert accepted.status_code == 202, accepted.text
    job = wait_for_job(client, accepted.json()["id"])
    [item] = job["urls"]
    return item


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 90
    while not condition():
        assert time.monotonic() < deadline, f"waited too long for {what}"
        time.sleep(0.05)


def stored_responses(settings: Settings) -> set[str]:
    """The target of every response record in the archive's WARC files."""
    targets = set()
    for path in sorted(settings.warc_dir.rglob("*.warc.gz*")):
        with open(path, "rb") as warc:
            for record in ArchiveIterator(warc):
                if record.rec_type == "response":
                    targets.add(record.rec_headers.get_header("WARC-Target-URI"))
    return targets


def capture_in_background(
    client: TestClient, web: WebServer, page: str
) -> tuple[threading.Thread, list[dict]]:
    """Start a browser capture of the stuck ``page``; return once it asks for its image."""
    token = new_token(client)
    done: list[dict] = []
    worker = threading.Thread(target=lambda: done.append(browser_capture(client, token, page)))
    worker.start()
    wait_until(lambda: "/stuck.png" in web.hits, "the page to ask for its image")
    return worker, done


def assert_only(client: TestClient, settings: Settings, web: WebServer, failed: str) -> None:
    """The service answers, stored nothing of ``failed``, and captures a new page."""
    assert client.get("/api/v1/status").status_code == 200
    versions = client.get("/api/v1/urls/versions", params={"url": failed})
    assert versions.status_code == 404, versions.text  # not in the archive
    fine = web.route("/fine", Route(body=b"<p>fine</p>", headers=HTML))
    item = browser_capture(client, new_token(client, "again"), fine)
    assert item["state"] == "done", item
    assert stored_responses(settings) == {fine}


def test_chromium_killed_mid_capture_fails_that_url_and_the_service_goes_on(
    home: Settings, web: WebServer, stuck
) -> None:
    page, release = stuck
    with service(home) as client:
        worker, done = capture_in_background(client, web, page)
        kill_chromium()
        release.set()
        worker.join(150)
        [item] = done
        assert item["state"] == "failed"
        assert item["error"] == f"the browser crashed loading {page}; it will be restarted"
        assert item["final_url"] is None and item["warc_file"] is None
        assert_only(client, home, web, page)


def test_a_hung_driver_fails_that_url_and_a_fresh_one_takes_over(
    home: Settings, web: WebServer, stuck
) -> None:
    settings = home.model_copy(update={"browser_timeout": 1})
    page, release = stuck
    with service(settings) as client:
        worker, done = capture_in_background(client, web, page)
        [driver] = chromium_processes("node")
        os.kill(driver, signal.SIGSTOP)  # answers nothing from now on
        try:
            worker.join(150)
        finally:
            with suppress(ProcessLookupError):
                os.kill(driver, signal.SIGCONT)
        release.set()
        [item] = done
        assert item["state"] == "failed"
        assert item["error"] == f"the browser hung loading {page}; it will be restarted"
        wait_until(lambda: driver not in chromium_processes("node"), "the hung driver to be gone")
        assert_only(client, settings, web, page)


def test_a_page_that_never_finishes_loading_times_out(home: Settings, web: WebServer) -> None:
    settings = home.model_copy(update={"browser_timeout": 1})
    endless = web.route("/endless", Route(body=[b"<p>more</p>"] * 600, headers=HTML, delay=0.2))
    with service(settings) as client:
        item = browser_capture(client, new_token(client), endless)
        assert item["state"] == "failed"
        assert item["error"].startswith(f"timed out: {endless} did not load within 1 s")
        assert_only(client, settings, web, endless)
