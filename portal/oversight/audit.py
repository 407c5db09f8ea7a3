"""Writing and verifying the tamper-evident audit trail.

Each event's hash covers the previous event's hash, so removing or editing a row breaks
the chain from that point on (``verify_chain``). Writers are serialised on PostgreSQL
with a transaction-scoped advisory lock (SQLite serialises writers already), so the chain
never forks under concurrent requests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session

from portal.canonical import canonical_json
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


def _canonical(row: Mapping[str, Any]) -> bytes:
    """The hashed content of an event (a row of values or an ``AuditEvent`` via ``_row``)."""
    body = {
        "occurred_at": row["occurred_at"].astimezone(dt.UTC).isoformat(),
        "actor_kind": row["actor_kind"],
        "actor_ref": row["actor_ref"],
        "actor_role": row["actor_role"],
        "action": row["action"],
        "purpose": row["purpose"],
        "decision_public_id": row["decision_public_id"],
        "subject_key": row["subject_key"],
        "details": row["details"],
    }
    return canonical_json(body).encode()


def _entry_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + _canonical(row)).hexdigest()


def _row(event: AuditEvent) -> dict[str, Any]:
    return {column: getattr(event, column) for column in _COLUMNS}


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
    """Append one event to the chain (inserted now, committed with the caller's transaction);
    the returned event carries its id but is not attached to the session."""
    pending = PendingEvent(actor, action, purpose, decision_public_id, subject_key, details)
    (row,) = _chained_rows(session, [pending])
    event_id = session.execute(insert(_TABLE).returning(_TABLE.c.id), row).scalar_one()
    return AuditEvent(id=event_id, **row)


def record_events(session: Session, pending: Sequence[PendingEvent]) -> None:
    """Append several events to the chain in order: one chain-head read, one executemany.

    Plain rows and no RETURNING: on SQLite an ordered RETURNING would insert one row per
    statement, and nothing needs the new ids.
    """
    if pending:
        session.execute(insert(_TABLE), _chained_rows(session, pending))


def _chained_rows(session: Session, pending: Sequence[PendingEvent]) -> list[dict[str, Any]]:
    """The rows of ``pending``, each hashed over the one before, after the chain's head."""
    session.flush()  # events added through the ORM go first, so the chain stays linear
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
    prev = session.scalar(_CHAIN_HEAD) or GENESIS
    now = utcnow()
    rows = []
    for item in pending:
        row: dict[str, Any] = {
            "occurred_at": now,
            "actor_kind": item.actor.kind,
            "actor_ref": item.actor.ref,
            "actor_role": item.actor.role,
            "action": item.action,
            "purpose": item.purpose,
            "decision_public_id": item.decision_public_id,
            "subject_key": item.subject_key,
            "details": item.details or {},
            "prev_hash": prev,
        }
        row["entry_hash"] = prev = _entry_hash(prev, row)
        rows.append(row)
    return rows


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


_TABLE = cast(Table, AuditEvent.__table__)
_CHAIN_HEAD = select(_TABLE.c.entry_hash).order_by(_TABLE.c.id.desc()).limit(1)


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
            if event.prev_hash != prev or _entry_hash(prev, _row(event)) != event.entry_hash:
                return ChainReport(ok=False, checked=checked, first_broken_id=event.id)
            prev = event.entry_hash
            checked += 1
            last_id = event.id
