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
from conftest import Route, WebServer


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


# Articles in English, Simplified and Traditional Chinese, served by the test web server.
ARTICLES = {
    "/en/tribunal.html": (
        "<html><head><title>China Tribunal final judgment</title>"
        "<meta name='author' content='Jane Doe'>"
        "<meta property='article:published_time' content='2019-06-17'></head>"
        "<body><article><h1>China Tribunal final judgment</h1>"
        "<p>The tribunal concluded that forced organ harvesting from prisoners of conscience "
        "has been committed for years. Witnesses described detention and blood tests.</p>"
        "<p>The evidence &amp; testimony &lt;b&gt;given&lt;/b&gt; by many witnesses over many "
        "months in London was weighed by the panel.</p></article></body></html>"
    ),
    "/zh/report.html": (
        "<html lang='zh'><head><meta charset='utf-8'><title>法轮功学员遭强制摘取器官的报告</title>"
        "<meta property='article:published_time' content='2021-03-02'></head>"
        "<body><article><h1>法轮功学员遭强制摘取器官的报告</h1>"
        "<p>独立调查委员会发布报告。指出良心犯被强制摘取器官的证据确凿。报告援引了多名证人的证词。"
        "以及医院等待时间异常短暂的数据。</p>"
        "<p>调查人员表示。这些证据显示系统性的侵犯人权行为持续多年。</p></article></body></html>"
    ),
    "/zh-hant/report.html": (
        "<html lang='zh-Hant'><head><meta charset='utf-8'><title>人權報告 器官摘取</title>"
        "<meta property='article:published_time' content='2020-01-05'></head>"
        "<body><article><h1>人權報告 器官摘取</h1>"
        "<p>這份報告記錄了法輪功學員在拘留期間遭受的迫害。包括強制血液檢測和器官摘取的證詞。"
        "調查人員表示調查仍在持續進行。更多證人將會出面作證。</p></article></body></html>"
    ),
}


def serve_articles(web: WebServer) -> dict[str, str]:
    """Serve :data:`ARTICLES` on the test web server; their URLs by path."""
    return {
        path: web.route(
            path, Route(body=html.encode(), headers=[("Content-Type", "text/html; charset=utf-8")])
        )
        for path, html in ARTICLES.items()
    }


def preserve(client: TestClient, token: str, urls: list[str], collection: str = "default") -> dict:
    """Capture ``urls`` through the API and wait until the job is finished."""
    accepted = client.post(
        "/api/v1/captures", json={"urls": urls, "collection": collection}, headers=auth(token)
    )
    assert accepted.status_code == 202, accepted.text
    return wait_for_job(client, accepted.json()["id"])
