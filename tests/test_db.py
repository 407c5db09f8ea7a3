"""How transactions begin on SQLite: write units of work take the lock at BEGIN; read-only
ones (page views) take none, refuse writes, and write what they hand to ``after_reads``
in a transaction of their own after their reads."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import column, insert, select, table, text, update
from sqlalchemy.orm import Session

from portal.db import (
    Database,
    WriteInReadOnly,
    after_reads,
    begin_read_only,
    commit_unit_of_work,
)

NOTE = table("note", column("n"))
COUNT_NOTES = select(text("count(*)")).select_from(NOTE)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'units.db'}")
    with database.engine.begin() as conn:
        conn.execute(text("CREATE TABLE note (n INTEGER)"))
    yield database
    database.engine.dispose()


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    session = database.session_factory()
    yield session
    session.close()


@pytest.fixture
def other(database: Database) -> Iterator[sqlite3.Connection]:
    """Another connection that never waits for the lock (timeout 0)."""
    conn = sqlite3.connect(database.engine.url.database or "", isolation_level=None, timeout=0)
    yield conn
    conn.close()


def notes(database: Database) -> int:
    with database.session_factory() as session:
        return int(session.scalar(COUNT_NOTES) or 0)


def write_one(conn: sqlite3.Connection, n: int) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO note VALUES (?)", (n,))
    conn.execute("COMMIT")


def test_a_write_unit_of_work_holds_the_lock_from_begin(database, session, other) -> None:
    assert session.scalar(COUNT_NOTES) == 0  # only a read so far, but BEGIN IMMEDIATE ran
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        write_one(other, 1)
    session.commit()
    write_one(other, 1)


def test_a_read_only_unit_of_work_holds_no_lock_and_writes_after_its_reads(
    database, session, other
) -> None:
    begin_read_only(session)
    assert session.scalar(COUNT_NOTES) == 0
    # Another writer commits while the read transaction is open: it is not held up, and
    # the reader's own write below cannot hit its now stale snapshot (SQLITE_BUSY).
    write_one(other, 1)
    assert session.scalar(COUNT_NOTES) == 0  # (the reader's snapshot)
    after_reads(session, lambda s: s.execute(insert(NOTE).values(n=2)))
    commit_unit_of_work(session)
    assert notes(database) == 2


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda s: s.execute(insert(NOTE).values(n=1)), id="core insert"),
        pytest.param(lambda s: s.execute(update(NOTE).values(n=1)), id="core update"),
    ],
)
def test_a_write_in_a_read_only_unit_of_work_is_refused_before_it_runs(
    database, session, write
) -> None:
    begin_read_only(session)
    session.scalar(COUNT_NOTES)
    with pytest.raises(WriteInReadOnly):
        write(session)
    session.rollback()
    assert notes(database) == 0


def test_the_next_unit_of_work_on_the_connection_writes_as_usual(database, session, other):
    begin_read_only(session)
    session.scalar(COUNT_NOTES)
    commit_unit_of_work(session)
    session.execute(insert(NOTE).values(n=1))  # a new transaction: BEGIN IMMEDIATE again
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        write_one(other, 2)
    session.commit()
    assert notes(database) == 1


def test_reading_sends_sqlite_only_begin_and_the_reads(database) -> None:
    with database.reading() as session:
        driver = session.connection().connection.driver_connection
        sent: list[str] = []
        driver.set_trace_callback(sent.append)
        session.scalar(COUNT_NOTES)
        driver.set_trace_callback(None)
    assert [s.split()[0].upper() for s in sent] == ["SELECT"]
