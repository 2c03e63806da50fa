"""Capturing with headless Chromium (Debian's, driven by Playwright) from real loopback
servers: every resource the page loads is in the WARC, the address guard holds for
each of the browser's requests, the screenshot and rendered DOM are stored, limits
and failures give clear errors."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browsersite import (
    ARTICLE,
    PAGE_HEIGHT,
    PRIVATE_IP,
    RESOURCES,
    STORY,
    STORY_COOKIES,
    Listener,
    kill_chromium,
    png,
    png_size,
    serve_site,
    serve_story,
)
from sqlalchemy import select
from test_capture_basic import configure, of_type, stored_records
from typer.testing import CliRunner

from api.cli import app
from archive.browser import BrowserCapturer, browser_summaries
from archive.catalog import Record
from archive.config import Settings, get_settings
from archive.fetch import Fetcher
from archive.repository import Repository
from conftest import Route, WebServer, missing_part
from ingest.models import Document

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(autouse=True)
def chromium() -> None:
    if not CHROMIUM.is_file():
        missing_part("Chromium", "apt-get install chromium")


class OnlyTheSite(Fetcher):
    """The guard as configured by default (VESTIGE_CAPTURE_ALLOW_PRIVATE off), except
    that the test site's own address, 127.0.0.2, counts as public: 127.0.0.1 and every
    other private address stay refused."""

    def allows_private(self, host: str) -> bool:
        return host == "127.0.0.2"


@pytest.fixture
def guarded(home: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("VESTIGE_CAPTURE_ALLOW_PRIVATE")
    return configure(monkeypatch)


@pytest.fixture
def site() -> Iterator[tuple[WebServer, Listener]]:
    """The browser test site on 127.0.0.2, and the loopback listener its scripts aim at."""
    web = WebServer("127.0.0.2")
    secret = Listener()
    yield web, secret
    web.close()
    secret.close()


def capture(settings: Settings, url: str, fetcher: Fetcher | None = None):
    repository = Repository(settings)
    capturer = BrowserCapturer(repository, fetcher)
    try:
        return capturer.capture(url)
    finally:
        capturer.close()
        repository.close()


def fields(record) -> list[tuple[str, str]]:
    lines = record.payload.decode().splitlines()
    return [tuple(line.split(": ", 1)) for line in lines if line]


def test_every_resource_screenshot_and_dom_are_stored_and_the_guard_holds(
    guarded: Settings, site
) -> None:
    web, secret = site
    url = serve_site(web, secret.port)
    result = capture(guarded, url, OnlyTheSite(guarded))
    assert result.ok, result.error
    assert (result.status, result.final_url) == (200, url)
    assert result.resources == len(RESOURCES)

    records = stored_records(guarded)  # after warcio check passes
    responses = {r["WARC-Target-URI"]: r for r in of_type(records, "response")}
    assert set(responses) == {web.url(path) for path in ["/", *RESOURCES]}
    requests = {r["WARC-Concurrent-To"]: r for r in of_type(records, "request")}
    for target, response in responses.items():
        request = requests[response["WARC-Record-ID"]]
        assert request["WARC-Target-URI"] == target
    assert b"Quokkaberry" in responses[web.url("/article.json")].payload
    assert b"Quokkaberry" not in responses[url].payload  # only the script puts it there

    shot, dom = of_type(records, "resource")
    page_id = responses[url]["WARC-Record-ID"]
    assert shot["WARC-Target-URI"] == f"urn:screenshot:{url}"
    assert shot["Content-Type"] == "image/png"
    assert png_size(shot.payload) == (1280, PAGE_HEIGHT)
    assert dom["WARC-Target-URI"] == f"urn:dom:{url}"
    assert ARTICLE in dom.payload.decode()
    assert 'src="/lazy-2.png"' in dom.payload.decode()  # the lazy images were loaded
    assert shot["WARC-Concurrent-To"] == dom["WARC-Concurrent-To"] == page_id
    repository = Repository(guarded)
    try:
        with repository.catalog.session() as session:
            page_row = session.get(Record, result.response_id)  # the page, not its screenshot
    finally:
        repository.close()
    assert page_row is not None and page_row.record_id == page_id

    (metadata,) = of_type(records, "metadata")
    listed = fields(metadata)
    assert ("mode", "browser") in listed
    assert ("viewport", "1280x800") in listed
    assert any(name == "browser" and value.startswith("Chromium ") for name, value in listed)
    resources = [value.split()[0] for name, value in listed if name == "resource"]
    assert sorted(resources) == sorted(web.url(path) for path in RESOURCES)
    blocked = [value for name, value in listed if name == "blocked"]
    assert any(v.startswith(f"http://127.0.0.1:{secret.port}/steal refused") for v in blocked)
    assert any(v.startswith(f"http://{PRIVATE_IP}/pixel.png refused") for v in blocked)
    assert any(v.startswith(web.url("/leave")) and "loopback" in v for v in blocked)
    # Neither the scripts, the redirect nor Chromium's preconnect reached loopback.
    assert secret.connections == 0


def test_a_second_capture_stores_unchanged_resources_as_revisits(home: Settings, web) -> None:
    secret = Listener()
    try:
        url = serve_site(web, secret.port)
        assert capture(home, url).ok
        again = capture(home, url)
    finally:
        secret.close()
    assert again.ok and again.revisit
    records = stored_records(home)
    second = records[len(records) // 2 :]
    hero = [r.type for r in second if r.headers.get("WARC-Target-URI") == web.url("/hero.png")]
    assert hero == ["revisit", "request"]


def test_requests_carry_the_browsers_cookies_and_headers_through_a_redirect(
    home: Settings, web
) -> None:
    first = serve_story(web)
    page = web.url("/story/")
    result = capture(home, first)
    assert result.ok, result.error
    assert (result.status, result.final_url) == (200, page)

    records = stored_records(home)
    responses = {r["WARC-Target-URI"]: r for r in of_type(records, "response")}
    assert responses[first].http.get_statuscode() == "302"
    story = responses[web.url("/story/body.json")]
    assert story.http.get_statuscode() == "200"
    assert STORY in story.payload.decode()
    [request] = [
        r for r in of_type(records, "request") if r["WARC-Concurrent-To"] == story["WARC-Record-ID"]
    ]
    sent = request.http  # the request as sent, in the record
    cookie = sent.get_header("Cookie")
    assert all(c in cookie for c in STORY_COOKIES), cookie
    assert sent.get_header("Referer") == page
    assert sent.get_header("X-Requested-With") == "fetch"
    assert sent.get_header("Accept-Encoding") == "gzip, deflate"  # what the archive reads
    # The image's redirect to another origin: the cookies went to the page's origin only.
    sent = {r["WARC-Target-URI"]: r.http for r in of_type(records, "request")}
    assert "session=s3cr3t" in sent[web.url("/story/away.png")].get_header("Cookie")
    landed = web.url("/story/landed.png").replace("127.0.0.1", "localhost")
    assert sent[landed].get_header("Cookie") is None
    assert responses[landed].http.get_statuscode() == "200"
    [dom] = [r for r in of_type(records, "resource") if r["WARC-Target-URI"] == f"urn:dom:{page}"]
    assert STORY in dom.payload.decode()


def test_too_many_resources_keeps_the_first_and_says_so(home, web, monkeypatch) -> None:
    settings = configure(monkeypatch, browser_max_resources=3)
    secret = Listener()
    try:
        result = capture(settings, serve_site(web, secret.port))
    finally:
        secret.close()
    assert result.ok, result.error
    assert result.resources == 3
    assert any("too many resources" in w and "BROWSER_MAX_RESOURCES" in w for w in result.warnings)
    assert any("too many resources" in b.reason for b in result.blocked)


def test_missing_chromium_is_one_clear_line(home, web, monkeypatch) -> None:
    settings = configure(monkeypatch, browser_path="/nonexistent/chromium")
    result = capture(settings, web.route("/", Route(body=b"x")))
    assert result.error == (
        "Chromium is not installed at /nonexistent/chromium (apt-get install chromium)"
    )
    assert web.hits == []


def test_a_bad_browser_setting_is_one_line(home, monkeypatch) -> None:
    monkeypatch.setenv("VESTIGE_BROWSER_MEMORY", "10")
    get_settings.cache_clear()
    done = CliRunner().invoke(app, ["capture", "--browser", "http://example.org/"])
    assert done.exit_code == 2
    assert done.output == (
        "error: invalid VESTIGE_BROWSER_MEMORY='10': Input should be greater than or equal to 64\n"
    )


def test_a_page_that_never_loads_times_out(home, web, monkeypatch) -> None:
    settings = configure(monkeypatch, browser_timeout=1)
    slow = web.route("/slow", Route(body=[b"<html>", b"<p>late</p>"] * 3, delay=1.0))
    result = capture(settings, slow)
    assert not result.ok
    assert result.error.startswith(f"timed out: {slow} did not load within 1 s")
    assert "VESTIGE_BROWSER_TIMEOUT" in result.error
    assert stored_records(home) == []


def test_a_refused_page_stores_nothing(guarded, web) -> None:
    result = capture(guarded, web.route("/", Route(body=b"x")))
    assert result.error.startswith("refused '127.0.0.1'")
    assert web.hits == []
    assert stored_records(guarded) == []


def run(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def found_only(settings: Settings, query: str, url: str) -> list[Document]:
    """Search ``query``, which must find ``url`` only; every document in the archive."""
    found = run("search", query, "--json")
    assert found.exit_code == 0, found.output
    [hit] = json.loads(found.stdout)["hits"]
    assert hit["url"] == url
    repository = Repository(settings)
    try:
        with repository.catalog.session() as session:
            return list(session.scalars(select(Document)))
    finally:
        repository.close()


def test_cli_browser_capture_makes_the_script_built_article_searchable(home, web) -> None:
    secret = Listener()
    try:
        url = serve_site(web, secret.port)
        done = run("capture", "--browser", url)
    finally:
        secret.close()
    assert done.exit_code == 0, done.output
    assert f"200  {url}  default/" in done.stdout
    # Loopback is allowed here: the scripts' requests to the listener count as well.
    assert re.search(r"\(browser: \d+ resources, screenshot", done.stdout)
    documents = found_only(home, "Quokkaberry", url)
    # The page's document is made from the rendered DOM; the screenshot and the DOM
    # are not documents of their own (the iframe's page is one).
    assert sorted(d.url for d in documents) == [url, web.url("/frame.html")]
    [document] = [d for d in documents if d.url == url]
    assert document.extraction.startswith("dom:")
    assert ARTICLE in document.text


def test_auto_mode_uses_the_browser_only_for_script_built_pages(home, web) -> None:
    secret = Listener()
    try:
        url = serve_site(web, secret.port)
        plain = web.route(
            "/plain",
            Route(
                body=f"<p>{ARTICLE}</p><p>{ARTICLE}</p><script>1</script>".encode(),
                headers=[("Content-Type", "text/html")],
            ),
        )
        done = run("capture", "--no-ingest", "--mode", "auto", url, plain)
    finally:
        secret.close()
    assert done.exit_code == 0, done.output
    lines = done.stdout.strip().splitlines()
    assert "(browser:" in lines[0] and "(browser:" not in lines[1]
    assert f"warning: {url}: the page's HTML has almost no text but scripts" in done.stderr
    metadata = [r for r in stored_records(home) if r.type == "metadata"]
    modes = [dict(fields(r)).get("mode", "http") for r in metadata]
    assert modes == ["http", "browser", "http"]  # the page over HTTP, then with the browser


@pytest.mark.parametrize("later", [False, True], ids=["on-capture", "vestige-ingest"])
def test_auto_mode_makes_a_script_built_page_searchable_though_its_html_is_a_revisit(
    home, web, later: bool
) -> None:
    page = web.url("/story/")
    done = run("capture", "--mode", "auto", *(["--no-ingest"] if later else []), serve_story(web))
    assert done.exit_code == 0, done.output
    assert "(revisit) (browser: 2 resources, screenshot)" in done.stdout  # same HTML twice
    if later:  # a whole run, which reads revisits after every response
        for command in ("ingest", "index"):
            finished = run(command)
            assert finished.exit_code == 0, finished.output
    documents = [d for d in found_only(home, "Pelican wardens", page) if d.url == page]
    # The HTTP capture's document has the shell's text; the browser capture's, the story.
    plain, rendered = sorted(documents, key=lambda d: d.extraction.startswith("dom:"))
    assert STORY not in plain.text and STORY in rendered.text
    assert rendered.extraction.startswith("dom:") and rendered.revisit_of == plain.record_id


@pytest.mark.parametrize("command", ["crawl", "follow"])
def test_crawl_and_follow_with_browser_load_pages_in_chromium_the_rest_over_http(
    home, web, command: str
) -> None:
    secret = Listener()
    try:
        serve_site(web, secret.port)
        seed = web.route(
            "/start",
            Route(
                body=b'<html><body><a href="/">the article</a></body></html>',
                headers=[("Content-Type", "text/html")],
            ),
        )
        if command == "crawl":
            done = run("crawl", seed, "--browser", "--no-ingest", "--delay", "0", "--depth", "1")
        else:
            added = run("follow", "add", seed, "--browser")
            assert added.exit_code == 0 and "with a browser" in added.stdout, added.output
            done = run("follow", "run", "--no-ingest", "--delay", "0")
    finally:
        secret.close()
    assert done.exit_code == 0, done.output
    repository = Repository(home)
    try:
        versions = {url: repository.catalog.versions(url) for url in (seed, web.url("/"))}
        assert all(versions.values()), versions
        robots = repository.catalog.versions(web.url("/robots.txt"))
        browsers = browser_summaries(
            repository, [row.capture_id or "" for rows in versions.values() for row in rows]
        )
        assert {row.capture_id for rows in versions.values() for row in rows} == set(browsers)
        assert browser_summaries(repository, [robots[0].capture_id or ""]) == {}
    finally:
        repository.close()


def test_a_crashed_browser_fails_that_page_and_is_restarted_for_the_next(home, web) -> None:
    release = threading.Event()

    def stuck(_handler) -> Route:
        release.wait(60)
        return Route(body=png(4, 4, (0, 0, 0)), headers=[("Content-Type", "image/png")])

    web.route("/stuck.png", stuck)
    page = web.route(
        "/page",
        Route(body=b'<p>x</p><img src="/stuck.png">', headers=[("Content-Type", "text/html")]),
    )
    fine = web.route("/fine", Route(body=b"<p>fine</p>", headers=[("Content-Type", "text/html")]))
    repository = Repository(home)
    capturer = BrowserCapturer(repository)
    try:
        results: list = []
        worker = threading.Thread(target=lambda: results.append(capturer.capture(page)))
        worker.start()
        deadline = time.monotonic() + 60
        while "/stuck.png" not in web.hits:
            assert time.monotonic() < deadline, "the page never asked for its image"
            time.sleep(0.05)
        kill_chromium()
        release.set()
        worker.join(120)
        [crashed] = results
        assert crashed.error == f"the browser crashed loading {page}; it will be restarted"
        after = capturer.capture(fine)
        assert after.ok, after.error
    finally:
        release.set()
        capturer.close()
        repository.close()
    assert [r.type for r in stored_records(home) if r.type != "warcinfo"] == [
        *("response", "request", "resource", "resource", "metadata")
    ]


# Allocates (and touches) 3 GiB as it is parsed, before the page has loaded.
HOG = b"""<!doctype html><p>hungry</p><script>
const hog = [];
while (hog.length < 96) { const block = new Uint8Array(32 << 20); block.fill(7); hog.push(block); }
</script>"""


def test_a_page_over_the_memory_limit_fails_and_stores_nothing(home, web, monkeypatch) -> None:
    settings = configure(monkeypatch, browser_memory=700)
    hog = web.route("/hog", Route(body=HOG, headers=[("Content-Type", "text/html")]))
    fine = web.route("/fine", Route(body=b"<p>fine</p>", headers=[("Content-Type", "text/html")]))
    repository = Repository(settings)
    capturer = BrowserCapturer(repository)
    try:
        over = capturer.capture(hog)
        assert not over.ok
        assert over.error.startswith("the browser used ")
        assert f"loading {hog}, over VESTIGE_BROWSER_MEMORY (700 MiB)" in over.error
        assert stored_records(settings) == []  # nothing of the page was acknowledged
        after = capturer.capture(fine)
        assert after.ok, after.error
    finally:
        capturer.close()
        repository.close()
    targets = {r["WARC-Target-URI"] for r in stored_records(settings) if r.type == "response"}
    assert targets == {fine}
