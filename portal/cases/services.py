"""The citizen's own cases: listing, reading one (audited), requests. The access
log and the data export (GDPR art. 15 and 20) are in ``portal.cases.subject_access``.

Plain functions taking the database session and the acting principal; they never read
Flask's globals, never commit (the request commits once) and raise ``NotFound`` for a
decision that does not exist *or* is not the principal's, so nobody can tell the two apart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.auth.principal import Principal, audit_actor
from portal.cases.models import CitizenRequest
from portal.decisions.explanations import StoredExplanation
from portal.decisions.models import Decision, Explanation
from portal.errors import NotFound
from portal.letters.models import OversightRecord
from portal.oversight.audit import record_event
from portal.registry.models import ModelVersion

PURPOSE = "own-case"
MAX_MESSAGE_LENGTH = 2000
REQUEST_KINDS = ("human-review", "rectification")


@dataclass(frozen=True)
class CaseSummary:
    """One line of "Mine sager"."""

    public_id: str
    title: dict[str, Any]
    case_reference: str
    decided_at: dt.datetime
    decided_by: str
    status: str


@dataclass(frozen=True)
class CaseDetail:
    """Everything the explanation page shows about one decision, read from stored rows."""

    decision: Decision
    model: ModelVersion
    explanation: StoredExplanation | None
    requests: Sequence[CitizenRequest]
    # The caseworker's assessment of the model's advice now in force (the newest record).
    oversight: OversightRecord | None = None
    # A corrected decision: the one it replaces (read as history) and, on the old one, the
    # public id of the decision that replaced it.
    previous: CaseDetail | None = None
    replaced_by: str | None = None

    @property
    def manifest(self) -> dict[str, Any]:
        return self.model.manifest

    @property
    def retired(self) -> bool:
        return self.model.status == "retired"

    @property
    def state(self) -> str:
        """ready | pending | failed: what the page can show."""
        if self.explanation is not None:
            return "ready"
        if self.decision.status == "failed" or self.retired:
            return "failed"
        return "pending"


def require_citizen(principal: Principal) -> str:
    if not principal.is_citizen or not principal.subject_key:
        raise NotFound()
    return principal.subject_key


def list_cases(session: Session, principal: Principal) -> list[CaseSummary]:
    """The citizen's decisions, newest first."""
    subject_key = require_citizen(principal)
    rows = session.execute(
        select(
            Decision.public_id,
            Decision.case_title,
            Decision.case_reference,
            Decision.decided_at,
            Decision.decided_by,
            Decision.status,
        )
        .where(Decision.subject_key == subject_key)
        .order_by(Decision.decided_at.desc(), Decision.id.desc())
    ).all()
    return [CaseSummary(*row) for row in rows]


def own_decision(session: Session, principal: Principal, public_id: str) -> Decision:
    """The principal's decision with this public id; NotFound when missing or not theirs.

    Ownership is part of the query: another citizen's decision is never loaded, so nothing
    of it is decrypted, and "not yours" costs exactly what "does not exist" costs.
    """
    subject_key = require_citizen(principal)
    decision = session.scalar(
        select(Decision).where(Decision.public_id == public_id, Decision.subject_key == subject_key)
    )
    if decision is None:
        raise NotFound()
    return decision


def requests_for(session: Session, decision: Decision) -> list[CitizenRequest]:
    return list(
        session.scalars(
            select(CitizenRequest)
            .where(CitizenRequest.decision_id == decision.id)
            .order_by(CitizenRequest.created_at.desc(), CitizenRequest.id.desc())
        )
    )


