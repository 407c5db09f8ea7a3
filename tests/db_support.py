"""Database helpers shared by the test fixtures (importable as ``db_support``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import Connection, text
from sqlalchemy.engine import Engine


def reset_database(engine: Engine) -> None:
    """Empty the test database so the migrations build it from nothing."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))


@contextmanager
def rolled_back(app: Flask) -> Iterator[Connection]:
    """Run the app's sessions inside one outer transaction that is rolled back afterwards
    (``join_transaction_mode="create_savepoint"``: the app's commits release savepoints)."""
    from portal.db_session import get_db

    database = get_db(app)
    conn = database.engine.connect()
    outer = conn.begin()
    original = database.session_factory.kw.get("bind")
    database.session_factory.configure(bind=conn, join_transaction_mode="create_savepoint")
    try:
        yield conn
    finally:
        database.session_factory.configure(
            bind=original, join_transaction_mode="conservative_savepoint"
        )
        outer.rollback()
        conn.close()
