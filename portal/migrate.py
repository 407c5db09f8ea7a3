"""Running the Alembic migrations from code (CLI, tests, demo set-up)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

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


def prepare_instance_dir(database_url: str, instance_dir: Path | None = None) -> Path | None:
    """Create the folder of a SQLite database file that lies in ``instance/`` (the embedded
    default) and return it; any other database, or a SQLite file elsewhere, leaves the tree
    untouched (a path outside ``instance/`` is the operator's to create)."""
    from portal import config

    instance = (instance_dir or config.INSTANCE_DIR).resolve()
    url = make_url(database_url)
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):  # a SQLite URI filename: file:path?mode=...
        database = database.removeprefix("file:").partition("?")[0]
    folder = Path(database).resolve().parent
    if not folder.is_relative_to(instance):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    return folder
