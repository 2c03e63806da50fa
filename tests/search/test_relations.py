"""Relations in search, on both engines: has:/role: filters and facets, markers on hits,
same-story copies collapsed into one hit, and re-indexing when relations change."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import tantivy
from searchtools import cluster_url, engine, open_engine, search_home  # noqa: F401 - fixtures

from archive.repository import Repository
from conftest import Route, WebServer, vestige
from ingest import relations
from search.backend import SearchBackend, Sort
from search.cluster import ClusterBackend, index_body, relation_properties
from search.embedded import EmbeddedBackend
from search.models import IndexDocument, Provenance, Related
from search.query import parse

pytestmark = pytest.mark.timeout(900)

CAPTURED = datetime(2024, 3, 1, 12, 0, 0)
STORY = "5e1f00d4a1b2c3d4"  # the same-story key of the three wire copies


def document(id: str, url: str, text: str, published: str, **provenance) -> IndexDocument:
    return IndexDocument(
        id=id,
        url=url,
        collection="news",
        captured=CAPTURED,
        language="en",
        published=published,
        title=text.split(".")[0],
        text=text,
        provenance=Provenance(**provenance),
    )


WIRE = "Detainees were moved overnight to a facility outside the city, relatives said."
DOCUMENTS = [
    document(
        "original",
        "https://rights.example.org/report",
        "Report on detention. The report documents the detention of lawyers.",
        "2021-01-05",
        related=(Related("coverage", 2), Related("correction", 1, suggested=1)),
        role="primary",
    ),
    document(
        "coverage",
        "https://daily.example.com/lawyers-detained",
        "Lawyers detained, report says. A new report documents the detention of lawyers.",
        "2021-01-07",
        role="coverage",
    ),
    document(
        "retracted",
        "https://daily.example.com/leak",
        "Leaked memo on detention. The memo describes detention quotas.",
        "2021-02-01",
        related=(Related("retraction", 1),),
        role="primary",
    ),
    document(
        "notice",
        "https://daily.example.com/leak-retracted",
        "Retraction. This article about the memo has been retracted.",
        "2021-02-09",
        role="retraction",
    ),
    *(
        document(
            f"wire{n}",
            f"https://{site}/detainees-moved",
            f"Detainees moved. {WIRE} Published by the {site.split('.')[0].title()}.",
            f"2021-03-0{n}",
            related=(Related("copies", 2),),
            role="copy" if n > 1 else "primary",
            story=STORY,
        )
        for n, site in ((1, "wire.example.net"), (2, "herald.example.com"), (3, "post.example.org"))
    ),
]


@pytest.fixture
def indexed(engine: SearchBackend) -> SearchBackend:  # noqa: F811 - the fixture
    engine.index(DOCUMENTS)
    engine.commit(checkpoint=len(DOCUMENTS))
    return engine


def ids(backend: SearchBackend, query: str, **options) -> list[str]:
    return [hit.id for hit in backend.search(parse(query), limit=50, **options).hits]


def test_has_and_role_filters(indexed):
    assert ids(indexed, "has:retraction") == ["retracted"]
    assert ids(indexed, "has:correction detention") == ["original"]
    assert ids(indexed, "has:coverage") == ["original"]
    assert set(ids(indexed, "role:primary")) == {"original", "retracted", "wire1"}
    assert ids(indexed, "role:retraction") == ["notice"]
    assert ids(indexed, "role:coverage lawyers") == ["coverage"]
    assert set(ids(indexed, "detention -has:retraction")) == {"original", "coverage"}
    assert set(ids(indexed, "has:retraction OR role:retraction")) == {"retracted", "notice"}
    assert ids(indexed, "has:update") == []


def test_relation_facets_count_documents(indexed):
    result = indexed.search(parse(""), limit=1)
    assert dict(result.facets["has"]) == {
        "coverage": 1,
        "correction": 1,
        "retraction": 1,
        "copies": 3,
    }
    assert dict(result.facets["role"]) == {
        "primary": 3,
        "coverage": 1,
        "retraction": 1,
        "copy": 2,
    }
    detention = indexed.search(parse("detention"))
    assert dict(detention.facets["role"]) == {"primary": 2, "coverage": 1}


def test_hits_say_what_relations_exist(indexed):
    [hit] = indexed.search(parse("has:correction")).hits
    assert hit.role == "primary"
    assert hit.related == (Related("coverage", 2, 0), Related("correction", 1, 1))
    assert hit.to_json()["has"] == ["coverage", "correction"]
    assert hit.to_json()["related"][1] == {"kind": "correction", "count": 1, "suggested": 1}
    [plain] = indexed.search(parse("role:coverage")).hits
    assert plain.related == () and plain.copies == 0 and plain.copy_documents == ()


def test_copies_collapse_into_one_hit(indexed):
    result = indexed.search(parse("detainees"), sort=Sort.date)
    assert result.documents == 3 and result.total == 1
    [hit] = result.hits
    assert hit.id == "wire3"  # the newest copy stands for the story when sorted by date
    assert hit.copies == 2
    assert [copy.id for copy in hit.copy_documents] == ["wire2", "wire1"]
    assert [copy.url for copy in hit.copy_documents] == [
        "https://herald.example.com/detainees-moved",
        "https://wire.example.net/detainees-moved",
    ]
    assert hit.to_json()["copies"] == 2
    assert hit.to_json()["copy_documents"][0]["captured"] == "2024-03-01T12:00:00Z"
    # The best-ranked copy stands for the story: here the only one naming the site.
    [ranked] = indexed.search(parse("detainees herald")).hits
    assert ranked.id == "wire2" and ranked.copies == 0  # the others do not match


def test_collapsing_can_be_turned_off(indexed):
    result = indexed.search(parse("detainees"), collapse=False)
    assert result.total == result.documents == 3
    assert {hit.id for hit in result.hits} == {"wire1", "wire2", "wire3"}
    assert all(hit.copies == 0 for hit in result.hits)


def test_paging_walks_collapsed_hits(indexed):
    everything = ids(indexed, "", sort=Sort.date)
    assert everything == ["wire3", "notice", "retracted", "coverage", "original"]
    page = indexed.search(parse(""), sort=Sort.date, limit=2, offset=1)
    assert (page.total, page.documents) == (5, 7)
    assert [hit.id for hit in page.hits] == ["notice", "retracted"]
    assert dict(page.facets["language"]) == {"en": 7}  # facets count every document
    [story] = indexed.search(parse(""), sort=Sort.date, limit=1).hits
    assert story.copies == 2


# -- end to end: captures, relations made on the command line, re-indexing ----------------

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta property="article:published_time" content="{published}T08:00:00Z"></head>
<body><article><h1>{title}</h1>{paragraphs}</article></body></html>"""


