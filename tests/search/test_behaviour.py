"""The behaviour every search engine must share, run on embedded tantivy and on OpenSearch."""

# ruff: noqa: RUF001 - Chinese text has full-width punctuation

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from searchtools import cluster_url, engine, open_engine  # noqa: F401 - fixtures

from search.backend import SearchBackend, Sort
from search.models import IndexDocument
from search.query import parse

# The first test on the cluster may resolve OpenSearch from Maven Central and start it.
pytestmark = pytest.mark.timeout(900)

CAPTURED = datetime(2024, 1, 2, 3, 4, 5)

DOCUMENTS = [
    IndexDocument(
        id="tribunal",
        url="https://www.bbc.com/news/world-asia-china-48672330",
        collection="reports",
        captured=CAPTURED,
        language="en",
        script="Latn",
        published="2019-06-17",
        title="Tribunal finds forced organ harvesting",
        text="The independent tribunal concluded that forced organ harvesting from prisoners "
        "of conscience has been committed. Campaigners welcomed the judgment.",
        seq=1,
    ),
    IndexDocument(
        id="phrase",
        url="https://news.example.org/annual-report",
        collection="reports",
        captured=CAPTURED,
        language="en",
        published="2018-01-10",
        title="Annual report",
        text="The annual report on human rights in China was published on Monday by observers.",
        seq=2,
    ),
    IndexDocument(
        id="scattered",
        url="https://news.example.org/observers",
        collection="reports",
        captured=CAPTURED,
        language="en",
        published="2017-05-05",
        title="Observers",
        text="Rights groups say the human cost of the campaign was high; rights lawyers and "
        "human observers agree.",
        seq=3,
    ),
    IndexDocument(
        id="simplified",
        url="https://www.epochtimes.com/gb/20/7/20/n1.htm",
        collection="zh-news",
        captured=CAPTURED,
        language="zh",
        script="Hans",
        published="2020-07-20",
        title="法轮功学员遭受迫害",
        text="据报道，法轮功学员在中国遭受强制器官移植。人权组织呼吁调查。",
        text_simplified="据报道，法轮功学员在中国遭受强制器官移植。人权组织呼吁调查。",
        seq=4,
    ),
    IndexDocument(
        id="traditional",
        url="https://www.rfa.org/mandarin/2021/03/01/a.html",
        collection="zh-news",
        captured=CAPTURED,
        language="zh",
        script="Hant",
        published="2021-03-01",
        title="器官移植調查",
        text="獨立調查指出，中共強制摘取法輪功學員器官。律師要求國際社會關注。",
        text_simplified="独立调查指出，中共强制摘取法轮功学员器官。律师要求国际社会关注。",
        seq=5,
    ),
    IndexDocument(
        id="mixed",
        url="https://www.theguardian.com/world/2022/may/13/vigil",
        collection="reports",
        captured=CAPTURED,
        language="en",
        published="2022-05-13",
        title="Falun Gong practitioners",
        text="Falun Gong (法轮功) practitioners held a vigil in London.",
        seq=6,
    ),
    IndexDocument(
        id="vigil",
        url="https://www.theguardian.com/world/2023/feb/02/embassy",
        collection="reports",
        captured=CAPTURED,
        language="en",
        published="2023-02-02",
        title="Vigil held outside the embassy",
        text="Hundreds gathered on Sunday afternoon despite the rain.",
        seq=7,
    ),
]


@pytest.fixture
def indexed(engine: SearchBackend) -> SearchBackend:  # noqa: F811 - the fixture
    engine.index(DOCUMENTS)
    engine.commit(checkpoint=7)
    return engine


def ids(backend: SearchBackend, query: str, **options) -> list[str]:
    return [hit.id for hit in backend.search(parse(query), limit=50, **options).hits]


def test_english_stemming(indexed):
    assert ids(indexed, "welcoming") == ["tribunal"]  # "welcomed"
    assert set(ids(indexed, "campaigning")) == {"tribunal", "scattered"}  # campaign(er)s
    assert ids(indexed, "conclude harvested") == ["tribunal"]
    assert ids(indexed, "the tribunal") == ["tribunal"]  # stop words constrain nothing


def test_chinese_word_search(indexed):
    assert set(ids(indexed, "器官移植")) == {"simplified", "traditional"}
    assert set(ids(indexed, "调查")) == {"simplified", "traditional"}
    assert ids(indexed, "律师") == ["traditional"]
    assert ids(indexed, "死刑") == []


