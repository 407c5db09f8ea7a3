"""Database: declarative base, column types, engine and the per-request session.

The encrypted column type and its hooks live in ``portal.db_encryption``.

One session per request, committed in one place (``portal.create_app`` registers the
commit); services only ``flush()``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}

    def __repr__(self) -> str:
        pk = ", ".join(
            f"{c.key}={getattr(self, c.key, None)!r}" for c in self.__mapper__.primary_key
        )
        return f"<{type(self).__name__} {pk}>"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_public_id() -> str:
    """An opaque, unguessable id for URLs (never a database sequence, never the CPR)."""
    return secrets.token_urlsafe(16)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, decide where transactions begin (savepoints need it).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; FULL makes a committed decision survive power loss.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# --- how transactions begin on SQLite -------------------------------------------------------
#
# SQLite has one write lock per database. A *deferred* transaction (plain BEGIN) takes no
# lock until it first writes; if another connection committed since the transaction first
# read, that first write fails at once with SQLITE_BUSY (its snapshot is stale), and
# busy_timeout cannot wait that out. So there are exactly two kinds of transaction:
#
# - write transactions (the default: POST/PUT/DELETE requests, the worker, CLI commands)
#   begin IMMEDIATE, i.e. take the write lock at BEGIN and wait for it in busy_timeout;
# - read-only units of work (page views: GET/HEAD, see ``begin_read_only``) begin deferred
#   and take no lock at all. They never write: a write through their session is refused
#   before it runs (``WriteInReadOnly``). Whatever they must store (their audit events) is
#   handed to ``after_reads`` and written by ``commit_unit_of_work`` after the read
#   transaction has ended, in a write transaction of its own that begins IMMEDIATE: it
#   holds the write lock for those few statements only and has no old snapshot to upgrade.
#
# PostgreSQL needs none of this (row locks, READ COMMITTED); read-only units of work behave
# the same there (writes refused, the deferred writes after the reads), so both databases
# run one code path.

#: Connection execution option: begin this connection's transaction deferred (SQLite).
_DEFERRED = "portal_deferred"
_READ_ONLY = "portal.read_only"
_AFTER_READS = "portal.after_reads"


def _sqlite_begin(conn: Connection) -> None:
    # (on the driver's connection: with pysqlite SQLAlchemy leaves BEGIN to us)
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.execute("BEGIN" if conn.get_execution_options().get(_DEFERRED) else "BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


class WriteInReadOnly(RuntimeError):
    """A read-only unit of work (a page view) tried to write. Page views only read; what
    they must store goes through ``after_reads`` (audit events do); a GET view that really
    writes is marked with ``portal.db_session.writes``."""


def begin_read_only(session: Session) -> None:
    """Make ``session``'s unit of work read-only until ``commit_unit_of_work``.

    On SQLite its transaction begins deferred (no lock; unless the session is bound to a
    connection rather than an engine, as in the tests' rolled-back transaction). On every
    database, a flush with changes or an INSERT/UPDATE/DELETE through the session raises
    :class:`WriteInReadOnly` before anything runs.
    """
    session.info[_READ_ONLY] = True
    bind = session.get_bind()
    if isinstance(bind, Engine) and bind.dialect.name == "sqlite" and not session.in_transaction():
        session.connection(execution_options={_DEFERRED: True})


def is_read_only(session: Session) -> bool:
    return bool(session.info.get(_READ_ONLY))


def after_reads(session: Session, write: Callable[[Session], None]) -> None:
    """Run ``write(session)`` at the unit of work's commit, after its reads have ended, in
    a write transaction of its own (see ``commit_unit_of_work``)."""
    session.info.setdefault(_AFTER_READS, []).append(write)


def commit_unit_of_work(session: Session) -> None:
    """Commit ``session``'s unit of work (the single commit point of a request).

    A read-only unit of work first ends its read transaction (it wrote nothing), then runs
    the writes handed to ``after_reads`` in a new transaction (BEGIN IMMEDIATE on SQLite)
    and commits that: the writes wait for SQLite's write lock only as long as other
    writers' statements take, and never hit a stale read snapshot.
    """
    writes: list[Callable[[Session], None]] = session.info.pop(_AFTER_READS, [])
    session.commit()
    session.info.pop(_READ_ONLY, None)
    if writes:
        for write in writes:
            write(session)
        session.commit()


def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(_READ_ONLY) and (session.new or session.dirty or session.deleted):
        raise WriteInReadOnly("a read-only unit of work (a page view) tried to store changes")


def _refuse_dml(state: ORMExecuteState) -> None:
    if state.session.info.get(_READ_ONLY) and (
        state.is_insert or state.is_update or state.is_delete
    ):
        raise WriteInReadOnly("a read-only unit of work (a page view) ran a write statement")


class Database:
    """The engine and session factory of one app (or one worker)."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.session_factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        event.listen(self.session_factory, "before_flush", _refuse_flush)
        event.listen(self.session_factory, "do_orm_execute", _refuse_dml)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work for CLI commands and workers: commit on success, roll back on error."""
        session = self.session_factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A short read-only unit of work (``begin_read_only``: no lock on SQLite); it ends
        without writing anything."""
        session = self.session_factory()
        try:
            begin_read_only(session)
            yield session
        finally:
            session.rollback()
            session.close()
