"""Running retention from the worker: a round in its own transaction, on the in-process
worker's thread (``PeriodicRetention``, like the audit sealer) or as a Celery beat task
(``portal.retention.tasks``). Only personal data: pruning audit events needs the audit
tables' owner (``portal.retention.audit``), so it is a CLI command."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from portal.db import Database, utcnow
from portal.oversight.audit import Actor
from portal.retention.services import RetentionReport, delete_expired

log = logging.getLogger("portal.retention")
RETENTION_WORKER = Actor(kind="worker", ref="retention", role="worker")


def retention_round(
    db: Database, *, run_by: str, actor: Actor = RETENTION_WORKER, now: dt.datetime | None = None
) -> RetentionReport:
    """Delete expired personal data in one transaction; logs the counts (no personal data)."""
    with db.transaction() as session:
        report = delete_expired(session, now=now or utcnow(), actor=actor, run_by=run_by)
    if report.total:
        log.info("retention deleted %s (receipt %s)", report.counts, report.receipt_id)
    return report


class PeriodicRetention:
    """Retention on the in-process worker's thread: a round at most every ``interval``
    seconds; never raises (the worker's thread must live on)."""

    def __init__(self, db: Database, interval: float) -> None:
        self.db = db
        self.interval = interval
        self._due = 0.0

    @classmethod
    def from_settings(cls, db: Database, settings: Any) -> PeriodicRetention:
        return cls(db, float(settings.retention_interval_seconds))

    def __call__(self) -> None:
        if time.monotonic() < self._due:
            return
        self._due = time.monotonic() + self.interval
        try:
            retention_round(self.db, run_by="worker")
        except Exception as exc:  # e.g. the database restarting: the next round retries
            log.warning("retention round failed: %s", type(exc).__name__)
