"""End to end: capture real pages, ingest them, index them, search from the command line."""

# ruff: noqa: RUF001 - Chinese text has full-width punctuation

from __future__ import annotations

import json
import re
import shutil
import time

import pytest
import tantivy
from fastapi.testclient import TestClient
from searchtools import cluster_url, search_home  # noqa: F401 - fixtures
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app
from archive.config import get_settings
from archive.repository import Repository
from conftest import Route
from search import indexer
from search.engine import open_backend
from search.query import parse

# The first test on the cluster may resolve OpenSearch from Maven Central and start it.
pytestmark = pytest.mark.timeout(900)

ENGLISH = b"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Tribunal finds forced organ harvesting</title>
<meta property="article:published_time" content="2019-06-17T10:00:00Z"></head>
<body><article><h1>Tribunal finds forced organ harvesting</h1>
<p>The independent tribunal concluded that forced organ harvesting from prisoners of
conscience has been committed in China for years, on a significant scale.</p>
<p>Campaigners welcomed the judgment and called on governments to act on its findings,
saying that the evidence heard by the tribunal over many months was overwhelming.</p>
</article></body></html>"""

CHINESE = """<!doctype html><html lang="zh-Hant"><head><meta charset="utf-8">
<title>器官移植調查報告</title></head>
<body><article><h1>器官移植調查報告</h1>
<p>獨立調查指出，中共強制摘取法輪功學員器官，規模龐大，持續多年。律師要求國際社會關注此事。</p>
<p>報告說，證人證詞和醫院記錄顯示，器官移植的等待時間異常短暫，這與強制摘取的指控相符。</p>
</article></body></html>""".encode()


def run(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def search_json(*args: str) -> dict:
    result = run("search", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_capture_makes_pages_searchable(search_home, web):  # noqa: F811 - the fixture
    english = web.route("/tribunal", html(ENGLISH))
    chinese = web.route("/zh/report", html(CHINESE))
    captured = run("capture", english, chinese)
    assert captured.exit_code == 0, captured.output

    found = search_json("organ harvesting")
    assert found["total"] == 1
    [hit] = found["hits"]
    assert hit["url"] == english
    assert hit["language"] == "en"
    assert "<mark>harvesting</mark>" in hit["snippet"]
    assert set(hit) >= {"id", "url", "title", "language", "script", "published", "score"}
    assert {"language", "site", "year", "collection"} <= set(found["facets"])

    # Simplified query, Traditional page, highlighted in Traditional.
    [zh] = search_json("法轮功")["hits"]
    assert zh["url"] == chinese
    assert "<mark>法輪功</mark>" in zh["snippet"]
    assert search_json("器官移植", "--lang", "en")["total"] == 0
    assert search_json("", "--lang", "zh")["total"] == 1

    text = run("search", "tribunal")
    assert text.exit_code == 0
    assert "1 documents match" in text.stdout
    assert "Tribunal finds forced organ harvesting" in text.stdout
    assert english in text.stdout

    again = run("index")
    assert again.exit_code == 0
    assert "applied 0 changes" in again.stdout

    rebuilt = run("reindex")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert search_json("")["total"] == 2
    status = run("search-status", "--json")
    assert json.loads(status.stdout)["documents"] == 2


def test_index_resumes_after_a_crash(search_home, web):  # noqa: F811 - the fixture
    urls = [web.route(f"/page/{n}", html(page(n))) for n in range(5)]
    assert run("capture", "--no-ingest", *urls).exit_code == 0
    assert run("ingest").exit_code == 0

    repository = Repository(get_settings())
    backend = open_backend(get_settings())

    def crash(done: int, total: int) -> None:
        if done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        indexer.sync(backend, repository.catalog, batch=2, progress=crash)
    backend.close()

    backend = open_backend(get_settings())
    checkpoint = backend.checkpoint()
    assert checkpoint > 0
    assert indexer.sync(backend, repository.catalog, batch=2) == 3
    assert backend.search(parse("hearing")).total == 5
    backend.close()
    repository.close()


def test_bad_queries_and_engines_fail_cleanly(search_home, monkeypatch):  # noqa: F811 - the fixture
    result = run("search", '"organ harvesting')
    assert result.exit_code == 2
    assert "error: bad query: unbalanced quote" in result.output
    result = run("search", "x", "--after", "2020-13")
    assert result.exit_code == 2
    monkeypatch.setenv("VESTIGE_SEARCH_URL", "http://127.0.0.1:9")
    get_settings.cache_clear()
    result = run("search", "x")
    assert result.exit_code == 1
    assert "error: cannot reach the search engine at http://127.0.0.1:9" in result.output


def test_serve_indexes_again_what_an_older_index_held(home, web):
    """An index written by an older version is replaced by an empty one: the service
    indexes the archive again as it starts, and searches find it without `vestige index`."""
    get_settings.cache_clear()
    settings = get_settings()
    captured = run("capture", web.route("/tribunal", html(ENGLISH)))
    assert captured.exit_code == 0, captured.output
    root = settings.home / "index"
    generation = root / (root / "CURRENT").read_text().strip()
    shutil.rmtree(generation)
    generation.mkdir()
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True)
    tantivy.Index(builder.build(), path=str(generation))  # another version's schema
    assert search_json("tribunal")["total"] == 0  # replaced by an empty index

    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 120  # a bound so that a hang fails, not a timing test
        while True:
            found = client.get("/api/v1/search", params={"q": "tribunal"}).json()
            if found["total"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert [hit["title"] for hit in found["hits"]] == ["Tribunal finds forced organ harvesting"]
    get_settings.cache_clear()


def page(number: int) -> bytes:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Hearing day {number}</title></head><body><article><h1>Hearing day {number}</h1>
<p>On day {number} of the hearing, witness {number} described the detention centre, the
interrogations and the medical examinations that prisoners were made to undergo there.</p>
<p>The panel asked witness {number} about dates, names and places, and the answers were
recorded in full in the transcript published by the tribunal after the hearing.</p>
</article></body></html>""".encode()


