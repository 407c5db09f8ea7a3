"""A busy or broken database says so: a locked (another connection holds SQLite's write lock,
or a PostgreSQL lock outlasts lock_timeout), read-only or unreachable database answers 503
with Retry-After (the API: code ``database-unavailable``; pages: a Danish "try again in a
moment"), never a 500 or a 2xx, and nothing is half-stored."""

from __future__ import annotations

import base64
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask
import pytest
from api_support import Sender, SignedClient, commit_sender_and_model, decision_body
from sqlalchemy import create_engine, event, func, select, text

from portal import create_app
from portal.auth.principal import Principal, principal_session_data
from portal.auth.sessions import session_interface
from portal.crypto import lookup_key
from portal.db_session import get_db
from portal.decisions.models import Decision, Delivery, Job
from portal.errors import RETRY_AFTER_SECONDS
from portal.migrate import upgrade
from portal.oversight.models import AuditEvent
from portal.registry.models import System

TEST_LOOKUP_KEY = "test-lookup-key-0123456789abcdefghijklmnop"  # as tests/conftest.py
PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
UNREACHABLE_PG = "postgresql+psycopg://portal@127.0.0.1:1/portal"


def short_busy_wait(app: flask.Flask, milliseconds: int = 200) -> None:
    """Wait ``milliseconds`` (not 10 s) for SQLite's write lock: the tests stay quick."""

    @event.listens_for(get_db(app).engine, "connect")
    def _pragma(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA busy_timeout={milliseconds}")


def production_like(app: flask.Flask) -> None:
    """As in production, an error outside the view (loading or saving the login session,
    which touch the database too) is handled by the app, not raised into the test."""
    app.config["PROPAGATE_EXCEPTIONS"] = False


def seed(app: flask.Flask) -> tuple[Sender, str]:
    """A sender, an active model and one decision (committed); a citizen's session cookie."""
    sender = commit_sender_and_model(get_db(app), "ops-sender")
    subject_key = lookup_key(TEST_LOOKUP_KEY, decision_body()["subject"]["cpr"])
    principal = Principal("citizen", subject_key, None, None, "citizen", None, "")
    return sender, session_interface(app).create({"principal": principal_session_data(principal)})


def counts(app: flask.Flask) -> dict[str, int]:
    with get_db(app).reading() as session:
        return {
            model.__name__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Decision, Delivery, Job, AuditEvent)
        }


def post(app: flask.Flask, sender: Sender, webhook_id: str) -> Any:
    return SignedClient(app.test_client(), sender).post(
        "/api/v1/decisions", decision_body(), webhook_id=webhook_id
    )


def citizen_get(app: flask.Flask, cookie: str, path: str) -> Any:
    client = app.test_client()
    client.set_cookie(session_interface(app).cookie_name, cookie)
    return client.get(path)


def assert_api_unavailable(answer: Any) -> None:
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert answer.get_json()["error"]["code"] == "database-unavailable"


def assert_page_unavailable(answer: Any) -> None:
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "Prøv igen om lidt" in answer.get_data(as_text=True)
    assert "no-store" in answer.headers["Cache-Control"]


@pytest.fixture
def sqlite_app(app_overrides: dict[str, Any], tmp_path: Path) -> Iterator[flask.Flask]:
    if PG_URL.startswith("postgresql"):
        pytest.skip("SQLite's own locking and read-only files")
    path = tmp_path / "portal.db"
    app = create_app({**app_overrides, "database_url": f"sqlite:///{path}"})
    short_busy_wait(app)
    production_like(app)
    with get_db(app).engine.begin() as conn:
        upgrade(conn)
    app.config["DB_PATH"] = path
    yield app
    get_db(app).engine.dispose()


@pytest.fixture
def write_lock(sqlite_app: flask.Flask) -> Iterator[sqlite3.Connection]:
    """Another connection holding SQLite's write lock (BEGIN IMMEDIATE) until released."""
    holder = sqlite3.connect(sqlite_app.config["DB_PATH"], isolation_level=None)
    yield holder
    if holder.in_transaction:
        holder.execute("ROLLBACK")
    holder.close()