def view_case(
    session: Session, principal: Principal, public_id: str, *, action: str = "decision.viewed"
) -> CaseDetail:
    """Read one of the citizen's decisions and log that it was read (``action``)."""
    decision = own_decision(session, principal, public_id)
    model = session.get(ModelVersion, decision.model_version_id)
    if model is None:  # pragma: no cover - a foreign key guarantees it
        raise NotFound()
    row = session.scalar(select(Explanation).where(Explanation.decision_id == decision.id))
    explanation = StoredExplanation.from_row(row) if row is not None else None
    record_event(
        session,
        audit_actor(principal),
        action,
        purpose=PURPOSE,
        decision_public_id=decision.public_id,
        subject_key=decision.subject_key,
    )
    oversight = session.scalar(
        select(OversightRecord)
        .where(OversightRecord.decision_id == decision.id)
        .order_by(OversightRecord.created_at.desc(), OversightRecord.id.desc())
        .limit(1)
    )
    return CaseDetail(
        decision,
        model,
        explanation,
        requests_for(session, decision),
        oversight,
        previous=_previous(session, decision),
        replaced_by=session.scalar(
            select(Decision.public_id).where(
                Decision.supersedes == decision.public_id,
                Decision.subject_key == decision.subject_key,
            )
        ),
    )


def _previous(session: Session, decision: Decision) -> CaseDetail | None:
    """The decision ``decision`` corrects, with its explanation (same person only)."""
    if decision.supersedes is None:
        return None
    old = session.scalar(
        select(Decision).where(
            Decision.public_id == decision.supersedes,
            Decision.subject_key == decision.subject_key,
        )
    )
    if old is None:
        return None
    row = session.scalar(select(Explanation).where(Explanation.decision_id == old.id))
    explanation = StoredExplanation.from_row(row) if row is not None else None
    return CaseDetail(old, old.model_version, explanation, [])


def create_request(
    session: Session,
    principal: Principal,
    public_id: str,
    *,
    kind: str,
    message: str,
    feature_key: str | None = None,
) -> CitizenRequest:
    """Store a request for human review (GDPR art. 22(3)) or rectification (art. 16).

    The form has checked the input already; this checks again, because a service must be
    safe to call from anywhere: unknown kind, empty or too long message, or a data point
    the decision does not have raise ``ValueError`` and nothing is stored.
    """
    decision = own_decision(session, principal, public_id)
    message = message.strip()
    if kind not in REQUEST_KINDS:
        raise ValueError("unknown request kind")
    if not message or len(message) > MAX_MESSAGE_LENGTH:
        raise ValueError("message is empty or too long")
    if kind == "rectification":
        keys = {f["key"] for f in decision.model_version.manifest.get("features", [])}
        if feature_key not in keys:
            raise ValueError("unknown data point")
    elif feature_key is not None:
        raise ValueError("a review request is not about one data point")
    request = CitizenRequest(
        decision_id=decision.id,
        subject_key=decision.subject_key,
        kind=kind,
        feature_key=feature_key,
        message=message,
        status="received",
    )
    session.add(request)
    session.flush()
    record_event(
        session,
        audit_actor(principal),
        "request.created",
        purpose=PURPOSE,
        decision_public_id=decision.public_id,
        subject_key=decision.subject_key,
        details={"kind": kind, "request": request.public_id},
    )
    return request


def own_request(
    session: Session, principal: Principal, public_id: str, request_id: str
) -> CitizenRequest:
    """The principal's request ``request_id`` about their decision ``public_id``; NotFound
    when either is missing or not theirs."""
    decision = own_decision(session, principal, public_id)
    request = session.scalar(
        select(CitizenRequest).where(
            CitizenRequest.public_id == request_id,
            CitizenRequest.decision_id == decision.id,
            CitizenRequest.subject_key == decision.subject_key,
        )
    )
    if request is None:
        raise NotFound()
    return request


def answer_by(request: CitizenRequest, response_days: int) -> dt.datetime:
    """When the municipality answers a request at the latest (``response_days`` after it
    was sent)."""
    return request.created_at + dt.timedelta(days=response_days)


def feature_choices(decision: Decision) -> list[tuple[str, dict[str, Any]]]:
    """(key, label texts) of the data points a decision was based on, in manifest order."""
    return [(f["key"], f.get("label", {})) for f in decision.model_version.manifest["features"]]
