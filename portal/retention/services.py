"""Deleting personal data whose retention period has run out (docs/retention.md).

A decision expires when its ``delete_after`` has passed or, without one, when its model
version's ``retention_days`` (manifest) have passed since it was decided. A decision with a
citizen request still waiting for an answer is kept until the request is answered or
closed (the next run then deletes it). A version whose manifest sets no period keeps its
decisions.

With an expired decision go its explanation, its jobs, its citizen requests, the
caseworkers' oversight records and the letter attachments' records. Its delivery row stays
(the idempotency key is unique per system forever, so a resend is not taken as new), but
its stored answer is replaced by ``{"status": "deleted"}``. Audit events are not touched:
they keep their hashes, so ``audit verify`` still passes; they carry only opaque
references and are pruned on their own period (``portal.retention.audit``).

Every run that deletes anything adds a ``RetentionReceipt`` (counts and rules, no personal
data) and an audit event. A second run right after deletes nothing and adds no receipt.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from portal.cases.models import CitizenRequest
from portal.decisions.models import Decision, Delivery, Explanation, Job
from portal.letters.models import LetterAttachment, OversightRecord
from portal.oversight.audit import Actor, record_event
from portal.registry.models import ModelVersion
from portal.retention.models import RetentionReceipt

#: Citizen requests that still wait for an answer keep their decision.
OPEN_REQUEST_STATUSES = ("received", "in-progress")
BATCH_SIZE = 500
PERSONAL_DATA = "personal-data"
#: The tables emptied with an expired decision, children first (foreign keys).
_CHILDREN = (
    ("explanation", Explanation),
    ("job", Job),
    ("citizen_request", CitizenRequest),
    ("oversight_record", OversightRecord),
    ("letter_attachment", LetterAttachment),
)
DELETED_ANSWER: dict[str, Any] = {"status": "deleted"}
_BULK = {"synchronize_session": False}
_RETENTION_LOCK = 804_153  # PostgreSQL advisory lock of retention runs (the sealer's is 804_152)


@dataclass(frozen=True)
class VersionRule:
    """The retention period of one model version, and the cut-off it gives now."""

    model_version_id: int
    name: str
    version: str
    retention_days: int
    decided_before: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "retention_days": self.retention_days,
            "decided_before": self.decided_before.isoformat(),
        }


@dataclass
class RetentionReport:
    """What one run deleted (``counts`` by table) and by which rules."""

    counts: dict[str, int] = field(default_factory=dict)
    rules: list[VersionRule] = field(default_factory=list)
    receipt_id: int | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def version_rules(session: Session, now: dt.datetime) -> list[VersionRule]:
    """Every model version's retention rule (versions without ``retention_days`` have none)."""
    rules = []
    for version_id, name, version, manifest in session.execute(
        select(ModelVersion.id, ModelVersion.name, ModelVersion.version, ModelVersion.manifest)
    ):
        days = (manifest or {}).get("retention_days")
        if isinstance(days, int) and not isinstance(days, bool) and days > 0:
            cutoff = now - dt.timedelta(days=days)
            rules.append(VersionRule(version_id, name, version, days, cutoff))
    return rules


def _expired(rules: Sequence[VersionRule], now: dt.datetime) -> ColumnElement[bool]:
    by_period = [
        and_(
            Decision.delete_after.is_(None),
            Decision.model_version_id == rule.model_version_id,
            Decision.decided_at < rule.decided_before,
        )
        for rule in rules
    ]
    waiting = exists().where(
        CitizenRequest.decision_id == Decision.id,
        CitizenRequest.status.in_(OPEN_REQUEST_STATUSES),
    )
    return and_(or_(Decision.delete_after <= now, *by_period), ~waiting)


def _batches(session: Session, condition: ColumnElement[bool]) -> Iterator[list[Any]]:
    """Expired decisions (id, system, delivery key), a batch at a time, until none is left
    (each batch is deleted before the next is read)."""
    while True:
        rows = session.execute(
            select(Decision.id, Decision.system_id, Decision.delivery_key)
            .where(condition)
            .order_by(Decision.id)
            .limit(BATCH_SIZE)
        ).all()
        if not rows:
            return
        yield list(rows)


def _add(counts: dict[str, int], table: str, n: int) -> None:
    if n:
        counts[table] = counts.get(table, 0) + n


def delete_expired(
    session: Session, *, now: dt.datetime, actor: Actor, run_by: str
) -> RetentionReport:
    """Delete every expired decision and what is tied to it; add a receipt and an audit
    event if anything was deleted. On PostgreSQL a run that finds another one at work
    deletes nothing (the other deletes it). Flushes; the caller commits."""
    rules = version_rules(session, now)
    report = RetentionReport(rules=rules)
    if session.get_bind().dialect.name == "postgresql" and not session.scalar(
        select(func.pg_try_advisory_xact_lock(_RETENTION_LOCK))
    ):
        return report
    condition = _expired(rules, now)
    for rows in _batches(session, condition):
        ids = [row.id for row in rows]
        for table, model in _CHILDREN:
            result = session.execute(
                delete(model).where(model.decision_id.in_(ids)), execution_options=_BULK
            )
            _add(report.counts, table, result.rowcount)
        keys = [(row.system_id, row.delivery_key) for row in rows]
        answered = session.execute(
            update(Delivery)
            .where(tuple_(Delivery.system_id, Delivery.webhook_id).in_(keys))
            .values(response=DELETED_ANSWER),
            execution_options=_BULK,
        )
        _add(report.counts, "delivery_answer", answered.rowcount)
        result = session.execute(
            delete(Decision).where(Decision.id.in_(ids)), execution_options=_BULK
        )
        _add(report.counts, "decision", result.rowcount)
    if report.total:
        receipt = RetentionReceipt(
            ran_at=now,
            scope=PERSONAL_DATA,
            run_by=run_by,
            total=report.total,
            counts=dict(report.counts),
            rules={"model_versions": [rule.to_json() for rule in rules]},
        )
        session.add(receipt)
        session.flush()
        report.receipt_id = receipt.id
        record_event(
            session,
            actor,
            "retention.deleted",
            purpose="retention",
            details={"receipt": receipt.id, "counts": dict(report.counts)},
        )
    return report
