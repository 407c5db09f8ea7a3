"""``flask --app wsgi jobs ...``: explanation jobs (retry, run here, sweep to Celery). Each
command commits its own work."""

from __future__ import annotations

import time

import click
from flask import Flask

from portal.db_session import get_db
from portal.decisions.claiming import retry_jobs
from portal.decisions.worker import WorkerOptions, run_until_idle


def register(app: Flask) -> None:
    @app.cli.group("jobs")
    def jobs() -> None:
        """Explanation jobs."""

    @jobs.command("retry")
    @click.option("--decision", "decision_id", help="Public id of one decision.")
    @click.option("--all-failed", is_flag=True, help="Every failed job.")
    def jobs_retry(decision_id: str | None, all_failed: bool) -> None:
        """Make failed explanation jobs due again."""
        if bool(decision_id) == all_failed:
            raise click.UsageError("give exactly one of --decision ID or --all-failed")
        with get_db(app).transaction() as session:
            count = retry_jobs(session, decision_public_id=decision_id, all_failed=all_failed)
        click.echo(f"{count} job(s) will be retried")

    @jobs.command("run")
    def jobs_run() -> None:
        """Compute every due explanation now, in this process."""
        options = WorkerOptions.from_settings(app.config["SETTINGS"])
        click.echo(f"{run_until_idle(get_db(app), options)} job(s) processed")

    @jobs.command("sweep")
    @click.option("--loop", is_flag=True, help="Keep sweeping (a beat-less Celery sweeper).")
    @click.option("--interval", default=10.0, show_default=True, help="Seconds between sweeps.")
    def jobs_sweep(loop: bool, interval: float) -> None:
        """Send due jobs to Celery that were never dispatched or whose dispatch is old."""
        from portal.decisions.tasks import sweep  # imports celery: only for this command

        settings = app.config["SETTINGS"]
        while True:
            sent = sweep(
                get_db(app),
                settings.celery_broker_url,
                redispatch_seconds=settings.job_redispatch_seconds,
            )
            click.echo(f"dispatched {sent} job(s)")
            if not loop:
                break
            time.sleep(interval)
