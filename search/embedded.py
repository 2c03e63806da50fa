"""The embedded search engine: a tantivy index on disk under ``$VESTIGE_HOME/index``.

Layout: ``index/CURRENT`` names the live generation folder (``gen-000001``...); a rebuild
fills a new generation and then replaces ``CURRENT`` atomically, so searches never see a
half-built index. One writer at a time (``index/write.lock``, an flock held while
writing); readers reload after commits and follow ``CURRENT`` when it changes.

Fields: English text (``title``, ``text``) with the stemming analyzer; Chinese words
(``*_zh``, rjieba on the Simplified text, space-joined into a whitespace-tokenized field);
Chinese characters (``*_han``, one token per character, for one-character queries) and
character bigrams (``*_bi``, so a longer string is always findable as a phrase of bigrams,
whatever the segmentation) and their pinyin (``*_py``, one toneless syllable per character,
so a name is found from its pinyin: see search.translate); keyword fields for filters and
facets; ``date`` for ranges and sorting;
``story`` (a number, 0 for none) for collapsing same-story copies into one hit.

An index written with another schema (an older Vestige) cannot be opened with this one:
it is replaced by an empty generation whose checkpoint is 0, so the next ``vestige index``
indexes everything again.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import tantivy
from tantivy import Occur, Query

from search.analysis import (
    chinese_words,
    english_analyzer,
    english_positions,
    fold,
    han_analyzer,
    han_bigrams,
    pinyin_tokens,
    runs,
)
from search.backend import FACET_SIZES, FACETS, FILTER_FIELDS, SearchBackend, SearchError, Sort
from search.models import (
    MAX_COPIES,
    Copy,
    Hit,
    IndexDocument,
    Related,
    SearchResult,
    to_utc_naive,
)
from search.query import (
    KNOWN_VALUES,
    All,
    And,
    DateRange,
    Expanded,
    Filter,
    Node,
    Not,
    Or,
    Text,
)
from search.ranking import TITLE_BOOST, WORD_BOOST, proximity_phrase
from search.snippets import highlight

CHECKPOINT_ID = "__vestige_checkpoint__"
ID_PAGE = 10_000  # matches read at a time by iter_ids
_MATCHES = "__matches"  # the aggregation counting matches alongside the facets
COLLAPSE_WINDOW = 100  # hits read at least, to fill a page of collapsed hits


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    for name in ("id", "language", "collection", "site", "has", "role"):
        builder.add_text_field(name, stored=True, tokenizer_name="raw", fast=name != "id")
    builder.add_text_field("domain", tokenizer_name="raw")
    builder.add_text_field("publisher", tokenizer_name="raw")
    for name in ("url", "script", "published"):
        builder.add_text_field(name, stored=True, tokenizer_name="raw", index_option="basic")
    for name in ("title", "text"):
        builder.add_text_field(name, stored=True, tokenizer_name="vestige_en")
        builder.add_text_field(f"{name}_zh", tokenizer_name="whitespace")
        builder.add_text_field(f"{name}_han", tokenizer_name="vestige_han", index_option="freq")
        builder.add_text_field(f"{name}_bi", tokenizer_name="whitespace")
        builder.add_text_field(f"{name}_py", tokenizer_name="whitespace")
    builder.add_bytes_field("text_simplified", stored=True)
    builder.add_date_field("captured", stored=True)
    builder.add_date_field("date", indexed=True, fast=True)
    builder.add_integer_field("year", indexed=True, fast=True)
    builder.add_integer_field("seq", stored=True)
    builder.add_unsigned_field("story", indexed=True, fast=True)
    builder.add_bytes_field("related", stored=True)  # JSON list of Related
    builder.add_bytes_field("ocr", stored=True)  # JSON {"confidence": ...}, OCR documents only
    return builder.build()


SCHEMA = _schema()


class SchemaChanged(SearchError):
    """The index on disk was written with another schema."""


def _open(path: Path) -> tantivy.Index:
    path.mkdir(parents=True, exist_ok=True)
    try:
        index = tantivy.Index(SCHEMA, path=str(path), reuse=True)
    except ValueError as exc:
        if "schema does not match" not in str(exc):
            raise
        raise SchemaChanged(f"{path} was written by another version of Vestige") from exc
    # Tantivy does not persist custom analyzers: register them on every open.
    index.register_tokenizer("vestige_en", english_analyzer())
    index.register_tokenizer("vestige_han", han_analyzer())
    return index


def _document(doc: IndexDocument) -> tantivy.Document:
    out = tantivy.Document()
    out.add_text("id", doc.id)
    out.add_text("url", doc.url)
    out.add_text("language", doc.language or "und")
    out.add_text("collection", doc.collection)
    out.add_text("site", doc.host)
    if doc.publisher:
        out.add_text("publisher", doc.publisher)
    for domain in doc.domains:
        out.add_text("domain", domain)
    if doc.script:
        out.add_text("script", doc.script)
    if doc.published:
        out.add_text("published", doc.published)
    out.add_text("title", doc.title)
    out.add_text("text", doc.text)
    for name, simplified in (("title", doc.simplified_title), ("text", doc.simplified_text)):
        if simplified is not None:
            out.add_text(f"{name}_zh", " ".join(chinese_words(simplified)))
            out.add_text(f"{name}_han", simplified)
            out.add_text(f"{name}_bi", " ".join(han_bigrams(simplified)))
            out.add_text(f"{name}_py", " ".join(pinyin_tokens(simplified)))
    if doc.simplified_text is not None:
        out.add_bytes("text_simplified", doc.simplified_text.encode())
    out.add_date("captured", to_utc_naive(doc.captured))
    when = doc.date
    out.add_date("date", when)
    out.add_integer("year", when.year)
    out.add_integer("seq", doc.seq)
    provenance = doc.provenance
    for kind in provenance.has:
        out.add_text("has", kind)
    if provenance.role:
        out.add_text("role", provenance.role)
    out.add_unsigned("story", story_number(provenance.story))
    if provenance.related:
        related = [item.to_json() for item in provenance.related]
        out.add_bytes("related", json.dumps(related).encode())
    if doc.ocr:
        out.add_bytes("ocr", json.dumps({"confidence": doc.ocr_confidence}).encode())
    return out


def story_number(key: str | None) -> int:
    """The ``story`` field's value: the group key's 64 bits, 0 for a document without copies."""
    return int(key, 16) if key else 0


def _boolean(clauses: list[tuple[Occur, Query]]) -> Query:
    return (
        clauses[0][1]
        if len(clauses) == 1 and clauses[0][0] is Occur.Must
        else (Query.boolean_query(clauses))
    )


def _filtered(query: Query, condition: Query) -> Query:
    """``query`` restricted to ``condition``, scored as ``query`` alone."""
    return Query.boolean_query(
        [(Occur.Must, query), (Occur.Must, Query.const_score_query(condition, 0.0))]
    )


def _any(queries: list[Query]) -> Query:
    return (
        queries[0]
        if len(queries) == 1
        else Query.boolean_query([(Occur.Should, q) for q in queries])
    )


class _Compiler:
    """Translates the query tree into tantivy queries."""

    def __init__(self, schema: tantivy.Schema) -> None:
        self.schema = schema

    def _terms(self, field: str, terms: list[Any]) -> Query:
        if len(terms) == 1:
            term = terms[0][1] if isinstance(terms[0], tuple) else terms[0]
            return Query.term_query(self.schema, field, term)
        return Query.phrase_query(self.schema, field, terms)

    def _scoped(self, fields: list[str], terms: list[Any]) -> Query:
        # Title matches weigh more than body matches.
        return _any(
            [
                Query.boost_query(self._terms(f, terms), TITLE_BOOST)
                if f.startswith("title")
                else self._terms(f, terms)
                for f in fields
            ]
        )

    def text(self, node: Text) -> Query | None:
        query = self._text(node)
        if query is None or node.weight == 1.0:
            return query
        return Query.boost_query(query, node.weight)

    def _text(self, node: Text) -> Query | None:
        bases = ["title"] if node.field == "title" else ["title", "text"]
        if node.field == "pinyin":
            return self._scoped([f"{b}_py" for b in bases], list(enumerate(node.text.split())))
        clauses: list[Query] = []
        for is_han, run in runs(node.text):
            if is_han:
                simplified = fold(run)
                bigrams = list(enumerate(han_bigrams(simplified)))
                words = list(enumerate(chinese_words(simplified)))
                if bigrams:
                    must = self._scoped([f"{b}_bi" for b in bases], bigrams)
                else:  # one character
                    must = self._scoped([f"{b}_han" for b in bases], [simplified])
                ranked = Query.boost_query(
                    self._scoped([f"{b}_zh" for b in bases], words), WORD_BOOST
                )
                clauses.append(Query.boolean_query([(Occur.Must, must), (Occur.Should, ranked)]))
            else:
                terms = english_positions(run)
                if terms:  # only stop words: no constraint
                    clauses.append(self._scoped(bases, terms))
        if not clauses:
            return None
        return _boolean([(Occur.Must, c) for c in clauses])

    def compile(self, node: Node, top: bool = False) -> Query | None:
        if isinstance(node, All):
            return None
        if isinstance(node, Text):
            return self.text(node)
        if isinstance(node, Expanded):
            parts = [self.compile(node.original, top), *map(self.compile, node.translated)]
            if any(part is None for part in parts):
                return None
            return Query.boolean_query([(Occur.Should, part) for part in parts if part])
        if isinstance(node, Filter):
            term = Query.term_query(self.schema, FILTER_FIELDS[node.field], node.value)
            return Query.const_score_query(term, 0.0)
        if isinstance(node, DateRange):
            start = datetime.combine(node.start, datetime.min.time()) if node.start else None
            end = datetime.combine(node.end, datetime.min.time()) if node.end else None
            return Query.const_score_query(
                Query.range_query(
                    self.schema,
                    "date",
                    tantivy.FieldType.Date,
                    start,
                    end,
                    include_upper=end is None,
                ),
                0.0,
            )
        if isinstance(node, Not):
            inner = self.compile(node.node)
            if inner is None:
                return Query.empty_query()
            return Query.boolean_query([(Occur.Must, Query.all_query()), (Occur.MustNot, inner)])
        if isinstance(node, Or):
            parts = [self.compile(child) for child in node.nodes]
            minimum = node.minimum - sum(part is None for part in parts)
            if minimum <= 0:
                return None  # enough sides match everything
            should = [(Occur.Should, part) for part in parts if part]
            return Query.boolean_query(should, minimum if minimum > 1 else None)
        assert isinstance(node, And)
        clauses: list[tuple[Occur, Query]] = []
        for child in node.nodes:
            if isinstance(child, Not):
                inner = self.compile(child.node)
                if inner is not None:
                    clauses.append((Occur.MustNot, inner))
                else:
                    return Query.empty_query()
            else:
                part = self.compile(child)
                if part is not None:
                    clauses.append((Occur.Must, part))
        phrase = proximity_phrase(node) if top else None
        if phrase is not None and (boost := self.text(phrase)) is not None:
            # Words next to each other outrank the same words scattered.
            clauses.append((Occur.Should, Query.boost_query(boost, WORD_BOOST)))
        if not any(occur is Occur.Must for occur, _ in clauses):
            if not clauses:
                return None
            clauses.append((Occur.Must, Query.all_query()))
        return _boolean(clauses)


class EmbeddedBackend(SearchBackend):
    """The tantivy index in ``root`` (``$VESTIGE_HOME/index``)."""

    name = "embedded"

    def __init__(self, root: Path, *, generation: str | None = None, locked: bool = False):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._pointer = root / "CURRENT"
        self._lock_file: int | None = None
        self._owns_lock = not locked
        if locked:
            self._lock_file = -1  # the parent holds the lock
        self.generation = generation or self._current()
        try:
            self._index = _open(root / self.generation)
        except SchemaChanged:
            self._index = self._replace_outdated()
        self._compiler = _Compiler(SCHEMA)
        self._writer: tantivy.IndexWriter | None = None
        self._uncommitted = False  # changes given to the writer since its last commit
        self._pointer_mtime = self._pointer_stamp()
        self._committed = 0  # meta.json's mtime when the reader last reloaded

    # -- generations -------------------------------------------------------------------

    def _current(self) -> str:
        if self._pointer.is_file():
            return self._pointer.read_text().strip()
        first = "gen-000001"
        self._point_to(first)
        return first

    def _point_to(self, generation: str) -> None:
        temp = self.root / "CURRENT.tmp"
        temp.write_text(generation + "\n")
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, self._pointer)

    def _replace_outdated(self) -> tantivy.Index:
        """Start an empty generation in place of one written with an older schema; its
        checkpoint is 0, so the next sync indexes every document again."""
        self._lock()
        try:
            current = self._current()
            try:
                index = _open(self.root / current)  # another process replaced it already
            except SchemaChanged:
                numbers = [int(p.name.removeprefix("gen-")) for p in self.root.glob("gen-*")]
                fresh = f"gen-{max(numbers, default=0) + 1:06d}"
                index = _open(self.root / fresh)
                self._point_to(fresh)
                shutil.rmtree(self.root / current, ignore_errors=True)
                current = fresh
        finally:
            if self._owns_lock and self._lock_file is not None:
                os.close(self._lock_file)
                self._lock_file = None
        self.generation = current
        return index

    def _pointer_stamp(self) -> int:
        try:
            return self._pointer.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def _follow(self) -> None:
        """See other processes' work: a finished rebuild, or a commit (reload at once)."""
        stamp = self._pointer_stamp()
        if stamp != self._pointer_mtime:
            self._pointer_mtime = stamp
            generation = self._current()
            if generation != self.generation and self._writer is None:
                self.generation = generation
                self._index = _open(self.root / generation)
        try:
            committed = (self.root / self.generation / "meta.json").stat().st_mtime_ns
        except FileNotFoundError:
            committed = 0
        if committed != self._committed:
            self._committed = committed
            self._index.reload()

    # -- writing -----------------------------------------------------------------------

    def _lock(self) -> None:
        if self._lock_file is None:
            fd = os.open(self.root / "write.lock", os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)  # wait for another writer to finish
            self._lock_file = fd

    def begin_writing(self) -> None:
        self._lock()
        self._follow()  # another process's commit, made before the lock was ours

    def _writer_for_changes(self) -> tantivy.IndexWriter:
        if self._writer is None:
            self._lock()
            self._follow()
            # One indexing thread: a commit's documents and its checkpoint marker share a
            # segment. With two, the marker could sit alone in one, and the next commit's
            # deleting it emptied that segment, which stopped tantivy from merging any.
            self._writer = self._index.writer(heap_size=256_000_000, num_threads=1)
        self._uncommitted = True
        return self._writer

    def index(self, documents: Iterable[IndexDocument]) -> int:
        writer = self._writer_for_changes()
        count = 0
        for doc in documents:
            writer.delete_documents_by_term("id", doc.id)
            if not doc.deleted:
                writer.add_document(_document(doc))
            count += 1
        return count

    def delete(self, ids: Iterable[str]) -> int:
        writer = self._writer_for_changes()
        count = 0
        for doc_id in ids:
            writer.delete_documents_by_term("id", doc_id)
            count += 1
        return count

    def commit(self, checkpoint: int | None = None) -> None:
        writer = self._writer_for_changes()
        if checkpoint is not None:
            # The checkpoint lives in the index itself, committed atomically with the changes.
            writer.delete_documents_by_term("id", CHECKPOINT_ID)
            marker = tantivy.Document()
            marker.add_text("id", CHECKPOINT_ID)
            marker.add_integer("seq", checkpoint)
            writer.add_document(marker)
        writer.commit()
        self._uncommitted = False
        self._index.reload()

    def checkpoint(self) -> int:
        self._follow()
        searcher = self._index.searcher()
        found = searcher.search(Query.term_query(SCHEMA, "id", CHECKPOINT_ID), 1).hits
        if not found:
            return 0
        return searcher.doc(found[0][1]).get_first("seq") or 0

    @contextmanager
    def rebuild(self) -> Iterator[SearchBackend]:
        self._lock()
        self._release_writer()
        numbers = [int(p.name.removeprefix("gen-")) for p in self.root.glob("gen-*") if p.is_dir()]
        generation = f"gen-{max(numbers, default=0) + 1:06d}"
        fresh = EmbeddedBackend(self.root, generation=generation, locked=True)
        try:
            yield fresh
            fresh.commit()
        except BaseException:
            fresh.close()
            shutil.rmtree(self.root / generation, ignore_errors=True)
            raise
        fresh.close()
        old = self.generation
        self._point_to(generation)
        self.generation = generation
        self._pointer_mtime = self._pointer_stamp()
        self._index = _open(self.root / generation)
        shutil.rmtree(self.root / old, ignore_errors=True)

    def _release_writer(self) -> None:
        if self._writer is not None:
            if self._uncommitted:
                self._writer.rollback()  # uncommitted changes are dropped, like a crash
            # Lets the segment merges the commits started finish (a rollback cancels them):
            # without them each commit's segment stays and searches slow down with each one.
            self._writer.wait_merging_threads()
            self._writer = None
            self._uncommitted = False

    def close(self) -> None:
        self._release_writer()
        if self._lock_file is not None and self._owns_lock:
            os.close(self._lock_file)  # releases the flock
        self._lock_file = None

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
        self._follow()
        full = self._query(query)
        searcher = self._index.searcher()
        order = "date" if sort is Sort.date else None
        try:
            copied = self._copied(searcher, full) if collapse else []
            counts = self._facets(searcher, full) if facets else None
            if copied:
                documents, page, total = self._collapsed(
                    searcher, full, order, copied, limit, offset
                )
            else:
                # With facets, the aggregation counts the matches: the page of hits then
                # needs no count, and the engine can skip documents that cannot make it.
                found = searcher.search(
                    full, limit=limit, offset=offset, order_by_field=order, count=counts is None
                )
                documents = total = found.count if counts is None else counts[1]
                page = [(key, address, 0) for key, address in found.hits]
        except ValueError as exc:
            raise SearchError(f"search failed: {exc}") from exc
        hits = []
        for key, address, story in page:
            stored = searcher.doc(address)
            text = stored.get_first("text") or ""
            simplified = stored.get_first("text_simplified")
            simplified = bytes(simplified).decode() if simplified else None
            related = stored.get_first("related")
            title = stored.get_first("title") or ""
            marked, (own, via) = highlight(text, simplified, title, query)
            ocr = stored.get_first("ocr")
            ocr = json.loads(bytes(ocr)) if ocr else None
            copies, listed = self._copies(searcher, full, order, story, address)
            hits.append(
                Hit(
                    id=stored.get_first("id"),
                    url=stored.get_first("url"),
                    title=title,
                    language=stored.get_first("language"),
                    script=stored.get_first("script"),
                    published=stored.get_first("published"),
                    captured=to_utc_naive(stored.get_first("captured")),
                    collection=stored.get_first("collection"),
                    score=float(key) if sort is Sort.relevance else 0.0,
                    snippet=marked,
                    own_words=own,
                    matched_via=via,
                    related=tuple(Related(**item) for item in json.loads(bytes(related)))
                    if related
                    else (),
                    role=stored.get_first("role"),
                    copies=copies,
                    copy_documents=listed,
                    ocr=ocr is not None,
                    ocr_confidence=ocr["confidence"] if ocr else None,
                )
            )
        return SearchResult(
            total=total,
            hits=hits,
            facets=counts[0] if counts else {},
            documents=documents,
        )

    def _copied(self, searcher: tantivy.Searcher, full: Query) -> list[int]:
        """The story numbers of every match that has copies (usually few or none)."""
        if not searcher.doc_freq("has", "copies"):
            return []  # no copies anywhere: no second pass over the matches
        query = _filtered(full, Query.term_query(SCHEMA, "has", "copies"))
        count = searcher.search(query, limit=1).count or 0
        if not count:
            return []
        found = searcher.search(query, limit=count).hits
        return searcher.fast_field_values("story", [address for _, address in found])

    def _collapsed(
        self,
        searcher: tantivy.Searcher,
        full: Query,
        order: str | None,
        copied: list[int],
        limit: int,
        offset: int,
    ) -> tuple[int, list[tuple[Any, Any, int]], int]:
        """Matching documents, a page of hits with one per story, and the hits in all.

        Reads ranked matches in growing windows until the page's stories are known.
        """
        need = offset + limit
        window = max(need * 4, COLLAPSE_WINDOW)
        while True:
            found = searcher.search(full, limit=window, order_by_field=order)
            stories = searcher.fast_field_values("story", [address for _, address in found.hits])
            leaders: list[tuple[Any, Any, int]] = []
            seen: set[int] = set()
            for (key, address), story in zip(found.hits, stories, strict=True):
                if story:
                    if story in seen:
                        continue  # a copy of a story already listed
                    seen.add(story)
                leaders.append((key, address, story or 0))
                if len(leaders) == need:
                    break
            documents = found.count or 0
            if len(leaders) == need or window >= documents:
                break
            window *= 4
        total = documents - len(copied) + len(set(copied))
        return documents, leaders[offset:], total

    def _copies(
        self,
        searcher: tantivy.Searcher,
        full: Query,
        order: str | None,
        story: int,
        leader: Any,
    ) -> tuple[int, tuple[Copy, ...]]:
        """How many other matches share the hit's story, and the first ``MAX_COPIES``."""
        if not story:
            return 0, ()
        query = _filtered(full, Query.term_query(SCHEMA, "story", story))
        found = searcher.search(query, limit=MAX_COPIES + 1, order_by_field=order)
        listed = []
        for _, address in found.hits:
            if (address.segment_ord, address.doc) == (leader.segment_ord, leader.doc):
                continue
            stored = searcher.doc(address)
            listed.append(
                Copy(
                    id=stored.get_first("id"),
                    url=stored.get_first("url"),
                    title=stored.get_first("title") or "",
                    language=stored.get_first("language"),
                    published=stored.get_first("published"),
                    captured=to_utc_naive(stored.get_first("captured")),
                )
            )
        return (found.count or 1) - 1, tuple(listed[:MAX_COPIES])

    def _query(self, query: Node) -> Query:
        """The compiled query, never matching the checkpoint marker."""
        compiled = self._compiler.compile(query, top=True) or Query.all_query()
        return Query.boolean_query(
            [
                (Occur.Must, compiled),
                (Occur.MustNot, Query.term_query(SCHEMA, "id", CHECKPOINT_ID)),
            ]
        )

    def iter_ids(self, query: Node) -> Iterator[str]:
        self._follow()
        full = self._query(query)
        searcher = self._index.searcher()  # one snapshot: pages cannot shift under us
        offset = 0
        while True:
            try:
                found = searcher.search(full, limit=ID_PAGE, offset=offset).hits
            except ValueError as exc:
                raise SearchError(f"search failed: {exc}") from exc
            if not found:
                return
            for _, address in found:
                yield searcher.doc(address).get_first("id")
            offset += len(found)

    def _facets(
        self, searcher: tantivy.Searcher, query: Query
    ) -> tuple[dict[str, list[tuple[str, int]]], int]:
        """Facet counts over every match, and the number of matches (in one pass)."""
        # Relation facets are empty in most archives: skip them when no document has any.
        empty = [
            name
            for name, values in KNOWN_VALUES.items()
            if not any(searcher.doc_freq(name, value) for value in values)
        ]
        spec: dict[str, Any] = {
            name: {"terms": {"field": name, "size": FACET_SIZES[name]}}
            for name in FACETS
            if name not in empty
        }
        spec[_MATCHES] = {"value_count": {"field": "year"}}  # every document has one year
        buckets = searcher.aggregate(query, spec)
        facets = {
            name: [(str(b["key"]), int(b["doc_count"])) for b in buckets[name]["buckets"]]
            if name in spec
            else []
            for name in FACETS
        }
        return facets, int(buckets[_MATCHES]["value"] or 0)

    def status(self) -> dict[str, Any]:
        self._follow()
        searcher = self._index.searcher()
        has_marker = bool(searcher.search(Query.term_query(SCHEMA, "id", CHECKPOINT_ID), 1).hits)
        return {
            "engine": "embedded (tantivy)",
            "location": str(self.root / self.generation),
            "documents": searcher.num_docs - int(has_marker),
            "checkpoint": self.checkpoint(),
            "english_analyzer": "vestige_en (stop words, English stemmer)",
            "chinese_analyzer": "rjieba words + Han characters, OpenCC t2s folding",
        }
