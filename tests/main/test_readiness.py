"""/readyz tells the truth: 200 only when the database takes a write, its migrations are at
the code's head and (with Celery) the broker answers; 503 naming the failed check otherwise.
/healthz only says the process is alive."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask
import pytest
from sqlalchemy import event

from portal import create_app
from portal.db_session import get_db
from portal.main.readiness import head_revisions
from portal.migrate import upgrade

PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
sqlite_only = pytest.mark.skipif(PG_URL.startswith("postgresql"), reason="SQLite files")


def ready(app: flask.Flask) -> tuple[int, dict[str, Any]]:
    answer = app.test_client().get("/readyz")
    assert answer.headers["Cache-Control"] == "private, no-store"
    return answer.status_code, answer.get_json()


def statuses(body: dict[str, Any]) -> dict[str, str]:
    return {name: check["status"] for name, check in body["checks"].items()}


def test_ready_when_everything_is(app, connection) -> None:
    status, body = ready(app)
    assert status == 200
    assert body["status"] == "ready"
    assert statuses(body) == {"database": "ok", "migrations": "ok", "broker": "skipped"}
    assert body["checks"]["migrations"]["current"] == head_revisions()


def test_the_write_check_is_rolled_back(app, connection) -> None:
    from sqlalchemy import text

    before = connection.scalar(text("SELECT version_num FROM alembic_version"))
    ready(app)
    assert connection.scalar(text("SELECT version_num FROM alembic_version")) == before


@pytest.fixture
def own_app(app_overrides: dict[str, Any], tmp_path: Path) -> Iterator[flask.Flask]:
    path = tmp_path / "ready.db"
    app = create_app({**app_overrides, "database_url": f"sqlite:///{path}"})

    @event.listens_for(get_db(app).engine, "connect")
    def _short_wait(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=200")

    app.config["DB_PATH"] = path
    yield app
    get_db(app).engine.dispose()


@sqlite_only
def test_not_ready_when_the_database_is_locked(own_app) -> None:
    with get_db(own_app).engine.begin() as conn:
        upgrade(conn)
    holder = sqlite3.connect(own_app.config["DB_PATH"], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        status, body = ready(own_app)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert status == 503
    assert body["status"] == "not-ready"
    assert statuses(body)["database"] == "failed"
    assert body["checks"]["database"]["error"] == "OperationalError"
    assert ready(own_app)[0] == 200  # and ready again once the lock is gone


@sqlite_only
def test_not_ready_when_the_database_is_read_only(app_overrides, own_app) -> None:
    with get_db(own_app).engine.begin() as conn:
        upgrade(conn)
    path = own_app.config["DB_PATH"]
    read_only = create_app(
        {**app_overrides, "database_url": f"sqlite:///file:{path}?mode=ro&uri=true"}
    )
    try:
        status, body = ready(read_only)
    finally:
        get_db(read_only).engine.dispose()
    assert status == 503
    # it could read the revision, but not write
    assert statuses(body) == {"database": "failed", "migrations": "ok", "broker": "skipped"}


@sqlite_only
def test_not_ready_when_migrations_are_behind(own_app) -> None:
    with get_db(own_app).engine.begin() as conn:
        upgrade(conn, "0004")
    status, body = ready(own_app)
    assert status == 503
    assert statuses(body) == {"database": "ok", "migrations": "failed", "broker": "skipped"}
    assert body["checks"]["migrations"]["current"] == ["0004"]


@sqlite_only
def test_not_ready_on_an_empty_database(own_app) -> None:
    status, body = ready(own_app)  # no alembic_version table at all
    assert status == 503
    assert statuses(body)["migrations"] == "failed"


def test_not_ready_when_postgresql_is_unreachable(app_overrides) -> None:
    app = create_app(
        {**app_overrides, "database_url": "postgresql+psycopg://portal@127.0.0.1:1/portal"}
    )
    try:
        status, body = ready(app)
        alive = app.test_client().get("/healthz")
    finally:
        get_db(app).engine.dispose()
    assert status == 503
    assert statuses(body) == {"database": "failed", "migrations": "failed", "broker": "skipped"}
    assert alive.status_code == 200
    assert alive.get_json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("broker", "expected"),
    [
        pytest.param("redis://127.0.0.1:6379/0", "ok", marks=pytest.mark.redis),
        pytest.param("amqp://guest:guest@127.0.0.1:5672//", "ok", marks=pytest.mark.redis),
        ("redis://127.0.0.1:1/0", "failed"),
        ("amqp://guest:secret-password@127.0.0.1:1//", "failed"),
    ],
)
def test_the_broker_is_checked_with_celery(app, connection, app_overrides, broker, expected):
    celery_app = create_app({**app_overrides, "worker": "celery", "celery_broker_url": broker})
    # (the same database and rolled-back transaction as the session's app)
    get_db(celery_app).session_factory = get_db(app).session_factory
    try:
        status, body = ready(celery_app)
    finally:
        get_db(celery_app).engine.dispose()
    assert statuses(body)["broker"] == expected
    assert status == (200 if expected == "ok" else 503)
    assert "secret-password" not in str(body)


@pytest.mark.skipif(not PG_URL.startswith("postgresql"), reason="PostgreSQL's lock_timeout")
def test_not_ready_when_a_postgresql_lock_outlasts_the_wait(
    app_overrides, committed_database_url
) -> None:
    from sqlalchemy import create_engine, text

    app = create_app({**app_overrides, "database_url": committed_database_url("_ops_ready")})
    engine = get_db(app).engine
    with engine.begin() as conn:
        upgrade(conn)
    other = create_engine(engine.url)
    try:
        with other.connect() as holder:
            holder.begin()
            holder.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
            status, body = ready(app)
            holder.rollback()
        assert status == 503
        assert statuses(body)["database"] == "failed"
        assert body["checks"]["database"]["error"] == "OperationalError"
        assert ready(app)[0] == 200
    finally:
        other.dispose()
        engine.dispose()
