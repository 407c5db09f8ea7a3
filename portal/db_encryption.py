"""Encryption at rest: the ``EncryptedJSON`` column type and the hooks that bind each
ciphertext to its place (table, column, row key; see docs/security.md).

Importing this module registers the hooks: on ``Column`` (a column remembers its table),
on ``Engine`` (every engine's INSERT and UPDATE parameters are sealed) and on ``Base``
(ORM inserts make their row key first). Every module that declares an encrypted column
imports ``EncryptedJSON`` from here, so the hooks are in place before any such table exists.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import (
    Column,
    ColumnDefault,
    Insert,
    LargeBinary,
    Table,
    Update,
    event,
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, ColumnClause
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from portal.crypto import active_key_ring, place
from portal.db import Base


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


event.listen(Base, "before_insert", _fill_row_key, propagate=True)