def page(title: str, published: str, *paragraphs: str) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return PAGE.format(title=title, published=published, paragraphs=body).encode()


REPORT = (
    "The rights group documented the detention of forty lawyers in the southern province "
    "over the past year, many held without charge for months at a time.",
    "Families of the detained lawyers said they had been denied visits and that several "
    "had been moved to facilities far from their homes without notice.",
)
COVERAGE = (
    "A report released on Monday by a rights group says that forty lawyers were detained "
    "in the southern province in the past year.",
    "The group called on the authorities to release the lawyers and allow their families "
    "to visit them, according to the report.",
)


def serve(web: WebServer, path: str, title: str, published: str, *paragraphs: str) -> str:
    body = page(title, published, *paragraphs)
    return web.route(path, Route(body=body, headers=[("Content-Type", "text/html; charset=utf-8")]))


def found(*args: str) -> dict:
    return json.loads(vestige("search", *args, "--json"))


def test_relations_are_searchable_as_they_change(search_home, web):  # noqa: F811 - the fixture
    urls = {
        "report": serve(web, "/report", "Lawyers detained", "2021-01-05", *REPORT),
        "news": serve(web, "/news", "Report: lawyers held", "2021-01-06", *COVERAGE),
        "copy": serve(web, "/copy", "Report: lawyers held", "2021-01-07", *COVERAGE),
    }
    vestige("capture", *urls.values())
    assert found("has:coverage")["total"] == 0
    assert found("lawyers")["total"] == 3

    vestige("relate", urls["news"], "covers", urls["report"])
    [primary] = found("has:coverage")["hits"]
    assert primary["url"] == urls["report"] and primary["role"] == "primary"
    assert primary["related"] == [{"kind": "coverage", "count": 1, "suggested": 0}]
    assert [hit["url"] for hit in found("role:coverage")["hits"]] == [urls["news"]]
    assert found("--has", "coverage", "--role", "primary")["total"] == 1

    # Copies collapse into one hit, listed with it; --no-collapse lists them apart.
    vestige("relate", urls["copy"], "same-story", urls["news"])
    story = found("province")
    assert (story["total"], story["documents"]) == (2, 3)
    [copies] = [hit for hit in story["hits"] if hit["copies"]]
    assert copies["copies"] == 1
    assert {copies["url"], copies["copy_documents"][0]["url"]} == {urls["news"], urls["copy"]}
    assert found("province", "--no-collapse")["total"] == 3
    text = vestige("search", "province")
    assert "1 more copy:" in text and "covered by 1" in text

    # Removing relations re-indexes the documents concerned, at once.
    vestige("unrelate", urls["copy"], "same-story", urls["news"])
    assert found("province")["total"] == 3
    vestige("unrelate", urls["news"], "covers", urls["report"])
    assert found("has:coverage")["total"] == 0
    assert found("role:primary")["total"] == 0


