"""Crawls and follows through the service: a crawl is one job (its own id, visible in
``/api/v1/jobs/{id}`` and the job page, cancellable), and a followed feed brings in
its new entries when the scheduler runs it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from servicetools import auth, new_token, preserve, service

from archive.config import Settings
from archive.follow import run_due_follows
from conftest import Route, WebServer

HTML = [("Content-Type", "text/html; charset=utf-8")]


def html(title: str, links: list[str] = ()) -> Route:
    anchors = "".join(f'<p><a href="{href}">{href}</a></p>' for href in links)
    text = f"<p>{title} is a page of the test site about the detention of journalists.</p>"
    return Route(
        body=(
            f"<html><head><title>{title}</title></head>"
            f"<body><article><h1>{title}</h1>{text}{anchors}</article></body></html>"
        ).encode(),
        headers=HTML,
    )


def site(web: WebServer, *, slow: float = 0.0) -> str:
    """A section with two articles, one nested page two links away, and an off-site link."""
    web.route("/robots.txt", Route(404, b"", [("Content-Type", "text/plain")]))
    web.route("/reports/a.html", html("Report A", ["/reports/deep/c.html"]))
    web.route("/reports/b.html", Route(**{**html("Report B").__dict__, "delay": slow}))
    web.route("/reports/deep/c.html", html("Report C"))
    web.route("/elsewhere.html", html("Outside the section"))
    return web.route(
        "/reports/",
        html("Reports", ["/reports/a.html", "/reports/b.html", "/elsewhere.html"]),
    )


@pytest.fixture
def quiet(home: Settings) -> Settings:
    return home.model_copy(update={"scheduler": False, "crawl_delay": 0.0})


def wait_for(client, job_id: str, states: tuple[str, ...] = ("done", "cancelled")) -> dict:
    """Poll the job until it reaches one of ``states`` (a generous bound: a hang fails)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not reach {states}: {job}")


def test_a_crawl_is_a_job(quiet: Settings, web: WebServer) -> None:
    seed = site(web)
    with service(quiet) as client:
        token = new_token(client)
        request = {"seeds": seed, "scope": "prefix", "depth": 1}
        assert client.post("/api/v1/crawls", json=request).status_code == 401
        started = client.post("/api/v1/crawls", json=request, headers=auth(token))
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        assert started.headers["location"] == f"/api/v1/jobs/{job_id}"

        job = wait_for(client, job_id)
        assert job["kind"] == "crawl" and job["state"] == "done" and job["seeds"] == [seed]
        counts = job["counts"]
        # Depth 1 within the prefix: the section and its two articles, not the deeper
        # page nor the page outside the section.
        assert counts["captured"] == 3 and counts["queued"] == 0 and counts["failed"] == 0
        assert counts["skipped_scope"] == 1
        pages = {page["url"]: page for page in job["pages"]}
        assert set(pages) == {seed, web.url("/reports/a.html"), web.url("/reports/b.html")}
        assert all(page["status"] == 200 and page["document_id"] for page in pages.values())
        assert "/reports/deep/c.html" not in web.hits

        # Its pages are archived documents; the job is listed and has a page.
        document = pages[web.url("/reports/a.html")]["document_id"]
        assert client.get(f"/api/v1/documents/{document}").json()["title"] == "Report A"
        assert [c["id"] for c in client.get("/api/v1/crawls").json()] == [job_id]
        page = client.get(f"/jobs/{job_id}").text
        assert 'data-count="captured">3<' in page and f"/documents/{document}" in page

        # Bad crawls are refused with the reason.
        for bad, message in (
            ({"seeds": "ftp://example.org/"}, "http"),
            ({"seeds": seed, "exclude": ["("]}, "regular expression"),
            ({"seeds": seed, "depth": -1}, "depth"),
        ):
            refused = client.post("/api/v1/crawls", json=bad, headers=auth(token))
            assert refused.status_code == 422 and message in refused.text, refused.text


