"""The audit trail: plain appended rows, sealed into a hash chain with signed checkpoints;
every kind of tampering is named by ``verify_chain``."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from sqlalchemy import delete, event, select, text
from sqlalchemy.orm import Session

from portal.oversight.audit import (
    GENESIS,
    Actor,
    PendingEvent,
    entry_hash,
    event_content,
    record_event,
    record_events,
    verify_chain,
)
from portal.oversight.checkpoints import Checkpoint, sign
from portal.oversight.models import AuditCheckpoint, AuditEvent, AuditSeal
from portal.oversight.sealer import seal_pending, seal_round

KEY = "test-audit-checkpoint-key-0123456789abcdef"
CITIZEN = Actor(kind="citizen", ref="self", role="citizen")


def append(session: Session, n: int, start: int = 0) -> list[int]:
    return [
        record_event(
            session,
            CITIZEN,
            "decision.viewed",
            purpose="own-case",
            decision_public_id=f"d{i}",
            subject_key="k" * 64,
            details={"n": i},
        ).id
        for i in range(start, start + n)
    ]


def seal(session: Session, **options) -> Checkpoint:
    checkpoint = seal_pending(session, KEY, **options)
    assert checkpoint is not None
    return checkpoint


def verify(session: Session, **options):
    session.expire_all()
    return verify_chain(session, key=KEY, **options)


def assert_broken(session: Session, event_id: int | None, words: str, **options):
    """Verify, and assert that the first break is at ``event_id`` and says ``words``."""
    report = verify(session, **options)
    assert not report.ok
    assert report.first_broken_id == event_id
    assert words in report.problem, report.problem
    return report


def seal_of(session: Session, event_id: int) -> AuditSeal:
    return session.scalars(select(AuditSeal).where(AuditSeal.event_id == event_id)).one()


def test_appending_is_one_insert_no_chain_head_no_lock(session: Session) -> None:
    sent: list[str] = []

    def remember(_conn, _cursor, statement, *_args) -> None:
        sent.append(statement)

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", remember)
    try:
        append(session, 1)
        record_events(session, [PendingEvent(CITIZEN, "x.y", "own-case")] * 3)
    finally:
        event.remove(connection, "before_cursor_execute", remember)
    assert len(sent) == 2
    assert all(s.lstrip().upper().startswith("INSERT INTO AUDIT_EVENT") for s in sent)


def test_sealing_chains_the_events_and_verifies(session: Session) -> None:
    ids = append(session, 3)
    checkpoint = seal(session)
    seals = [seal_of(session, i) for i in ids]
    assert [s.seq for s in seals] == [
        checkpoint.sealed - 2,
        checkpoint.sealed - 1,
        checkpoint.sealed,
    ]
    if checkpoint.sealed == 3:
        assert seals[0].prev_hash == GENESIS
    assert seals[1].prev_hash == seals[0].entry_hash
    assert seals[2].prev_hash == seals[1].entry_hash
    assert checkpoint.head == seals[2].entry_hash
    assert checkpoint.valid(KEY)
    report = verify(session)
    assert report.ok, report.problem
    assert report.checked == checkpoint.sealed
    assert report.unsealed == 0
    assert report.checkpoints >= 1
    assert report.uncovered == 0
    assert seal_pending(session, KEY) is None  # nothing new: no empty checkpoint


def test_unsealed_events_are_counted_and_do_not_break_the_chain(session: Session) -> None:
    append(session, 2)
    seal(session)
    append(session, 3, start=2)
    report = verify(session)
    assert report.ok
    assert report.unsealed == 3


def remove(session: Session, event_ids: list[int], *, seals: bool = True) -> None:
    """Delete events (and, as a careful tamperer would, their seals)."""
    session.execute(delete(AuditEvent).where(AuditEvent.id.in_(event_ids)))
    if seals:
        session.execute(delete(AuditSeal).where(AuditSeal.event_id.in_(event_ids)))


def _edit(session: Session, event_id: int) -> None:
    session.execute(
        text("UPDATE audit_event SET purpose = 'casework' WHERE id = :id"), {"id": event_id}
    )


@pytest.mark.parametrize(
    ("tamper", "broken", "words"),
    [
        pytest.param(_edit, 1, "edited", id="edited event"),
        pytest.param(lambda s, i: remove(s, [i], seals=False), 1, "missing", id="deleted event"),
        pytest.param(lambda s, i: remove(s, [i]), 2, "missing", id="deleted event and seal"),
    ],
)
def test_a_changed_or_deleted_event_is_detected(session: Session, tamper, broken, words) -> None:
    ids = append(session, 3)
    seal(session)
    tamper(session, ids[1])
    report = verify(session)
    assert not report.ok
    assert report.first_broken_id == ids[broken]
    assert words in report.problem


def test_the_newest_events_deleted_with_their_seals_are_detected(session: Session) -> None:
    ids = append(session, 5)
    checkpoint = seal(session)
    remove(session, ids[-2:])
    report = verify(session)
    assert not report.ok
    assert report.checked == checkpoint.sealed - 2
    assert "removed" in report.problem
    assert str(checkpoint.sealed) in report.problem


def test_removing_the_newest_checkpoints_too_is_caught_by_a_logged_checkpoint(
    session: Session,
) -> None:
    append(session, 3)
    seal(session)
    ids = append(session, 2, start=3)
    logged = seal(session)
    line = logged.log_line()
    remove(session, ids)
    session.execute(delete(AuditCheckpoint).where(AuditCheckpoint.id == logged.id))
    assert verify(session).ok  # what the database alone can still show ...
    report = verify(session, checkpoints=[Checkpoint.from_log_line(f"INFO:portal.audit:{line}")])
    assert not report.ok  # ... and what the copy in the log shows
    assert "removed" in report.problem


def test_two_swapped_events_are_detected(session: Session) -> None:
    ids = append(session, 3)
    seal(session)
    a, b = session.get(AuditEvent, ids[1]), session.get(AuditEvent, ids[2])
    for column in ("decision_public_id", "details"):  # every column that differs
        first, second = getattr(a, column), getattr(b, column)
        setattr(a, column, second)
        setattr(b, column, first)
    session.flush()
    report = verify(session)
    assert not report.ok
    assert report.first_broken_id == ids[1]


def test_two_swapped_seals_are_detected(session: Session) -> None:
    ids = append(session, 3)
    seal(session)
    a, b = seal_of(session, ids[1]), seal_of(session, ids[2])
    session.execute(text("UPDATE audit_seal SET event_id = -1 WHERE seq = :s"), {"s": a.seq})
    session.execute(
        text("UPDATE audit_seal SET event_id = :e WHERE seq = :s"), {"e": ids[1], "s": b.seq}
    )
    session.execute(
        text("UPDATE audit_seal SET event_id = :e WHERE seq = :s"), {"e": ids[2], "s": a.seq}
    )
    report = verify(session)
    assert not report.ok
    assert report.first_broken_id == ids[2]


def _event(event_id: int | None = None) -> AuditEvent:
    """A forged or out-of-order event (an id of its own, or the next one)."""
    return AuditEvent(
        id=event_id,
        occurred_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
        actor_kind="worker",
        actor_ref="w",
        actor_role="worker",
        action="a.b",
        purpose="p",
        details={},
    )


def _slip_in(session: Session, after: AuditSeal, *, rewrite: bool) -> int:
    """Insert a forged event and its seal right after ``after``, moving the later seals up
    one place; with ``rewrite``, every later hash is recomputed too (a careful forger)."""
    forged = _event()
    session.add(forged)
    session.flush()
    # (two steps: the primary key stays unique at every row)
    session.execute(
        text("UPDATE audit_seal SET seq = seq + 100000 WHERE seq > :s"), {"s": after.seq}
    )
    session.execute(text("UPDATE audit_seal SET seq = seq - 99999 WHERE seq > 100000"))
    forged_hash = entry_hash(after.entry_hash, event_content(forged))
    session.add(
        AuditSeal(
            seq=after.seq + 1,
            event_id=forged.id,
            prev_hash=after.entry_hash,
            entry_hash=forged_hash,
            sealed_at=after.sealed_at,
        )
    )
    session.flush()
    if rewrite:
        prev = forged_hash
        later = session.scalars(
            select(AuditSeal).where(AuditSeal.seq > after.seq + 1).order_by(AuditSeal.seq)
        ).all()
        for row in later:
            original = session.get(AuditEvent, row.event_id)
            row.prev_hash, row.entry_hash = prev, entry_hash(prev, event_content(original))
            prev = row.entry_hash
        session.flush()
    return forged.id


def test_a_forged_event_slipped_into_the_middle_is_detected(session: Session) -> None:
    ids = append(session, 4)
    seal(session)
    _slip_in(session, seal_of(session, ids[1]), rewrite=False)
    assert_broken(session, ids[2], "link")


def test_a_forged_event_with_the_chain_rewritten_after_it_is_caught_by_a_checkpoint(
    session: Session,
) -> None:
    append(session, 2)
    seal(session)
    ids = append(session, 4, start=2)
    seal(session)
    _slip_in(session, seal_of(session, ids[1]), rewrite=True)
    # the break lies after the last checkpoint that still matches
    assert_broken(session, ids[0], "checkpoint")


def test_a_checkpoint_with_a_bad_signature_is_detected(session: Session) -> None:
    append(session, 2)
    checkpoint = seal(session)
    at = checkpoint.at + dt.timedelta(seconds=1)
    forged = sign("another-key-0123456789abcdefghijklmnop", checkpoint.sealed, checkpoint.head, at)
    session.add(
        AuditCheckpoint(
            sealed_count=checkpoint.sealed,
            head_hash=checkpoint.head,
            created_at=at,
            signature=forged,
            max_event_id=0,
            horizon_event_id=0,
        )
    )
    session.flush()
    report = verify(session)
    assert not report.ok
    assert "signature" in report.problem
    session.expire_all()
    assert verify_chain(session).ok  # without the key only counts and heads are checked


def test_a_late_committed_event_below_the_head_is_sealed_after_it(session: Session) -> None:
    (high,) = append(session, 1)
    session.add(_event(high + 50))
    session.flush()
    seal(session)
    session.add(_event(high + 10))  # as if its transaction committed after the sealing
    session.flush()
    seal(session)
    assert seal_of(session, high + 10).seq == seal_of(session, high + 50).seq + 1
    report = verify(session)
    assert report.ok
    assert report.unsealed == 0


def _horizon(session: Session) -> int:
    row = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc())).first()
    return row.horizon_event_id


def test_the_horizon_advances_only_past_settled_checkpoints(session: Session) -> None:
    t0 = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    append(session, 2)
    seal(session, now=t0)
    first = _horizon(session)
    (third,) = append(session, 1, start=2)
    seal(session, now=t0 + dt.timedelta(seconds=10), settle_seconds=120)
    assert _horizon(session) == first  # nothing sealed 120 s ago yet
    append(session, 1, start=3)
    seal(session, now=t0 + dt.timedelta(seconds=200), settle_seconds=120)
    # the round of t0 + 10 s is settled: every id up to the highest it sealed is sealed
    assert _horizon(session) == third
    assert verify(session).ok


def test_a_sealing_round_logs_its_checkpoint_without_personal_data(app, connection, caplog):
    from portal.db_session import get_db

    with get_db(app).transaction() as session:
        append(session, 2)
    with caplog.at_level(logging.INFO, logger="portal.audit"):
        checkpoint = seal_round(get_db(app), KEY)
    assert checkpoint is not None
    lines = [r.getMessage() for r in caplog.records if r.name == "portal.audit"]
    assert lines == [checkpoint.log_line()]
    assert "k" * 64 not in lines[0]
    parsed = Checkpoint.from_log_line(lines[0])
    assert (parsed.sealed, parsed.head, parsed.at) == (
        checkpoint.sealed,
        checkpoint.head,
        checkpoint.at,
    )
    assert parsed.valid(KEY)


@pytest.mark.parametrize("line", ["", "audit-checkpoint {}", 'audit-checkpoint {"sealed": 1}'])
def test_a_malformed_checkpoint_line_is_refused(line: str) -> None:
    with pytest.raises(ValueError, match="checkpoint"):
        Checkpoint.from_log_line(line)
