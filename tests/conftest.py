"""Test fixtures shared by the whole suite.

One database per session, built by running the migrations; each test runs inside a
transaction that is rolled back (SQLAlchemy's ``join_transaction_mode="create_savepoint"``),
so the app's own commits only release savepoints. ``PORTAL_TEST_DATABASE_URL`` selects
PostgreSQL; the default is a fresh SQLite file.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from portal import create_app
from portal.db_session import get_db
from portal.migrate import upgrade

TEST_ENCRYPTION_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
TEST_LOOKUP_KEY = "test-lookup-key-0123456789abcdefghijklmnop"


def _database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("PORTAL_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def reset_database(engine: Engine) -> None:
    """Empty the test database so the migrations build it from nothing."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _database_url(tmp_path_factory)


@pytest.fixture(scope="session")
def app_overrides(database_url: str) -> dict[str, Any]:
    return {
        "env": "test",
        "demo": True,
        "database_url": database_url,
        "encryption_key": TEST_ENCRYPTION_KEY,
        "lookup_key": TEST_LOOKUP_KEY,
        "secret_key": "test-secret-key-0123456789abcdefghijkl",
        "worker": "off",
    }


@pytest.fixture(scope="session")
def app(app_overrides: dict[str, Any]) -> Iterator[Flask]:
    app = create_app(app_overrides)
    engine = get_db(app).engine
    reset_database(engine)
    with engine.begin() as conn:
        upgrade(conn)
    yield app
    engine.dispose()


@pytest.fixture
def connection(app: Flask) -> Iterator[Connection]:
    """A connection inside an outer transaction that is rolled back after the test."""
    database = get_db(app)
    conn = database.engine.connect()
    outer = conn.begin()
    original_bind = database.session_factory.kw.get("bind")
    database.session_factory.configure(bind=conn, join_transaction_mode="create_savepoint")
    try:
        yield conn
    finally:
        database.session_factory.configure(
            bind=original_bind, join_transaction_mode="conservative_savepoint"
        )
        outer.rollback()
        conn.close()


@pytest.fixture
def session(app: Flask, connection: Connection) -> Iterator[Session]:
    """A session for arranging and checking data, in the test's rolled-back transaction."""
    s = get_db(app).session_factory()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def client(app: Flask, connection: Connection) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
