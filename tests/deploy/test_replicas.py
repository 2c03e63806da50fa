"""Two `vestige serve` processes on loopback share one PostgreSQL catalog and one
OpenSearch node: captures and jobs are coordinated through the database, so every
URL is captured once, every job finishes, and a replica that dies loses nothing."""

# ruff: noqa: F811 - fixtures imported from pgtools and searchtools

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from pgtools import postgres_url  # noqa: F401 - fixtures
from sqlalchemy import select

from api.models import JobItem
from api.tokens import create_token
from archive.catalog import Catalog, Record
from conftest import Route, WebServer

sys.path.insert(0, str(Path(__file__).parents[1] / "search"))

from searchtools import cluster_url  # noqa: F401 - fixtures

VESTIGE = str(Path(sys.executable).parent / "vestige")


def article(n: int) -> bytes:
    return (
        f"<html><head><title>Dispatch {n}</title></head><body><article><p>"
        + f"Dispatch {n}: the court heard testimony from detained journalists. " * 12
        + "</p></article></body></html>"
    ).encode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Replica:
    """One `vestige serve` process on a free loopback port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.url = f"http://127.0.0.1:{_free_port()}"
        port = self.url.rsplit(":", 1)[1]
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [VESTIGE, "serve", "--host", "127.0.0.1", "--port", port],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"vestige serve did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)

    def submit(self, token: str, urls: list[str]) -> str:
        response = httpx.post(
            f"{self.url}/api/v1/captures",
            json={"urls": urls},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def job(self, job_id: str) -> dict:
        return httpx.get(f"{self.url}/api/v1/jobs/{job_id}", timeout=30).json()

    def wait(self, job_id: str) -> dict:
        """Poll until the job is finished (a generous bound: a hang fails, not a timing test)."""
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["state"] in ("done", "failed"):
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} did not finish: {job}")

    def kill(self) -> None:
        """Die at once, as a crashed host would (its child processes too)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@pytest.fixture
def shared(postgres_url: str, cluster_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of replicas sharing one catalog, one engine and one WARC directory."""
    alias = f"vestige-test-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "VESTIGE_HOME": str(tmp_path / "home"),
        "VESTIGE_DATABASE_URL": postgres_url,
        "VESTIGE_SEARCH_URL": cluster_url,
        "VESTIGE_SEARCH_INDEX": alias,
        "VESTIGE_CAPTURE_ALLOW_PRIVATE": "1",
        "VESTIGE_SCHEDULER": "0",
        "VESTIGE_CAPTURE_WORKERS": "2",
    }
    yield env
    indexes = httpx.get(f"{cluster_url}/{alias}-*", timeout=30).json()
    for index in indexes:
        httpx.delete(f"{cluster_url}/{index}", timeout=30)


@contextmanager
def replicas(env: dict[str, str], logs: Path, count: int = 2) -> Iterator[list[Replica]]:
    started: list[Replica] = []
    try:
        for number in range(count):
            started.append(Replica(env, logs / f"replica-{number}.log"))
        yield started
    finally:
        for replica in started:
            replica.stop()


def new_token(env: dict[str, str]) -> str:
    catalog = Catalog(env["VESTIGE_DATABASE_URL"])
    try:
        return create_token(catalog, f"tester-{uuid.uuid4().hex[:6]}")
    finally:
        catalog.dispose()


def responses_by_url(env: dict[str, str]) -> Counter[str]:
    catalog = Catalog(env["VESTIGE_DATABASE_URL"])
    try:
        with catalog.session() as session:
            urls = session.scalars(select(Record.url).where(Record.record_type == "response"))
            return Counter(urls)
    finally:
        catalog.dispose()


def indexed(env: dict[str, str]) -> int:
    search = env["VESTIGE_SEARCH_URL"]
    alias = env["VESTIGE_SEARCH_INDEX"]
    httpx.post(f"{search}/{alias}/_refresh", timeout=60)
    return httpx.get(f"{search}/{alias}/_count", timeout=60).json()["count"]


def test_replicas_share_captures_and_jobs(
    shared: dict[str, str], web: WebServer, tmp_path: Path
) -> None:
    urls = [
        web.route(f"/dispatch/{n}", Route(body=article(n), headers=[("Content-Type", "text/html")]))
        for n in range(16)
    ]
    token = new_token(shared)
    with replicas(shared, tmp_path) as (first, second):
        # Eight jobs of two URLs, sent at once, half to each replica.
        def submit(number: int) -> tuple[Replica, str]:
            replica = (first, second)[number % 2]
            return replica, replica.submit(token, urls[2 * number : 2 * number + 2])

        with ThreadPoolExecutor(8) as pool:
            submitted = list(pool.map(submit, range(8)))
        # Either replica answers for any job: the jobs live in the catalog.
        jobs = [(second if replica is first else first).wait(job) for replica, job in submitted]

    assert [job["state"] for job in jobs] == ["done"] * 8
    assert sorted(item["url"] for job in jobs for item in job["urls"]) == sorted(urls)
    # Every URL captured exactly once, by both processes between them.
    assert responses_by_url(shared) == Counter(urls)
    warc_files = {item["warc_file"] for job in jobs for item in job["urls"]}
    writers = {name.rsplit("/", 1)[1].split("-")[3] for name in warc_files}  # the writer's pid
    assert len(writers) >= 2
    # Ingested and indexed once each, in the one engine.
    assert indexed(shared) == len(urls)


def test_a_replica_that_dies_loses_no_job(
    shared: dict[str, str], web: WebServer, tmp_path: Path
) -> None:
    # Slow pages, so the replica dies with URLs running and queued.
    urls = [
        web.route(
            f"/slow/{n}",
            Route(
                body=[article(n)[:200], article(n)[200:]],
                delay=0.5,
                headers=[("Content-Type", "text/html")],
            ),
        )
        for n in range(8)
    ]
    token = new_token(shared)
    with replicas(shared, tmp_path) as (doomed, survivor):
        job_id = doomed.submit(token, urls)
        deadline = time.monotonic() + 60
        while doomed.job(job_id)["state"] == "queued" and time.monotonic() < deadline:
            time.sleep(0.1)
        doomed.kill()
        job = survivor.wait(job_id)

    assert job["state"] == "done", job
    assert [item["state"] for item in job["urls"]] == ["done"] * len(urls)
    captured = responses_by_url(shared)
    assert set(captured) == set(urls)
    # Each URL's job result points at a catalogued capture.
    catalog = Catalog(shared["VESTIGE_DATABASE_URL"])
    try:
        with catalog.session() as session:
            items = session.scalars(select(JobItem).where(JobItem.job_id == job_id)).all()
            for item in items:
                rows = session.scalars(select(Record).where(Record.capture_id == item.capture_id))
                assert "response" in {row.record_type for row in rows}, item.url
    finally:
        catalog.dispose()
    assert indexed(shared) == len(urls)
