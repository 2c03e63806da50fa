"""Elasticsearch 8/9 and OpenSearch 2/3: one module of mappings, queries and bulk logic.

Searches go through an alias (``vestige``) pointing at a concrete index
(``vestige-<timestamp>``); a rebuild fills a new index and switches the alias in one
atomic request. The last applied catalog change is kept in the index mapping's ``_meta``,
so it travels with the index it describes, with the version of the mappings: an index with
older mappings gets the new fields added and its checkpoint set back to 0, so the next
``vestige index`` sends every document again. Copies of one story share the ``story``
keyword and are collapsed with the engine's field collapsing. Queries are built from the
parsed query tree; user text never reaches ``query_string``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any

from search.analysis import english_terms, fold, pinyin_tokens, runs
from search.backend import (
    FACET_SIZES,
    FACETS,
    FILTER_FIELDS,
    SearchBackend,
    SearchError,
    Sort,
    batched,
)
from search.models import (
    MAX_COPIES,
    Copy,
    Hit,
    IndexDocument,
    Related,
    SearchResult,
    to_utc_naive,
)
from search.query import All, And, DateRange, Expanded, Filter, Node, Not, Or, Text
from search.ranking import TITLE_BOOST, WORD_BOOST, proximity_phrase
from search.snippets import highlight

BULK_DOCUMENTS = 500
BULK_BYTES = 8 * 1024 * 1024  # keep each bulk request (and memory) bounded
RETRIES = 6
SCROLL_SIZE = 1000  # ids per scroll page
SCROLL_KEEP = "2m"  # how long the cluster keeps the scroll between pages
# 2: relations and same-story collapsing; 3: Chinese bigram subfields; 4: publisher;
# 5: the OCR marker; 6: pinyin fields
MAPPINGS_VERSION = 6
STORY_PRECISION = 40_000  # below this many stories, the collapsed total is exact
_COPY_SOURCE = ["id", "url", "title", "language", "published", "captured"]
_SOURCE = [
    "story",
    "role",
    "related",
    "id",
    "url",
    "title",
    "language",
    "script",
    "published",
    "captured",
    "collection",
    "text",
    "text_zh",
    "ocr",
]

# Chinese analyzers in order of preference, with the plugin that provides each.
CHINESE_ANALYZERS = (
    ("smartcn", "analysis-smartcn", {"type": "smartcn"}),
    ("icu_analyzer", "analysis-icu", {"type": "icu_analyzer"}),
    ("cjk", None, {"type": "cjk"}),
)


def _text_pair(name: str) -> dict[str, Any]:
    return {
        name: {"type": "text", "analyzer": "english"},
        f"{name}_zh": {
            "type": "text",
            "analyzer": "vestige_zh",
            "fields": {
                # One token per Han character, for one-character queries.
                "han": {"type": "text", "analyzer": "vestige_han"},
                # Bigrams of Han characters (the built-in cjk analyzer): a longer string is
                # always findable as a phrase of bigrams, whatever the segmentation, without
                # checking the positions of the most common characters in every document.
                "bi": {"type": "text", "analyzer": "cjk"},
            },
        },
        # The toneless pinyin of each Han character, so a name is found from its pinyin.
        f"{name}_py": {"type": "text", "analyzer": "whitespace"},
    }


def properties() -> dict[str, Any]:
    """The fields of a Vestige index (an older index gets the ones it lacks as it opens)."""
    keyword = {"type": "keyword"}
    return {
        **{
            name: keyword
            for name in (
                "id",
                "url",
                "language",
                "collection",
                "site",
                "domain",
                "publisher",
                "script",
            )
        },
        "published": {"type": "keyword", "index": False},
        **_text_pair("title"),
        **_text_pair("text"),
        "captured": {"type": "date"},
        "date": {"type": "date"},
        "year": {"type": "integer"},
        "ocr": {"type": "object", "enabled": False},
        **relation_properties(),
    }


def relation_properties() -> dict[str, Any]:
    """Mappings of the fields search.provenance fills."""
    keyword = {"type": "keyword"}
    return {
        "has": keyword,
        "role": keyword,
        "story": keyword,
        "related": {"type": "object", "enabled": False},
    }


def index_body(chinese: dict[str, Any], analyzer_name: str) -> dict[str, Any]:
    """Settings and mappings for a Vestige index."""
    return {
        "settings": {
            "index": {"number_of_shards": 1, "auto_expand_replicas": "0-1"},
            "analysis": {
                "analyzer": {
                    "vestige_zh": chinese,
                    "vestige_han": {
                        "type": "custom",
                        "tokenizer": "standard",
                        "filter": ["lowercase"],
                    },
                }
            },
        },
        "mappings": {
            "dynamic": "false",
            "_meta": {
                "vestige_checkpoint": 0,
                "vestige_chinese_analyzer": analyzer_name,
                "vestige_mappings": MAPPINGS_VERSION,
            },
            "properties": properties(),
        },
    }


def source(doc: IndexDocument) -> dict[str, Any]:
    """The JSON a document is indexed as."""
    when = doc.date
    provenance = doc.provenance
    return {
        "has": list(provenance.has),
        "role": provenance.role,
        # Collapsing puts documents without the field in one group: give each its own.
        "story": provenance.story or doc.id,
        "related": [item.to_json() for item in provenance.related],
        "id": doc.id,
        "url": doc.url,
        "language": doc.language or "und",
        "collection": doc.collection,
        "site": doc.host,
        "domain": doc.domains,
        "publisher": doc.publisher or None,
        "script": doc.script,
        "published": doc.published,
        "title": doc.title,
        "title_zh": doc.simplified_title,
        "title_py": _pinyin(doc.simplified_title),
        "text": doc.text,
        "text_zh": doc.simplified_text,
        "text_py": _pinyin(doc.simplified_text),
        "captured": to_utc_naive(doc.captured).isoformat(),
        "date": when.isoformat(),
        "year": when.year,
        "ocr": {"confidence": doc.ocr_confidence} if doc.ocr else None,
    }


def _pinyin(simplified: str | None) -> str | None:
    return None if simplified is None else " ".join(pinyin_tokens(simplified))


def _phrase(field: str, text: str, boost: float = 1.0) -> dict[str, Any]:
    return {"match_phrase": {field: {"query": text, "boost": boost, "zero_terms_query": "all"}}}


def _should(clauses: list[dict[str, Any]], boost: float = 1.0) -> dict[str, Any]:
    if len(clauses) == 1 and boost == 1.0:
        return clauses[0]
    return {"bool": {"should": clauses, "minimum_should_match": 1, "boost": boost}}


def _scoped(fields: list[str], text: str) -> list[dict[str, Any]]:
    # Title matches weigh more than body matches.
    return [_phrase(f, text, TITLE_BOOST if f.startswith("title") else 1.0) for f in fields]


def _text(node: Text) -> dict[str, Any] | None:
    query = _unweighted(node)
    if query is None or node.weight == 1.0:
        return query
    return {"bool": {"must": [query], "boost": node.weight}}


def _unweighted(node: Text) -> dict[str, Any] | None:
    bases = ["title"] if node.field == "title" else ["title", "text"]
    if node.field == "pinyin":
        return _should(_scoped([f"{b}_py" for b in bases], node.text))
    clauses = []
    for is_han, run in runs(node.text):
        if is_han:
            simplified = fold(run)
            chars = "han" if len(simplified) == 1 else "bi"
            clauses.append(
                {
                    "bool": {
                        "must": _should(_scoped([f"{b}_zh.{chars}" for b in bases], simplified)),
                        "should": _should(
                            _scoped([f"{b}_zh" for b in bases], simplified), WORD_BOOST
                        ),
                    }
                }
            )
        elif english_terms(run):  # only stop words: no constraint
            clauses.append(_should(_scoped(bases, run)))
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"bool": {"must": clauses}}


def compile_query(node: Node, top: bool = False) -> dict[str, Any] | None:
    """The query DSL for a parsed query; None means every document."""
    if isinstance(node, All):
        return None
    if isinstance(node, Text):
        return _text(node)
    if isinstance(node, Expanded):
        parts = [compile_query(node.original, top), *map(compile_query, node.translated)]
        if any(part is None for part in parts):
            return None
        return {"bool": {"should": parts, "minimum_should_match": 1}}
    if isinstance(node, Filter):
        return {"bool": {"filter": [{"term": {FILTER_FIELDS[node.field]: node.value}}]}}
    if isinstance(node, DateRange):
        bounds: dict[str, str] = {}
        if node.start:
            bounds["gte"] = node.start.isoformat()
        if node.end:
            bounds["lt"] = node.end.isoformat()
        return {"bool": {"filter": [{"range": {"date": bounds}}]}}
    if isinstance(node, Not):
        inner = compile_query(node.node)
        if inner is None:
            return {"match_none": {}}
        return {"bool": {"must_not": [inner]}}
    if isinstance(node, Or):
        parts = [compile_query(child) for child in node.nodes]
        minimum = node.minimum - sum(part is None for part in parts)
        if minimum <= 0:
            return None  # enough sides match everything
        should = [part for part in parts if part is not None]
        return {"bool": {"should": should, "minimum_should_match": minimum}}
    assert isinstance(node, And)
    must: list[dict[str, Any]] = []
    must_not: list[dict[str, Any]] = []
    for child in node.nodes:
        if isinstance(child, Not):
            inner = compile_query(child.node)
            if inner is None:
                return {"match_none": {}}
            must_not.append(inner)
        elif (part := compile_query(child)) is not None:
            must.append(part)
    should = []
    phrase = proximity_phrase(node) if top else None
    if phrase is not None and (boost := _text(phrase)) is not None:
        # Words next to each other outrank the same words scattered.
        should.append({"bool": {"must": [boost], "boost": WORD_BOOST}})
    if not (must or must_not):
        return None
    return {"bool": {"must": must or [{"match_all": {}}], "must_not": must_not, "should": should}}


class _Api:
    """Calls through either official client (both take ``body=``), errors made readable."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def plain(self, method: Any, **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except Exception as exc:  # both clients' transport and API errors
            raise SearchError(f"search engine error: {exc}") from exc

    def body(self, method: Any, body: Any, **kwargs: Any) -> Any:
        return self.plain(method, body=body, **kwargs)


