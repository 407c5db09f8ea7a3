"""Pruning audit events older than ``PORTAL_AUDIT_RETENTION_DAYS``, up to a signed checkpoint
that becomes the anchor of verification (docs/retention.md).

The newest checkpoint made before the cut-off, with at least one sealed event after it,
is the anchor: every event it covers was sealed, so it happened, before the cut-off. The
chain is verified first (nothing is pruned from a broken chain, which would erase the
evidence), then the events and seals up to the anchor and the checkpoints before it are
deleted; the anchor's own row stays. ``verify_chain`` then starts at the anchor: the first
remaining seal must link to its head, its signature must hold, and it must be older than
the retention period, so no one can prune events that are still within it unnoticed.

The application's PostgreSQL role may not delete from the audit tables
(``migrations/sql/app_role.sql``), so this runs as the tables' owner, from the CLI
(``flask --app wsgi retention prune-audit``), never from the worker.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from portal.oversight.audit import verify_chain
from portal.oversight.checkpoints import Checkpoint
from portal.oversight.models import AuditCheckpoint, AuditEvent, AuditSeal
from portal.retention.models import RetentionReceipt

AUDIT_EVENTS = "audit-events"
_BULK = {"synchronize_session": False}


class AuditChainBroken(Exception):
    """The chain does not verify: pruning would erase the evidence, so nothing is pruned."""

    code = "audit-chain-broken"

    def __init__(self, problem: str | None) -> None:
        super().__init__(f"{self.code}: {problem}")
        self.problem = problem


@dataclass(frozen=True)
class PruneReport:
    """What pruning removed, and the checkpoint verification now starts from."""

    events: int
    seals: int
    checkpoints: int
    anchor: Checkpoint | None
    receipt_id: int | None = None


def _anchor(session: Session, cutoff: dt.datetime) -> AuditCheckpoint | None:
    head = session.scalar(select(func.max(AuditSeal.seq)))
    start = session.scalar(select(func.min(AuditSeal.seq)))
    if head is None or start is None:
        return None
    return session.scalars(
        select(AuditCheckpoint)
        .where(
            AuditCheckpoint.created_at <= cutoff,
            AuditCheckpoint.sealed_count >= start,  # beyond today's anchor
            AuditCheckpoint.sealed_count < head,  # a sealed event stays after it
        )
        .order_by(AuditCheckpoint.sealed_count.desc(), AuditCheckpoint.id)
        .limit(1)
    ).first()


def prune_audit_events(
    session: Session, *, now: dt.datetime, retention_days: int, key: str, run_by: str
) -> PruneReport:
    """Prune the events older than ``retention_days`` up to an anchor checkpoint; adds a
    receipt when anything was pruned. Raises ``AuditChainBroken`` (nothing pruned) when
    the chain does not verify with ``key``. Flushes; the caller commits."""
    cutoff = now - dt.timedelta(days=retention_days)
    row = _anchor(session, cutoff)
    if row is None:
        return PruneReport(0, 0, 0, None)
    report = verify_chain(session, key=key, anchor_older_than=cutoff)
    if not report.ok:
        raise AuditChainBroken(report.problem)
    anchor = Checkpoint(row.sealed_count, row.head_hash, row.created_at, row.signature, row.id)
    if not anchor.valid(key):
        raise AuditChainBroken(f"{anchor.label()}: bad signature")
    covered = select(AuditSeal.event_id).where(AuditSeal.seq <= anchor.sealed)
    events = session.execute(
        delete(AuditEvent).where(AuditEvent.id.in_(covered)), execution_options=_BULK
    ).rowcount
    seals = session.execute(
        delete(AuditSeal).where(AuditSeal.seq <= anchor.sealed), execution_options=_BULK
    ).rowcount
    checkpoints = session.execute(
        delete(AuditCheckpoint).where(AuditCheckpoint.sealed_count < anchor.sealed),
        execution_options=_BULK,
    ).rowcount
    receipt = RetentionReceipt(
        ran_at=now,
        scope=AUDIT_EVENTS,
        run_by=run_by,
        total=events,
        counts={"audit_event": events, "audit_seal": seals, "audit_checkpoint": checkpoints},
        rules={
            "retention_days": retention_days,
            "occurred_before": cutoff.isoformat(),
            "anchor": {
                "sealed": anchor.sealed,
                "head": anchor.head,
                "at": anchor.at.isoformat(),
            },
        },
    )
    session.add(receipt)
    session.flush()
    return PruneReport(events, seals, checkpoints, anchor, receipt.id)
