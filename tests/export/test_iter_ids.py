"""``iter_ids``: every match once, on the embedded engine and on a real OpenSearch (scroll)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import pytest

from search import cluster, embedded
from search.backend import SearchBackend
from search.models import IndexDocument
from search.query import parse

sys.path.insert(0, str(Path(__file__).parents[1] / "search"))

from searchtools import cluster_url, engine, open_engine  # noqa: F401 - fixtures


def test_iter_ids_reads_every_match_across_pages(
    engine: SearchBackend,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Small pages, so reading all matches takes several scroll (or snapshot) pages.
    monkeypatch.setattr(cluster, "SCROLL_SIZE", 7)
    monkeypatch.setattr(embedded, "ID_PAGE", 7)
    documents = [
        IndexDocument(
            id=f"doc{number:03d}",
            url=f"https://example.org/{number}",
            collection="reports" if number % 3 else "other",
            captured=datetime(2024, 1, 1 + number % 28),
            language="en",
            title=f"Report {number}",
            text="tribunal hearing" if number % 2 else "press statement",
            seq=number + 1,
        )
        for number in range(40)
    ]
    engine.index(documents)
    engine.commit(checkpoint=40)
    everything = list(engine.iter_ids(parse("")))
    assert sorted(everything) == sorted(d.id for d in documents)
    matches = list(engine.iter_ids(parse("tribunal collection:reports")))
    expected = [d.id for d in documents if "tribunal" in d.text and d.collection == "reports"]
    assert sorted(matches) == sorted(expected) and len(matches) == len(set(matches))
    assert list(engine.iter_ids(parse("nothingmatchesthis"))) == []
