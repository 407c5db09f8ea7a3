"""Alembic environment. The database URL comes from the caller (portal.migrate) or from
the portal's settings (PORTAL_DATABASE_URL), never from alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from portal.config import Settings
from portal.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from portal.db import make_engine

    engine = make_engine(Settings.load().database_url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
run_migrations_online()
