"""Database: declarative base, column types, engine and the per-request session.

One session per request, committed in one place (``portal.create_app`` registers the
commit); services only ``flush()``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    Column,
    ColumnDefault,
    DateTime,
    Insert,
    LargeBinary,
    MetaData,
    Table,
    Update,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session, sessionmaker
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, ColumnClause
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from portal.crypto import active_key_ring, place

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


class UnplacedValue(RuntimeError):
    """An encrypted value reached the database without its place (table, column, row key):
    the statement gave it in a form the sealing hook cannot see (see docs/security.md)."""


class NoRowKey(RuntimeError):
    """A table has encrypted columns but no column that identifies a row before insert."""


class Sealed(bytes):
    """A value already encrypted for its place by ``_seal_parameters``."""


class EncryptedJSON(TypeDecorator[Any]):
    """Any JSON value, stored as AES-GCM ciphertext bound to its place.

    The associated data names the table, the column and the row's key
    (:func:`row_key_column`), so a ciphertext copied elsewhere does not decrypt. A type
    cannot see the row it is written to or read from, so two hooks supply it: on write,
    ``_seal_parameters`` (an engine ``before_execute`` listener) encrypts the parameters of
    every INSERT and UPDATE, ORM flush and Core alike; on read, ``column_expression`` makes
    the SELECT return the row key in front of the ciphertext. Declaring a column
    ``mapped_column(EncryptedJSON)`` is all a model does.
    """

    impl = LargeBinary
    cache_ok = True
    # Set when the column is attached to its table (``_remember_place``).
    table_name: str | None = None
    column_name: str | None = None

    def process_bind_param(self, value: Any, dialect: Any) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, Sealed):
            return bytes(value)
        raise UnplacedValue(
            f"{self.table_name}.{self.column_name}: an encrypted value must be given as an"
            " execution parameter of an INSERT or UPDATE that names its row"
        )

    def column_expression(self, colexpr: Any) -> Any:
        table = getattr(colexpr, "table", None)
        name = row_key_column(_base_table(table)).key if table is not None else None
        if name is None or name not in table.c:
            raise NoRowKey(f"{colexpr}: an encrypted column is read only beside its row key")
        expression = _RowKeyAnd(table.c[name], colexpr)
        expression.type = self  # results are processed by this type (the place is here)
        return expression

    def process_result_value(self, value: bytes | None, dialect: Any) -> Any:
        if value is None:
            return None
        row_key, _, token = bytes(value).partition(b"\x00")
        return active_key_ring().decrypt_json(
            token, place(str(self.table_name), str(self.column_name), row_key.decode())
        )


def open_value(column: Any, row_key: object, token: bytes) -> Any:
    """Decrypt ``token`` read raw (``type_coerce(column, LargeBinary)``) from ``column`` of
    the row ``row_key``; for readers that cache plaintexts by ciphertext."""
    table = column.table.name
    return active_key_ring().decrypt_json(token, place(table, column.name, row_key))


class _RowKeyAnd(FunctionElement[bytes]):
    """``row_key || 0x00 || ciphertext`` as one binary value (see ``column_expression``)."""

    type = LargeBinary()
    inherit_cache = True


@compiles(_RowKeyAnd)
def _row_key_and_sqlite(element: _RowKeyAnd, compiler: Any, **kw: Any) -> str:
    key, value = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(CAST({key} AS TEXT) || x'00' || {value} AS BLOB)"


@compiles(_RowKeyAnd, "postgresql")
def _row_key_and_postgresql(element: _RowKeyAnd, compiler: Any, **kw: Any) -> str:
    key, value = (compiler.process(c, **kw) for c in element.clauses)
    return f"(convert_to(CAST({key} AS TEXT), 'UTF8') || decode('00', 'hex') || {value})"


def _base_table(table: Any) -> Table:
    """The table behind an alias or an ORM-annotated table."""
    while not isinstance(table, Table) and hasattr(table, "element"):
        table = table.element
    if not isinstance(table, Table):
        raise NoRowKey(f"{table}: an encrypted column is read only from its table")
    return table


def _remember_place(column: Column[Any], table: Any) -> None:
    # The first table wins: a copy of the column (``to_metadata``) shares its type.
    if (
        isinstance(column.type, EncryptedJSON)
        and isinstance(table, Table)
        and column.type.table_name is None
    ):
        column.type.table_name = table.name
        column.type.column_name = column.name


event.listen(Column, "after_parent_attach", _remember_place)

_ROW_KEY_INFO = "portal.row_key"


def row_key_column(table: Table) -> Column[Any]:
    """The column that names a row of ``table`` in its ciphertexts' associated data.

    It must be known before the insert and never change: ``public_id`` if the table has
    one; else a single-column primary key that the application chooses (not an
    autoincrement integer); else a unique, non-null foreign key (one row per parent).
    A table with none of these cannot hold encrypted columns (give it a ``public_id``).
    """
    cached = table.info.get(_ROW_KEY_INFO)
    if cached is not None:
        return cast(Column[Any], cached)
    found: Column[Any] | None = None
    pk = list(table.primary_key.columns)
    if "public_id" in table.c:
        found = table.c.public_id
    elif len(pk) == 1 and not (pk[0].autoincrement is True or _is_autoincrement(pk[0])):
        found = pk[0]
    else:
        for column in table.columns:
            if column.unique and not column.nullable and column.foreign_keys:
                found = column
                break
    if found is None:
        raise NoRowKey(
            f"table {table.name} has encrypted columns but no row key: give it a public_id"
            " column (String(32), unique, default=new_public_id)"
        )
    table.info[_ROW_KEY_INFO] = found
    return found


def _is_autoincrement(column: Column[Any]) -> bool:
    return column is column.table.autoincrement_column


_ENCRYPTED_INFO = "portal.encrypted_columns"


def encrypted_columns_of(table: Table) -> list[Column[Any]]:
    """The table's :class:`EncryptedJSON` columns (looked at on every INSERT and UPDATE)."""
    cached = table.info.get(_ENCRYPTED_INFO)
    if cached is None or len(cached[0]) != len(table.columns):  # a column added since
        found = [c for c in table.columns if isinstance(c.type, EncryptedJSON)]
        cached = table.info[_ENCRYPTED_INFO] = (list(table.columns), found)
    return cast(list[Column[Any]], cached[1])


