"""``vestige serve --workers 2``: two processes on one port, one leader; killing the leader
under load loses no acknowledged capture (real uvicorn, SQLite catalog, embedded index)."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
from servicetools import auth
from test_jobs import blocking_route, free_port, vestige_serve, wait_until
from typer.testing import CliRunner

from api.cli import app
from api.leader import LEASE_FILE
from archive.config import Settings
from conftest import Route, WebServer

PAGES = 24


def leader_pid(settings: Settings) -> int:
    """The process holding the lease (its id is in the lock file), once one does."""
    path = settings.home / LEASE_FILE
    wait_until(lambda: path.is_file() and path.read_text().strip(), "a leader")
    return int(path.read_text())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def page(word: str) -> Route:
    body = f"<html><head><title>Page {word}</title></head><body><p>{word} " * 3
    body += "is the word on this page, which a search finds after the capture.</p></body></html>"
    return Route(body=body.encode(), headers=[("Content-Type", "text/html")])


def test_killing_the_leader_loses_no_acknowledged_capture(home: Settings, web: WebServer) -> None:
    token = CliRunner().invoke(app, ["token", "create", "robot"]).stdout.strip().splitlines()[-1]
    release = threading.Event()
    slow = blocking_route(web, "/slow", release)
    words = {web.route(f"/page-{n}", page(f"zebra{n}q")): f"zebra{n}q" for n in range(PAGES)}
    urls = list(words)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    acknowledged: dict[str, list[str]] = {}

    def submit(batch: list[str]) -> None:
        try:
            response = httpx.post(
                f"{base}/api/v1/captures", json={"urls": batch}, headers=auth(token), timeout=30
            )
        except httpx.TransportError:
            return  # the process that took the request died: not acknowledged
        if response.status_code == 202:
            acknowledged[response.json()["id"]] = batch

    options = {"VESTIGE_CAPTURE_WORKERS": "2", "VESTIGE_SCHEDULER": "0"}
    with vestige_serve(port, "--workers", "2", env=options):
        first = leader_pid(home)
        submit([slow, *urls[:2]])
        for n in range(2, 10, 2):  # spread over both processes by the kernel
            submit(urls[n : n + 2])
        wait_until(lambda: "/slow" in web.hits, "the leader to capture")
        # More submissions while the leader dies: under load, nothing acknowledged is lost.
        submitter = threading.Thread(
            target=lambda: [submit(urls[n : n + 2]) for n in range(10, PAGES, 2)]
        )
        submitter.start()
        os.kill(first, signal.SIGKILL)
        release.set()
        submitter.join()

        # Another process took over (and uvicorn started a new one in place of the dead).
        wait_until(lambda: leader_pid(home) != first and alive(leader_pid(home)), "a new leader")
        deadline = time.monotonic() + 180
        for job_id in acknowledged:
            while (job := httpx.get(f"{base}/api/v1/jobs/{job_id}").json())["state"] != "done":
                assert time.monotonic() < deadline and job["state"] != "failed", job
                time.sleep(0.1)
        assert len(acknowledged) >= 6, acknowledged  # most submissions were acknowledged
        captured = [url for batch in acknowledged.values() for url in batch if url in words]
        for url in captured:
            # Any process answers, and each reads the index the leaders wrote.
            for _ in range(4):
                found = httpx.get(f"{base}/api/v1/search", params={"q": words[url]}).json()
                assert [hit["url"] for hit in found["hits"]] == [url], (url, found)
    verify = CliRunner().invoke(app, ["verify"])
    assert verify.exit_code == 0, verify.output
