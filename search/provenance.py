"""What the relation graph says about each indexed document: ``has:``, ``role:`` and copies.

Relations belong to URLs, as on the document page: a relation made with one version
of a URL holds for every version of it. The exception is a relation between two
versions of one URL (a later version that corrects or retracts the earlier one): it
holds for those two versions only.

- ``has:`` values name what other documents say about this one: ``coverage`` (others
  cover or cite it), ``correction``, ``retraction``, ``update`` (others correct,
  retract or update it), ``translation`` (a translation of it exists, or it is one),
  ``copies`` (the same story is archived under other URLs).
- ``role:`` is what the document is in its story, as on the story page: ``coverage``
  (it covers or cites another), ``correction``, ``retraction``, ``update``,
  ``translation``, ``copy`` (a later copy of a syndicated story), else ``primary``
  when others relate to it (the original report, which covers nothing itself).
  Documents without relations have no role.
- Copies: the URLs joined by ``same-story`` relations form one story; its documents
  share a ``story`` key, on which search results collapse.

Suggested relations count like confirmed ones; each count says how many are only
suggested, so the reader can tell.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from archive.catalog import Catalog
from ingest.models import Document
from ingest.relations import REJECTED, Relation
from ingest.story import ROLES
from search.models import HAS, NONE, Provenance, Related

# has: value for a relation type seen from its target; translations count both ways.
INCOMING = {
    "covers": "coverage",
    "cites": "coverage",
    "corrects": "correction",
    "retracts": "retraction",
    "updates": "update",
    "translates": "translation",
}
MAX_STORY_URLS = 1000  # a bigger same-story cluster is cut here (a bad suggestion run)
_CHUNK = 500  # ids per IN (...) list


@dataclass
class _Edges:
    """One document's relations: the types it is the subject of, and who relates to it."""

    outgoing: set[str] = field(default_factory=set)
    # has: value -> other URL -> whether any of those relations is confirmed
    incoming: dict[str, dict[str, bool]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, kind: str, other_url: str, confirmed: bool) -> None:
        seen = self.incoming[kind]
        seen[other_url] = seen.get(other_url, False) or confirmed


@dataclass
class _Stories:
    """Same-story groups of URLs, and which links between them are confirmed."""

    groups: dict[str, frozenset[str]]
    confirmed: dict[str, set[str]]

    def copies(self, url: str) -> Related | None:
        group = self.groups.get(url)
        if group is None:
            return None
        reached, pending = {url}, [url]
        while pending:  # copies reachable through confirmed links only
            for other in self.confirmed[pending.pop()]:
                if other not in reached:
                    reached.add(other)
                    pending.append(other)
        return Related("copies", len(group) - 1, len(group) - len(reached))


def story_key(urls: Iterable[str]) -> str:
    """The key shared by every document of a same-story group (stable as versions come)."""
    return hashlib.sha1(min(urls).encode("utf-8")).hexdigest()[:16]


def affected(catalog: Catalog, changed: list[Document]) -> list[tuple[Document, Provenance]]:
    """The changed documents, and every other document their change affects, with
    their provenance.

    A relation made, confirmed or removed gives its two documents new change numbers
    (see :mod:`ingest.relations`); that also changes what the other versions of their
    URLs and the documents of their same-story groups show, so those come too.
    """
    with catalog.session() as session:
        urls = {document.url for document in changed}
        related_urls = _urls_with_relations(session, urls)
        stories = _stories(session, related_urls)
        everything = related_urls | stories.groups.keys()
        versions = _versions(session, everything)
        ids = [i for found in versions.values() for i in found]
        relations = [
            relation
            for chunk in _chunks(ids)
            for relation in session.scalars(
                select(Relation).where(
                    Relation.status != REJECTED,
                    or_(Relation.source_id.in_(chunk), Relation.target_id.in_(chunk)),
                )
            )
        ]
        url_of = {i: url for url, found in versions.items() for i in found}
        ends = {r.source_id for r in relations} | {r.target_id for r in relations}
        url_of |= _url_of(session, ends - url_of.keys())
        given = {document.id for document in changed}
        extra = [
            document
            for chunk in _chunks([i for i in ids if i not in given])
            for document in session.scalars(select(Document).where(Document.id.in_(chunk)))
        ]
    found: dict[str, Provenance] = {}
    for url in everything:
        for document_id in versions.get(url, ()):
            edges = _edges(document_id, url, relations, url_of)
            found[document_id] = _provenance(edges, stories, url)
    return [(document, found.get(document.id, NONE)) for document in [*changed, *extra]]


