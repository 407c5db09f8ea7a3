"""Celery: retention as a periodic task, for deployments with Celery workers.

``celery -A portal.decisions.tasks beat`` sends ``portal.retention.run`` every
``PORTAL_RETENTION_INTERVAL_SECONDS``; any worker runs it. Two runs at once are harmless:
each deletes what it finds, a decision is deleted once (the loser deletes nothing more).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery

from portal.db import Database

RETENTION_TASK = "portal.retention.run"
BEAT_ENTRY = "retention-run"


def register_retention(celery: Celery, database: Callable[[], tuple[Database, Any]]) -> None:
    """Add the retention task to ``celery`` and its beat schedule entry. ``database`` gives
    the worker process's database and settings."""

    @celery.task(name=RETENTION_TASK, ignore_result=True, shared=False)
    def run_retention() -> int:
        from portal.retention.worker import retention_round

        db, _ = database()
        return retention_round(db, run_by="celery").total

    def schedule(sender: Celery, **_: Any) -> None:
        from portal.config import Settings

        seconds = float(Settings.load().retention_interval_seconds)
        sender.add_periodic_task(seconds, run_retention.s(), name=BEAT_ENTRY)

    celery.on_after_configure.connect(schedule, weak=False)
