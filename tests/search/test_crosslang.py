"""Cross-language search on documents from the shared corpus, on both engines.

An English query finds Chinese pages by a name and an event, Simplified and Traditional
queries find an English page, the engines agree, and monolingual results stay as they were.
"""

# ruff: noqa: RUF001 - Chinese text has full-width punctuation

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from searchtools import cluster_url, engine, open_engine, search_home  # noqa: F401 - fixtures

from api.app import create_app
from archive.config import Settings
from conftest import vestige
from search.analysis import fold, has_han
from search.backend import SearchBackend
from search.cluster import ClusterBackend
from search.embedded import EmbeddedBackend
from search.engine import detect_distribution, open_backend
from search.models import IndexDocument, MatchedVia
from search.query import parse
from search.translate import search

pytestmark = pytest.mark.timeout(300)

# corpus ground-truth text -> (id, language, title)
PAGES = {
    "zh/cwced/cleaned/0ef8393b-0415-494c-b608-1d45bb33c6fb.txt": "macron",  # 马克龙 访问 莫斯科
    "zh/cwced/cleaned/274a65d9-46df-45be-b9f6-4d18ba911427.txt": "orchestra",  # 郭荣梅 民乐团
    "zh/cwced/cleaned/6650f72a-89ca-403a-9384-204ea6c072e6.txt": "june4",  # 六四 座谈会
    "zh/newspaper4k/txt/chinese_article_001.txt": "summit",  # 中美元首会晤 旧金山
    "en/newspaper4k/txt/cnn_article.txt": "storm",  # winter storm, Pennsylvania
    "en/newspaper4k/txt/time_001.txt": "hansen",  # James Hansen, climate
    "en/newspaper4k/txt/article_with_br.txt": "assange",  # Assange, spying
}


@pytest.fixture
def documents(corpus: Path) -> list[IndexDocument]:
    found = []
    for seq, (path, name) in enumerate(PAGES.items(), start=1):
        text = (corpus / path).read_text(encoding="utf-8")
        chinese = has_han(text[:200])
        found.append(
            IndexDocument(
                id=name,
                url=f"https://corpus.example/{path}",
                collection="corpus",
                captured=datetime(2024, 1, 1),
                language="zh" if chinese else "en",
                script="Hans" if chinese else "Latn",
                title=text.strip().split("\n", 1)[0][:80],
                text=text,
                text_simplified=fold(text) if chinese else None,
                seq=seq,
            )
        )
    return found


@pytest.fixture
def indexed(engine: SearchBackend, documents) -> SearchBackend:  # noqa: F811 - the fixture
    engine.index(documents)
    engine.commit(checkpoint=len(documents))
    return engine


def ids(backend: SearchBackend, query: str, cross: bool = True) -> list[str]:
    result = search(backend, parse(query), cross=cross, limit=20, facets=False)
    return [hit.id for hit in result.hits]


def test_english_query_finds_chinese_page_by_name_and_event(indexed):
    assert ids(indexed, "Macron Moscow visit") == ["macron"]
    assert ids(indexed, "Macron Moscow visit", cross=False) == []
    assert ids(indexed, "San Francisco cooperation") == ["summit"]


def test_simplified_and_traditional_queries_find_english_page(indexed):
    assert ids(indexed, "冬季风暴 宾夕法尼亚")[:1] == ["storm"]
    assert ids(indexed, "冬季風暴 賓夕法尼亞")[:1] == ["storm"]
    assert ids(indexed, "冬季风暴 宾夕法尼亚", cross=False) == []


def test_pinyin_finds_a_name_no_dictionary_has(indexed):
    for spelled in ("Guo Rongmei", "guorongmei", "Guō Róngméi", "guo1 rong2 mei2"):
        assert ids(indexed, spelled) == ["orchestra"], spelled


def test_hits_say_how_they_matched_and_snippets_show_the_translation(indexed):
    result = search(indexed, parse("Macron Moscow"), limit=5)
    [hit] = result.hits
    assert MatchedVia("马克龙", "Macron", "cc-cedict") in hit.matched_via
    assert hit.own_words is False
    assert "<mark>马克龙</mark>" in hit.snippet
    assert any(t.startswith("zh: ") and "马克龙" in t for t in result.translated)
    [storm] = search(indexed, parse("冬季风暴 宾夕法尼亚"), limit=1).hits
    assert MatchedVia("Pennsylvania", "宾夕法尼亚", "cc-cedict") in storm.matched_via
    [named] = search(indexed, parse("Guo Rongmei"), limit=1).hits
    assert named.matched_via == (MatchedVia("郭荣梅", "Guo Rongmei", "pinyin"),)
    [own] = search(indexed, parse("Pennsylvania storm"), limit=1).hits
    assert own.own_words is True
    [plain] = search(indexed, parse("Pennsylvania storm"), cross=False, limit=1).hits
    assert (plain.own_words, plain.matched_via) == (None, ())


def test_monolingual_results_do_not_change(indexed):
    for query in ("Pennsylvania storm travel", "climate Hansen", "Assange", "法国 总统"):
        same = ids(indexed, query, cross=False)
        assert same, query
        assert ids(indexed, query)[: len(same)] == same, query


