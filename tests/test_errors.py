"""Which database errors are "busy or broken, try again" (503) and which are our faults (500):
each case is a real error raised by the real driver, not a constructed one."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from portal.errors import database_unavailable

PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
needs_postgres = pytest.mark.skipif(
    not PG_URL.startswith("postgresql"), reason="PORTAL_TEST_DATABASE_URL is not PostgreSQL"
)


def raised(engine: Engine, statement: str) -> Exception:
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    except Exception as exc:
        return exc
    raise AssertionError(f"{statement!r} did not fail")


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    return path


def test_a_locked_sqlite_database_is_unavailable(sqlite_file: Path) -> None:
    holder = sqlite3.connect(sqlite_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    engine = create_engine(f"sqlite:///{sqlite_file}", connect_args={"timeout": 0.05})
    try:
        exc = raised(engine, "INSERT INTO t (id) VALUES (1)")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()
    assert "locked" in str(exc)
    assert database_unavailable(exc)


@pytest.mark.parametrize(
    ("database", "statement"),
    [
        pytest.param("t.db?mode=ro", "INSERT INTO t (id) VALUES (1)", id="read-only"),
        pytest.param("gone.db?mode=rw", "SELECT 1", id="missing file"),
    ],
)
def test_a_read_only_or_missing_sqlite_database_is_unavailable(
    sqlite_file: Path, database: str, statement: str
) -> None:
    engine = create_engine(f"sqlite:///file:{sqlite_file.parent / database}&uri=true")
    exc = raised(engine, statement)
    engine.dispose()
    assert database_unavailable(exc)


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM no_such_table",  # an OperationalError too, but our fault
        "SELEKT 1",
        "INSERT INTO t (nope) VALUES (1)",
    ],
)
def test_programming_errors_in_sqlite_are_not_unavailability(
    sqlite_file: Path, statement: str
) -> None:
    engine = create_engine(f"sqlite:///{sqlite_file}")
    exc = raised(engine, statement)
    engine.dispose()
    assert isinstance(exc, DBAPIError)
    assert not database_unavailable(exc)


def test_a_constraint_violation_is_not_unavailability(sqlite_file: Path) -> None:
    engine = create_engine(f"sqlite:///{sqlite_file}")
    exc = raised(engine, "INSERT INTO t (id) VALUES (1), (1)")
    engine.dispose()
    assert isinstance(exc, IntegrityError)
    assert not database_unavailable(exc)


@pytest.mark.parametrize("exc", [ValueError("x"), RuntimeError("database is locked"), None])
def test_other_exceptions_are_not_unavailability(exc: Exception | None) -> None:
    assert not database_unavailable(exc)


def test_an_unreachable_postgresql_server_is_unavailable() -> None:
    engine = create_engine(
        "postgresql+psycopg://portal@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    exc = raised(engine, "SELECT 1")
    engine.dispose()
    assert database_unavailable(exc)


@needs_postgres
def test_a_postgresql_lock_timeout_is_unavailable() -> None:
    engine = create_engine(PG_URL)
    with engine.begin() as setup:
        setup.execute(text("CREATE TABLE IF NOT EXISTS errors_probe (id int)"))
    holder = engine.connect()
    holder.begin()
    holder.execute(text("LOCK TABLE errors_probe IN ACCESS EXCLUSIVE MODE"))
    try:
        exc = _lock_timeout(engine)
    finally:
        holder.rollback()
        holder.close()
        with engine.begin() as cleanup:
            cleanup.execute(text("DROP TABLE errors_probe"))
        engine.dispose()
    assert getattr(getattr(exc, "orig", None), "sqlstate", None) == "55P03"
    assert database_unavailable(exc)


def _lock_timeout(engine: Engine) -> Exception:
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '100ms'"))
            conn.execute(text("INSERT INTO errors_probe VALUES (1)"))
    except Exception as exc:
        return exc
    raise AssertionError("the insert did not wait for the lock")


@needs_postgres
def test_a_read_only_postgresql_transaction_is_unavailable() -> None:
    engine = create_engine(PG_URL)
    with engine.connect() as conn:
        conn.execute(text("SET TRANSACTION READ ONLY"))
        with pytest.raises(DBAPIError) as caught:
            conn.execute(text("CREATE TABLE errors_ro_real (id int)"))
        conn.rollback()
    engine.dispose()
    assert getattr(caught.value.orig, "sqlstate", None) == "25006"
    assert database_unavailable(caught.value)


@needs_postgres
def test_a_missing_postgresql_table_is_not_unavailability() -> None:
    engine = create_engine(PG_URL)
    exc = raised(engine, "SELECT * FROM no_such_table_here")
    engine.dispose()
    assert getattr(getattr(exc, "orig", None), "sqlstate", None) == "42P01"
    assert not database_unavailable(exc)
