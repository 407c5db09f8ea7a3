"""``flask --app wsgi supervision ...``: run the aggregation job or the chain's verification
now (the worker runs both on a schedule)."""

from __future__ import annotations

import click
from flask import Flask

from portal.db_session import get_db


def register(app: Flask) -> None:
    @app.cli.group("supervision")
    def supervision_group() -> None:
        """The aggregates behind the /tilsyn dashboards."""

    @supervision_group.command("aggregate")
    def aggregate() -> None:
        """Count every new decision, outcome, explanation and review request now."""
        from portal.supervision.aggregates import aggregate_all

        settings = app.config["SETTINGS"]
        counted = aggregate_all(get_db(app), min_group_size=settings.supervision_min_group_size)
        click.echo(f"rows counted: {counted}")

    @supervision_group.command("verify")
    def verify() -> None:
        """Verify the audit chain as `audit verify` does and store the result for the
        dashboard; exits with status 1 on a break."""
        from portal.supervision.chain import record_chain_check

        check = record_chain_check(get_db(app), app.config["SETTINGS"].audit_checkpoint_key)
        click.echo(f"sealed events checked: {check.checked}")
        if not check.ok:
            click.echo(f"BROKEN: {check.problem}", err=True)
            raise SystemExit(1)
        click.echo("OK: the chain is intact")
