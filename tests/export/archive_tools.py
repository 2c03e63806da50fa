"""A small real archive for export tests: loopback captures (English, Chinese, a revisit,
a redirect) ingested with the ingest stage and indexed on the embedded engine."""

# ruff: noqa: RUF001 - Chinese text has full-width punctuation

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from archive.capture import Capturer
from archive.catalog import Record
from archive.config import get_settings
from archive.repository import Repository
from conftest import Route, WebServer
from ingest.models import Document
from ingest.pipeline import Ingester
from search import indexer
from search.embedded import EmbeddedBackend

ENGLISH = """<html><head><title>Court hears testimony</title>
<meta name="author" content="Jane Reporter"></head><body>
<article><h1>Court hears testimony</h1>
<p>The tribunal heard three survivors on Monday, and their accounts matched.</p>
<p>Witnesses described the events of that night in detail to the reporters who met them.
The account was later confirmed by two further sources and by documents seen by the paper.</p>
</article></body></html>"""

# Commas (ASCII and full-width), quotes of both kinds and paragraph breaks: a CSV stress test.
CHINESE = """<html><head><title>法庭听取证词，"证人"说明</title></head><body>
<article><h1>法庭听取证词，"证人"说明</h1>
<p>三名幸存者在周一向法庭作证, 他们说："我们看到了一切"。
记者随后核实了这些说法，并找到了更多的证据。</p>
<p>第二段：律师表示,"审判将持续数周"，而政府没有回应记者的多次询问和采访请求。</p>
<p>第三段記錄了證人的證詞，包括時間、地點和在場人員的姓名，這些細節後來得到了證實。</p>
</article></body></html>"""

REPORT = """<html><head><title>Statement on detentions</title></head><body>
<article><h1>Statement on detentions</h1>
<p>The ministry denied that any arrests took place in the city during the protests.</p>
<p>Independent observers said that at least forty people were held overnight without charge,
and that families were not told where their relatives had been taken.</p>
</article></body></html>"""


def html(body: str) -> Route:
    return Route(body=body.encode("utf-8"), headers=[("Content-Type", "text/html; charset=utf-8")])


@dataclass
class Archive:
    """URLs of what was captured."""

    english: str
    chinese: str
    redirect: str  # requested URL that redirects to ``report``
    report: str


def build_archive(web: WebServer, *, index: bool = True) -> Archive:
    """Capture, ingest and (optionally) index the test pages into ``$VESTIGE_HOME``."""
    english = web.route("/en/court.html", html(ENGLISH))
    chinese = web.route("/zh/news.html", html(CHINESE))
    report = web.route("/statements/detentions", html(REPORT))
    redirect = web.route(
        "/old-statement", Route(301, b"moved", [("Location", "/statements/detentions")])
    )
    repository = Repository(get_settings())
    capturer = Capturer(repository)
    try:
        for url in (english, chinese, redirect, english):  # the second english: a revisit
            result = capturer.capture(url, collection="reports")
            assert result.ok, result.error
    finally:
        capturer.close()
    Ingester(repository).run()
    if index:
        with EmbeddedBackend(get_settings().home / "index") as backend:
            indexer.sync(backend, repository.catalog)
    repository.close()
    return Archive(english, chinese, redirect, report)


def catalog_documents() -> tuple[dict[str, Document], dict[str, Record]]:
    """Live documents by id, and every record by record id, from the catalog."""
    repository = Repository(get_settings())
    try:
        with repository.catalog.session() as session:
            documents = {
                d.id: d for d in session.scalars(select(Document).where(~Document.deleted))
            }
            records = {r.record_id: r for r in session.scalars(select(Record))}
    finally:
        repository.close()
    return documents, records