def _provenance(edges: _Edges, stories: _Stories, url: str) -> Provenance:
    related = []
    for kind in HAS:
        if kind == "copies":
            copies = stories.copies(url)
            if copies is not None:
                related.append(copies)
        elif others := edges.incoming.get(kind):
            related.append(Related(kind, len(others), sum(not c for c in others.values())))
    role = next((name for type_, name in ROLES if type_ in edges.outgoing), None)
    if role is None and related:
        role = "primary"
    group = stories.groups.get(url)
    return Provenance(tuple(related), role, story_key(group) if group else None)


def _edges(document_id: str, url: str, relations: list[Relation], url_of: dict[str, str]) -> _Edges:
    edges = _Edges()
    for relation in relations:
        source, target = url_of.get(relation.source_id), url_of.get(relation.target_id)
        if source is None or target is None:
            continue  # a document no longer in the catalog
        if source == target:
            # Between two versions of one URL: it concerns those two versions only.
            if document_id not in (relation.source_id, relation.target_id):
                continue
            outgoing = relation.source_id == document_id
            other = f"{url} (another version)"
        elif url in (source, target):
            outgoing = source == url
            other = target if outgoing else source
        else:
            continue
        if outgoing:
            edges.outgoing.add(relation.type)
        if relation.type == "same-story":
            continue  # copies are counted over the whole group
        kind = INCOMING.get(relation.type)  # an attachment says nothing about its e-mail
        if kind is not None and (not outgoing or relation.type == "translates"):
            edges.add(kind, other, relation.status != "suggested")
    return edges


def _urls_with_relations(session: Session, urls: set[str]) -> set[str]:
    """The URLs that have any relation row (rejected ones too: removing a relation
    changes what its URL's other versions show)."""
    versions = _versions(session, urls)
    touched: set[str] = set()
    for chunk in _chunks([i for found in versions.values() for i in found]):
        for row in session.execute(
            select(Relation.source_id, Relation.target_id).where(
                or_(Relation.source_id.in_(chunk), Relation.target_id.in_(chunk))
            )
        ):
            touched.update(row)
    return {url for url, found in versions.items() if touched.intersection(found)}


def _stories(session: Session, urls: set[str]) -> _Stories:
    """The same-story groups reachable from ``urls`` (over every version of each URL)."""
    seen: set[str] = set()
    links: dict[str, set[str]] = defaultdict(set)
    confirmed: dict[str, set[str]] = defaultdict(set)
    frontier = set(urls)
    while frontier and len(seen) < MAX_STORY_URLS:
        seen |= frontier
        versions = _versions(session, frontier)
        pairs = [
            row
            for chunk in _chunks([i for found in versions.values() for i in found])
            for row in session.execute(
                select(Relation.source_id, Relation.target_id, Relation.status).where(
                    Relation.type == "same-story",
                    Relation.status != REJECTED,
                    or_(Relation.source_id.in_(chunk), Relation.target_id.in_(chunk)),
                )
            )
        ]
        url_of = _url_of(session, {i for source, target, _ in pairs for i in (source, target)})
        for source, target, status in pairs:
            left, right = url_of.get(source), url_of.get(target)
            if left and right and left != right:
                links[left].add(right)
                links[right].add(left)
                if status != "suggested":
                    confirmed[left].add(right)
                    confirmed[right].add(left)
        frontier = {other for url in frontier for other in links[url]} - seen
    groups: dict[str, frozenset[str]] = {}
    for url in seen:
        if url in groups or not links[url]:
            continue
        group, pending = {url}, [url]
        while pending:
            for other in links[pending.pop()]:
                if other not in group:
                    group.add(other)
                    pending.append(other)
        frozen = frozenset(group)
        groups.update(dict.fromkeys(frozen, frozen))
    return _Stories(groups, confirmed)


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _versions(session: Session, urls: Iterable[str]) -> dict[str, list[str]]:
    """Ids of the live documents of each URL."""
    found: dict[str, list[str]] = defaultdict(list)
    for chunk in _chunks(sorted(urls)):
        for document_id, url in session.execute(
            select(Document.id, Document.url).where(
                Document.url.in_(chunk), Document.deleted.is_(False)
            )
        ):
            found[url].append(document_id)
    return found


def _url_of(session: Session, ids: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in _chunks(sorted(ids)):
        rows = session.execute(select(Document.id, Document.url).where(Document.id.in_(chunk)))
        found.update((document_id, url) for document_id, url in rows)
    return found
