"""The status of a stored decision, as its sender reads it (and its explanation when ready)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.decisions.deliveries import Sender
from portal.decisions.explanations import StoredExplanation
from portal.decisions.models import Decision
from portal.decisions.storing import decision_links
from portal.errors import NotFound


def decision_status(session: Session, system: Sender, public_id: str) -> dict[str, Any]:
    """Status (and, when ready, the explanation) of a decision the system sent; 404 for
    anyone else's decision, as for one that does not exist."""
    decision = session.scalar(
        select(Decision).where(Decision.public_id == public_id, Decision.system_id == system.id)
    )
    if decision is None:
        raise NotFound("No such decision.")
    model = decision.model_version
    explanation = None
    if decision.status == "ready" and decision.explanation is not None:
        explanation = StoredExplanation.from_row(decision.explanation).to_api()
    return {
        "id": decision.public_id,
        "status": decision.status,
        "reason": decision.status_reason if decision.status == "failed" else None,
        "model": {"name": model.name, "version": model.version},
        "case_reference": decision.case_reference,
        "received_at": decision.received_at.isoformat(),
        "reported_output": decision.reported_output,
        "recomputed_output": decision.recomputed_output,
        "output_mismatch": decision.output_mismatch,
        "explanation": explanation,
        "links": decision_links(decision.public_id),
    }
