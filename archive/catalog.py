"""The catalog: where every archived record lives.

The WARC files are the source of truth; the catalog is an SQL index of them
(SQLite by default, PostgreSQL through ``VESTIGE_DATABASE_URL``). Later stages
add their own tables to the same metadata (``Base``); the programs name them all
when they open a catalog (``api.schema.TABLES``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Index,
    Integer,
    Select,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    inspect,
    or_,
    select,
)
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    configure_mappers,
    mapped_column,
    sessionmaker,
)

from archive import migrations
from archive.urls import lookup_key

# Records that carry a page or file someone may want back.
CONTENT_TYPES = ("response", "resource", "revisit")


def utcnow() -> datetime:
    """Now, as the catalog stores time: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base shared by every stage's tables."""


class Record(Base):
    """One WARC record: what it is, and the file, offset and length that hold it."""

    __tablename__ = "records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[str] = mapped_column(String(100), unique=True)
    record_type: Mapped[str] = mapped_column(String(20))
    url: Mapped[str | None] = mapped_column(String(4096))
    surt: Mapped[str | None] = mapped_column(String(4096))
    timestamp: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[int | None] = mapped_column(Integer)
    mime: Mapped[str | None] = mapped_column(String(200))
    payload_digest: Mapped[str | None] = mapped_column(String(100))
    refers_to: Mapped[str | None] = mapped_column(String(100))
    collection: Mapped[str] = mapped_column(String(200))
    warc_file: Mapped[str] = mapped_column(String(500))
    offset: Mapped[int] = mapped_column(BigInteger)
    length: Mapped[int] = mapped_column(BigInteger)
    capture_id: Mapped[str | None] = mapped_column(String(40), index=True)

    __table_args__ = (
        # URLs run to 4096 characters, past PostgreSQL's btree entry limit
        # (2704 bytes): there these are hash indexes, which serve the equality
        # lookups the catalog makes. SQLite ignores the option.
        Index("ix_records_surt", "surt", postgresql_using="hash"),
        Index("ix_records_url", "url", postgresql_using="hash"),
        Index("ix_records_payload_digest", "payload_digest"),
        Index("ix_records_warc_file_offset", "warc_file", "offset"),
    )

    @classmethod
    def new(cls, **columns: Any) -> Record:
        """A new (transient) row holding ``columns``, as ``Record(**columns)`` makes,
        without the ORM's event for each attribute set: that costs 20 times as
        much, and a capture makes three rows. A session inserts it the same way
        (a new object's INSERT takes every value in its ``__dict__``)."""
        if not _RECORD_MAPPER.configured:  # what the ORM's constructor would do first
            configure_mappers()
        row = _RECORD_MAPPER.class_manager.new_instance()
        row.__dict__.update(columns)
        return row


_RECORD_MAPPER = inspect(Record)


# Core statements, built once: captures run these for every page, and a
# session's unit of work costs more than the rest of a capture's catalog work.
_RECORD_COLUMNS = [column for column in Record.__table__.columns if column.key != "id"]
_INSERT_ROWS = 500  # rows per INSERT statement (14 parameters each, well under the limits)
_ORIGINAL = (
    select(Record.__table__)
    .where(
        Record.url == bindparam("url"),
        Record.payload_digest == bindparam("digest"),
        # Not IN (...): an IN list is re-rendered on every execution.
        or_(Record.record_type == "response", Record.record_type == "resource"),
    )
    .order_by(Record.id)
    .limit(1)
)


class _DriverQuery:
    """A Core ``select`` of whole records rendered once as the driver's SQL.

    Run on a DBAPI cursor: for a lookup the database answers in tens of
    microseconds, a SQLAlchemy Connection and its result layer cost several
    times the query. Values still go through the columns' own processors, so
    the rows are exactly those a Core query returns.
    """

    def __init__(self, query: Select, dialect: Dialect) -> None:
        compiled = query.compile(dialect=dialect)
        self.sql = str(compiled)
        self._fixed = dict(compiled.params)
        self._order = compiled.positiontup if compiled.positional else None
        self._columns = [
            (column.key, column.type.dialect_impl(dialect).result_processor(dialect, None))
            for column in query.selected_columns
        ]

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The statement's parameters, its bound names set from ``values``."""
        merged = {**self._fixed, **values}
        return merged if self._order is None else tuple(merged[name] for name in self._order)

    def record(self, found: Sequence[Any]) -> Record:
        """The row the driver returned, as a :class:`Record`."""
        return Record.new(
            **{
                key: value if process is None else process(value)
                for (key, process), value in zip(self._columns, found, strict=True)
            }
        )


