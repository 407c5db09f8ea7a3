"""Database: declarative base, column types, engine and the per-request session.

One session per request, committed in one place (``portal.create_app`` registers the
commit); services only ``flush()``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, LargeBinary, MetaData, create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from portal.crypto import active_key_ring
from portal.write_gate import (
    GatedConnection,
    begin_immediate,
    gate_path,
    refuse_writes_in_read_phase,
)

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


class EncryptedJSON(TypeDecorator[Any]):
    """Any JSON value, stored as AES-GCM ciphertext with the active key ring."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> bytes | None:
        return None if value is None else active_key_ring().encrypt_json(value)

    def process_result_value(self, value: bytes | None, dialect: Any) -> Any:
        return None if value is None else active_key_ring().decrypt_json(bytes(value))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, gate: str | None) -> None:
    dbapi_connection.gate = gate  # see portal.write_gate
    # Let SQLAlchemy, not pysqlite, decide where transactions begin (savepoints need it).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; FULL makes a committed decision survive power loss.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


#: Connection execution option: begin a deferred, read-only transaction (SQLite only).
READ_ONLY_OPTION = "portal_read_only"
_READ_PHASE = "portal_read_phase"


def _sqlite_begin(conn: Connection) -> None:
    # Nearly every request writes (decisions, audit events), so a transaction takes the write
    # lock at BEGIN: a deferred transaction that later writes can fail with SQLITE_BUSY when
    # another writer committed in between, and busy_timeout cannot help then. The one
    # exception is a transaction begun with READ_ONLY_OPTION (``begin_read_phase``): it is
    # deferred (no lock) and anything but a SELECT in it fails at once (``portal.write_gate``),
    # so it can never be upgraded to a write transaction.
    # (on the driver's connection: SQLAlchemy leaves BEGIN to us with pysqlite)
    driver = conn.connection.driver_connection
    assert driver is not None
    if conn.get_execution_options().get(READ_ONLY_OPTION) and isinstance(driver, GatedConnection):
        driver.begin_read_phase()
    else:
        begin_immediate(driver)


def _sqlite_statement(
    conn: Connection, _cursor: Any, statement: str, *_args: Any, **_kwargs: Any
) -> None:
    # Statements run through SQLAlchemy; those run on the driver (portal.db_driver) check too.
    refuse_writes_in_read_phase(conn.connection.driver_connection, statement)


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        gate = gate_path(make_url(url).database or "")
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "factory": GatedConnection},
            **kwargs,
        )
        event.listen(engine, "connect", lambda conn, record: _sqlite_pragmas(conn, record, gate))
        event.listen(engine, "begin", _sqlite_begin)
        event.listen(engine, "before_cursor_execute", _sqlite_statement)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """The engine and session factory of one app (or one worker)."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.session_factory = sessionmaker(bind=self.engine, expire_on_commit=False)

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


# --- the read phase of a request (SQLite) -------------------------------------------------------


def begin_read_phase(session: Session) -> None:
    """Let the session's next transaction be a deferred, read-only one, on SQLite.

    For a request that first only reads (signature check, lookups, validation) and then
    writes: the reading runs without the database's single write lock, so other writers
    are not held up by it, and ``begin_write_phase`` ends it before the first write (which
    then begins a ``BEGIN IMMEDIATE`` transaction). A no-op on PostgreSQL, when the session
    is already in a transaction, and when the session is bound to a connection rather than
    an engine (the tests' savepoint-bound connection): there, everything stays one
    transaction as before.
    """
    bind = session.get_bind()
    if not isinstance(bind, Engine) or bind.dialect.name != "sqlite" or session.in_transaction():
        return
    session.connection(execution_options={READ_ONLY_OPTION: True})
    session.info[_READ_PHASE] = True


def in_read_phase(session: Session) -> bool:
    return bool(session.info.get(_READ_PHASE))


def begin_write_phase(session: Session) -> None:
    """End the read phase begun by ``begin_read_phase``, if any; a no-op otherwise.

    The read-only transaction is committed (it wrote nothing: only SELECTs could run in it)
    and a ``BEGIN IMMEDIATE`` transaction is begun on the same connection, so from here on
    the request holds the write lock, exactly as without a read phase. This happens on the
    driver's connection, under the session's transaction: with pysqlite SQLAlchemy leaves
    BEGIN to us and its commit or rollback applies to whatever transaction SQLite has open,
    so the session keeps its connection, its loaded objects and its single commit point.
    What was read may have changed since: the writes that follow must not depend on it
    for correctness (the unique constraints decide races, as on PostgreSQL under READ
    COMMITTED).
    """
    if not session.info.pop(_READ_PHASE, False):
        return
    if session.new or session.dirty or session.deleted or session.in_nested_transaction():
        raise RuntimeError("begin_write_phase: changes or a savepoint in the read phase")
    driver = session.connection().connection.driver_connection
    assert driver is not None
    driver.commit()  # the read-only transaction, and with it the read phase
    begin_immediate(driver)
