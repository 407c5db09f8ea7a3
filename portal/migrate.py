"""Running the Alembic migrations from code (CLI, tests, demo set-up)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection, revision: str = "head") -> None:
    command.upgrade(alembic_config(connection), revision)


def downgrade(connection: Connection, revision: str) -> None:
    command.downgrade(alembic_config(connection), revision)


APP_ROLE_SQL = ROOT / "migrations" / "sql" / "app_role.sql"


def grant_app_role(connection: Connection, role: str) -> None:
    """Give the PostgreSQL role ``role`` what the portal needs, and no more on the audit
    tables (``migrations/sql/app_role.sql``); run on a connection of the tables' owner."""
    if connection.dialect.name != "postgresql":
        raise RuntimeError("roles and grants are for PostgreSQL")
    connection.execute(text("SELECT set_config('portal.app_role', :role, true)"), {"role": role})
    # (on the driver with no parameters: the file's format('%I') is not a placeholder)
    cursor = connection.connection.cursor()
    try:
        cursor.execute(APP_ROLE_SQL.read_text(encoding="utf-8"))
    finally:
        cursor.close()
