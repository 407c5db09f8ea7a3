"""Deleting expired decisions and everything tied to them: exactly the expired rows, a
receipt without personal data, nothing on a second run, and the audit chain intact."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.cases.models import CitizenRequest
from portal.decisions.models import Decision, Delivery, Explanation, Job
from portal.letters.models import LetterAttachment, OversightRecord
from portal.oversight.audit import Actor, record_event, verify_chain
from portal.oversight.models import AuditEvent
from portal.oversight.sealer import seal_pending
from portal.retention.models import RetentionReceipt
from portal.retention.services import delete_expired
from tests.retention.conftest import CPR, NOW, manifest

KEY = "test-audit-checkpoint-key-0123456789abcdef"
ADMIN = Actor(kind="admin", ref="cli", role="admin")
TABLES = (Decision, Explanation, Job, CitizenRequest, OversightRecord, LetterAttachment)


def count(session: Session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def run(session: Session, now: dt.datetime = NOW):
    report = delete_expired(session, now=now, actor=ADMIN, run_by="test")
    session.expire_all()
    return report


@pytest.fixture
def versions(session, model_version_factory):
    return {
        "short": model_version_factory(session, manifest("kort", 30)),
        "long": model_version_factory(session, manifest("lang", 365)),
        "none": model_version_factory(session, manifest("uden", None)),
    }


def test_exactly_the_expired_decisions_go_with_everything_tied_to_them(
    session, versions, full_decision
) -> None:
    expired = [
        full_decision(versions["short"], 31),
        full_decision(versions["long"], 400),
        full_decision(versions["none"], 10, delete_after=NOW - dt.timedelta(seconds=1)),
    ]
    kept = [
        full_decision(versions["short"], 29),
        full_decision(versions["long"], 364),
        full_decision(versions["none"], 4000),  # no period: kept
        full_decision(versions["short"], 10, delete_after=NOW + dt.timedelta(days=1)),
        full_decision(versions["short"], 90, request_status="in-progress"),  # still waiting
    ]
    before = {model: count(session, model) for model in TABLES}
    gone = [(d.id, d.delivery_key) for d in expired]
    stay = [(d.id, d.delivery_key, d.public_id) for d in kept]
    report = run(session)
    assert report.counts == {
        "decision": 3,
        "explanation": 3,
        "job": 3,
        "citizen_request": 3,
        "oversight_record": 3,
        "letter_attachment": 3,
        "delivery_answer": 3,
    }
    remaining = set(session.scalars(select(Decision.id)))
    assert remaining >= {i for i, _, _ in stay}
    assert not remaining & {i for i, _ in gone}
    for model in TABLES:
        assert count(session, model) == before[model] - 3, model
    for model in TABLES[1:]:
        assert not session.scalar(
            select(func.count())
            .select_from(model)
            .where(model.decision_id.in_([i for i, _ in gone]))
        )

    def answer(key: str):
        return session.scalar(select(Delivery.response).where(Delivery.webhook_id == key))

    assert all(answer(key) == {"status": "deleted"} for _, key in gone)
    assert all(answer(key)["id"] == public_id for _, key, public_id in stay)


def test_a_second_run_deletes_nothing_and_writes_no_receipt(
    session, versions, full_decision
) -> None:
    full_decision(versions["short"], 31)
    first = run(session)
    assert first.total == 7
    assert first.receipt_id is not None
    second = run(session)
    assert second.counts == {}
    assert second.receipt_id is None
    assert count(session, RetentionReceipt) == 1


def test_the_waiting_request_keeps_its_decision_until_answered(
    session, versions, full_decision
) -> None:
    waiting = full_decision(versions["short"], 90, request_status="received")
    assert run(session).total == 0
    session.execute(
        CitizenRequest.__table__.update()
        .where(CitizenRequest.decision_id == waiting.id)
        .values(status="answered")
    )
    assert run(session).counts["decision"] == 1


def test_the_receipt_holds_no_personal_data(session, versions, full_decision) -> None:
    decisions = [full_decision(versions["short"], 31 + i) for i in range(3)]
    personal = [
        (CPR, d.subject_key, d.public_id, d.case_reference, d.delivery_key) for d in decisions
    ]
    report = run(session)
    receipt = session.get(RetentionReceipt, report.receipt_id)
    assert receipt.scope == "personal-data"
    assert receipt.total == report.total == 21
    assert receipt.counts["decision"] == 3
    stored = json.dumps([receipt.counts, receipt.rules, receipt.scope, receipt.run_by])
    for values in personal:
        for value in values:
            assert value not in stored
    rules = {r["name"]: r for r in receipt.rules["model_versions"]}
    assert rules["kort"]["retention_days"] == 30
    assert rules["kort"]["decided_before"] == (NOW - dt.timedelta(days=30)).isoformat()
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "retention.deleted")
    ).one()
    assert event.subject_key is None
    assert event.decision_public_id is None
    assert event.details["receipt"] == receipt.id


def test_audit_verify_still_passes_after_deleting(session, versions, full_decision) -> None:
    decisions = [full_decision(versions["short"], 31 + i) for i in range(2)]
    public_ids = sorted(d.public_id for d in decisions)
    for d in decisions:
        record_event(
            session,
            ADMIN,
            "decision.viewed",
            purpose="casework",
            decision_public_id=d.public_id,
            subject_key=d.subject_key,
        )
    assert seal_pending(session, KEY) is not None
    assert run(session).counts["decision"] == 2
    assert seal_pending(session, KEY) is not None  # seals the retention event
    report = verify_chain(session, key=KEY)
    assert report.ok, report.problem
    assert report.unsealed == 0
    # the events about the deleted decisions keep their references and hashes
    kept = session.scalars(
        select(AuditEvent.decision_public_id).where(AuditEvent.action == "decision.viewed")
    ).all()
    assert sorted(kept) == public_ids


def test_on_postgresql_a_run_that_finds_another_at_work_deletes_nothing(
    app, session, versions, full_decision
) -> None:
    from portal.db_session import get_db

    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    full_decision(versions["short"], 31)
    other = get_db(app).engine.connect()
    try:
        other.exec_driver_sql("SELECT pg_advisory_lock(804153)")
        assert run(session).total == 0
        other.exec_driver_sql("SELECT pg_advisory_unlock(804153)")
        assert run(session).counts["decision"] == 1
    finally:
        other.close()