def test_cancelling_a_crawl_job(quiet: Settings, web: WebServer) -> None:
    seed = site(web, slow=1.0)
    with service(quiet) as client:
        token = new_token(client)
        request = {"seeds": seed, "scope": "host", "depth": 3}
        job_id = client.post("/api/v1/crawls", json=request, headers=auth(token)).json()["id"]
        # Starting the same crawl while it runs is the same job.
        again = client.post("/api/v1/crawls", json=request, headers=auth(token)).json()
        assert again["id"] == job_id
        assert client.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 401
        cancelled = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=auth(token))
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        job = wait_for(client, job_id, ("cancelled",))
        deadline = time.monotonic() + 60
        while client.app.state.crawls.running_here(job_id):  # it stops after the pages in hand
            assert time.monotonic() < deadline
            time.sleep(0.1)
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        assert job["state"] == "cancelled" and job["finished"] is not None
        assert job["counts"]["captured"] < 5  # it did not run to the end

        # Resuming continues where it stopped, to the end.
        resumed = client.post(f"/api/v1/jobs/{job_id}/resume", headers=auth(token))
        assert resumed.status_code == 202 and resumed.json()["id"] == job_id
        assert wait_for(client, job_id, ("done",))["counts"]["captured"] == 5
        assert all(web.hits.count(path) == 1 for path in ("/reports/a.html", "/reports/b.html"))

        # DELETE cancels too; a capture job cannot be cancelled; unknown jobs are 404.
        assert client.delete(f"/api/v1/jobs/{job_id}", headers=auth(token)).status_code == 200
        capture = preserve(client, token, [web.url("/elsewhere.html")])
        refused = client.post(f"/api/v1/jobs/{capture['id']}/cancel", headers=auth(token))
        assert refused.status_code == 409
        assert client.delete("/api/v1/jobs/nothing", headers=auth(token)).status_code == 404
        assert client.get("/api/v1/jobs/nothing").status_code == 404
        assert client.post("/api/v1/jobs/nothing/resume", headers=auth(token)).status_code == 404


def feed(entries: list[str]) -> Callable[[object], Route]:
    def answer(_: object) -> Route:
        items = "".join(
            f"<item><title>{path}</title><link>{link}</link></item>" for path, link in entries
        )
        body = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Reports</title>'
            f"<link>http://example.org/</link>{items}</channel></rss>"
        )
        return Route(body=body.encode(), headers=[("Content-Type", "application/rss+xml")])

    return answer


def test_following_a_feed_brings_in_its_entries(home: Settings, web: WebServer) -> None:
    site(web)
    entries = [(p, web.url(p)) for p in ("/reports/a.html", "/reports/b.html")]
    feed_url = web.route("/reports/feed.xml", feed(entries))
    settings = home.model_copy(update={"scheduler_interval": 0.2, "crawl_delay": 0.0})
    with service(settings) as client:
        token = new_token(client)
        bad = client.post(
            "/api/v1/follows", json={"url": feed_url, "every": "1s"}, headers=auth(token)
        )
        assert bad.status_code == 422 and "once a minute" in bad.text
        made = client.post(
            "/api/v1/follows", json={"url": feed_url, "every": "1h"}, headers=auth(token)
        )
        assert made.status_code == 201, made.text
        follow = made.json()
        assert follow["every"] == 3600 and follow["sitemaps"] is False  # a feed

        deadline = time.monotonic() + 120
        while True:
            detail = client.get(f"/api/v1/follows/{follow['id']}").json()
            if detail["last_run"] and not client.app.state.scheduler.busy:
                break
            assert time.monotonic() < deadline, detail
            time.sleep(0.2)
        assert {page["url"] for page in detail["pages"]} == {link for _, link in entries}
        assert all(page["document_id"] for page in detail["pages"])
        [run] = detail["runs"]
        assert run["follow_id"] == follow["id"] and run["counts"]["captured"] == 2
        assert client.get("/api/v1/follows").json()[0]["last_captured"] == 2
        page = client.get(f"/follows/{follow['id']}").text
        assert f"/documents/{detail['pages'][0]['document_id']}" in page
        assert web.url("/reports/b.html") in page and f"/jobs/{run['id']}" in page
        assert feed_url in client.get("/follow").text

        assert client.delete(f"/api/v1/follows/{follow['id']}").status_code == 401
        assert (
            client.delete(f"/api/v1/follows/{follow['id']}", headers=auth(token)).status_code == 204
        )
        assert client.get(f"/api/v1/follows/{follow['id']}").status_code == 404


def test_two_schedulers_run_a_due_follow_once(quiet: Settings, web: WebServer) -> None:
    site(web)
    entries = [(p, web.url(p)) for p in ("/reports/a.html", "/reports/b.html")]
    feed_url = web.route("/reports/feed.xml", feed(entries))
    with service(quiet) as client:
        token = new_token(client)
        client.post("/api/v1/follows", json={"url": feed_url, "every": "1h"}, headers=auth(token))
        repository = client.app.state.repository
        results: list[list] = []
        start = threading.Barrier(2)

        def scheduler() -> None:
            start.wait()
            results.append(run_due_follows(repository, delay=0))

        threads = [threading.Thread(target=scheduler) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert sorted(len(ran) for ran in results) == [0, 1]  # one claimed it, one did not
        assert web.hits.count("/reports/feed.xml") == 1
        assert web.hits.count("/reports/a.html") == 1
        [follow] = client.get("/api/v1/follows").json()
        assert follow["last_captured"] == 2 and follow["next_run"] > follow["last_run"]
