"""What a caseworker changes: the oversight record of a decision and the handling of a
citizen's request. Each step is written to the audit trail. Typed functions taking the
session and the principal; they flush, never commit."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal.auth.principal import Principal, audit_actor
from portal.cases.models import CitizenRequest
from portal.db import utcnow
from portal.decisions.models import Decision
from portal.errors import Conflict, NotFound
from portal.letters.models import OversightRecord
from portal.oversight.audit import record_event
from portal.registry.models import ModelVersion
from portal.staff.services import StaffInputError, oversight_history, scoped_decision

VERDICTS = ("agreed", "overrode")
MAX_TEXT_LENGTH = 2000
#: received -> in-progress -> answered | closed; answered and closed are final.
NEXT_STATUSES = {
    "received": ("in-progress", "answered", "closed"),
    "in-progress": ("answered", "closed"),
}
OPEN_STATUSES = tuple(NEXT_STATUSES)


def _text(value: str | None, *, required: bool, code: str) -> str | None:
    text = (value or "").strip()
    if len(text) > MAX_TEXT_LENGTH:
        raise StaffInputError(code="text-too-long")
    if required and not text:
        raise StaffInputError(code=code)
    return text or None


def record_oversight(
    session: Session, principal: Principal, public_id: str, *, verdict: str, reason: str | None
) -> OversightRecord:
    """Record that the caseworker agreed with the model or overrode it (a reason is required
    when overriding). A new record supersedes the one before; both stay in the history."""
    decision = scoped_decision(session, principal, public_id)
    if verdict not in VERDICTS:
        raise StaffInputError(code="verdict-invalid")
    text = _text(reason, required=verdict == "overrode", code="reason-missing")
    if principal.staff_id is None:  # pragma: no cover - every staff login has a row
        raise NotFound()
    previous = oversight_history(session, decision)
    record = OversightRecord(
        decision_id=decision.id, staff_id=principal.staff_id, verdict=verdict, reason=text
    )
    session.add(record)
    session.flush()
    record_event(
        session,
        audit_actor(principal),
        "oversight.recorded",
        purpose="casework",
        decision_public_id=decision.public_id,
        subject_key=decision.subject_key,
        details={
            "unit": principal.unit,
            "verdict": verdict,
            "record": record.id,
            "supersedes": previous[0].id if previous else None,
        },
    )
    return record


@dataclass(frozen=True)
class RequestRow:
    request: CitizenRequest
    age_days: int
    deadline: dt.datetime
    overdue: bool


def unit_requests(
    session: Session, principal: Principal, *, response_days: int, open_only: bool = True
) -> list[RequestRow]:
    """The citizens' requests about the unit's decisions, oldest first, with their age and
    the deadline (``response_days`` after they were sent)."""
    if principal.role != "caseworker" or not principal.unit:
        return []
    stmt = (
        select(CitizenRequest)
        .join(Decision, Decision.id == CitizenRequest.decision_id)
        .join(ModelVersion, ModelVersion.id == Decision.model_version_id)
        .where(ModelVersion.responsible_unit == principal.unit)
        .options(selectinload(CitizenRequest.decision))
        .order_by(CitizenRequest.created_at, CitizenRequest.id)
    )
    if open_only:
        stmt = stmt.where(CitizenRequest.status.in_(OPEN_STATUSES))
    now = utcnow()
    rows = []
    for req in session.scalars(stmt):
        deadline = req.created_at + dt.timedelta(days=response_days)
        age = (now - req.created_at).days
        overdue = now > deadline and req.status in OPEN_STATUSES
        rows.append(RequestRow(req, age, deadline, overdue))
    return rows


def scoped_request(session: Session, principal: Principal, request_id: str) -> CitizenRequest:
    """The request if it is about a decision in the caseworker's unit; NotFound otherwise."""
    req = session.scalar(select(CitizenRequest).where(CitizenRequest.public_id == request_id))
    if req is None:
        raise NotFound()
    scoped_decision(session, principal, req.decision.public_id)
    return req


def move_request(
    session: Session, principal: Principal, request_id: str, *, status: str, answer: str | None
) -> CitizenRequest:
    """Move a request on (in progress, answered, closed); an answer is required to answer.
    A request about another unit's decision is NotFound; a finished one is a Conflict."""
    req = scoped_request(session, principal, request_id)
    decision = req.decision
    allowed = NEXT_STATUSES.get(req.status, ())
    if status not in ("in-progress", "answered", "closed"):
        raise StaffInputError(code="status-invalid")
    if status not in allowed:
        raise Conflict(code="request-already-finished")
    text = _text(answer, required=status == "answered", code="answer-missing")
    req.status = status
    if text is not None:
        req.answer = text
    req.updated_at = utcnow()
    session.flush()
    record_event(
        session,
        audit_actor(principal),
        "request.updated",
        purpose="casework",
        decision_public_id=decision.public_id,
        subject_key=decision.subject_key,
        details={"unit": principal.unit, "request": req.public_id, "status": status},
    )
    return req
