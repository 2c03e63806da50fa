"""The one flow after storing: ingest, then index, for library users and the CLI alike."""

from __future__ import annotations

import pytest

from api import pipeline
from api.schema import TABLES
from archive.capture import Capturer
from archive.config import Settings, get_settings
from archive.repository import Repository
from conftest import Route, WebServer, invoke
from ingest import documents
from search.engine import open_backend
from search.query import parse

PAGE = b"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Council publishes the hearing record</title></head>
<body><article><h1>Council publishes the hearing record</h1>
<p>The council published the full record of the hearing on Tuesday, including the
testimony of every witness and the documents they submitted to the panel.</p>
<p>Observers said the record answers the questions raised by the families who had asked
for it to be released since the hearing closed last spring.</p></article></body></html>"""


def _page(web: WebServer, path: str = "/record") -> str:
    return web.route(path, Route(body=PAGE, headers=[("Content-Type", "text/html")]))


def test_capturing_as_a_library_then_after_store_makes_it_searchable(
    home: Settings, web: WebServer
) -> None:
    repository = Repository(home, TABLES)
    capturer = Capturer(repository)
    try:
        result = capturer.capture(_page(web))
        assert result.ok, result.error
        summary = pipeline.after_store(repository, result.record_ids)
    finally:
        capturer.close()
    assert summary.created == 1 and not summary.failures
    backend = open_backend(home)
    try:
        hits = backend.search(parse("hearing record")).hits
    finally:
        backend.close()
        repository.close()
    assert [hit.url for hit in hits] == [web.url("/record")]


def test_an_engine_failure_after_capture_is_said_and_the_document_stays(
    home: Settings, web: WebServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VESTIGE_SEARCH_URL", "http://127.0.0.1:9")
    get_settings.cache_clear()
    result = invoke("capture", _page(web))
    assert "error: cannot reach the search engine at http://127.0.0.1:9" in result.output
    repository = Repository(get_settings())
    try:
        found = documents.get(repository.catalog, web.url("/record"))
        assert found is not None and found.title == "Council publishes the hearing record"
        with pytest.raises(pipeline.NotIndexed) as raised:
            pipeline.after_store(repository, [])
        assert raised.value.summary.processed == 0
    finally:
        repository.close()
