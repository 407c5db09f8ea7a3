"""Command-line commands (``flask --app wsgi ...``). Each command commits its own work."""

from __future__ import annotations

import click
from flask import Flask

from portal.db_session import get_db


def register(app: Flask) -> None:
    @app.cli.group("db")
    def db_group() -> None:
        """The database schema."""

    @db_group.command("upgrade")
    @click.argument("revision", default="head")
    def db_upgrade(revision: str) -> None:
        """Apply the migrations up to REVISION (default: the newest)."""
        from portal.migrate import upgrade

        database = get_db(app)
        if database.is_sqlite:
            from portal.config import INSTANCE_DIR

            INSTANCE_DIR.mkdir(exist_ok=True)
        with database.engine.begin() as connection:
            upgrade(connection, revision)
        click.echo(f"database at {revision}")
