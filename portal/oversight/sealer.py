"""The audit sealer: puts appended events into one order and hash-chains them, in batches.

Requests only insert events; the sealer, in the worker (the in-process worker's thread by
default, a periodic Celery task at scale), seals what is new every ``audit_seal_seconds``:
one seal row per event (its place ``seq`` and hashes) and one signed checkpoint per round,
inserted in one short transaction, never an UPDATE (the application's role may not).

Sealers do not fork the chain: on PostgreSQL a sealer that finds another one at work
(an advisory lock of the sealers only: requests never take it) skips its round; on SQLite
the round is one write transaction. ``seq`` and ``event_id`` are unique besides.

Which events are new: an event's id is allocated when it is inserted, but on PostgreSQL it
becomes visible when its transaction commits, so a lower id can appear after a higher one
was sealed; the sealer then seals it in a later round, after the higher one (the chain's
order is the seal order, not the id order). Each round therefore looks at every event
without a seal above a *horizon*: an id up to which every event is sealed or can no longer
appear. The horizon advances to the highest event id that was sealed at least
``SETTLE_SECONDS`` ago: every lower id was allocated before that, by a transaction that
has ended since (the portal's transactions last well under a second; none is held while
a page renders). An event whose transaction lasted longer would stay unsealed, and
``audit verify`` counts it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from sqlalchemy import exists, func, insert, select
from sqlalchemy.orm import Session

from portal.db import Database, utcnow
from portal.oversight.audit import GENESIS, entry_hash, event_content
from portal.oversight.checkpoints import Checkpoint, sign
from portal.oversight.models import AuditCheckpoint, AuditEvent, AuditSeal

log = logging.getLogger("portal.audit")
BATCH_SIZE = 5000
SETTLE_SECONDS = 120
_SEALER_LOCK = 804_152  # the sealers' advisory lock (PostgreSQL); no request takes it


def seal_pending(
    session: Session,
    key: str,
    *,
    now: dt.datetime | None = None,
    batch_size: int = BATCH_SIZE,
    settle_seconds: float = SETTLE_SECONDS,
) -> Checkpoint | None:
    """Seal up to ``batch_size`` events not sealed yet (in id order, after the chain's
    head) and insert a checkpoint signed with ``key``; returns it, or None when there was
    nothing to seal or another sealer is at work. Flushes; the caller commits."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql and not session.scalar(select(func.pg_try_advisory_xact_lock(_SEALER_LOCK))):
        return None
    now = now or utcnow()
    head = session.execute(
        select(AuditSeal.seq, AuditSeal.entry_hash).order_by(AuditSeal.seq.desc()).limit(1)
    ).first()
    count, prev = (head.seq, head.entry_hash) if head else (0, GENESIS)
    last = session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)
    ).first()
    horizon = last.horizon_event_id if last else 0
    sealed = exists().where(AuditSeal.event_id == AuditEvent.id)
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.id > horizon, ~sealed)
        .order_by(AuditEvent.id)
        .limit(batch_size)
    ).all()
    if not events and count == (last.sealed_count if last else 0):
        return None  # nothing new, and the head has its checkpoint
    seals = []
    for event in events:
        count += 1
        prev_hash, prev = prev, entry_hash(prev, event_content(event))
        seals.append(
            {"seq": count, "event_id": event.id, "prev_hash": prev_hash, "entry_hash": prev}
        )
    if seals:
        session.execute(insert(AuditSeal), [{**seal, "sealed_at": now} for seal in seals])
    max_event_id = max([last.max_event_id if last else 0, *(event.id for event in events)])
    settled = session.scalar(
        select(AuditCheckpoint.max_event_id)
        .where(AuditCheckpoint.created_at <= now - dt.timedelta(seconds=settle_seconds))
        .order_by(AuditCheckpoint.id.desc())
        .limit(1)
    )
    new_horizon = settled or 0
    if len(events) == batch_size:  # more to come above the last one sealed
        new_horizon = min(new_horizon, events[-1].id)
    checkpoint = Checkpoint(count, prev, now, sign(key, count, prev, now))
    row = AuditCheckpoint(
        sealed_count=count,
        head_hash=prev,
        created_at=now,
        signature=checkpoint.signature,
        max_event_id=max_event_id,
        horizon_event_id=max(horizon, new_horizon),
    )
    session.add(row)
    session.flush()
    return Checkpoint(count, prev, now, checkpoint.signature, row.id)


def seal_round(db: Database, key: str, **options: Any) -> Checkpoint | None:
    """One sealing round in its own transaction; the checkpoint is logged once committed."""
    with db.transaction() as session:
        checkpoint = seal_pending(session, key, **options)
    if checkpoint is not None:
        log.info("%s", checkpoint.log_line())
    return checkpoint


def seal_all(db: Database, key: str, *, max_rounds: int = 10_000) -> int:
    """Seal every event there is now (CLI, Celery task); returns how many rounds wrote."""
    rounds = 0
    while rounds < max_rounds and seal_round(db, key) is not None:
        rounds += 1
    return rounds


class PeriodicSealer:
    """The sealer on the in-process worker's thread: a round at most every ``interval``
    seconds; never raises (the worker's thread must live on)."""

    def __init__(self, db: Database, key: str, interval: float) -> None:
        self.db = db
        self.key = key
        self.interval = interval
        self._due = 0.0

    @classmethod
    def from_settings(cls, db: Database, settings: Any) -> PeriodicSealer:
        return cls(db, settings.audit_checkpoint_key, float(settings.audit_seal_seconds))

    def __call__(self) -> None:
        if time.monotonic() < self._due:
            return
        self._due = time.monotonic() + self.interval
        try:
            seal_all(self.db, self.key)
        except Exception as exc:  # e.g. the database restarting: the next round retries
            log.warning("audit sealing round failed: %s", type(exc).__name__)
