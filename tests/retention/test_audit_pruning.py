"""Pruning old audit events up to a signed checkpoint, which becomes the anchor of
verification: the chain still verifies after pruning, and pruning too early, pruning
without an anchor or tampering after it are still found."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from portal.oversight.audit import Actor, record_event, verify_chain
from portal.oversight.models import AuditCheckpoint, AuditEvent, AuditSeal
from portal.oversight.sealer import seal_pending
from portal.retention.audit import AuditChainBroken, prune_audit_events
from portal.retention.models import RetentionReceipt

KEY = "test-audit-checkpoint-key-0123456789abcdef"
CITIZEN = Actor(kind="citizen", ref="self", role="citizen")
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NOW = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
DAYS = 200  # cut-off: 2026-06-15


def rounds(session: Session, months: list[int], per_round: int = 3) -> list[list[int]]:
    """A sealing round of ``per_round`` events in each month of 2026 in ``months``."""
    ids = []
    for month in months:
        batch = [
            record_event(
                session, CITIZEN, "decision.viewed", purpose="own-case", subject_key="k" * 64
            ).id
            for _ in range(per_round)
        ]
        assert seal_pending(session, KEY, now=START.replace(month=month)) is not None
        ids.append(batch)
    return ids


def prune(session: Session, now: dt.datetime = NOW, days: int = DAYS):
    report = prune_audit_events(session, now=now, retention_days=days, key=KEY, run_by="test")
    session.expire_all()
    return report


def verify(session: Session, older_than: dt.datetime = NOW - dt.timedelta(days=DAYS)):
    session.expire_all()
    return verify_chain(session, key=KEY, anchor_older_than=older_than)


def count(session: Session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_prunes_up_to_the_newest_checkpoint_before_the_cutoff(session) -> None:
    ids = rounds(session, [1, 3, 5, 8, 11])  # cut-off falls between May and August
    report = prune(session)
    assert (report.events, report.seals) == (9, 9)
    assert report.anchor.sealed == 9
    assert report.checkpoints == 2  # January's and March's; May's is the anchor
    remaining = set(session.scalars(select(AuditEvent.id)))
    assert remaining == set(ids[3] + ids[4])
    result = verify(session)
    assert result.ok, result.problem
    assert result.pruned == 9
    assert result.checked == 6
    receipt = session.get(RetentionReceipt, report.receipt_id)
    assert receipt.scope == "audit-events"
    assert receipt.counts == {"audit_event": 9, "audit_seal": 9, "audit_checkpoint": 2}
    assert receipt.rules["anchor"]["sealed"] == 9
    assert "k" * 64 not in str(receipt.rules)


def test_a_second_prune_removes_nothing(session) -> None:
    rounds(session, [1, 3, 8])
    assert prune(session).events == 6
    again = prune(session)
    assert again.anchor is None
    assert again.events == 0
    assert count(session, RetentionReceipt) == 1
    assert verify(session).ok


def test_the_newest_sealed_event_is_never_pruned(session) -> None:
    rounds(session, [1, 2])  # both rounds before the cut-off
    report = prune(session)
    assert report.anchor.sealed == 3  # January's: February's events are the chain's head
    assert count(session, AuditSeal) == 3
    assert verify(session).ok


def test_sealing_and_verifying_go_on_after_pruning(session) -> None:
    rounds(session, [1, 3, 8])
    prune(session)
    record_event(session, CITIZEN, "decision.viewed", purpose="own-case")
    checkpoint = seal_pending(session, KEY, now=NOW)
    assert checkpoint is not None
    assert checkpoint.sealed == 10
    result = verify(session)
    assert result.ok, result.problem
    assert result.checked == 4


def test_tampering_after_pruning_is_still_found(session) -> None:
    ids = rounds(session, [1, 3, 8])
    prune(session)
    session.execute(update(AuditEvent).where(AuditEvent.id == ids[2][1]).values(purpose="forged"))
    result = verify(session)
    assert not result.ok
    assert result.first_broken_id == ids[2][1]
    assert "edited" in result.problem


def test_deleting_old_events_without_an_anchor_is_found(session) -> None:
    ids = rounds(session, [1, 3, 8])
    prune(session)
    first = ids[2][:1]
    session.execute(delete(AuditSeal).where(AuditSeal.event_id.in_(first)))
    session.execute(delete(AuditEvent).where(AuditEvent.id.in_(first)))
    result = verify(session)
    assert not result.ok
    assert "no checkpoint of 7 events anchors" in result.problem


def test_deleting_events_still_within_the_retention_period_is_found(session) -> None:
    rounds(session, [1, 3, 8, 11])
    # someone with database access removes everything up to August's checkpoint
    august = session.scalar(
        select(AuditCheckpoint.sealed_count).order_by(AuditCheckpoint.id).offset(2).limit(1)
    )
    covered = select(AuditSeal.event_id).where(AuditSeal.seq <= august)
    session.execute(delete(AuditEvent).where(AuditEvent.id.in_(covered)))
    session.execute(delete(AuditSeal).where(AuditSeal.seq <= august))
    result = verify(session)
    assert not result.ok
    assert "before the audit retention period had passed" in result.problem


def test_a_broken_chain_is_not_pruned(session) -> None:
    ids = rounds(session, [1, 3, 8])
    session.execute(update(AuditEvent).where(AuditEvent.id == ids[0][0]).values(purpose="forged"))
    before = count(session, AuditEvent)
    with pytest.raises(AuditChainBroken, match="edited"):
        prune(session)
    assert count(session, AuditEvent) == before
    assert count(session, RetentionReceipt) == 0


def test_a_forged_anchor_is_found(session) -> None:
    rounds(session, [1, 3, 8])
    prune(session)
    session.execute(update(AuditCheckpoint).values(signature="0" * 64))
    result = verify(session)
    assert not result.ok
    assert "bad signature" in result.problem
