"""``flask --app wsgi retention ...``: delete expired personal data; prune old audit events."""

from __future__ import annotations

import json

import click
from flask import Flask

from portal.db_session import get_db


def register(app: Flask) -> None:
    @app.cli.group("retention")
    def retention_group() -> None:
        """Deleting data whose retention period has run out (docs/retention.md)."""

    @retention_group.command("run")
    def retention_run() -> None:
        """Delete expired decisions and everything tied to them; print the receipt.

        Idempotent: a second run deletes nothing. The worker runs this on a schedule."""
        from portal.registry.admin import ADMIN_CLI
        from portal.retention.worker import retention_round

        report = retention_round(get_db(app), run_by="cli", actor=ADMIN_CLI)
        if not report.total:
            click.echo("nothing to delete")
            return
        click.echo(f"deleted: {json.dumps(report.counts, sort_keys=True)}")
        click.echo(f"receipt: {report.receipt_id}")

    @retention_group.command("prune-audit")
    def retention_prune_audit() -> None:
        """Remove audit events older than PORTAL_AUDIT_RETENTION_DAYS, up to a signed
        checkpoint (the new anchor of `audit verify`). Run as the audit tables' owner."""
        from portal.db import utcnow
        from portal.retention.audit import AuditChainBroken, prune_audit_events

        settings = app.config["SETTINGS"]
        try:
            with get_db(app).transaction() as session:
                report = prune_audit_events(
                    session,
                    now=utcnow(),
                    retention_days=settings.audit_retention_days,
                    key=settings.audit_checkpoint_key,
                    run_by="cli",
                )
        except AuditChainBroken as exc:
            click.echo(f"not pruned, the chain does not verify: {exc.problem}", err=True)
            raise SystemExit(1) from None
        if report.anchor is None:
            click.echo("nothing to prune")
            return
        click.echo(f"pruned events: {report.events} (seals {report.seals})")
        click.echo(f"anchor: {report.anchor.log_line()}")
        click.echo(f"receipt: {report.receipt_id}")
