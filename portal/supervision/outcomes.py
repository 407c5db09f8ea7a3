"""The real outcome of a decision, reported later by the system that sent it.

Stored once per decision (``decision_outcome``): the same outcome again answers 200 with
the first answer, another one 409 ``outcome-already-reported`` (a correction would change
figures already reported to auditors; it is a case for the administrator). The
aggregation job moves the decision's group counts from "unknown" to the reported outcome.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.decisions.deliveries import Answer, Sender, system_actor
from portal.decisions.models import Decision
from portal.decisions.schemas import OutcomeIn
from portal.decisions.storing import decision_links
from portal.decisions.validation import pydantic_details
from portal.errors import Conflict, NotFound, ValidationFailed
from portal.oversight.audit import record_event
from portal.supervision.models import DecisionOutcome


def _body(public_id: str, outcome: DecisionOutcome) -> dict[str, Any]:
    return {
        "id": public_id,
        "actual_positive": outcome.actual_positive,
        "reported_at": outcome.reported_at.isoformat(),
        "links": decision_links(public_id),
    }


def report_outcome(
    session: Session,
    system: Sender,
    public_id: str,
    body: Any,
    *,
    now: dt.datetime | None = None,
) -> Answer:
    """Record the real outcome of a decision ``system`` sent: 201 new, 200 the same again,
    404 not this system's decision, 409 another outcome already, 422 a bad body."""
    decision = session.execute(
        select(Decision.id, Decision.subject_key).where(
            Decision.public_id == public_id, Decision.system_id == system.id
        )
    ).first()
    if decision is None:
        raise NotFound("No such decision.")
    try:
        parsed = OutcomeIn.model_validate(body)
    except ValidationError as exc:
        raise ValidationFailed(details=pydantic_details(exc)) from None
    existing = session.scalar(
        select(DecisionOutcome).where(DecisionOutcome.decision_id == decision.id)
    )
    if existing is not None:
        if existing.actual_positive != parsed.actual_positive:
            raise Conflict(
                "Another outcome is already reported for this decision.",
                code="outcome-already-reported",
            )
        return Answer(200, _body(public_id, existing))
    outcome = DecisionOutcome(
        decision_id=decision.id,
        actual_positive=parsed.actual_positive,
        observed_at=parsed.observed_at.astimezone(dt.UTC) if parsed.observed_at else None,
        reported_at=now or utcnow(),
    )
    session.add(outcome)
    session.flush()
    record_event(
        session,
        system_actor(system),
        "decision.outcome-reported",
        purpose="monitoring",
        decision_public_id=public_id,
        subject_key=decision.subject_key,
    )
    return Answer(201, _body(public_id, outcome))