def html(body: bytes) -> Route:
    return Route(200, body, [("Content-Type", "text/html; charset=utf-8")])


def test_site_is_the_url_host_and_publisher_the_site_name(search_home, web, corpus):  # noqa: F811
    """A corpus page (華視新聞網, cts.com.tw) captured from loopback: ``site:`` filters on
    the URL's host, ``publisher:`` on the site name the page gives, on both engines."""
    body = (corpus / "zh" / "taiwanese-news" / "html" / "cts_s1.html").read_bytes()
    url = web.route("/cts/politics/1.html", html(body))
    assert run("capture", url).exit_code == 0
    found = search_json("publisher:華視新聞網")
    assert [hit["url"] for hit in found["hits"]] == [url]
    assert search_json('publisher:"華視新聞網 "')["total"] == 1  # spacing ignored
    assert search_json("publisher:cts.com.tw")["total"] == 0
    assert search_json("site:127.0.0.1")["total"] == 1
    assert search_json("site:cts.com.tw")["total"] == 0
    assert "publisher" in run("show", url).stdout


def test_robots_logs_and_manifests_are_archived_but_not_documents(search_home, corpus):  # noqa: F811
    """Real WARCs (a Wikipedia capture with robots.txt, wget and wpull logs and manifests):
    those records stay replayable, but no document, hit or facet comes from them."""
    warcs = corpus / "warc"
    for name in ("ukwa/main-page.warc.gz", "pywb/example-wget-1-14.warc.gz",
                 "pywb/example-wpull.warc.gz"):  # fmt: skip
        assert run("import", str(warcs / name)).exit_code == 0
    found = search_json("", "--limit", "100")
    urls = [hit["url"] for hit in found["hits"]]
    assert urls and found["total"] == len(urls)
    assert all(url.startswith(("http://", "https://")) for url in urls), urls
    assert not [url for url in urls if url.endswith("/robots.txt")]
    assert "und" not in found["facets"]["language"]
    [first, *_] = search_json("Wikipedia")["hits"]
    assert first["url"] == "http://en.wikipedia.org/wiki/Main_Page"
    listed = run("captures", "http://bits.wikimedia.org/robots.txt")
    assert listed.exit_code == 0 and "200" in listed.stdout  # still archived, still replayable


def test_table_layout_pages_give_snippets_without_separator_runs(search_home, web, corpus):  # noqa: F811
    """A real 2005 portal page laid out with tables (trafilatura writes its cells as
    Markdown rows): neither its text nor its snippets hold runs of ``|``."""
    page = corpus / "zh" / "cwced" / "original" / "2bac7fb2-efbd-4444-99c8-51c72acf5c7d.html"
    url = web.route("/news/a.html", html(page.read_bytes()))
    assert run("capture", url).exit_code == 0
    separators = re.compile(r"\|\s*\|")
    assert not separators.search(json.loads(run("show", "--json", url).stdout)["text"])
    for query in ("顺子", "首页", "雅虎"):
        [hit] = search_json(query)["hits"]
        assert "<mark>" in hit["snippet"] and not separators.search(hit["snippet"]), hit
