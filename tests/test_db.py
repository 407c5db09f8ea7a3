"""The read phase of a request on SQLite: reads without the write lock, writes refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import column, insert, select, table, text
from sqlalchemy.orm import Session

from portal.db import Database, begin_read_phase, begin_write_phase, in_read_phase
from portal.write_gate import WriteInReadPhase

NOTE = table("note", column("n"))
INSERT_NOTE = insert(NOTE)
COUNT_NOTES = select(text("count(*)")).select_from(NOTE)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'phases.db'}")
    with database.engine.begin() as conn:
        conn.execute(text("CREATE TABLE note (n INTEGER)"))
    yield database
    database.engine.dispose()


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    session = database.session_factory()
    yield session
    session.close()


def notes(database: Database) -> int:
    with database.session_factory() as session:
        return int(session.scalar(COUNT_NOTES) or 0)


def test_the_read_phase_holds_no_lock_and_the_write_phase_does(database, session) -> None:
    begin_read_phase(session)
    assert in_read_phase(session)
    assert session.scalar(COUNT_NOTES) == 0
    other = sqlite3.connect(database.engine.url.database, isolation_level=None, timeout=0)
    try:
        # another writer gets in at once while the read phase is open ...
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO note VALUES (1)")
        other.execute("COMMIT")
        begin_write_phase(session)
        assert not in_read_phase(session)
        session.execute(INSERT_NOTE, {"n": 2})
        # ... but not once the write phase began
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    finally:
        other.close()
    session.commit()
    assert notes(database) == 2


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda s: s.execute(insert(NOTE).values(n=1)), id="core insert"),
        pytest.param(lambda s: s.execute(text("DELETE FROM note")), id="text delete"),
        pytest.param(lambda s: s.execute(INSERT_NOTE, [{"n": 1}, {"n": 2}]), id="core executemany"),
    ],
)
def test_a_write_in_the_read_phase_is_refused_before_it_runs(database, session, write) -> None:
    begin_read_phase(session)
    session.scalar(COUNT_NOTES)
    with pytest.raises(WriteInReadPhase):
        write(session)
    session.commit()  # what the request's commit would do after the error
    assert notes(database) == 0


def test_the_read_phase_ends_with_its_transaction(database, session) -> None:
    # A request answered in its read phase (a 401, say) returns its connection to the pool:
    # the next transaction on it writes as usual.
    begin_read_phase(session)
    driver = session.connection().connection.driver_connection
    assert driver.read_phase
    session.commit()
    assert not driver.read_phase
    session.execute(INSERT_NOTE, {"n": 1})
    assert session.connection().connection.driver_connection is driver
    session.commit()
    assert notes(database) == 1


def test_changing_phases_sends_sqlite_no_pragma(database, session) -> None:
    # Switching a pragma such as query_only makes SQLite prepare every cached statement
    # again (~0.2 ms a decision request), so the phases are BEGIN, COMMIT and BEGIN
    # IMMEDIATE around the request's own statements, and nothing else.
    begin_read_phase(session)
    driver = session.connection().connection.driver_connection
    sent: list[str] = []
    driver.set_trace_callback(sent.append)
    session.scalar(COUNT_NOTES)
    begin_write_phase(session)
    session.execute(INSERT_NOTE, {"n": 1})
    session.commit()
    driver.set_trace_callback(None)
    assert [s.split()[0].upper() for s in sent] == ["SELECT", "COMMIT", "BEGIN", "INSERT", "COMMIT"]
