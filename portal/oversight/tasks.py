"""Celery: the audit sealer as a periodic task, for deployments with Celery workers.

``celery -A portal.decisions.tasks beat`` sends ``portal.audit.seal`` every
``PORTAL_AUDIT_SEAL_SECONDS``; any worker (``celery -A portal.decisions.tasks worker``)
runs it. Two runs at once are harmless: one of them finds the other at work and skips.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery

from portal.db import Database

SEAL_TASK = "portal.audit.seal"
BEAT_ENTRY = "audit-seal"


def register_audit_sealer(celery: Celery, database: Callable[[], tuple[Database, Any]]) -> None:
    """Add the sealing task to ``celery`` and its beat schedule entry (set when the app's
    configuration is read, from ``Settings.audit_seal_seconds``). ``database`` gives the
    worker process's database and settings."""

    @celery.task(name=SEAL_TASK, ignore_result=True, shared=False)
    def seal_audit_trail() -> int:
        from portal.oversight.sealer import seal_all

        db, settings = database()
        return seal_all(db, settings.audit_checkpoint_key)

    def schedule(sender: Celery, **_: Any) -> None:
        from portal.config import Settings

        seconds = float(Settings.load().audit_seal_seconds)
        sender.add_periodic_task(seconds, seal_audit_trail.s(), name=BEAT_ENTRY)

    celery.on_after_configure.connect(schedule, weak=False)
