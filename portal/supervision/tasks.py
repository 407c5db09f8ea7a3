"""Celery: the supervision aggregation job and the audit chain's verification as periodic
tasks (``celery -A portal.decisions.tasks beat`` sends them; any worker runs them). Two
aggregation runs at once are harmless: one finds the other at work and skips."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery

from portal.db import Database

AGGREGATE_TASK = "portal.supervision.aggregate"
VERIFY_TASK = "portal.supervision.verify"


def register_supervision(celery: Celery, database: Callable[[], tuple[Database, Any]]) -> None:
    """Add both tasks to ``celery`` with their beat entries (every
    ``supervision_aggregate_seconds`` and ``supervision_verify_seconds``)."""

    @celery.task(name=AGGREGATE_TASK, ignore_result=True, shared=False)
    def aggregate() -> int:
        from portal.supervision.aggregates import aggregate_all

        db, settings = database()
        return aggregate_all(db, min_group_size=settings.supervision_min_group_size)

    @celery.task(name=VERIFY_TASK, ignore_result=True, shared=False)
    def verify() -> bool:
        from portal.supervision.chain import record_chain_check

        db, settings = database()
        return record_chain_check(db, settings.audit_checkpoint_key).ok

    def schedule(sender: Celery, **_: Any) -> None:
        from portal.config import Settings

        settings = Settings.load()
        sender.add_periodic_task(
            float(settings.supervision_aggregate_seconds),
            aggregate.s(),
            name="supervision-aggregate",
        )
        sender.add_periodic_task(
            float(settings.supervision_verify_seconds), verify.s(), name="supervision-verify"
        )

    celery.on_after_configure.connect(schedule, weak=False)
