"""Hot-path statements run on the driver's connection, inside the session's transaction.

Running a Core statement through SQLAlchemy costs tens of microseconds of Python per
execution (execution context, parameter processing, result metadata, the session's
connection bookkeeping): the webhook's model lookup takes 42–48 µs that way and 4.5–5 µs
on the driver. The decision webhook runs seven statements per request (and asked the
session for its connection nine times); running them here took a single decision's CPU
from 5.2 to 3.7 ms in the test client.

A :class:`DriverStatement` is built from an ordinary Core statement, so the SQL stays
SQLAlchemy's, per dialect. It is compiled once per dialect and set of parameter names,
with each parameter's bind processor taken from its column type (the same conversion
SQLAlchemy applies: ``EncryptedJSON`` encrypts, ``UTCDateTime`` normalises, JSON is
serialised), and then executed directly on the DB-API connection of the session. That
connection is the one the session's transaction runs on, so the statements commit or roll
back with the request's single commit, exactly like ``session.connection().execute``.

Only what a hot path needs: parameters are given explicitly (no column defaults are
filled in; a missing one is an error at compile time), and result rows come back as the
driver returns them (no result processors), so it suits ids, names, hashes and blobs,
not columns whose type converts values on the way out (dates on SQLite, say).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.dml import ValuesBase

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class Driver:
    """The DB-API connection under a session's transaction, and its dialect."""

    connection: Any
    dialect: Dialect


_CACHED = "portal_driver"


def driver_for(session: Session) -> Driver:
    """The driver connection of ``session``'s current transaction (begun if need be).

    Remembered for the rest of that transaction and savepoint (``session.connection()``
    costs more than a statement on the driver). A new transaction or savepoint asks the
    session again: that is what begins it on the connection (SQLAlchemy emits a
    ``SAVEPOINT`` only when a nested transaction first uses its connection).
    """
    current = (session.get_transaction(), session.get_nested_transaction())
    cached = session.info.get(_CACHED)
    if current[0] is not None and cached is not None and cached[0] == current:
        return cached[1]  # type: ignore[no-any-return]
    connection = session.connection()
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None
    driver = Driver(driver_connection, connection.dialect)
    session.info[_CACHED] = ((session.get_transaction(), session.get_nested_transaction()), driver)
    return driver


def _wrapped(sql: str, parameters: Any, error: Exception, dialect: Dialect) -> Exception:
    """The driver's error as SQLAlchemy's (``IntegrityError`` ...), as callers expect."""
    return DBAPIError.instance(sql, parameters, error, dialect.loaded_dbapi.Error)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    processors: tuple[Processor | None, ...]
    positional: bool
    constants: Mapping[str, Any]

    def parameters(self, values: Mapping[str, Any]) -> Any:
        if self.constants:
            values = {**self.constants, **values}
        converted = [
            value if process is None else process(value)
            for process, value in zip(self.processors, (values[n] for n in self.names), strict=True)
        ]
        return converted if self.positional else dict(zip(self.names, converted, strict=True))


@dataclass(frozen=True)
class Prepared:
    """Rows converted for one statement on one dialect, ready to run (``DriverStatement.prepare``).

    Converting is the costly part of an insert (encrypting, serialising JSON, formatting
    dates): done before a write transaction begins, it is not done while SQLite's single
    write lock is held and the other writers wait.
    """

    dialect_name: str
    compiled: _Compiled
    parameters: list[Any]