def test_chinese_words_are_findable_across_segmentation(indexed):
    # Neither string is a word to a segmenter; characters still match.
    assert set(ids(indexed, "官移")) == {"simplified"} | {"traditional"}
    assert ids(indexed, "学员在中国") == ["simplified"]


def test_chinese_phrase_needs_the_characters_together(indexed):
    assert ids(indexed, '"强制摘取"') == ["traditional"]
    # "强制" and "器官" are both in the simplified document, but not side by side.
    assert set(ids(indexed, "强制 器官")) == {"simplified", "traditional"}
    assert ids(indexed, '"强制器官"') == ["simplified"]


def test_traditional_and_simplified_match_each_other(indexed):
    everywhere = {"simplified", "traditional", "mixed"}
    assert set(ids(indexed, "法輪功")) == everywhere
    assert set(ids(indexed, "法轮功")) == everywhere
    assert ids(indexed, "律師") == ["traditional"]
    assert ids(indexed, "獨立調查") == ["traditional"]


def test_mixed_language_query(indexed):
    assert ids(indexed, "Falun Gong 法轮功") == ["mixed"]
    assert ids(indexed, "vigil 法輪功") == ["mixed"]


def test_phrase_outranks_scattered_words(indexed):
    assert ids(indexed, "human rights")[:2] == ["phrase", "scattered"]
    assert ids(indexed, '"human rights"') == ["phrase"]


def test_title_matches_outrank_body_matches(indexed):
    assert ids(indexed, "vigil") == ["vigil", "mixed"]
    assert ids(indexed, "title:vigil") == ["vigil"]
    assert ids(indexed, "title:器官移植") == ["traditional"]
    assert ids(indexed, 'title:"organ harvesting"') == ["tribunal"]


def test_exclusion_and_or(indexed):
    assert ids(indexed, "rights -observers") == []
    assert set(ids(indexed, "human -campaign")) == {"phrase"}
    assert set(ids(indexed, 'observers -"human rights"')) == {"scattered"}
    assert set(ids(indexed, "tribunal OR 迫害")) == {"tribunal", "simplified"}
    assert set(ids(indexed, "法轮功 -lang:en")) == {"simplified", "traditional"}
    assert set(ids(indexed, "-lang:en")) == {"simplified", "traditional"}


def test_filters(indexed):
    assert ids(indexed, "site:bbc.com") == ["tribunal"]
    assert ids(indexed, "site:www.bbc.com") == ["tribunal"]
    assert set(ids(indexed, "site:example.org")) == {"phrase", "scattered"}
    assert set(ids(indexed, "collection:zh-news")) == {"simplified", "traditional"}
    assert set(ids(indexed, "lang:zh 器官")) == {"simplified", "traditional"}
    assert set(ids(indexed, "after:2021 before:2022-06")) == {"traditional", "mixed"}
    assert set(ids(indexed, "after:2023-02-02")) == {"vigil"}  # after is inclusive
    assert set(ids(indexed, "before:2017-05-05")) == set()  # before is exclusive
    assert ids(indexed, "lang:fr") == []


def test_facets_count_every_match(indexed):
    result = indexed.search(parse(""), limit=1)
    assert result.total == 7
    assert dict(result.facets["language"]) == {"en": 5, "zh": 2}
    assert dict(result.facets["collection"]) == {"reports": 5, "zh-news": 2}
    assert dict(result.facets["site"]) == {
        "bbc.com": 1,
        "news.example.org": 2,
        "epochtimes.com": 1,
        "rfa.org": 1,
        "theguardian.com": 2,
    }
    assert dict(result.facets["year"]) == {
        str(year): 1 for year in (2017, 2018, 2019, 2020, 2021, 2022, 2023)
    }
    zh = indexed.search(parse("法轮功"))
    assert dict(zh.facets["language"]) == {"zh": 2, "en": 1}


def test_date_sort_newest_first(indexed):
    assert ids(indexed, "", sort=Sort.date) == [
        "vigil",
        "mixed",
        "traditional",
        "simplified",
        "tribunal",
        "phrase",
        "scattered",
    ]
    assert ids(indexed, "法轮功", sort=Sort.date) == ["mixed", "traditional", "simplified"]


