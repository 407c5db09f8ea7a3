"""A quick hand-over of SQLite's single write lock between processes and threads.

SQLite lets one writer in at a time. A writer that finds the lock taken waits in SQLite's
busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25 ... ms between tries: while it sleeps,
the holder finishes, starts its next request and takes the lock again, so under load one
gunicorn worker can wait tens of milliseconds for a lock that was free most of the time.

The gate is an exclusive ``flock`` on a file beside the database, taken just before
``BEGIN IMMEDIATE`` and given back when the transaction ends (``commit``/``rollback``/
``close`` of the driver connection). A waiter tries again every ``POLL_SECONDS`` instead
of backing off, so the lock changes hands within a fraction of a millisecond. Each
connection has its own file description, so the gate also separates the threads of one
process (the in-process worker beside the request threads). If the gate cannot be had
within ``TIMEOUT_SECONDS`` the transaction goes on without it and SQLite's own
``busy_timeout`` decides, as before: the gate only ever shortens a wait.

A transaction that first only reads takes no lock at all: ``begin_read_phase`` begins it
deferred and flags the connection so that anything but a SELECT is refused until the
transaction ends (``portal.db.begin_read_phase``/``begin_write_phase`` use this).
"""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Any

try:
    import fcntl
except ImportError:  # not on POSIX: no gate, SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

POLL_SECONDS = 0.0002
TIMEOUT_SECONDS = 10.0


class WriteInReadPhase(RuntimeError):
    """A statement other than a SELECT ran in a read phase (a deferred, read-only
    transaction): the code must call ``begin_write_phase`` before it writes."""


def _is_read(sql: str) -> bool:
    return sql.lstrip()[:6].upper() == "SELECT"


def refuse_writes_in_read_phase(driver_connection: Any, sql: str) -> None:
    """Raise :class:`WriteInReadPhase` if ``driver_connection`` is in a read phase and
    ``sql`` is not a SELECT.

    A write in a deferred transaction would try to take SQLite's write lock halfway
    through, where another writer's commit makes it fail with SQLITE_BUSY that no busy
    handler can wait out. ``PRAGMA query_only`` would refuse it too, but switching that
    pragma makes SQLite prepare every cached statement again (~30 µs for a decision's
    insert, ~0.2 ms a request), so the phase is a flag on the connection instead.
    """
    if getattr(driver_connection, "read_phase", False) and not _is_read(sql):
        raise WriteInReadPhase(f"a write in the read phase: {sql.lstrip()[:40]!r}")


def gate_path(database_path: str) -> str | None:
    """The gate file of a database file; None for an in-memory database."""
    if not database_path or database_path == ":memory:" or database_path.startswith("file:"):
        return None
    return f"{database_path}-writegate"


class GatedConnection(sqlite3.Connection):
    """A pysqlite connection that holds the gate for the length of a write transaction.

    ``gate`` is set by the engine's connect hook; None means no gate (in-memory database).
    """

    gate: str | None = None
    #: In a read phase: only SELECT statements may run (``refuse_writes_in_read_phase``).
    read_phase = False
    _gate_fd: int | None = None
    _gate_held = False

    def begin_read_phase(self) -> None:
        """``BEGIN`` (deferred: no lock is taken), with writes refused until it ends."""
        self.execute("BEGIN")
        self.read_phase = True

    def begin_immediate(self) -> None:
        """``BEGIN IMMEDIATE``, after taking the gate."""
        if self._gate_held:  # already in a write transaction: let SQLite refuse the BEGIN
            self.execute("BEGIN IMMEDIATE")
            return
        self._take_gate()
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release_gate()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.read_phase = False
            self._release_gate()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.read_phase = False
            self._release_gate()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release_gate()
            if self._gate_fd is not None:
                os.close(self._gate_fd)
                self._gate_fd = None

    def _take_gate(self) -> None:
        if self.gate is None or fcntl is None:
            return
        if self._gate_fd is None:
            self._gate_fd = os.open(self.gate, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while True:
            try:
                fcntl.flock(self._gate_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return  # SQLite's busy_timeout takes over
                time.sleep(POLL_SECONDS)
            else:
                self._gate_held = True
                return

    def _release_gate(self) -> None:
        if self._gate_held and self._gate_fd is not None and fcntl is not None:
            fcntl.flock(self._gate_fd, fcntl.LOCK_UN)
        self._gate_held = False


def begin_immediate(driver_connection: Any) -> None:
    """``BEGIN IMMEDIATE`` on a driver connection, through the gate when it has one."""
    if isinstance(driver_connection, GatedConnection):
        driver_connection.begin_immediate()
    else:
        driver_connection.execute("BEGIN IMMEDIATE")