class DriverStatement:
    """A Core statement (or one per dialect) compiled once and run on the driver.

    ``statement`` is a Core statement, or a function of the dialect's name giving one
    (for dialect-specific constructs such as ``ON CONFLICT``).
    """

    def __init__(self, statement: ClauseElement | Callable[[str], ClauseElement]) -> None:
        self._statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}

    def _compile(self, dialect: Dialect, keys: tuple[str, ...]) -> _Compiled:
        cache_key = (dialect.name, keys)
        compiled = self._compiled.get(cache_key)
        if compiled is not None:
            return compiled
        statement = self._statement
        if not isinstance(statement, ClauseElement):
            statement = statement(dialect.name)
        column_keys = list(keys) if isinstance(statement, ValuesBase) else None
        result = statement.compile(dialect=dialect, column_keys=column_keys)
        names = tuple(result.positiontup or result.binds)
        # Values written into the statement itself (a LIMIT, say) are kept; a parameter
        # without one must be given (column defaults are not filled in here).
        defaulted = {c.key for c in (*result.insert_prefetch, *result.update_prefetch)}
        constants = {
            name: result.binds[name].effective_value
            for name in names
            if name not in keys and name not in defaulted and not result.binds[name].required
        }
        missing = sorted(set(names) - set(keys) - set(constants))
        if missing:
            raise ValueError(f"no value given for {', '.join(missing)}")
        processors = tuple(
            result.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        )
        compiled = _Compiled(
            result.string, names, processors, result.positiontup is not None, constants
        )
        self._compiled[cache_key] = compiled
        return compiled

    def prepare(self, dialect: Dialect, rows: Sequence[Mapping[str, Any]]) -> Prepared:
        """Convert ``rows`` (every row with the same keys) now, to run them later on a
        driver of the same dialect: ``execute_many``, or ``first``/``scalar`` for one row."""
        if not rows:
            raise ValueError("no rows to prepare")
        compiled = self._compile(dialect, tuple(rows[0]))
        return Prepared(dialect.name, compiled, [compiled.parameters(row) for row in rows])

    def _converted(self, driver: Driver, rows: Sequence[Mapping[str, Any]] | Prepared) -> Prepared:
        prepared = rows if isinstance(rows, Prepared) else self.prepare(driver.dialect, rows)
        if prepared.dialect_name != driver.dialect.name:
            raise ValueError(f"prepared for {prepared.dialect_name}, run on {driver.dialect.name}")
        return prepared

    def _run(self, driver: Driver, values: Mapping[str, Any] | Prepared | None) -> list[Any]:
        # Every row is fetched and the cursor closed at once: an unfinished statement
        # (an INSERT ... RETURNING read only in part) would keep SQLite from committing.
        prepared = self._converted(
            driver, values if isinstance(values, Prepared) else [values or {}]
        )
        if len(prepared.parameters) != 1:
            raise ValueError("a single execution takes one prepared row")
        compiled, parameters = prepared.compiled, prepared.parameters[0]
        cursor = driver.connection.cursor()
        try:
            cursor.execute(compiled.sql, parameters)
            return list(cursor.fetchall()) if cursor.description is not None else []
        except driver.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(compiled.sql, parameters, exc, driver.dialect) from exc
        finally:
            cursor.close()

    def execute(self, driver: Driver, values: Mapping[str, Any] | Prepared | None = None) -> None:
        """Run once, for its effect."""
        self._run(driver, values)

    def execute_many(self, driver: Driver, rows: Sequence[Mapping[str, Any]] | Prepared) -> None:
        """Run once per row with one ``executemany`` (every row has the same keys)."""
        if not rows:
            return
        prepared = self._converted(driver, rows)
        compiled, parameters = prepared.compiled, prepared.parameters
        cursor = driver.connection.cursor()
        try:
            cursor.executemany(compiled.sql, parameters)
        except driver.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(compiled.sql, parameters, exc, driver.dialect) from exc
        finally:
            cursor.close()

    def all(self, driver: Driver, values: Mapping[str, Any] | Prepared | None = None) -> list[Any]:
        """Every row, as the driver gives them (tuples)."""
        return self._run(driver, values)

    def first(self, driver: Driver, values: Mapping[str, Any] | Prepared | None = None) -> Any:
        """The first row, or None."""
        rows = self._run(driver, values)
        return rows[0] if rows else None

    def scalar(self, driver: Driver, values: Mapping[str, Any] | Prepared | None = None) -> Any:
        """The first column of the first row, or None."""
        row = self.first(driver, values)
        return None if row is None else row[0]