class _RecordInsert:
    """The multi-row ``INSERT ... RETURNING record_id, id`` of records, as the driver's SQL.

    Built once per row count and run on a DBAPI cursor: for a capture's three
    rows, compiling and processing a Core statement each time costs more than
    the insert. Values go through the columns' own bind processors, so the
    rows are exactly those a Core insert writes. RETURNING comes back unordered
    (SQLite inserts a multi-row VALUES in one step); record ids match rows up.
    """

    def __init__(self, dialect: Dialect) -> None:
        quote = dialect.identifier_preparer.quote
        self._returning = f"{quote('record_id')}, {quote('id')}"
        self._table = dialect.identifier_preparer.format_table(Record.__table__)
        self._columns = ", ".join(quote(column.name) for column in _RECORD_COLUMNS)
        self._marker = "?" if dialect.paramstyle == "qmark" else "%s"
        self._processors = [
            (column.key, column.type.dialect_impl(dialect).bind_processor(dialect))
            for column in _RECORD_COLUMNS
        ]
        self._statements: dict[int, str] = {}

    def statement(self, count: int) -> str:
        """The SQL inserting ``count`` rows."""
        if count not in self._statements:
            row = "(" + ", ".join([self._marker] * len(_RECORD_COLUMNS)) + ")"
            self._statements[count] = (
                f"INSERT INTO {self._table} ({self._columns}) VALUES "
                + ", ".join([row] * count)
                + f" RETURNING {self._returning}"
            )
        return self._statements[count]

    def parameters(self, rows: Sequence[Record]) -> tuple[Any, ...]:
        """The rows' values in statement order, as the driver takes them."""
        values = []
        for row in rows:
            state = row.__dict__
            for key, process in self._processors:
                value = state.get(key)
                values.append(value if process is None else process(value))
        return tuple(values)


@dataclass
class _PendingRows:
    """Rows waiting for a group commit, and how it went."""

    rows: Sequence[Record]
    done: bool = False
    error: BaseException | None = None


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers work during a write; FULL sync makes a commit durable,
    # which is what lets a capture be acknowledged after it.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Catalog:
    """A connection to the catalog database.

    A new database gets the current schema (``tables``; by default the tables of
    the stages imported so far); an existing one must be at the current
    migration, or opening it raises :class:`~archive.migrations.SchemaOutOfDate`
    (run ``vestige migrate``).
    """

    def __init__(self, url: str, tables: Sequence[Table] | None = None) -> None:
        self.url = url
        # pool_pre_ping: a PostgreSQL restart must not fail the next request.
        self.engine: Engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            migrations.prepare(self.engine, Base.metadata, tables)
        except BaseException:
            self.engine.dispose()
            raise
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._insert = _RecordInsert(self.engine.dialect)
        self._original = _DriverQuery(_ORIGINAL, self.engine.dialect)
        self._pending: list[_PendingRows] = []
        self._pending_lock = threading.Lock()
        # Held by a group commit while it writes. SQLite has one writer at a time:
        # other writers of this process (a crawl's frontier) take this lock too,
        # and queue here rather than in SQLite's busy handler, which sleeps.
        self.write_lock = threading.Lock()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def driver_connection(self) -> closing[DBAPIConnection]:
        """A pooled DBAPI connection (pinged first on PostgreSQL), for the
        statements every capture runs; closing it hands it back to the pool,
        rolled back."""
        return closing(self.engine.raw_connection())

    def add(self, rows: Sequence[Record]) -> None:
        """Insert ``rows`` durably; on return they are committed and have ids.

        Group commit: rows that threads hand in while another commit is running
        are committed together in the next transaction, so concurrent captures
        share one durable commit instead of queueing for one each.
        """
        mine = _PendingRows(rows)
        with self._pending_lock:
            self._pending.append(mine)
        with self.write_lock:
            if not mine.done:
                with self._pending_lock:
                    group, self._pending = self._pending, []
                self._commit_group(group)
        if mine.error is not None:
            raise mine.error

    def _commit_group(self, group: list[_PendingRows]) -> None:
        rows = [row for pending in group for row in pending.rows]
        try:
            ids = {}
            with self.driver_connection() as connection:
                cursor = connection.cursor()
                try:
                    for start in range(0, len(rows), _INSERT_ROWS):
                        part = rows[start : start + _INSERT_ROWS]
                        cursor.execute(
                            self._insert.statement(len(part)), self._insert.parameters(part)
                        )
                        ids.update(cursor.fetchall())
                    connection.commit()
                finally:
                    cursor.close()
        except Exception as exc:
            if len(group) == 1:
                group[0].error = exc
                group[0].done = True
                return
            # One caller's bad rows must not fail the others: commit each alone.
            for pending in group:
                self._commit_group([pending])
            return
        for row in rows:
            row.id = ids[row.record_id]
        for pending in group:
            pending.done = True

    def versions(self, url: str) -> list[Record]:
        """Every stored response, resource or revisit of ``url``, oldest first."""
        key = lookup_key(url)
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(Record)
                    .where(
                        Record.url == key,
                        Record.record_type.in_(CONTENT_TYPES),
                    )
                    .order_by(Record.timestamp, Record.id)
                )
            )

    def find_original(self, url: str, payload_digest: str) -> Record | None:
        """The first stored response or resource of ``url`` with this payload."""
        query = self._original
        with self.driver_connection() as connection:
            cursor = connection.cursor()
            try:
                cursor.execute(query.sql, query.parameters({"url": url, "digest": payload_digest}))
                found = cursor.fetchone()
            finally:
                cursor.close()
        return query.record(found) if found else None

    def original_of(self, row: Record) -> Record | None:
        """The response or resource holding a revisit's payload: the record it refers
        to, else the first of its URL with that payload; None if the archive lacks it."""
        if row.refers_to:
            with self._sessions() as session:
                query = select(Record).where(Record.record_id == row.refers_to)
                found = session.scalars(query).first()
            if found is not None:
                return found
        if row.url and row.payload_digest:
            return self.find_original(row.url, row.payload_digest)
        return None

    def dispose(self) -> None:
        self.engine.dispose()
