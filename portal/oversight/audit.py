"""Writing and verifying the tamper-evident audit trail.

Each event's hash covers the previous event's hash, so removing or editing a row breaks
the chain from that point on (``verify_chain``). Writers are serialised on PostgreSQL
with a transaction-scoped advisory lock (SQLite serialises writers already), so the chain
never forks under concurrent requests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Table, insert, select, text
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.oversight.models import AuditEvent

GENESIS = "0" * 64
_ADVISORY_LOCK_ID = 804_151  # any constant unique to the audit chain


@dataclass(frozen=True)
class Actor:
    """Who acted. ``ref`` is opaque (staff id, system name, "self"); never a name or CPR."""

    kind: str  # citizen | staff | system | public | worker | admin
    ref: str
    role: str


WORKER = Actor(kind="worker", ref="explanation-worker", role="worker")


def _canonical(event: AuditEvent) -> bytes:
    body = {
        "occurred_at": event.occurred_at.astimezone(dt.UTC).isoformat(),
        "actor_kind": event.actor_kind,
        "actor_ref": event.actor_ref,
        "actor_role": event.actor_role,
        "action": event.action,
        "purpose": event.purpose,
        "decision_public_id": event.decision_public_id,
        "subject_key": event.subject_key,
        "details": event.details,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _entry_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + _canonical(event)).hexdigest()


@dataclass(frozen=True)
class PendingEvent:
    """One event to append with ``record_events``."""

    actor: Actor
    action: str
    purpose: str
    decision_public_id: str | None = None
    subject_key: str | None = None
    details: dict[str, Any] | None = None


def record_event(
    session: Session,
    actor: Actor,
    action: str,
    *,
    purpose: str,
    decision_public_id: str | None = None,
    subject_key: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain (inserted now, committed with the caller's transaction)."""
    pending = PendingEvent(actor, action, purpose, decision_public_id, subject_key, details)
    return record_events(session, [pending])[0]


def record_events(session: Session, pending: Sequence[PendingEvent]) -> list[AuditEvent]:
    """Append several events to the chain in order, with one chain-head read and one insert.

    The events are inserted with Core (no unit-of-work flush); the returned objects carry
    the stored values and ids but are not attached to the session.
    """
    if not pending:
        return []
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
    # (an ORM query: pending ORM-added events are flushed first, so the chain stays linear)
    prev = session.scalar(_CHAIN_HEAD) or GENESIS
    events: list[AuditEvent] = []
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for item in pending:
        event = AuditEvent(
            occurred_at=now,
            actor_kind=item.actor.kind,
            actor_ref=item.actor.ref,
            actor_role=item.actor.role,
            action=item.action,
            purpose=item.purpose,
            decision_public_id=item.decision_public_id,
            subject_key=item.subject_key,
            details=item.details or {},
            prev_hash=prev,
            entry_hash="",
        )
        event.entry_hash = prev = _entry_hash(event.prev_hash, event)
        events.append(event)
        rows.append({column: getattr(event, column) for column in _COLUMNS})
    if len(rows) == 1:
        result = cast(CursorResult[Any], session.connection().execute(_INSERT, rows[0]))
        key = result.inserted_primary_key
        assert key is not None
        events[0].id = key[0]
    else:
        ids = session.execute(_INSERT_RETURNING, rows).scalars()
        for event, event_id in zip(events, ids, strict=True):
            event.id = event_id
    return events


_COLUMNS = (
    "occurred_at",
    "actor_kind",
    "actor_ref",
    "actor_role",
    "action",
    "purpose",
    "decision_public_id",
    "subject_key",
    "details",
    "prev_hash",
    "entry_hash",
)


# Built once (the decision webhook appends an event per request).
_TABLE = cast(Table, AuditEvent.__table__)
_CHAIN_HEAD = select(AuditEvent.entry_hash).order_by(AuditEvent.id.desc()).limit(1)
_INSERT = insert(_TABLE)
_INSERT_RETURNING = insert(_TABLE).returning(_TABLE.c.id, sort_by_parameter_order=True)


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_broken_id: int | None = None


def verify_chain(session: Session, batch_size: int = 5000) -> ChainReport:
    """Recompute every hash in order; report the first event where the chain breaks."""
    prev = GENESIS
    checked = 0
    last_id = 0
    while True:
        rows = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.id > last_id)
            .order_by(AuditEvent.id)
            .limit(batch_size)
        ).all()
        if not rows:
            return ChainReport(ok=True, checked=checked)
        for event in rows:
            if event.prev_hash != prev or _entry_hash(prev, event) != event.entry_hash:
                return ChainReport(ok=False, checked=checked, first_broken_id=event.id)
            prev = event.entry_hash
            checked += 1
            last_id = event.id
