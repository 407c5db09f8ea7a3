"""Aggregates behind the supervision dashboards, and the outcomes systems report later.

Every aggregate table holds counts only (no personal data, no CPR): the worker's
aggregation job (``portal.supervision.aggregates``) adds new decisions to them
incrementally, from where it stopped (``SupervisionWatermark``); the pages read them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow

#: ``actual`` of a group cell whose real outcome is not reported (yet).
UNKNOWN = -1


class DecisionOutcome(Base):
    """The real outcome of a decision, reported later by the system that sent it
    (``POST /api/v1/decisions/<id>/outcome``): was it the model's positive class?"""

    __tablename__ = "decision_outcome"

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decision.id"), unique=True)
    actual_positive: Mapped[bool] = mapped_column(Boolean)
    observed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class GroupCell(Base):
    """Decisions of one model version in one group of one attribute, by the model's
    recommendation (``predicted``) and the real outcome (``actual``: 0, 1 or UNKNOWN)."""

    __tablename__ = "supervision_group_cell"
    __table_args__ = (
        UniqueConstraint(
            "model_version_id",
            "source",
            "attribute",
            "group_key",
            "predicted",
            "actual",
            name="uq_supervision_group_cell_key",  # the generated name passes 63 characters
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"))
    source: Mapped[str] = mapped_column(String(20))  # feature | monitoring
    attribute: Mapped[str] = mapped_column(String(100))
    group_key: Mapped[str] = mapped_column(String(100))
    predicted: Mapped[int]
    actual: Mapped[int]
    decisions: Mapped[int]
    output_sum: Mapped[float] = mapped_column(Float)


class FeatureBin(Base):
    """Decisions of one model version in one ISO week whose value of ``feature`` fell in
    ``bin`` of the feature's reference bins (``portal.supervision.drift``)."""

    __tablename__ = "supervision_feature_bin"
    __table_args__ = (UniqueConstraint("model_version_id", "feature", "week", "bin"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"))
    feature: Mapped[str] = mapped_column(String(100))
    week: Mapped[str] = mapped_column(String(8))  # ISO week, e.g. 2026-W21
    bin: Mapped[int]
    decisions: Mapped[int]


class ModelWeek(Base):
    """Per model version and ISO week: decisions, those with a value outside the
    background's range, explained ones, and those where a sensitive feature or proxy was
    among the three largest contributions."""

    __tablename__ = "supervision_model_week"
    __table_args__ = (UniqueConstraint("model_version_id", "week"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"))
    week: Mapped[str] = mapped_column(String(8))
    decisions: Mapped[int] = mapped_column(default=0)
    out_of_range: Mapped[int] = mapped_column(default=0)
    explained: Mapped[int] = mapped_column(default=0)
    sensitive_top: Mapped[int] = mapped_column(default=0)


class RateCell(Base):
    """Per model version, deciding unit and ISO week: decisions, those where a person did
    not follow the model, those a person decided, and those a citizen asked to review."""

    __tablename__ = "supervision_rate_cell"
    __table_args__ = (UniqueConstraint("model_version_id", "unit", "week"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"))
    unit: Mapped[str] = mapped_column(String(200))
    week: Mapped[str] = mapped_column(String(8))
    decisions: Mapped[int] = mapped_column(default=0)
    overridden: Mapped[int] = mapped_column(default=0)
    human_decided: Mapped[int] = mapped_column(default=0)
    reviews: Mapped[int] = mapped_column(default=0)


class SupervisionReport(Base):
    """A model version's computed fairness or drift report (JSON), remade by the
    aggregation job when its aggregates changed; the pages only read it."""

    __tablename__ = "supervision_report"
    __table_args__ = (UniqueConstraint("model_version_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"))
    kind: Mapped[str] = mapped_column(String(20))  # fairness | drift
    body: Mapped[dict[str, Any]]
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SupervisionWatermark(Base):
    """How far the aggregation job has come in one source table (its highest id counted)."""

    __tablename__ = "supervision_watermark"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_id: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChainCheck(Base):
    """One run of the audit chain's verification (the same as ``audit verify``), stored by
    the worker so that the dashboard shows its result and when it ran."""

    __tablename__ = "supervision_chain_check"

    id: Mapped[int] = mapped_column(primary_key=True)
    ran_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean)
    checked: Mapped[int]
    unsealed: Mapped[int]
    checkpoints: Mapped[int]
    first_broken_id: Mapped[int | None]
    problem: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float] = mapped_column(Float)
