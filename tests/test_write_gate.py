"""The write gate hands SQLite's write lock over quickly and is always given back."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from portal import write_gate
from portal.db import make_engine
from portal.write_gate import GatedConnection, gate_path


def connect(path: Path) -> GatedConnection:
    conn = sqlite3.connect(
        path, factory=GatedConnection, isolation_level=None, check_same_thread=False
    )
    assert isinstance(conn, GatedConnection)
    conn.gate = gate_path(str(path))
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def gate_is_taken(path: Path) -> bool:
    fd = os.open(f"{path}-writegate", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "gate.db"
    with connect(path) as conn:
        conn.execute("CREATE TABLE t (n INTEGER)")
    return path


def test_in_memory_databases_have_no_gate() -> None:
    assert gate_path(":memory:") is None
    assert gate_path("") is None
    assert gate_path("file:x?mode=memory") is None
    assert gate_path("/var/lib/portal.db") == "/var/lib/portal.db-writegate"


def test_a_second_writer_waits_for_the_first_and_gets_in_after_its_commit(database) -> None:
    first, second = connect(database), connect(database)
    first.begin_immediate()
    first.execute("INSERT INTO t VALUES (1)")
    entered = threading.Event()

    def write() -> None:
        second.begin_immediate()
        entered.set()
        second.execute("INSERT INTO t VALUES (2)")
        second.commit()

    thread = threading.Thread(target=write)
    thread.start()
    assert not entered.wait(0.2)  # held off while the first transaction is open
    assert gate_is_taken(database)  # by the first writer, in the gate (not SQLite's lock)
    first.commit()
    assert entered.wait(5)
    thread.join(5)
    assert not gate_is_taken(database)
    assert [n for (n,) in first.execute("SELECT n FROM t ORDER BY n")] == [1, 2]


@pytest.mark.parametrize("end", ["commit", "rollback", "close"])
def test_every_end_of_a_transaction_gives_the_gate_back(database, end) -> None:
    holder, other = connect(database), connect(database)
    holder.begin_immediate()
    getattr(holder, end)()
    other.begin_immediate()  # would wait 10 s if the gate were still held
    other.rollback()


def test_a_failed_begin_gives_the_gate_back(database) -> None:
    holder = connect(database)
    holder.execute("BEGIN")  # an open (read) transaction: BEGIN IMMEDIATE fails in it
    with pytest.raises(sqlite3.OperationalError):
        holder.begin_immediate()
    holder.rollback()
    other = connect(database)
    other.begin_immediate()
    other.rollback()


def test_without_the_gate_in_time_sqlite_decides(database, monkeypatch) -> None:
    """A gate held too long only falls back to SQLite's own busy timeout."""
    monkeypatch.setattr(write_gate, "TIMEOUT_SECONDS", 0.05)
    holder, other = connect(database), connect(database)
    other.execute("PRAGMA busy_timeout=50")
    holder.begin_immediate()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        other.begin_immediate()
    holder.rollback()
    other.begin_immediate()  # and the gate was not left taken by the failed attempt
    other.rollback()


def test_the_engine_gates_its_write_transactions(database) -> None:
    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as conn:
        driver = conn.connection.driver_connection
        assert isinstance(driver, GatedConnection)
        assert driver.gate == f"{database}-writegate"
        assert driver._gate_held
    assert not driver._gate_held
    engine.dispose()


def test_only_selects_run_in_a_read_phase(database) -> None:
    conn = connect(database)
    conn.begin_read_phase()
    write_gate.refuse_writes_in_read_phase(conn, "\n  select count(*) FROM t")
    with pytest.raises(write_gate.WriteInReadPhase):
        write_gate.refuse_writes_in_read_phase(conn, "UPDATE t SET n = 1")
    with pytest.raises(write_gate.WriteInReadPhase):
        write_gate.refuse_writes_in_read_phase(conn, "SAVEPOINT sa_1")
    conn.rollback()
    write_gate.refuse_writes_in_read_phase(conn, "UPDATE t SET n = 1")  # the phase is over
    # a connection that has no read phase at all (PostgreSQL's) is never refused
    write_gate.refuse_writes_in_read_phase(object(), "DELETE FROM t")
    assert not gate_is_taken(database)
    conn.close()