def test_a_webhook_on_a_locked_sqlite_database_is_503_and_stores_nothing(
    sqlite_app, write_lock
) -> None:
    sender, _ = seed(sqlite_app)
    before = counts(sqlite_app)
    write_lock.execute("BEGIN IMMEDIATE")
    assert_api_unavailable(post(sqlite_app, sender, "locked-1"))
    write_lock.execute("ROLLBACK")
    assert counts(sqlite_app) == before
    # the same delivery once the lock is gone: stored as new, not replayed as a failure
    assert post(sqlite_app, sender, "locked-1").status_code == 202


def test_a_page_on_a_locked_sqlite_database_says_try_again(sqlite_app, write_lock) -> None:
    sender, cookie = seed(sqlite_app)
    case = post(sqlite_app, sender, "page-1").get_json()["id"]
    before = counts(sqlite_app)
    write_lock.execute("BEGIN IMMEDIATE")
    # the page reads (no lock needed), then its audit event cannot be written: no page
    # without its audit event
    assert_page_unavailable(citizen_get(sqlite_app, cookie, f"/mine-sager/{case}"))
    assert_page_unavailable(citizen_get(sqlite_app, cookie, f"/mine-sager/{case}/pdf"))
    write_lock.execute("ROLLBACK")
    assert counts(sqlite_app) == before
    assert citizen_get(sqlite_app, cookie, f"/mine-sager/{case}").status_code == 200


def test_a_read_only_sqlite_database_is_503(app_overrides, sqlite_app) -> None:
    sender, cookie = seed(sqlite_app)
    case = post(sqlite_app, sender, "ro-1").get_json()["id"]
    path = sqlite_app.config["DB_PATH"]
    read_only = create_app(
        {**app_overrides, "database_url": f"sqlite:///file:{path}?mode=ro&uri=true"}
    )
    production_like(read_only)
    before = counts(sqlite_app)
    try:
        assert_api_unavailable(post(read_only, sender, "ro-2"))
        assert_page_unavailable(citizen_get(read_only, cookie, f"/mine-sager/{case}"))
        assert read_only.test_client().get("/healthz").status_code == 200
    finally:
        get_db(read_only).engine.dispose()
    assert counts(sqlite_app) == before


@pytest.fixture
def unreachable_app(app_overrides: dict[str, Any]) -> Iterator[flask.Flask]:
    app = create_app({**app_overrides, "database_url": UNREACHABLE_PG})
    production_like(app)
    yield app
    get_db(app).engine.dispose()


def test_an_unreachable_postgresql_server_is_503(unreachable_app) -> None:
    sender = Sender(System(name="ops-sender"), "whsec_" + base64.b64encode(b"s" * 32).decode())
    assert_api_unavailable(post(unreachable_app, sender, "gone-1"))
    client = unreachable_app.test_client()
    assert_page_unavailable(client.get("/algoritmer"))
    client.set_cookie(session_interface(unreachable_app).cookie_name, "x" * 43)
    assert_page_unavailable(client.get("/mine-sager"))  # the session store is gone too
    # alive (a probe sends no cookie), but not ready
    assert unreachable_app.test_client().get("/healthz").status_code == 200
    assert unreachable_app.test_client().get("/readyz").status_code == 503


@pytest.mark.skipif(not PG_URL.startswith("postgresql"), reason="PostgreSQL's lock_timeout")
def test_a_postgresql_lock_timeout_is_503_and_stores_nothing(
    app_overrides, committed_database_url
) -> None:
    app = create_app({**app_overrides, "database_url": committed_database_url("_ops_lock")})
    engine = get_db(app).engine

    @event.listens_for(engine, "connect")
    def _lock_timeout(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:  # (operators set it on the role)
            cursor.execute("SET lock_timeout = '200ms'")
        dbapi_connection.commit()

    with engine.begin() as conn:
        upgrade(conn)
    sender, _ = seed(app)
    before = counts(app)
    other = create_engine(engine.url)
    try:
        with other.connect() as holder:
            holder.begin()
            holder.execute(text("LOCK TABLE delivery IN ACCESS EXCLUSIVE MODE"))
            assert_api_unavailable(post(app, sender, "pg-locked-1"))
            holder.rollback()
        assert counts(app) == before
        assert post(app, sender, "pg-locked-1").status_code == 202
    finally:
        other.dispose()
        engine.dispose()
