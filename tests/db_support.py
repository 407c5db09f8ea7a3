"""Database helpers shared by the test fixtures (importable as ``db_support``)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine


def reset_database(engine: Engine) -> None:
    """Empty the test database so the migrations build it from nothing."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
