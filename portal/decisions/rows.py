"""The one place where a new row of each table is built.

Used by the single-decision webhook and the batch webhook (deliveries, decisions, explain
jobs) and by the worker (follow-up jobs). Explanation rows are built by
``portal.decisions.explanations.explanation_values``. Each function gives only the values
its caller knows; every other column gets the default declared on the model, because
SQLAlchemy applies ``default=`` to Core ``insert()`` statements (one row or many) as it
does to ORM objects whenever a key is absent. So a new column with a default needs no
change here or anywhere else.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from portal.decisions.schemas import DecisionIn


def delivery_row(
    *,
    system_id: int,
    key: str,
    kind: str,
    digest: str,
    status_code: int,
    response: dict[str, Any],
    now: dt.datetime,
) -> dict[str, Any]:
    """A ``delivery``: an idempotency key with the hash of its body and its first answer."""
    return {
        "system_id": system_id,
        "webhook_id": key,
        "kind": kind,
        "body_sha256": digest,
        "status_code": status_code,
        "response": response,
        "received_at": now,
    }


def decision_row(
    decision_in: DecisionIn,
    *,
    public_id: str,
    system_id: int,
    model_version_id: int,
    key: str,
    subject_key: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """A ``decision`` as received (status and the recomputed output: the defaults)."""
    facts = decision_in.decision
    return {
        "public_id": public_id,
        "system_id": system_id,
        "model_version_id": model_version_id,
        "delivery_key": key,
        "case_reference": decision_in.case.reference,
        "case_title": decision_in.case.title,
        "subject_key": subject_key,
        "subject_cpr": decision_in.subject.cpr,
        "features": decision_in.features,
        # one serialisation for the whole field (dates to text), not one per source
        "data_sources": decision_in.model_dump(mode="json", include={"data_sources"})[
            "data_sources"
        ],
        "reported_output": decision_in.model_output,
        "outcome": facts.outcome,
        "decided_by": facts.decided_by,
        "human_decided": facts.human_decided,
        "followed_model": facts.followed_model,
        "decision_reason": facts.reason,
        "monitoring": decision_in.monitoring,
        "decided_at": facts.decided_at.astimezone(dt.UTC),
        "supersedes": decision_in.supersedes,
        "received_at": now,
    }


def job_row(
    kind: str,
    *,
    decision_id: int,
    system_id: int,
    max_attempts: int,
    now: dt.datetime,
) -> dict[str, Any]:
    """A pending ``job`` of a decision, due at ``now`` (status and attempts: the defaults)."""
    return {
        "kind": kind,
        "decision_id": decision_id,
        "system_id": system_id,
        "max_attempts": max_attempts,
        "next_attempt_at": now,
        "created_at": now,
    }