def _statement_binds(statement: Insert | Update, columns: list[Column[Any]]) -> dict[str, str]:
    """Column name -> parameter key of each encrypted column the statement may set."""
    binds = {c.name: c.key for c in columns}
    for target, value in (statement._values or {}).items():  # (no public accessor)
        name = target if isinstance(target, str) else getattr(target, "name", None)
        if name not in binds:
            continue
        if not isinstance(value, BindParameter) or value.value is not None:
            raise UnplacedValue(
                f"{statement.table}.{name}: give encrypted values as execution parameters,"
                " not in values()"
            )
        if isinstance(value.type, LargeBinary) and not isinstance(value.type, EncryptedJSON):
            del binds[name]  # raw ciphertext, written as is (keys rotate seals its own)
        else:
            binds[name] = value.key
    return binds


def _insert_row_keys(key: Column[Any], rows: list[dict[str, Any]]) -> list[object]:
    values = []
    for row in rows:
        if row.get(key.key) is None:
            default = key.default
            if not isinstance(default, ColumnDefault):
                raise UnplacedValue(f"an insert into {key.table.name} must give {key.name}")
            row[key.key] = default.arg(None) if default.is_callable else default.arg  # type: ignore[operator,call-arg]
        values.append(row[key.key])
    return values


def _update_row_keys(
    connection: Connection, statement: Update, key: Column[Any], rows: list[dict[str, Any]]
) -> list[object]:
    """The row key of each parameter set of an UPDATE, from the parameters, from the WHERE
    clause (``key == ...``), or looked up by the primary key in the WHERE clause."""
    if all(row.get(key.key) is not None for row in rows):
        return [row[key.key] for row in rows]
    table = key.table
    pk = list(table.primary_key.columns)
    equal: dict[str, BindParameter[Any]] = {}
    if statement.whereclause is not None:
        for node in visitors.iterate(statement.whereclause):
            if (
                isinstance(node, BinaryExpression)
                and node.operator is operators.eq
                and isinstance(node.left, ColumnClause)
                and getattr(node.left.table, "name", None) == table.name
                and isinstance(node.right, BindParameter)
            ):
                equal[node.left.name] = node.right

    def bound(bind: BindParameter[Any], row: dict[str, Any]) -> object:
        return row.get(bind.key, bind.value)

    if key.name in equal:
        return [bound(equal[key.name], row) for row in rows]
    if len(pk) == 1 and pk[0].name in equal:
        ids = [bound(equal[pk[0].name], row) for row in rows]
        found = {i: k for i, k in connection.execute(select(pk[0], key).where(pk[0].in_(set(ids))))}
        return [found.get(i) for i in ids]
    raise UnplacedValue(
        f"an UPDATE of encrypted columns of {table.name} must name its row by"
        f" {key.name} or the primary key"
    )


def _seal_parameters(
    connection: Connection,
    statement: Any,
    multiparams: list[dict[str, Any]],
    params: dict[str, Any],
    _execution_options: Any,
) -> tuple[Any, list[dict[str, Any]], dict[str, Any]]:
    """Encrypt the encrypted columns' parameters of an INSERT or UPDATE for their place."""
    if not isinstance(statement, (Insert, Update)) or not isinstance(statement.table, Table):
        return statement, multiparams, params
    table = _base_table(statement.table)
    columns = encrypted_columns_of(table)
    if not columns:
        return statement, multiparams, params
    binds = _statement_binds(statement, columns)
    rows = [dict(row) for row in (multiparams or [params])]
    if not any(row.get(k) is not None for row in rows for k in binds.values()):
        return statement, multiparams, params
    key = row_key_column(table)
    if isinstance(statement, Insert):
        row_keys = _insert_row_keys(key, rows)
    else:
        row_keys = _update_row_keys(connection, statement, key, rows)
    ring = active_key_ring()
    for row, row_key in zip(rows, row_keys, strict=True):
        if row_key is None:
            raise UnplacedValue(f"no row of {table.name} to update")
        for name, param in binds.items():
            value = row.get(param)
            if value is not None and not isinstance(value, Sealed):
                row[param] = Sealed(ring.encrypt_json(value, place(table.name, name, row_key)))
    if multiparams:
        return statement, rows, {}
    return statement, [], rows[0]


# On every engine (the app's, the worker's, the tests'): no ciphertext is written unplaced.
event.listen(Engine, "before_execute", _seal_parameters, retval=True)


def _fill_row_key(_mapper: Any, _connection: Any, target: Any) -> None:
    """ORM inserts: make the row key's default now, so the object knows it too."""
    table = target.__table__
    if not encrypted_columns_of(table):
        return
    key = row_key_column(table)
    attribute = key.key
    if getattr(target, attribute, None) is None and isinstance(key.default, ColumnDefault):
        default = key.default
        setattr(target, attribute, default.arg(None) if default.is_callable else default.arg)  # type: ignore[operator,call-arg]


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


event.listen(Base, "before_insert", _fill_row_key, propagate=True)
