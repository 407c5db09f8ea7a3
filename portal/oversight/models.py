"""The audit trail: every view and change, chained by hashes so tampering shows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow


class AuditEvent(Base):
    """One logged action. Never updated or deleted (except by the retention job, which
    logs that it did). ``entry_hash`` = sha256(previous hash + canonical event)."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # citizen | staff | system | public | worker | admin
    actor_kind: Mapped[str] = mapped_column(String(20))
    # Opaque reference: staff principal id, system name, "self" for the citizen; no names.
    actor_ref: Mapped[str] = mapped_column(String(200))
    actor_role: Mapped[str] = mapped_column(String(30))
    action: Mapped[str] = mapped_column(String(60))  # e.g. decision.viewed
    purpose: Mapped[str] = mapped_column(String(60))  # e.g. own-case, casework, audit
    # Kept as plain references so the event outlives the decision's retention.
    decision_public_id: Mapped[str | None] = mapped_column(String(32), index=True)
    subject_key: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


Index("ix_audit_event_subject_key_occurred_at", AuditEvent.subject_key, AuditEvent.occurred_at)
