"""The audit trail: every view and change, appended as plain rows, then sealed into one
hash chain by the sealer (``portal.oversight.sealer``) so that tampering shows.

The three tables are append-only: on PostgreSQL the application's role may only INSERT and
SELECT them (``migrations/sql/app_role.sql``). Requests insert events; the sealer inserts a
seal per event (its place in the chain and the hashes) and a signed checkpoint per round.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow


class AuditEvent(Base):
    """One logged action, as the request appended it. Never updated or deleted."""

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


Index("ix_audit_event_subject_key_occurred_at", AuditEvent.subject_key, AuditEvent.occurred_at)


class AuditSeal(Base):
    """An event's place in the chain: ``seq`` 1, 2, 3 ... in the sealer's order, and
    ``entry_hash`` = sha256(``prev_hash`` + the event's canonical content)."""

    __tablename__ = "audit_seal"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column(unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AuditCheckpoint(Base):
    """The chain's head after a sealing round, signed with a key the database does not
    hold (``PORTAL_AUDIT_CHECKPOINT_KEY``) and written to the log as well."""

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    sealed_count: Mapped[int]
    head_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # HMAC-SHA256 (hex) of sealed_count, head_hash and created_at.
    signature: Mapped[str] = mapped_column(String(64))
    # Where the sealer's next scan may start (not signed: it only saves work). The
    # highest event id sealed so far, and an id up to which every event is sealed.
    max_event_id: Mapped[int]
    horizon_event_id: Mapped[int]
