"""The deletion receipt: what the retention run deleted, when and how many. No personal
data: table names, counts, model names and versions, periods and cut-off times."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow


class RetentionReceipt(Base):
    """One retention run that deleted something (a run that finds nothing writes none)."""

    __tablename__ = "retention_receipt"

    id: Mapped[int] = mapped_column(primary_key=True)
    ran_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # personal-data (decisions and what hangs on them) | audit-events (pruned to an anchor)
    scope: Mapped[str] = mapped_column(String(20))
    # who ran it: cli | worker | celery
    run_by: Mapped[str] = mapped_column(String(20))
    total: Mapped[int]
    # rows deleted (or emptied) per table, e.g. {"decision": 12, "explanation": 12, ...}
    counts: Mapped[dict[str, Any]]
    # the rules applied: per model version its period and cut-off; for audit events the
    # anchor checkpoint (count, head hash, time) verification now starts from
    rules: Mapped[dict[str, Any]]
