"""The crawl frontier and followed sources, kept in the catalog.

A crawl is a row of ``crawls``; every URL it discovered is a row of
``crawl_urls`` (unique per crawl), with its depth, state and, once done, why it
was skipped or failed. Because the frontier lives in the catalog, a crawl that
was interrupted (even by ``kill -9``) continues where it stopped. A followed
feed or site is a row of ``follows``; each run of it is a crawl.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Update,
    bindparam,
    create_engine,
    event,
    false,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine, Row
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from archive.catalog import Base, Catalog, utcnow


class CrawlState(StrEnum):
    """Where a crawl is. A ``running`` crawl whose process died shows as interrupted."""

    running = "running"
    done = "done"
    cancelled = "cancelled"


class URLState(StrEnum):
    """Where one URL of a crawl is. ``claimed``: taken by a running crawl, not yet stored."""

    queued = "queued"
    claimed = "claimed"
    captured = "captured"
    skipped = "skipped"
    failed = "failed"


class URLKind(StrEnum):
    """What a URL is to the crawl, which decides how its capture is read."""

    page = "page"
    robots = "robots"
    sitemap = "sitemap"
    feed = "feed"


class Crawl(Base):
    """One crawl: its seeds and options (JSON), state and when it ran."""

    __tablename__ = "crawls"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Hash of seeds and options: running the same command again finds the crawl.
    key: Mapped[str] = mapped_column(String(64), index=True)
    seeds: Mapped[str] = mapped_column(Text)
    options: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default=CrawlState.running, index=True)
    follow_id: Mapped[int | None] = mapped_column(Integer, index=True)
    created: Mapped[datetime] = mapped_column(DateTime)
    started: Mapped[datetime | None] = mapped_column(DateTime)
    finished: Mapped[datetime | None] = mapped_column(DateTime)


class CrawlURL(Base):
    """One URL of a crawl (normalised), how it was found and what became of it."""

    __tablename__ = "crawl_urls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    crawl_id: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(4096))
    # sha1 of the URL without its query, to count query variants of one path.
    path_key: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(10), default=URLKind.page)
    depth: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10), default=URLState.queued)
    reason: Mapped[str | None] = mapped_column(Text)
    discovered_from: Mapped[str | None] = mapped_column(String(4096))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[float | None] = mapped_column(Float)  # epoch seconds
    status: Mapped[int | None] = mapped_column(Integer)
    final_url: Mapped[str | None] = mapped_column(String(4096))
    capture_id: Mapped[str | None] = mapped_column(String(40))
    captured: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        UniqueConstraint("crawl_id", "url", name="uq_crawl_urls_crawl_url"),
        Index("ix_crawl_urls_next", "crawl_id", "state", "depth", "id"),
        Index("ix_crawl_urls_path", "crawl_id", "path_key"),
    )


class Follow(Base):
    """A feed or site kept under watch: captured again every ``every`` seconds."""

    __tablename__ = "follows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(4096))
    collection: Mapped[str] = mapped_column(String(200))
    every: Mapped[int] = mapped_column(Integer)  # seconds
    sitemaps: Mapped[bool] = mapped_column(Boolean)
    ignore_robots: Mapped[bool] = mapped_column(Boolean, default=False)
    # Pages loaded in Chromium (archive.browser); the feed itself is a plain GET.
    browser: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    note: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(DateTime)
    last_run: Mapped[datetime | None] = mapped_column(DateTime)
    next_run: Mapped[datetime] = mapped_column(DateTime, index=True)
    last_crawl_id: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        UniqueConstraint("url", "collection", name="uq_follows_url_collection"),
        {"sqlite_autoincrement": True},  # ids never reused: a deleted follow's links stay dead
    )


def path_key(url: str) -> str:
    """The key grouping the query variants of one path."""
    return hashlib.sha1(url.split("?", 1)[0].encode()).hexdigest()[:16]


def capture_id_for(crawl_id: str, url_id: int, attempt: int) -> str:
    """The capture id of one attempt at one URL, known before the capture runs.

    After a crash, the catalog tells from it whether the capture was stored.
    """
    return hashlib.sha1(f"{crawl_id}:{url_id}:{attempt}".encode()).hexdigest()[:32]


@dataclass
class Entry:
    """A frontier URL taken by a running crawl."""

    id: int
    url: str
    kind: URLKind
    depth: int
    attempts: int = 0
    not_before: float = 0.0
    discovered_from: str | None = None
    capture_id: str | None = None
    state: str = URLState.claimed


@dataclass(frozen=True)
class NewURL:
    """A URL to add to the frontier; ``reason`` set means it is recorded as skipped."""

    url: str
    kind: URLKind
    depth: int
    discovered_from: str | None
    reason: str | None = None


@dataclass(frozen=True)
class _Finished:
    """A finished URL's update, queued for the frontier's writer thread."""

    url_id: int
    found: tuple[NewURL, ...]
    values: dict[str, object]


class Frontier:
    """The URLs of one crawl in the catalog: add, claim in batches, finish.

    :meth:`finish` only queues its update: a writer thread commits the queued
    updates of all the crawl's workers in one transaction at a time, so a
    worker goes on to its next page at once and the crawl makes one frontier
    commit per batch of pages, not per page. Every other method first waits
    for the queue to be written, so it sees what was finished before it. An
    update lost in a crash leaves its URL claimed, and the next run settles
    claimed URLs from the catalog (see :meth:`claimed`).
    """

    def __init__(self, catalog: Catalog, crawl_id: str, *, fast_commits: bool = False) -> None:
        self.catalog = catalog
        self.crawl_id = crawl_id
        if catalog.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        self._insert_new = insert(CrawlURL).on_conflict_do_nothing(
            index_elements=["crawl_id", "url"]
        )
        self._updates: dict[tuple[str, ...], Update] = {}
        self._engine: Engine | None = None
        self.session = catalog.session
        if fast_commits and catalog.engine.dialect.name == "sqlite":
            # The frontier commits about once per page. With synchronous=NORMAL
            # (WAL) a commit survives the process being killed, only not a power
            # cut, which can at worst lose the last pages' progress: those pages
            # are captured again. The records' own catalog rows stay fully synced.
            self._engine = create_engine(catalog.url)
            event.listen(self._engine, "connect", _fast_pragmas)
            sessions = sessionmaker(self._engine, expire_on_commit=False)

            @contextmanager
            def session() -> Iterator[Session]:
                with sessions() as session, session.begin():
                    yield session

            self.session = session
        self._queue = threading.Condition()
        self._pending: list[_Finished] = []
        self._queued = self._written = 0
        self._error: BaseException | None = None
        self._writer: threading.Thread | None = None
        # One writer at a time: two would wait on each other in SQLite's busy
        # handler, which sleeps; the catalog's commits take the same lock.
        self._write_lock = (
            catalog.write_lock if catalog.engine.dialect.name == "sqlite" else threading.Lock()
        )

    def close(self) -> None:
        """Write what is queued, stop the writer thread and close connections."""
        try:
            self.flush()
        finally:
            with self._queue:
                writer, self._writer = self._writer, None
                self._queue.notify_all()
            if writer is not None:
                writer.join()
            if self._engine is not None:
                self._engine.dispose()

    def flush(self) -> None:
        """Wait until every queued update is committed; raise if writing one failed."""
        with self._queue:
            target = self._queued
            while self._written < target:
                self._queue.wait()
            self._raise_error()

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _queue_write(self, finished: _Finished) -> None:
        with self._queue:
            self._raise_error()
            self._pending.append(finished)
            self._queued += 1
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_queued, name="vestige-frontier", daemon=True
                )
                self._writer.start()
            self._queue.notify_all()

    def _write_queued(self) -> None:
        current = threading.current_thread()
        while True:
            with self._queue:
                while not self._pending and self._writer is current:
                    self._queue.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending, []
            error = None
            try:
                self._write(batch)
            except BaseException as exc:  # reported to the next caller
                error = exc
            with self._queue:
                self._written += len(batch)
                self._error = self._error or error
                self._queue.notify_all()

    def _write(self, batch: list[_Finished]) -> None:
        """One transaction for a batch of finished URLs: an executemany per set
        of updated columns, and one for all the URLs found."""
        updates: dict[tuple[str, ...], list[dict[str, object]]] = {}
        found: dict[str, NewURL] = {}
        for finished in batch:
            columns = tuple(sorted(finished.values))
            params = {f"new_{name}": value for name, value in finished.values.items()}
            updates.setdefault(columns, []).append({"url_id": finished.url_id, **params})
            for new in finished.found:
                found.setdefault(new.url, new)  # the first finder, as one at a time would
        with self._write_lock, self.session() as session:
            connection = session.connection()
            for columns, params in updates.items():
                connection.execute(self._update(columns), params)
            if found:
                self._add(session, list(found.values()))

    def _update(self, columns: tuple[str, ...]) -> Update:
        statement = self._updates.get(columns)
        if statement is None:
            statement = self._updates[columns] = (
                update(CrawlURL)
                .where(CrawlURL.id == bindparam("url_id"))
                .values({name: bindparam(f"new_{name}") for name in columns})
            )
        return statement

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """A transaction of the caller's, after the queued ones."""
        self.flush()
        with self._write_lock, self.session() as session:
            yield session

    def add(self, urls: Sequence[NewURL]) -> None:
        """Add the URLs the frontier does not have yet."""
        if urls:
            with self._writing() as session:
                self._add(session, urls)

    def _add(self, session: Session, urls: Sequence[NewURL]) -> None:
        rows = [
            {
                "crawl_id": self.crawl_id,
                "url": new.url,
                "path_key": path_key(new.url),
                "kind": new.kind,
                "depth": new.depth,
                "state": URLState.skipped if new.reason else URLState.queued,
                "reason": new.reason,
                "discovered_from": new.discovered_from,
                "attempts": 0,
            }
            for new in {new.url: new for new in urls}.values()
        ]
        # Not the rowcount: SQLite's is unreliable for executemany under threads.
        session.connection().execute(self._insert_new, rows)

    def query_variants(self, urls: Sequence[str]) -> dict[str, int]:
        """How many URLs the frontier has under each path of ``urls`` (by path key)."""
        keys = {path_key(url) for url in urls}
        if not keys:
            return {}
        self.flush()
        with self.session() as session:
            return dict(
                session.execute(
                    select(CrawlURL.path_key, func.count())
                    .where(CrawlURL.crawl_id == self.crawl_id, CrawlURL.path_key.in_(keys))
                    .group_by(CrawlURL.path_key)
                ).all()
            )

    def known(self, urls: Sequence[str]) -> set[str]:
        """Which of ``urls`` the frontier already has."""
        self.flush()
        with self.session() as session:
            return set(
                session.scalars(
                    select(CrawlURL.url).where(
                        CrawlURL.crawl_id == self.crawl_id, CrawlURL.url.in_(set(urls))
                    )
                )
            )

    def get_or_add(self, new: NewURL) -> Entry:
        """The frontier row of ``new.url``, added if missing."""
        self.add([new])
        with self.session() as session:  # flushed by add()
            row = session.scalars(
                select(CrawlURL).where(CrawlURL.crawl_id == self.crawl_id, CrawlURL.url == new.url)
            ).one()
            return _entry(row)

    def claim(self, limit: int) -> list[Entry]:
        """Take up to ``limit`` queued URLs, shallowest first (breadth-first)."""
        # Core rows and one UPDATE: the ORM would load and update them one by one.
        with self._writing() as session:
            rows = session.execute(
                select(CrawlURL.__table__)
                .where(CrawlURL.crawl_id == self.crawl_id, CrawlURL.state == URLState.queued)
                .order_by(CrawlURL.depth, CrawlURL.id)
                .limit(limit)
            ).all()
            if rows:
                session.execute(
                    update(CrawlURL)
                    .where(CrawlURL.id.in_([row.id for row in rows]))
                    .values(state=URLState.claimed)
                )
        entries = [_entry(row) for row in rows]
        for entry in entries:
            entry.state = URLState.claimed
        return entries

    def claimed(self) -> list[Entry]:
        """URLs a previous run had taken but not finished (it was interrupted)."""
        self.flush()
        with self.session() as session:
            rows = session.scalars(
                select(CrawlURL).where(
                    CrawlURL.crawl_id == self.crawl_id, CrawlURL.state == URLState.claimed
                )
            )
            return [_entry(row) for row in rows]

    def finish(self, entry: Entry, add: Sequence[NewURL] = (), **values: object) -> None:
        """Queue an update of one URL (state, reason, status, attempts,
        not_before...) and the URLs found in it, written in one transaction."""
        self._queue_write(_Finished(entry.id, tuple(add), values))

    def mark_captured(self, url: str, *, depth: int, reason: str) -> None:
        """Record ``url`` as captured on the way to another (a redirect target),
        so that the crawl does not capture it again."""
        self.add([NewURL(url, URLKind.page, depth, None)])
        with self._writing() as session:
            session.execute(
                update(CrawlURL)
                .where(
                    CrawlURL.crawl_id == self.crawl_id,
                    CrawlURL.url == url,
                    CrawlURL.state == URLState.queued,
                )
                .values(state=URLState.captured, reason=reason, captured=utcnow())
            )

    def release(self) -> None:
        """Put URLs taken but not started back in the queue (the crawl is stopping)."""
        with self._writing() as session:
            session.execute(
                update(CrawlURL)
                .where(CrawlURL.crawl_id == self.crawl_id, CrawlURL.state == URLState.claimed)
                .values(state=URLState.queued)
            )

    def counts(self) -> dict[tuple[str, str, str | None], int]:
        """Number of URLs by (state, kind, reason)."""
        self.flush()
        with self.session() as session:
            return {
                (state, kind, reason): count
                for state, kind, reason, count in session.execute(
                    select(CrawlURL.state, CrawlURL.kind, CrawlURL.reason, func.count())
                    .where(CrawlURL.crawl_id == self.crawl_id)
                    .group_by(CrawlURL.state, CrawlURL.kind, CrawlURL.reason)
                )
            }


def _entry(row: CrawlURL | Row) -> Entry:
    return Entry(
        id=row.id,
        url=row.url,
        kind=URLKind(row.kind),
        depth=row.depth,
        attempts=row.attempts,
        not_before=row.not_before or 0.0,
        discovered_from=row.discovered_from,
        capture_id=row.capture_id,
        state=row.state,
    )


def _fast_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
