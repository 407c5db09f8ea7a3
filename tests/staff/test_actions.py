"""Oversight records and moving a citizen's request on: what is stored, what is logged,
and what is refused (nothing stored)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from portal.auth.principal import Principal
from portal.cases.models import CitizenRequest
from portal.errors import Conflict, NotFound
from portal.letters.models import OversightRecord
from portal.oversight.models import AuditEvent
from portal.staff import actions
from portal.staff.services import StaffInputError, oversight_history


@pytest.fixture
def me(login_as: Any, cases: Any) -> Principal:
    return login_as("caseworker", unit=cases.unit)  # a staff row for the foreign key


@pytest.fixture
def request_of(session: Any, cases: Any) -> Any:
    def make(decision: Any, status: str = "received", days_ago: int = 0) -> CitizenRequest:
        req = CitizenRequest(
            decision_id=decision.id,
            subject_key=decision.subject_key,
            kind="rectification",
            feature_key="ledighed_uger",
            message="Det er forkert.",
            status=status,
            created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago),
        )
        session.add(req)
        session.flush()
        return req

    return make


def count(session: Any, table: type) -> int:
    return session.scalar(select(func.count()).select_from(table)) or 0


def test_an_override_is_stored_with_its_reason_and_logged(session: Any, cases: Any, me: Any):
    record = actions.record_oversight(
        session, me, cases.ledighed.public_id, verdict="overrode", reason=" Nyt job. "
    )
    assert (record.verdict, record.reason, record.staff_id) == ("overrode", "Nyt job.", me.staff_id)
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "oversight.recorded")
    ).one()
    assert event.details["verdict"] == "overrode"
    assert event.details["supersedes"] is None


def test_a_second_record_supersedes_the_first_and_both_stay(session: Any, cases: Any, me: Any):
    first = actions.record_oversight(
        session, me, cases.ledighed.public_id, verdict="agreed", reason=""
    )
    second = actions.record_oversight(
        session, me, cases.ledighed.public_id, verdict="overrode", reason="Ny viden."
    )
    assert [r.id for r in oversight_history(session, cases.ledighed)] == [second.id, first.id]
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "oversight.recorded").order_by(AuditEvent.id)
    ).all()
    assert events[-1].details["supersedes"] == first.id


@pytest.mark.parametrize(
    ("verdict", "reason", "code"),
    [
        ("overrode", "   ", "reason-missing"),
        ("overrode", None, "reason-missing"),
        ("maybe", "x", "verdict-invalid"),
        ("agreed", "x" * (actions.MAX_TEXT_LENGTH + 1), "text-too-long"),
    ],
)
def test_bad_oversight_input_stores_nothing(
    session: Any, cases: Any, me: Any, verdict: str, reason: str | None, code: str
) -> None:
    with pytest.raises(StaffInputError) as refused:
        actions.record_oversight(
            session, me, cases.ledighed.public_id, verdict=verdict, reason=reason
        )
    assert refused.value.code == code
    assert count(session, OversightRecord) == 0


def test_another_units_decision_gets_no_record(session: Any, cases: Any, me: Any) -> None:
    with pytest.raises(NotFound):
        actions.record_oversight(session, me, cases.byggesag.public_id, verdict="agreed", reason="")
    assert count(session, OversightRecord) == 0


def test_requests_are_listed_with_age_and_deadline(
    session: Any, cases: Any, me: Any, request_of: Any
) -> None:
    old = request_of(cases.ledighed, days_ago=40)
    new = request_of(cases.ledighed, status="in-progress", days_ago=2)
    request_of(cases.ledighed, status="answered")
    request_of(cases.byggesag)  # another unit's
    rows = actions.unit_requests(session, me, response_days=30)
    assert [r.request.id for r in rows] == [old.id, new.id]
    assert (rows[0].age_days, rows[0].overdue, rows[1].overdue) == (40, True, False)
    assert rows[1].deadline == new.created_at + dt.timedelta(days=30)


def test_a_request_moves_on_to_answered_and_each_step_is_logged(
    session: Any, cases: Any, me: Any, request_of: Any
) -> None:
    req = request_of(cases.ledighed)
    actions.move_request(session, me, req.public_id, status="in-progress", answer="")
    actions.move_request(session, me, req.public_id, status="answered", answer="Rettet.")
    assert (req.status, req.answer) == ("answered", "Rettet.")
    steps = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "request.updated").order_by(AuditEvent.id)
    ).all()
    assert [e.details["status"] for e in steps] == ["in-progress", "answered"]
    assert {e.subject_key for e in steps} == {cases.ledighed.subject_key}
    with pytest.raises(Conflict):  # answered is final
        actions.move_request(session, me, req.public_id, status="closed", answer="")


@pytest.mark.parametrize(
    ("status", "answer", "error"),
    [
        ("answered", "", StaffInputError),
        ("received", "x", StaffInputError),
        ("in-progress", "x" * (actions.MAX_TEXT_LENGTH + 1), StaffInputError),
    ],
)
def test_bad_request_steps_change_nothing(
    session: Any, cases: Any, me: Any, request_of: Any, status: str, answer: str, error: type
) -> None:
    req = request_of(cases.ledighed)
    with pytest.raises(error):
        actions.move_request(session, me, req.public_id, status=status, answer=answer)
    assert (req.status, req.answer) == ("received", None)


def test_another_units_request_is_not_found(
    session: Any, cases: Any, me: Any, request_of: Any
) -> None:
    req = request_of(cases.byggesag)
    with pytest.raises(NotFound):
        actions.move_request(session, me, req.public_id, status="answered", answer="Nej.")
    assert req.status == "received"
