"""Decision, delivery (idempotency), explanation job (outbox) and stored explanation."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, new_public_id, utcnow
from portal.db_encryption import EncryptedJSON
from portal.registry.models import ModelVersion, System


class Delivery(Base):
    """One signed request from a system; ``webhook-id`` is unique per system forever."""

    __tablename__ = "delivery"
    __table_args__ = (UniqueConstraint("system_id", "webhook_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("system.id"))
    webhook_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # decision | batch | model
    body_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    # The answer given the first time, replayed for a repeated id with the same body.
    response: Mapped[dict[str, Any]]
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Decision(Base):
    """A decision about one citizen, with the data it was based on (encrypted)."""

    __tablename__ = "decision"
    __table_args__ = (UniqueConstraint("system_id", "delivery_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    system_id: Mapped[int] = mapped_column(ForeignKey("system.id"))
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"), index=True)
    # The idempotency key: the webhook-id, or "<webhook-id>/<item>" inside a batch.
    delivery_key: Mapped[str] = mapped_column(String(220))
    case_reference: Mapped[str] = mapped_column(String(100), index=True)
    case_title: Mapped[dict[str, Any]]
    # HMAC of the CPR (portal.crypto.lookup_key): how a citizen finds their cases.
    subject_key: Mapped[str] = mapped_column(String(64))
    subject_cpr: Mapped[str] = mapped_column(EncryptedJSON)
    features: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON)
    data_sources: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON)
    reported_output: Mapped[float] = mapped_column(Float)
    recomputed_output: Mapped[float | None] = mapped_column(Float)
    # The sender's output disagrees with the registered model: the model in production
    # may not be the one registered.
    output_mismatch: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON)
    decided_by: Mapped[str] = mapped_column(String(200), index=True)
    human_decided: Mapped[bool] = mapped_column(Boolean)
    followed_model: Mapped[bool] = mapped_column(Boolean)
    # The decider's reason when they did not follow the model (text per language), if sent.
    decision_reason: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON)
    # Attributes sent for fairness monitoring only (``monitoring``): never given to the
    # model, never shown to the citizen; read by the supervision aggregates.
    monitoring: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON)
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The public id of the earlier decision (same system, same person) this one corrects.
    supersedes: Mapped[str | None] = mapped_column(String(32), index=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # pending -> ready | failed
    status: Mapped[str] = mapped_column(String(20), default="pending")
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Retention: the decision and its explanation are deleted after this moment.
    delete_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    system: Mapped[System] = relationship()
    model_version: Mapped[ModelVersion] = relationship()
    explanation: Mapped[Explanation | None] = relationship(back_populates="decision")


Index("ix_decision_subject_key_decided_at", Decision.subject_key, Decision.decided_at)
Index("ix_decision_model_version_id_decided_at", Decision.model_version_id, Decision.decided_at)
# The register's live figures count the overridden decisions per version from this small
# partial index (a minority of the rows) instead of reading every decision.
Index(
    "ix_decision_overridden",
    Decision.model_version_id,
    postgresql_where=Decision.followed_model.is_(False),
    sqlite_where=Decision.followed_model.is_(False),
)


class Explanation(Base):
    """The stored explanation of one decision; computed once, never on a page view."""

    __tablename__ = "explanation"

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decision.id"), unique=True)
    # Values per feature and consideration, ranking, counterfactual: derived from personal
    # data, so encrypted like the features.
    payload: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON)
    # Flag codes (sensitive-feature-top, out-of-distribution, output-mismatch), for dashboards.
    flags: Mapped[list[Any]] = mapped_column(default=list)
    explainer_kind: Mapped[str] = mapped_column(String(20))
    scale: Mapped[str] = mapped_column(String(20))
    shap_version: Mapped[str] = mapped_column(String(20))
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    background_sha256: Mapped[str | None] = mapped_column(String(64))
    seed: Mapped[int]
    additivity_error: Mapped[float] = mapped_column(Float)
    computation_seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    decision: Mapped[Decision] = relationship(back_populates="explanation")


#: The explanation itself (the decision becomes ready when it is stored).
EXPLAIN = "explain"
#: "What could have changed the result": a search of many model evaluations, so it runs as a
#: follow-up job after the explanation is stored, and explanations are claimed first.
COUNTERFACTUAL = "counterfactual"
JOB_KINDS = (EXPLAIN, COUNTERFACTUAL)
#: A citizen's large "Mine data" PDF (``portal.cases.exports``): no decision, no system.
EXPORT_PDF = "export-pdf"
#: Every kind the broker carries a nudge for (the Celery sweeper re-sends them all).
DISPATCHED_KINDS = (*JOB_KINDS, EXPORT_PDF)


class Job(Base):
    """Outbox row: the source of truth for work to do, written with the decision.

    A broker (Celery) only carries a nudge; a sweeper re-dispatches rows that are due.
    """

    __tablename__ = "job"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))  # explain | counterfactual | export-pdf
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decision.id"), index=True)
    # The decision's sender, copied here so that a claim finds each system's oldest due
    # jobs through ix_job_claim without reading the backlog (see claiming.claim).
    system_id: Mapped[int | None] = mapped_column(ForeignKey("system.id"))
    # pending -> running -> done | failed (after the last attempt)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


Index("ix_job_status_next_attempt_at", Job.status, Job.next_attempt_at)
Index("ix_job_claim", Job.system_id, Job.status, Job.kind, Job.next_attempt_at, Job.id)
