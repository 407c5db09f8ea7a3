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
        from portal.config import prepare_instance_dir
        from portal.migrate import upgrade

        database = get_db(app)
        prepare_instance_dir(database.url)
        with database.engine.begin() as connection:
            upgrade(connection, revision)
        click.echo(f"database at {revision}")

    @db_group.command("grant-app-role")
    @click.argument("role")
    def db_grant_app_role(role: str) -> None:
        """PostgreSQL: grant ROLE what the portal needs (audit tables: INSERT and SELECT
        only); run as the tables' owner, after every upgrade."""
        from portal.migrate import grant_app_role

        with get_db(app).engine.begin() as connection:
            grant_app_role(connection, role)
        click.echo(f"granted {role}")

    @app.cli.group("keys")
    def keys_group() -> None:
        """Encryption keys."""

    @keys_group.command("rotate")
    def keys_rotate() -> None:
        """Re-encrypt personal data made with an older key (the first key is the new one)."""
        from portal.crypto import active_key_ring
        from portal.keys import rotate

        with get_db(app).engine.begin() as connection:
            report = rotate(connection, active_key_ring())
        for name, (checked, rewritten) in report.per_column.items():
            click.echo(f"{name}: checked {checked}, re-encrypted {rewritten}")
        click.echo(f"checked {report.checked} values, re-encrypted {report.rewritten}")