def test_paging(indexed):
    everything = ids(indexed, "", sort=Sort.date)
    page = indexed.search(parse(""), sort=Sort.date, limit=2, offset=2)
    assert page.total == 7
    assert [hit.id for hit in page.hits] == everything[2:4]


def test_hits_carry_metadata(indexed):
    [hit] = indexed.search(parse("律师")).hits
    assert hit.url == "https://www.rfa.org/mandarin/2021/03/01/a.html"
    assert (hit.title, hit.language, hit.script) == ("器官移植調查", "zh", "Hant")
    assert (hit.published, hit.captured, hit.collection) == ("2021-03-01", CAPTURED, "zh-news")
    assert hit.score > 0


def test_highlighting_in_the_documents_own_language(indexed):
    [tribunal] = indexed.search(parse("campaigning judgment")).hits
    assert "<mark>Campaigners</mark> welcomed the <mark>judgment</mark>" in tribunal.snippet
    hits = {hit.id: hit.snippet for hit in indexed.search(parse("器官移植")).hits}
    # Whole words, not one character at a time.
    assert "遭受强制<mark>器官移植</mark>。" in hits["simplified"]
    # A Simplified query highlights the Traditional document in Traditional.
    [traditional] = indexed.search(parse("法轮功 律师")).hits
    assert "<mark>法輪功</mark>學員" in traditional.snippet
    assert "<mark>律師</mark>要求" in traditional.snippet
    [mixed] = indexed.search(parse("Falun 法轮功")).hits
    assert mixed.snippet.startswith("<mark>Falun</mark> Gong (<mark>法轮功</mark>)")


def test_reingest_replaces_and_tombstone_removes(indexed):
    changed = replace(DOCUMENTS[0], text="The tribunal adjourned without a ruling.", seq=8)
    gone = replace(DOCUMENTS[2], deleted=True, seq=9)
    indexed.index([changed, gone])
    indexed.commit(checkpoint=9)
    assert ids(indexed, "conscience") == []
    assert ids(indexed, "adjourned") == ["tribunal"]
    assert ids(indexed, "observers") == ["phrase"]
    assert indexed.search(parse("")).total == 6
    assert indexed.checkpoint() == 9
    indexed.delete(["phrase"])
    indexed.commit()
    assert ids(indexed, "observers") == []


def test_index_survives_reopening_and_resumes_after_interruption(open_engine):  # noqa: F811
    first = open_engine()
    assert first.checkpoint() == 0
    first.index(DOCUMENTS[:4])
    first.commit(checkpoint=4)
    first.index(DOCUMENTS[4:])  # interrupted: never committed
    first.close()

    second = open_engine()
    assert second.checkpoint() == 4
    assert {"tribunal", "phrase", "scattered", "simplified"} <= set(ids(second, ""))
    # Resuming re-applies the uncommitted changes; nothing is duplicated.
    second.index(DOCUMENTS[4:])
    second.commit(checkpoint=7)
    assert second.search(parse("")).total == 7
    assert set(ids(second, "法轮功")) == {"simplified", "traditional", "mixed"}
    assert second.checkpoint() == 7


def test_rebuild_switches_only_when_complete(indexed):
    before = indexed.status()
    with indexed.rebuild() as fresh:
        fresh.index(DOCUMENTS[3:5])
        fresh.commit(checkpoint=5)
        # Searches keep using the complete old index during the rebuild.
        assert indexed.search(parse("")).total == 7
        assert indexed.checkpoint() == 7
    assert indexed.search(parse("")).total == 2
    assert indexed.checkpoint() == 5
    assert set(ids(indexed, "法輪功")) == {"simplified", "traditional"}
    after = indexed.status()
    assert after["documents"] == 2
    # A new index (cluster) or generation folder (embedded) now serves searches.
    assert after.get("index", after.get("location")) != before.get("index", before.get("location"))


def test_failed_rebuild_keeps_the_old_index(indexed):
    with pytest.raises(RuntimeError), indexed.rebuild() as fresh:
        fresh.index(DOCUMENTS[:1])
        raise RuntimeError("crash during rebuild")
    assert indexed.search(parse("")).total == 7
    assert indexed.checkpoint() == 7


def test_status_names_engine_and_analyzers(indexed):
    status = indexed.status()
    assert status["documents"] == 7
    assert status["checkpoint"] == 7
    assert status["chinese_analyzer"]
    assert status["engine"].split()[0] in ("embedded", "opensearch", "elasticsearch")
