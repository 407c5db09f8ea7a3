"""Running the supervision jobs from the in-process worker's thread (``PeriodicSupervision``,
like the audit sealer and retention); with Celery they are beat tasks
(``portal.supervision.tasks``)."""

from __future__ import annotations

import logging
import time
from typing import Any

from portal.db import Database
from portal.supervision.aggregates import aggregate_all

log = logging.getLogger("portal.supervision")


class PeriodicSupervision:
    """The aggregation job and the audit chain's verification on the in-process worker's
    thread, each at most every so many seconds; never raises."""

    def __init__(self, db: Database, settings: Any) -> None:
        self.db = db
        self.settings = settings
        self._due = {"aggregate": 0.0, "verify": 0.0}

    def __call__(self) -> None:
        from portal.supervision.chain import record_chain_check

        now = time.monotonic()
        jobs = (
            ("aggregate", float(self.settings.supervision_aggregate_seconds), self._aggregate),
            ("verify", float(self.settings.supervision_verify_seconds), self._verify),
        )
        for name, interval, job in jobs:
            if now < self._due[name]:
                continue
            self._due[name] = now + interval
            try:
                job(record_chain_check)
            except Exception as exc:  # the next round retries
                log.warning("supervision %s failed: %s", name, type(exc).__name__)

    def _aggregate(self, _: Any) -> None:
        aggregate_all(self.db, min_group_size=self.settings.supervision_min_group_size)

    def _verify(self, record_chain_check: Any) -> None:
        record_chain_check(self.db, self.settings.audit_checkpoint_key)