def test_pinned_and_given_translations(indexed):
    # A quoted term is searched as written only.
    assert ids(indexed, '"Macron" Moscow') == []
    # The user's own translation replaces the dictionary's.
    assert ids(indexed, "Macron zh:马克龙 Moscow") == ["macron"]
    assert ids(indexed, "Macron zh:马克宏 Moscow") == []


def test_a_translation_of_three_terms_may_miss_one(indexed):
    result = search(indexed, parse("Macron Moscow xyzzyq"), limit=5)
    assert [hit.id for hit in result.hits] == ["macron"]
    assert result.translated == ("zh: (马克龙 OR 马克宏) 莫斯科 xyzzyq (one term may be missing)",)
    assert ids(indexed, "Macron Moscow xyzzyq", cross=False) == []
    assert ids(indexed, "Macron Moscow xyzzyq -Putin") == []  # exclusions stay strict


def test_operators_and_filters_keep_working(indexed):
    assert ids(indexed, "Macron Moscow -Putin") == []
    assert ids(indexed, "Macron Moscow lang:en") == []
    assert ids(indexed, "Macron Moscow lang:zh") == ["macron"]
    assert ids(indexed, "Macron OR Assange") == ["assange", "macron"] or set(
        ids(indexed, "Macron OR Assange")
    ) == {"assange", "macron"}


QUERIES = (
    "Macron Moscow visit",
    "冬季风暴 宾夕法尼亚",
    "冬季風暴 賓夕法尼亞",
    "Guo Rongmei",
    "climate Hansen",
    "Tiananmen",
    "总统 访问",
    "storm -Pennsylvania",
)


def test_both_engines_give_the_same_results(documents, tmp_path, cluster_url):  # noqa: F811
    embedded = EmbeddedBackend(tmp_path / "index")
    cluster = ClusterBackend.connect(
        cluster_url, detect_distribution(cluster_url), alias=f"vestige-test-{uuid.uuid4().hex[:8]}"
    )
    try:
        for backend in (embedded, cluster):
            backend.index(documents)
            backend.commit(checkpoint=len(documents))
        for query in QUERIES:
            assert set(ids(embedded, query)) == set(ids(cluster, query)), query
            assert ids(embedded, query)[:1] == ids(cluster, query)[:1], query
    finally:
        for index in cluster.client.indices.get(index=f"{cluster.alias}-*"):
            cluster.client.indices.delete(index=index)
        cluster.close()
        embedded.close()


@pytest.mark.parametrize(
    "query, note",
    [
        ("Macron 莫斯科", None),  # mixed scripts: each part in the other language
        ("马克龙 Moscow", None),
        ("马克龙，莫斯科。", None),  # full-width punctuation
        ("xyzzyq", "searched its own words only"),  # nothing translates
        ("的", "searched its own words only"),
    ],
)
def test_awkward_queries_get_an_answer(indexed, query, note):
    result = search(indexed, parse(query), limit=5)
    if note:
        assert any(note in n for n in result.notes)
    else:
        assert [hit.id for hit in result.hits] == ["macron"]


@pytest.fixture
def service_home(search_home: Settings, documents) -> Settings:  # noqa: F811 - the fixture
    backend = open_backend(search_home)
    backend.index(documents)
    backend.commit(checkpoint=len(documents))
    backend.close()
    return search_home


MACRON = [
    {"term": "马克龙", "from": "Macron", "source": "cc-cedict"},
    {"term": "莫斯科", "from": "Moscow", "source": "cc-cedict"},
]


def test_cli_api_and_page_search_across_languages_unless_told_not_to(service_home):
    found = json.loads(vestige("search", "Macron Moscow", "--json"))
    assert [hit["id"] for hit in found["hits"]] == ["macron"]
    assert found["hits"][0]["matched_via"] == MACRON
    assert found["translated"] == ["zh: (马克龙 OR 马克宏) 莫斯科"]
    assert json.loads(vestige("search", "Macron Moscow", "--same-language", "--json"))["hits"] == []
    printed = vestige("search", "Macron Moscow")
    assert "also searched zh: (马克龙 OR 马克宏) 莫斯科" in printed
    assert "matched 马克龙 for Macron (cc-cedict)" in printed
    with TestClient(create_app(service_home)) as client:
        api = client.get("/api/v1/search", params={"q": "Macron Moscow"}).json()
        assert [hit["id"] for hit in api["hits"]] == ["macron"]
        assert (api["hits"][0]["own_words"], api["hits"][0]["matched_via"]) == (False, MACRON)
        assert api["translated"] == found["translated"]
        same = client.get("/api/v1/search", params={"q": "Macron Moscow", "cross": "false"})
        assert same.json()["hits"] == [] and same.json()["translated"] == []
        untranslatable = client.get("/api/v1/search", params={"q": "xyzzyq"}).json()
        assert "searched its own words only" in untranslatable["notes"][0]
        page = client.get("/", params={"q": "Macron Moscow"}).text
        assert "matched 马克龙 for Macron (cc-cedict)" in page
        assert "Also searched zh: (马克龙 OR 马克宏) 莫斯科" in page
        assert '<input type="checkbox" name="cross" value="false">' in page
        page = client.get("/", params={"q": "Macron Moscow", "cross": "false"}).text
        assert 'name="cross" value="false" checked' in page
        assert "0 documents match" in page and "Also searched" not in page
