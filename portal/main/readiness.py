"""Readiness: can this process do its work right now? (``/readyz``)

Three checks, each answered on its own so an operator sees which one failed:

``database``
    the database takes a write: a real UPDATE of ``alembic_version`` inside a transaction
    that is rolled back (a locked, read-only or unreachable database fails it), bounded by
    a short lock wait so the probe answers quickly;
``migrations``
    the database's Alembic revision is the code's head (a deploy that forgot
    ``flask db upgrade``, or code older than the database, is not ready);
``broker``
    with ``PORTAL_WORKER=celery``, the broker accepts a connection (otherwise skipped).

Plain functions: they take the database and settings, never Flask's globals. Failures are
reported by kind (the exception's class), never with their text, which may carry a URL
with a password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import text

from portal.db import Database
from portal.migrate import alembic_config

#: How long the write check waits for a lock on PostgreSQL before it calls it busy.
LOCK_WAIT_MS = 1000
BROKER_TIMEOUT_SECONDS = 2


@dataclass(frozen=True)
class Check:
    status: str  # ok | failed | skipped
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, **self.detail}


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, Check]

    @property
    def ready(self) -> bool:
        return all(check.status != "failed" for check in self.checks.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ready else "not-ready",
            "checks": {name: check.to_json() for name, check in self.checks.items()},
        }


def _failed(exc: BaseException) -> Check:
    return Check("failed", {"error": type(exc).__name__})


def head_revisions() -> list[str]:
    """The code's Alembic head revision(s)."""
    return sorted(ScriptDirectory.from_config(alembic_config()).get_heads())


def check_database(db: Database) -> tuple[Check, list[str] | None]:
    """The write check, and the database's Alembic revisions (None when unreadable).

    Through the app's session factory, as any request's work (a write transaction: BEGIN
    IMMEDIATE on SQLite, waiting at most its busy timeout), and always rolled back."""
    session = db.session_factory()
    current: list[str] | None = None
    try:
        conn = session.connection()
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_WAIT_MS}ms'")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = '{2 * LOCK_WAIT_MS}ms'")
        current = sorted(conn.scalars(text("SELECT version_num FROM alembic_version")).all())
        conn.execute(text("UPDATE alembic_version SET version_num = version_num"))
    except Exception as exc:
        return _failed(exc), current
    finally:
        try:
            session.rollback()
        except Exception:  # a database that is gone cannot roll back: drop the connection
            session.invalidate()
        session.close()
    return Check("ok"), current


def check_migrations(current: list[str] | None) -> Check:
    head = head_revisions()
    if current is None:
        return Check("failed", {"head": head, "error": "unreadable"})
    return Check("ok" if current == head else "failed", {"current": current, "head": head})


def check_broker(broker_url: str) -> Check:
    from kombu import Connection as BrokerConnection

    try:
        with BrokerConnection(broker_url, connect_timeout=BROKER_TIMEOUT_SECONDS) as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as exc:
        return _failed(exc)
    return Check("ok")


def readiness(db: Database, settings: Any) -> Readiness:
    """Every check of this process (see the module's docstring)."""
    database, current = check_database(db)
    broker = (
        check_broker(settings.celery_broker_url)
        if settings.worker == "celery"
        else Check("skipped", {"reason": "no broker configured"})
    )
    return Readiness(
        {"database": database, "migrations": check_migrations(current), "broker": broker}
    )