def test_index_catches_up_with_relations_made_elsewhere(search_home, web):  # noqa: F811 - the fixture
    report = serve(web, "/r", "Lawyers detained", "2021-01-05", *REPORT)
    news = serve(web, "/n", "Report: lawyers held", "2021-01-06", *COVERAGE)
    vestige("capture", report, news)
    repository = Repository(search_home)
    try:
        # Made without the command's hook (as a library user or another service would).
        relations.relate(repository.catalog, news, "retracts", report)
    finally:
        repository.close()
    assert found("has:retraction")["total"] == 0  # not indexed yet
    assert "applied 2 changes" in vestige("index")
    [hit] = found("has:retraction")["hits"]
    assert hit["url"] == report
    assert "retracted" in vestige("search", "has:retraction")
    vestige("reindex")
    assert found("has:retraction")["total"] == 1
    assert found("role:retraction")["hits"][0]["url"] == news


def test_an_index_from_an_older_version_is_indexed_again(tmp_path, open_engine):  # noqa: F811
    """Older indexes lack the relation fields: they are upgraded, and every document is
    indexed again from the start of the change sequence."""
    backend = open_engine()
    if isinstance(backend, ClusterBackend):
        alias = f"{backend.alias}-old"  # removed with the fixture's indices
        body = index_body(*reversed(backend.chinese_analyzer()))
        del body["mappings"]["_meta"]["vestige_mappings"]
        for name in relation_properties():
            del body["mappings"]["properties"][name]
        body["mappings"]["_meta"]["vestige_checkpoint"] = 7
        index = f"{alias}-1"
        backend.client.indices.create(index=index, body=body)
        backend.client.indices.put_alias(index=index, name=alias)
        upgraded = ClusterBackend(backend.client, backend.distribution, alias)
        assert upgraded.target == index
        mapping = backend.client.indices.get_mapping(index=index)[index]["mappings"]
        assert mapping["properties"]["story"] == {"type": "keyword"}
    else:
        root = tmp_path / "old-index"
        (root / "gen-000001").mkdir(parents=True)
        (root / "CURRENT").write_text("gen-000001\n")
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("id", stored=True, tokenizer_name="raw")
        tantivy.Index(builder.build(), path=str(root / "gen-000001"))
        upgraded = EmbeddedBackend(root)
        assert upgraded.generation == "gen-000002" and not (root / "gen-000001").exists()
    try:
        assert upgraded.checkpoint() == 0
        upgraded.index(DOCUMENTS)
        upgraded.commit(checkpoint=len(DOCUMENTS))
        assert ids(upgraded, "has:retraction") == ["retracted"]
        assert upgraded.search(parse("detainees")).total == 1
    finally:
        if not isinstance(backend, ClusterBackend):
            upgraded.close()
