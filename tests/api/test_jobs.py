"""Capture jobs survive a restart: a clean one, and a killed server (real uvicorn)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from servicetools import auth, new_token, service, wait_for_job
from sqlalchemy import select
from typer.testing import CliRunner

from api.cli import app
from api.models import JobItem
from archive.catalog import Catalog
from archive.config import Settings
from conftest import Route, WebServer


def wait_until(condition, what: str) -> None:
    """Wait for ``condition()`` (a generous bound, so a hang fails rather than blocks)."""
    deadline = time.monotonic() + 60
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def blocking_route(web: WebServer, path: str, release: threading.Event) -> str:
    """A page whose response waits until ``release`` is set."""

    def respond(_handler) -> Route:
        release.wait(120)
        return Route(body=b"<p>slow</p>", headers=[("Content-Type", "text/html")])

    return web.route(path, respond)


def item_states(settings: Settings, job_id: str) -> list[str]:
    catalog = Catalog(settings.catalog_url)
    try:
        with catalog.session() as session:
            return list(
                session.scalars(
                    select(JobItem.state).where(JobItem.job_id == job_id).order_by(JobItem.position)
                )
            )
    finally:
        catalog.dispose()


def test_queued_urls_are_captured_after_a_restart(home: Settings, web: WebServer) -> None:
    settings = home.model_copy(update={"capture_workers": 1})
    release = threading.Event()
    slow = blocking_route(web, "/slow", release)
    others = [web.route(f"/p{n}", Route(body=f"page {n}".encode())) for n in range(3)]

    client_context = service(settings)
    client = client_context.__enter__()
    token = new_token(client)
    job_id = client.post(
        "/api/v1/captures", json={"urls": [slow, *others]}, headers=auth(token)
    ).json()["id"]
    wait_until(lambda: "/slow" in web.hits, "the worker to fetch the slow page")
    jobs = client.app.state.jobs
    stopping = threading.Thread(target=client_context.__exit__, args=(None, None, None))
    stopping.start()
    wait_until(lambda: jobs.stopping, "the service to begin stopping")
    release.set()  # the URL in hand finishes; the queued ones wait for the next start
    stopping.join()
    assert item_states(settings, job_id) == ["done", "queued", "queued", "queued"]

    with service(settings) as client:
        job = wait_for_job(client, job_id)
    assert job["state"] == "done"
    assert [item["state"] for item in job["urls"]] == ["done"] * 4
    assert [item["final_url"] for item in job["urls"]] == [slow, *others]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def vestige_serve(
    port: int, *options: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """``vestige serve`` in its own process (the environment carries VESTIGE_HOME)."""
    command = [str(Path(sys.executable).with_name("vestige")), "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, *options],
        env={**os.environ, "VESTIGE_CAPTURE_WORKERS": "1", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def answers() -> bool:
            assert process.poll() is None, "vestige serve exited"
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answers, "vestige serve to answer")
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(60)


def test_killed_server_resumes_jobs_and_replays_over_http(home: Settings, web: WebServer):
    result = CliRunner().invoke(app, ["token", "create", "robot"])
    token = result.stdout.strip().splitlines()[-1]
    release = threading.Event()
    slow = blocking_route(web, "/slow", release)
    other = web.route(
        "/other",
        Route(body=b"<p>other</p>", headers=[("Content-Type", "text/html"), ("Set-Cookie", "a=b")]),
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with vestige_serve(port) as process:
        response = httpx.post(
            f"{base}/api/v1/captures", json={"urls": [slow, other]}, headers=auth(token)
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        wait_until(lambda: "/slow" in web.hits, "the capture to start")
        process.send_signal(signal.SIGKILL)
        process.wait(60)
    assert item_states(home, job_id) == ["running", "queued"]
    release.set()

    with vestige_serve(port):
        deadline = time.monotonic() + 60
        while (job := httpx.get(f"{base}/api/v1/jobs/{job_id}").json())["state"] != "done":
            assert time.monotonic() < deadline and job["state"] != "failed", job
            time.sleep(0.05)
        assert [item["status"] for item in job["urls"]] == [200, 200]
        replay = httpx.get(base + job["urls"][1]["replay"])
        assert replay.status_code == 200 and replay.content == b"<p>other</p>"
        assert replay.headers["content-security-policy"].startswith("sandbox;")
        assert replay.headers["x-content-type-options"] == "nosniff"
        assert "set-cookie" not in replay.headers
        status = httpx.get(f"{base}/api/v1/status").json()
        assert status["archive"]["captures"] == 2 and status["jobs"]["done"] == 1
    verify = CliRunner().invoke(app, ["verify"])
    assert verify.exit_code == 0, verify.output