class ClusterBackend(SearchBackend):
    """An Elasticsearch or OpenSearch cluster, searched through ``alias``."""

    def __init__(
        self, client: Any, distribution: str, alias: str = "vestige", target: str | None = None
    ) -> None:
        self.client = client
        self.distribution = distribution
        self.name = distribution
        self.alias = alias
        self.api = _Api(client)
        self.target = target or self._ensure_index()

    @classmethod
    def connect(cls, url: str, distribution: str, alias: str = "vestige") -> ClusterBackend:
        """A backend for the cluster at ``url`` (``distribution`` from the server's answer)."""
        if distribution == "opensearch":
            from opensearchpy import OpenSearch

            client: Any = OpenSearch(hosts=[url], timeout=60, max_retries=3, retry_on_timeout=True)
        else:
            from elasticsearch import Elasticsearch

            client = Elasticsearch(url, request_timeout=60, max_retries=3, retry_on_timeout=True)
        return cls(client, distribution, alias)

    # -- indices -----------------------------------------------------------------------

    def chinese_analyzer(self) -> tuple[str, dict[str, Any]]:
        """The best Chinese analyzer the cluster offers (smartcn, icu_analyzer, else cjk)."""
        plugins = self.api.plain(self.client.cat.plugins, format="json") or []
        installed = {entry.get("component") for entry in plugins}
        for name, plugin, definition in CHINESE_ANALYZERS:
            if plugin is None or plugin in installed:
                return name, definition
        raise AssertionError("cjk is always available")

    def _create_index(self) -> str:
        name = f"{self.alias}-{time.time_ns()}"
        analyzer_name, definition = self.chinese_analyzer()
        self.api.body(self.client.indices.create, index_body(definition, analyzer_name), index=name)
        return name

    def _ensure_index(self) -> str:
        found = self._alias_targets()
        if found:
            self._upgrade(found[0])
            return found[0]
        name = self._create_index()
        self.api.body(
            self.client.indices.update_aliases,
            {"actions": [{"add": {"index": name, "alias": self.alias}}]},
        )
        return name

    def _upgrade(self, index: str) -> None:
        """Add the fields of newer mappings to an older index and index everything again."""
        mapping = self.api.plain(self.client.indices.get_mapping, index=index)
        meta = dict(mapping[index]["mappings"].get("_meta", {}))
        if int(meta.get("vestige_mappings", 1)) >= MAPPINGS_VERSION:
            return
        meta |= {"vestige_mappings": MAPPINGS_VERSION, "vestige_checkpoint": 0}
        self.api.body(
            self.client.indices.put_mapping,
            {"properties": properties(), "_meta": meta},
            index=index,
        )

    def _alias_targets(self) -> list[str]:
        if not self.api.plain(self.client.indices.exists_alias, name=self.alias):
            return []
        return sorted(self.api.plain(self.client.indices.get_alias, name=self.alias))

    def _meta(self) -> dict[str, Any]:
        mapping = self.api.plain(self.client.indices.get_mapping, index=self.target)
        return dict(mapping[self.target]["mappings"].get("_meta", {}))

    # -- writing -----------------------------------------------------------------------

    def _send(self, operations: list[dict[str, Any]]) -> None:
        """One bulk request, retrying the whole request or failed items on 429/5xx."""
        delay = 0.5
        for attempt in range(RETRIES + 1):
            try:
                response = self.client.bulk(body=operations)
            except Exception as exc:
                status = getattr(exc, "status_code", None) or getattr(exc, "status", None)
                retryable = status is None or status == 429 or int(status) >= 500
                if not retryable or attempt == RETRIES:
                    raise SearchError(f"bulk indexing failed: {exc}") from exc
            else:
                if not response.get("errors"):
                    return
                retry: list[dict[str, Any]] = []
                for i, item in enumerate(response["items"]):
                    result = next(iter(item.values()))
                    status = int(result.get("status", 200))
                    if status == 429 or status >= 500:
                        retry.extend(operations[_slice(operations, i)])
                    elif status >= 300 and not (status == 404 and "delete" in item):
                        raise SearchError(f"bulk indexing failed: {result.get('error')}")
                if not retry or attempt == RETRIES:
                    if retry:
                        raise SearchError("bulk indexing failed: cluster kept rejecting documents")
                    return
                operations = retry
            time.sleep(delay)
            delay = min(delay * 2, 10.0)

    def index(self, documents: Iterable[IndexDocument]) -> int:
        count = 0
        for batch in batched(documents, BULK_DOCUMENTS):
            operations: list[dict[str, Any]] = []
            size = 0
            for doc in batch:
                if doc.deleted:
                    operations.append({"delete": {"_index": self.target, "_id": doc.id}})
                else:
                    body = source(doc)
                    operations += [{"index": {"_index": self.target, "_id": doc.id}}, body]
                    size += len(doc.text) * 3 + 512
                if size >= BULK_BYTES:
                    self._send(operations)
                    operations, size = [], 0
            if operations:
                self._send(operations)
            count += len(batch)
        return count

    def delete(self, ids: Iterable[str]) -> int:
        operations = [{"delete": {"_index": self.target, "_id": doc_id}} for doc_id in ids]
        for start in range(0, len(operations), BULK_DOCUMENTS):
            self._send(operations[start : start + BULK_DOCUMENTS])
        return len(operations)

    def commit(self, checkpoint: int | None = None) -> None:
        self.api.plain(self.client.indices.refresh, index=self.target)
        if checkpoint is not None:
            meta = self._meta()
            meta["vestige_checkpoint"] = checkpoint
            self.api.body(self.client.indices.put_mapping, {"_meta": meta}, index=self.target)

    def checkpoint(self) -> int:
        return int(self._meta().get("vestige_checkpoint", 0))

    @contextmanager
    def rebuild(self) -> Iterator[SearchBackend]:
        name = self._create_index()
        fresh = ClusterBackend(self.client, self.distribution, self.alias, target=name)
        try:
            yield fresh
            fresh.commit()
        except BaseException:
            self.api.plain(self.client.indices.delete, index=name)
            raise
        old = self._alias_targets()
        actions: list[dict[str, Any]] = [{"add": {"index": name, "alias": self.alias}}]
        actions += [{"remove": {"index": index, "alias": self.alias}} for index in old]
        self.api.body(self.client.indices.update_aliases, {"actions": actions})
        for index in old:
            self.api.plain(self.client.indices.delete, index=index)
        self.target = name

    def close(self) -> None:
        self.client.close()

    # -- reading -----------------------------------------------------------------------

    def search(
        self,
        query: Node,
        *,
        sort: Sort = Sort.relevance,
        limit: int = 10,
        offset: int = 0,
        facets: bool = True,
        collapse: bool = True,
    ) -> SearchResult:
        body: dict[str, Any] = {
            "query": compile_query(query, top=True) or {"match_all": {}},
            "from": offset,
            "size": limit,
            "track_total_hits": True,
            "_source": _SOURCE,
        }
        order = [{"date": "desc"}, {"id": "asc"}] if sort is Sort.date else None
        if order:
            body["sort"] = order
        aggs: dict[str, Any] = {}
        if facets:
            aggs = {name: {"terms": {"field": name, "size": FACET_SIZES[name]}} for name in FACETS}
        if collapse:
            # No inner_hits: they cost a query per hit, and most hits have no copies.
            body["collapse"] = {"field": "story"}
            # Hits after collapsing: the matches without copies, plus one per story.
            aggs["copied"] = {
                "filter": {"term": {"has": "copies"}},
                "aggs": {
                    "stories": {
                        "cardinality": {"field": "story", "precision_threshold": STORY_PRECISION}
                    }
                },
            }
        if aggs:
            body["aggs"] = aggs
        response = self.api.body(self.client.search, body, index=self.alias)
        found_hits = response["hits"]["hits"]
        copies = self._copies(body["query"], order, found_hits) if collapse else {}
        hits = []
        for found in found_hits:
            doc = found["_source"]
            count, listed = copies.get(found["_id"], (0, ()))
            title = doc.get("title") or ""
            marked, (own, via) = highlight(doc.get("text") or "", doc.get("text_zh"), title, query)
            hits.append(
                Hit(
                    id=doc["id"],
                    url=doc["url"],
                    title=title,
                    language=doc["language"],
                    script=doc.get("script"),
                    published=doc.get("published"),
                    captured=to_utc_naive(datetime.fromisoformat(doc["captured"])),
                    collection=doc["collection"],
                    score=float(found.get("_score") or 0.0),
                    snippet=marked,
                    own_words=own,
                    matched_via=via,
                    related=tuple(Related(**item) for item in doc.get("related") or ()),
                    role=doc.get("role"),
                    copies=count,
                    copy_documents=listed,
                    ocr=bool(doc.get("ocr")),
                    ocr_confidence=(doc.get("ocr") or {}).get("confidence"),
                )
            )
        aggregations = response.get("aggregations", {})
        documents = int(response["hits"]["total"]["value"])
        total = documents
        if "copied" in aggregations:
            copied = aggregations["copied"]
            total = documents - int(copied["doc_count"]) + int(copied["stories"]["value"])
        return SearchResult(
            total=total,
            documents=documents,
            hits=hits,
            facets={
                name: [(str(b["key"]), int(b["doc_count"])) for b in aggregations[name]["buckets"]]
                for name in FACETS
                if name in aggregations
            },
        )

    def _copies(
        self, query: dict[str, Any], order: list[Any] | None, hits: list[dict[str, Any]]
    ) -> dict[str, tuple[int, tuple[Copy, ...]]]:
        """For each hit with copies, how many other matches share its story, and the
        first ``MAX_COPIES`` of them (one multi-search for the page)."""
        stories = [hit for hit in hits if hit["_source"].get("story", hit["_id"]) != hit["_id"]]
        if not stories:
            return {}
        lines: list[dict[str, Any]] = []
        for hit in stories:
            body: dict[str, Any] = {
                "query": {
                    "bool": {
                        "must": [query],
                        "filter": [{"term": {"story": hit["_source"]["story"]}}],
                        "must_not": [{"ids": {"values": [hit["_id"]]}}],
                    }
                },
                "size": MAX_COPIES,
                "track_total_hits": True,
                "_source": _COPY_SOURCE,
            }
            if order:
                body["sort"] = order
            lines += [{"index": self.alias}, body]
        responses = self.api.body(self.client.msearch, lines)["responses"]
        found: dict[str, tuple[int, tuple[Copy, ...]]] = {}
        for hit, answer in zip(stories, responses, strict=True):
            if "error" in answer:
                raise SearchError(f"search engine error: {answer['error']}")
            listed = tuple(_copy(copy["_source"]) for copy in answer["hits"]["hits"])
            found[hit["_id"]] = (int(answer["hits"]["total"]["value"]), listed)
        return found

    def iter_ids(self, query: Node) -> Iterator[str]:
        # A scroll reads every match once from a fixed view, without deep paging.
        body = {
            "query": compile_query(query) or {"match_all": {}},
            "sort": ["_doc"],
            "size": SCROLL_SIZE,
            "_source": False,
        }
        response = self.api.body(self.client.search, body, index=self.alias, scroll=SCROLL_KEEP)
        scroll_id = response.get("_scroll_id")
        try:
            while hits := response["hits"]["hits"]:
                for hit in hits:
                    yield hit["_id"]
                response = self.api.plain(
                    self.client.scroll, scroll_id=scroll_id, scroll=SCROLL_KEEP
                )
                scroll_id = response.get("_scroll_id", scroll_id)
        finally:
            if scroll_id:
                with suppress(Exception):  # it expires anyway
                    self.client.clear_scroll(scroll_id=scroll_id)

    def status(self) -> dict[str, Any]:
        info = self.api.plain(self.client.info)
        meta = self._meta()
        count = self.api.plain(self.client.count, index=self.alias)["count"]
        return {
            "engine": f"{self.distribution} {info['version']['number']}",
            "alias": self.alias,
            "index": self.target,
            "documents": count,
            "checkpoint": int(meta.get("vestige_checkpoint", 0)),
            "english_analyzer": "english",
            "chinese_analyzer": meta.get("vestige_chinese_analyzer", "unknown"),
        }


def _copy(doc: dict[str, Any]) -> Copy:
    return Copy(
        id=doc["id"],
        url=doc["url"],
        title=doc.get("title") or "",
        language=doc["language"],
        published=doc.get("published"),
        captured=to_utc_naive(datetime.fromisoformat(doc["captured"])),
    )


def _slice(operations: list[dict[str, Any]], item: int) -> slice:
    """The operation lines of the ``item``-th bulk action (index has two, delete one)."""
    position = 0
    for _ in range(item):
        position += 1 if "delete" in operations[position] else 2
    width = 1 if "delete" in operations[position] else 2
    return slice(position, position + width)
