"""The audit trail is a hash chain: editing or deleting an event is detected."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from portal.oversight.audit import GENESIS, Actor, record_event, verify_chain
from portal.oversight.models import AuditEvent

CITIZEN = Actor(kind="citizen", ref="self", role="citizen")


def _three_events(session: Session) -> list[AuditEvent]:
    return [
        record_event(
            session,
            CITIZEN,
            "decision.viewed",
            purpose="own-case",
            decision_public_id=f"d{i}",
            subject_key="k" * 64,
            details={"n": i},
        )
        for i in range(3)
    ]


def test_events_chain_to_each_other(session: Session) -> None:
    start = session.query(AuditEvent).count()
    events = _three_events(session)
    if start == 0:
        assert events[0].prev_hash == GENESIS
    assert events[1].prev_hash == events[0].entry_hash
    assert events[2].prev_hash == events[1].entry_hash
    assert verify_chain(session).ok


def test_an_edited_event_breaks_the_chain(session: Session) -> None:
    events = _three_events(session)
    session.execute(
        text("UPDATE audit_event SET purpose = 'casework' WHERE id = :id"), {"id": events[1].id}
    )
    session.expire_all()
    report = verify_chain(session)
    assert not report.ok
    assert report.first_broken_id == events[1].id


def test_a_deleted_event_breaks_the_chain(session: Session) -> None:
    events = _three_events(session)
    session.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": events[1].id})
    session.expire_all()
    report = verify_chain(session)
    assert not report.ok
    assert report.first_broken_id == events[2].id
