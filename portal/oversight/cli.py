"""``flask --app wsgi audit ...``: verify the audit chain, seal new events now."""

from __future__ import annotations

import click
from flask import Flask
from sqlalchemy.engine import Engine

from portal.db_session import get_db


def register(app: Flask) -> None:
    @app.cli.group("audit")
    def audit_group() -> None:
        """The tamper-evident audit trail."""

    @audit_group.command("verify")
    @click.option(
        "--checkpoint",
        "lines",
        multiple=True,
        metavar="LINE",
        help="A checkpoint line copied from the log (audit-checkpoint {...}); repeatable.",
    )
    def audit_verify(lines: tuple[str, ...]) -> None:
        """Recompute the whole chain and check it against the signed checkpoints.

        Exits with status 1 on any break, naming the first one."""
        from portal.oversight.audit import verify_chain
        from portal.oversight.checkpoints import Checkpoint

        try:
            given = [Checkpoint.from_log_line(line) for line in lines]
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--checkpoint") from exc
        import datetime as dt

        from portal.db import utcnow

        settings = app.config["SETTINGS"]
        key = settings.audit_checkpoint_key
        # a pruned chain's anchor must be older than the retention period (docs/retention.md)
        retained_since = utcnow() - dt.timedelta(days=settings.audit_retention_days)
        database = get_db(app)
        with database.reading() as session:
            # one snapshot while the sealer goes on appending (SQLite's read is one already)
            if not database.is_sqlite and isinstance(session.get_bind(), Engine):
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            report = verify_chain(
                session, key=key, checkpoints=given, anchor_older_than=retained_since
            )
        click.echo(f"sealed events checked: {report.checked}")
        if report.pruned:
            click.echo(f"pruned by retention before the anchor checkpoint: {report.pruned}")
        click.echo(
            f"not sealed yet: {report.unsealed} (the sealer seals new events within seconds)"
        )
        click.echo(f"checkpoints checked: {report.checkpoints} (signatures and heads)")
        if report.ok:
            if report.uncovered:
                click.echo(f"sealed after the newest checkpoint: {report.uncovered}")
            click.echo("OK: the chain is intact")
            return
        where = f" at event {report.first_broken_id}" if report.first_broken_id else ""
        click.echo(f"BROKEN{where}: {report.problem}", err=True)
        raise SystemExit(1)

    @audit_group.command("seal")
    def audit_seal() -> None:
        """Seal every event not sealed yet, now (the worker does this continuously)."""
        from portal.oversight.sealer import seal_all

        rounds = seal_all(get_db(app), app.config["SETTINGS"].audit_checkpoint_key)
        click.echo(f"sealing rounds: {rounds}")
