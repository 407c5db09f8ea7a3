"""What the portal holds about a citizen and who has seen it (GDPR art. 15 and 20).

The access log ("who has looked at my data") and the data export ("Mine data", as JSON or
the PDF of ``portal.cases.exports``). Like ``portal.cases.services``: plain functions
taking the session and the acting principal, never reading Flask's globals, never committing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal.auth.principal import Principal, audit_actor
from portal.cases.models import CitizenRequest
from portal.cases.services import PURPOSE, CaseDetail, require_citizen
from portal.db import utcnow
from portal.decisions.explanations import StoredExplanation
from portal.decisions.models import Decision, Explanation
from portal.oversight.audit import record_event
from portal.oversight.models import AuditEvent

ACCESS_LOG_LIMIT = 1000


# --------------------------------------------------------------------------- access log


def access_log(
    session: Session, principal: Principal, limit: int = ACCESS_LOG_LIMIT
) -> list[AuditEvent]:
    """Every logged access to the citizen's data, newest first (at most ``limit``)."""
    subject_key = require_citizen(principal)
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.subject_key == subject_key)
            .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
    )


def case_names(session: Session, principal: Principal) -> dict[str, tuple[dict[str, Any], str]]:
    """The citizen's cases as public id -> (title texts, case reference), to name them."""
    subject_key = require_citizen(principal)
    rows = session.execute(
        select(Decision.public_id, Decision.case_title, Decision.case_reference).where(
            Decision.subject_key == subject_key
        )
    ).all()
    return {public_id: (title, reference) for public_id, title, reference in rows}


def access_entry(event: AuditEvent) -> dict[str, Any]:
    """What a citizen may see of an event: when, what, who by role and unit, why.

    Staff are never named or identified (no ``actor_ref``); systems are named by their
    registered name, which is public in the algorithm register.
    """
    details = event.details or {}
    entry: dict[str, Any] = {
        "occurred_at": event.occurred_at.isoformat(),
        "action": event.action,
        "actor_kind": event.actor_kind,
        "role": event.actor_role,
        "unit": details.get("unit") if event.actor_kind == "staff" else None,
        "purpose": event.purpose,
        "case": event.decision_public_id,
    }
    if event.actor_kind == "system":
        entry["system"] = event.actor_ref
    return entry


# --------------------------------------------------------------------------- export


@dataclass(frozen=True)
class DataExport:
    """Everything the portal holds about one citizen (GDPR art. 15 and 20)."""

    exported_at: dt.datetime
    cases: Sequence[CaseDetail]
    requests: Sequence[CitizenRequest]
    log: Sequence[AuditEvent]

    def to_json(self) -> dict[str, Any]:
        return {
            "exported_at": self.exported_at.isoformat(),
            "decisions": [decision_entry(case) for case in self.cases],
            "requests": [_request_entry(r) for r in self.requests],
            "access_log": [access_entry(e) for e in self.log],
        }


def _request_entry(req: CitizenRequest) -> dict[str, Any]:
    return {
        "id": req.public_id,
        "case": req.decision.public_id,
        "kind": req.kind,
        "data_point": req.feature_key,
        "message": req.message,
        "status": req.status,
        "answer": req.answer,
        "created_at": req.created_at.isoformat(),
        "updated_at": req.updated_at.isoformat(),
    }


def decision_entry(case: CaseDetail) -> dict[str, Any]:
    decision, model = case.decision, case.model
    return {
        "id": decision.public_id,
        "case_reference": decision.case_reference,
        "title": decision.case_title,
        "model": {"name": model.name, "version": model.version},
        "decided_at": decision.decided_at.isoformat(),
        "decided_by": decision.decided_by,
        "human_decided": decision.human_decided,
        "followed_model": decision.followed_model,
        "reason": decision.decision_reason,
        "outcome": decision.outcome,
        "model_output": decision.reported_output,
        "features": decision.features,
        "data_sources": decision.data_sources,
        "status": decision.status,
        "supersedes": decision.supersedes,
        "explanation": None if case.explanation is None else case.explanation.to_api(),
        "requests": [r.public_id for r in case.requests],
    }


def export_data(session: Session, principal: Principal, *, fmt: str) -> DataExport:
    """Collect everything the portal holds about the citizen and log that it was exported
    (``data.exported``, details: the format)."""
    subject_key = require_citizen(principal)
    decisions = list(
        session.scalars(
            select(Decision)
            .where(Decision.subject_key == subject_key)
            .order_by(Decision.decided_at.desc(), Decision.id.desc())
        )
    )
    ids = [d.id for d in decisions]
    rows = (
        session.scalars(select(Explanation).where(Explanation.decision_id.in_(ids))).all()
        if ids
        else []
    )
    explanations = {row.decision_id: StoredExplanation.from_row(row) for row in rows}
    requests = list(
        session.scalars(
            select(CitizenRequest)
            .where(CitizenRequest.subject_key == subject_key)
            .order_by(CitizenRequest.created_at.desc(), CitizenRequest.id.desc())
            # the pages present them after the unit of work has ended: nothing lazy-loads
            .options(selectinload(CitizenRequest.decision))
        )
    )
    by_decision: dict[int, list[CitizenRequest]] = {}
    for req in requests:
        by_decision.setdefault(req.decision_id, []).append(req)
    record_event(
        session,
        audit_actor(principal),
        "data.exported",
        purpose=PURPOSE,
        subject_key=subject_key,
        details={"format": fmt},
    )
    cases = [
        CaseDetail(d, d.model_version, explanations.get(d.id), by_decision.get(d.id, []))
        for d in decisions
    ]
    return DataExport(utcnow(), cases, requests, access_log(session, principal))
