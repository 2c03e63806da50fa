"""Helpers for the service tests: the app over HTTP, API tokens, records at chosen times."""

from __future__ import annotations

import gzip
import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from fastapi.testclient import TestClient

from api.app import create_app
from api.tokens import create_token
from archive.catalog import Record
from archive.config import Settings
from archive.records import new_row
from archive.repository import Repository
from archive.warc import Digest, WarcRecord


@contextmanager
def service(settings: Settings) -> Iterator[TestClient]:
    """The service over HTTP (in-process ASGI), lifespan run: repository and workers up."""
    with TestClient(create_app(settings)) as client:
        yield client


def new_token(client: TestClient, name: str = "tester") -> str:
    """A fresh API token in the service's catalog, as ``vestige token create`` makes one."""
    return create_token(client.app.state.repository.catalog, name)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_for_job(client: TestClient, job_id: str, token: str | None = None) -> dict:
    """Poll the job until it is finished (a generous bound so a hang fails, not a timing test)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def store_response(
    repository: Repository,
    url: str,
    date: datetime,
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
    status: str = "200 OK",
    collection: str = "default",
) -> Record:
    """Store a response record captured at ``date`` (as an earlier capture would have)."""
    head_lines = [f"HTTP/1.1 {status}"] + [f"{n}: {v}" for n, v in headers or []]
    head = ("\r\n".join(head_lines) + "\r\n\r\n").encode("latin-1")
    record = WarcRecord(
        "response",
        url,
        date,
        "application/http; msgtype=response",
        head=head,
        body=io.BytesIO(body),
        body_length=len(body),
        payload_digest=str(Digest(body)),
    )
    with repository.store.append(collection) as appender:
        location = appender.write_raw(record.serialise())
    row = new_row(
        record_id=record.record_id,
        record_type="response",
        target_uri=url,
        date=date,
        location=location,
        collection=collection,
        status=int(status.split()[0]),
        mime=dict((n.lower(), v) for n, v in headers or []).get("content-type"),
        payload_digest=record.payload_digest,
    )
    with repository.catalog.session() as session:
        session.add(row)
    return row


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)
