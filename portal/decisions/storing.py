"""Storing accepted decisions: the decision and its explain job, for one or many at once.

Their deliveries are claimed first (``deliveries.claim_deliveries``); only claimed keys get
here. The same two statements serve a single decision and a batch: Core ``insert()`` with a
list of rows (SQLAlchemy sends them as one multi-row ``INSERT ... RETURNING``), each row
built by ``portal.decisions.rows`` and completed with the models' column defaults; the
new ids come back by their unique keys, so nothing depends on the order of returned rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from portal.crypto import lookup_key
from portal.db import new_public_id
from portal.decisions.deliveries import Sender, system_actor
from portal.decisions.models import EXPLAIN, Decision, Job
from portal.decisions.rows import decision_row, delivery_row, job_row
from portal.decisions.schemas import DecisionIn
from portal.decisions.validation import ModelChoice
from portal.oversight.audit import PendingEvent

_DECISION = cast(Table, Decision.__table__)
_JOB = cast(Table, Job.__table__)
_INSERT_DECISIONS = insert(_DECISION).returning(_DECISION.c.delivery_key, _DECISION.c.id)
_INSERT_JOBS = insert(_JOB).returning(_JOB.c.decision_id, _JOB.c.id)


def decision_links(public_id: str) -> dict[str, str]:
    return {"self": f"/api/v1/decisions/{public_id}"}


@dataclass
class NewDecision:
    """The rows of one accepted decision, built before any insert, and its audit event."""

    key: str
    delivery: dict[str, Any]
    decision: dict[str, Any]
    response: dict[str, Any]
    event: PendingEvent
    job_id: int = 0


def new_decision(
    system: Sender,
    key: str,
    digest: str,
    decision_in: DecisionIn,
    choice: ModelChoice,
    *,
    lookup_secret: str,
    now: dt.datetime,
    batch: str | None = None,
) -> NewDecision:
    """The delivery and decision rows of one decision (its job follows once it has an id).

    The public id is made here, so the delivery's stored answer is known before the insert.
    """
    public_id = new_public_id()
    response = {"id": public_id, "status": "pending", "links": decision_links(public_id)}
    subject_key = lookup_key(lookup_secret, decision_in.subject.cpr)
    details = {"model": choice.manifest.name, "version": choice.manifest.version}
    if batch is not None:
        details["batch"] = batch
    return NewDecision(
        key=key,
        delivery=delivery_row(
            system_id=system.id,
            key=key,
            kind="decision",
            digest=digest,
            status_code=202,
            response=response,
            now=now,
        ),
        decision=decision_row(
            decision_in,
            public_id=public_id,
            system_id=system.id,
            model_version_id=choice.id,
            key=key,
            subject_key=subject_key,
            now=now,
        ),
        response=response,
        event=PendingEvent(
            system_actor(system),
            "decision.received",
            purpose="ingest",
            decision_public_id=public_id,
            subject_key=subject_key,
            details=details,
        ),
    )


def store_decisions(
    session: Session, system: Sender, new: Sequence[NewDecision], *, max_attempts: int
) -> None:
    """Insert the decisions of ``new`` (their deliveries claimed) and a pending explain job
    each; sets each ``job_id``. A statement per table."""
    if not new:
        return
    decision_ids = dict(session.execute(_INSERT_DECISIONS, [n.decision for n in new]).all())
    now = new[0].decision["received_at"]
    jobs = [
        job_row(
            EXPLAIN,
            decision_id=decision_ids[n.key],
            system_id=system.id,
            max_attempts=max_attempts,
            now=now,
        )
        for n in new
    ]
    job_ids = dict(session.execute(_INSERT_JOBS, jobs).all())
    for n in new:
        n.job_id = job_ids[decision_ids[n.key]]
