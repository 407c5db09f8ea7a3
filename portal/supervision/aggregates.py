"""The aggregation job: adds what is new since its last run to the supervision aggregates.

Run by the worker (``PeriodicSupervision`` in ``portal.supervision.worker`` on the in-process
worker's thread, or the Celery beat task ``portal.supervision.aggregate``) and by ``flask
--app wsgi supervision aggregate``. Each round reads, from where the previous one stopped (a
watermark per source table), at most ``batch_size`` new rows of each source, in id order:

- decisions: group cells (per sensitive feature and monitoring attribute), feature bins
  per ISO week, decisions and out-of-range values per week, and the override rates per
  deciding unit and week;
- reported outcomes: a decision's group cells move from "unknown" to the real outcome;
- explanations: explained decisions, and those with a sensitive feature or proxy among
  the three largest contributions (the explainer's ``sensitive-top-contributor`` flag);
- citizens' requests for a human review, per deciding unit and week.

Then the fairness and drift reports of every model version touched are made again from
the aggregates (a handful of rows each). A page view only reads the reports and counts.

Ids become visible in commit order, not id order (PostgreSQL): a round stops before the
first row younger than ``settle_seconds``, so that a lower id still in an open transaction
cannot be passed by (the portal's transactions last well under a second).

A round reads and counts without a lock (``collect``; on SQLite a deferred transaction, so
ingest never waits for the counting), then writes in a short transaction (``apply``) that
first checks the watermarks are still those it started from: a round that lost a race to
another one writes nothing (and on PostgreSQL a round that finds another at work, an
advisory lock, skips), so nothing is counted twice. The reports are likewise made from a
read and stored in a short write, never replaced by one made from older counts.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.cases.models import CitizenRequest
from portal.db import Database, utcnow
from portal.decisions.models import Decision, Explanation
from portal.supervision import drift
from portal.supervision.fairness import Cell, fairness_report
from portal.supervision.model_context import model_context
from portal.supervision.models import (
    DecisionOutcome,
    FeatureBin,
    GroupCell,
    ModelWeek,
    SupervisionReport,
    SupervisionWatermark,
)
from portal.supervision.tally import (
    Tally,
    count_decisions,
    count_explanations,
    count_outcomes,
    count_reviews,
    write_tally,
)

BATCH_SIZE = 10_000
SETTLE_SECONDS = 10
_LOCK = 804_153  # the aggregation job's advisory lock (PostgreSQL); no request takes it


# --- reports ----------------------------------------------------------------------------------


def compute_reports(
    session: Session, model_ids: Iterable[int], *, min_group_size: int
) -> dict[tuple[int, str], dict[str, Any]]:
    """The fairness and drift reports of these model versions, from the aggregates (reads
    only). Each carries ``as_of``, the sum of the watermarks it was made at: a report is
    never replaced by one made from older counts (``store_reports``)."""
    as_of = sum(_marks(session).values())
    reports: dict[tuple[int, str], dict[str, Any]] = {}
    for model_id in sorted(set(model_ids)):
        context = model_context(session, model_id)
        cells = [
            Cell(
                c.source, c.attribute, c.group_key, c.predicted, c.actual, c.decisions, c.output_sum
            )
            for c in session.scalars(
                select(GroupCell).where(GroupCell.model_version_id == model_id)
            )
            if c.decisions > 0
        ]
        weeks = {
            w.week: {
                "decisions": w.decisions,
                "out_of_range": w.out_of_range,
                "explained": w.explained,
                "sensitive_top": w.sensitive_top,
            }
            for w in session.scalars(
                select(ModelWeek).where(ModelWeek.model_version_id == model_id)
            )
        }
        bins: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
        for b in session.scalars(select(FeatureBin).where(FeatureBin.model_version_id == model_id)):
            bins[(b.feature, b.week)][b.bin] = b.decisions
        fairness = fairness_report(
            cells,
            attribute_order=context.attribute_order(),
            explained=sum(w["explained"] for w in weeks.values()),
            sensitive_top=sum(w["sensitive_top"] for w in weeks.values()),
            min_group_size=min_group_size,
        )
        ordered = [
            context.references[s.key]
            for s in context.manifest.features
            if s.key in context.references
        ]
        drift_body = drift.drift_report(ordered, bins, weeks, min_count=min_group_size)
        reports[(model_id, "fairness")] = {**fairness, "as_of": as_of}
        reports[(model_id, "drift")] = {**drift_body, "as_of": as_of}
    return reports


def store_reports(
    session: Session, reports: dict[tuple[int, str], dict[str, Any]], *, now: dt.datetime
) -> None:
    """Insert or replace the reports (a short write), unless the stored one is newer."""
    for (model_id, kind), body in reports.items():
        report = session.scalar(
            select(SupervisionReport).where(
                SupervisionReport.model_version_id == model_id, SupervisionReport.kind == kind
            )
        )
        if report is None:
            session.add(
                SupervisionReport(model_version_id=model_id, kind=kind, body=body, computed_at=now)
            )
        elif report.body.get("as_of", -1) <= body["as_of"]:
            report.body = body
            report.computed_at = now
    session.flush()


def refresh_reports(
    session: Session, model_ids: Iterable[int], *, min_group_size: int, now: dt.datetime
) -> None:
    """Make the reports of these model versions again, in one session."""
    store_reports(
        session, compute_reports(session, model_ids, min_group_size=min_group_size), now=now
    )


# --- one round --------------------------------------------------------------------------------


def _marks(session: Session) -> dict[str, int]:
    rows = session.execute(select(SupervisionWatermark.name, SupervisionWatermark.last_id)).all()
    return {name: 0 for name in SOURCES} | {name: last_id for name, last_id in rows}


def _settled(rows: Sequence[Any], cutoff: dt.datetime) -> list[Any]:
    """The rows before the first one younger than ``cutoff`` (see the module docstring)."""
    out = []
    for row in rows:
        if row.at > cutoff:
            break
        out.append(row)
    return out


SOURCES = ("decision", "outcome", "explanation", "review")


@dataclass(frozen=True)
class RoundResult:
    models: frozenset[int] = frozenset()
    decisions: int = 0
    outcomes: int = 0
    explanations: int = 0
    reviews: int = 0
    skipped: bool = False

    @property
    def total(self) -> int:
        return self.decisions + self.outcomes + self.explanations + self.reviews


@dataclass
class Batch:
    """What one round read and counted: the watermarks it started from and reached."""

    start: dict[str, int]
    reached: dict[str, int]
    tally: Tally
    result: RoundResult


def collect(
    session: Session,
    *,
    now: dt.datetime,
    batch_size: int = BATCH_SIZE,
    settle_seconds: float = SETTLE_SECONDS,
) -> Batch:
    """Read up to ``batch_size`` new rows of each source after its watermark and count
    them; only reads (on SQLite in a deferred transaction: ingest is not held up)."""
    cutoff = now - dt.timedelta(seconds=settle_seconds)
    start = _marks(session)
    reached = dict(start)
    tally = Tally()
    decided = Decision.__table__.c  # type: ignore[attr-defined]

    def new_rows(name: str, table: Any, columns: Sequence[Any], at: Any, *joined: Any) -> Any:
        query = select(table.id, at.label("at"), *columns)
        if joined:
            query = query.join(Decision, Decision.id == table.decision_id)
        query = query.where(table.id > start[name]).order_by(table.id).limit(batch_size)
        return _settled(session.execute(query).all(), cutoff)

    def advance(name: str, rows: Sequence[Any]) -> None:
        if rows:
            reached[name] = rows[-1].id

    decisions = new_rows(
        "decision",
        decided,
        [
            decided.model_version_id,
            decided.features,
            decided.monitoring,
            decided.reported_output,
            decided.followed_model,
            decided.human_decided,
            decided.decided_by,
            decided.decided_at,
        ],
        decided.received_at,
    )
    count_decisions(session, tally, decisions)
    advance("decision", decisions)

    outcomes = []
    for row in new_rows(
        "outcome",
        DecisionOutcome,
        [
            DecisionOutcome.decision_id,
            DecisionOutcome.actual_positive,
            decided.model_version_id,
            decided.features,
            decided.monitoring,
            decided.reported_output,
        ],
        DecisionOutcome.reported_at,
        "join",
    ):
        if row.decision_id > reached["decision"]:
            break  # an outcome waits until its decision is counted
        outcomes.append(row)
    count_outcomes(session, tally, outcomes)
    advance("outcome", outcomes)

    explanations = new_rows(
        "explanation",
        Explanation,
        [Explanation.flags, decided.model_version_id, decided.decided_at],
        Explanation.created_at,
        "join",
    )
    count_explanations(tally, explanations)
    advance("explanation", explanations)

    requests = new_rows(
        "review",
        CitizenRequest,
        [CitizenRequest.kind, decided.model_version_id, decided.decided_by, decided.decided_at],
        CitizenRequest.created_at,
        "join",
    )
    count_reviews(tally, [r for r in requests if r.kind == "human-review"])
    advance("review", requests)
    result = RoundResult(
        models=frozenset(tally.models),
        decisions=len(decisions),
        outcomes=len(outcomes),
        explanations=len(explanations),
        reviews=len(requests),
    )
    return Batch(start, reached, tally, result)


def apply(session: Session, batch: Batch, *, now: dt.datetime) -> bool:
    """Add a collected batch to the aggregates and move the watermarks, in the caller's
    (short, writing) transaction; False, writing nothing, when another run moved the
    watermarks since the batch was read or is at work now (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql" and not session.scalar(
        select(func.pg_try_advisory_xact_lock(_LOCK))
    ):
        return False
    if _marks(session) != batch.start:
        return False
    write_tally(session, batch.tally)
    for name, last_id in batch.reached.items():
        if last_id == batch.start[name]:
            continue
        mark = session.get(SupervisionWatermark, name)
        if mark is None:
            session.add(SupervisionWatermark(name=name, last_id=last_id, updated_at=now))
        else:
            mark.last_id = last_id
            mark.updated_at = now
    session.flush()
    return True


def aggregate_pending(
    session: Session,
    *,
    min_group_size: int,
    now: dt.datetime | None = None,
    batch_size: int = BATCH_SIZE,
    settle_seconds: float = SETTLE_SECONDS,
) -> RoundResult:
    """One round in one session: collect, apply, and remake the reports of the model
    versions touched. Flushes; the caller commits."""
    now = now or utcnow()
    batch = collect(session, now=now, batch_size=batch_size, settle_seconds=settle_seconds)
    if not batch.result.total:
        return batch.result
    if not apply(session, batch, now=now):
        return RoundResult(skipped=True)
    refresh_reports(session, batch.result.models, min_group_size=min_group_size, now=now)
    return batch.result


def aggregate_all(
    db: Database,
    *,
    min_group_size: int,
    max_rounds: int = 100_000,
    batch_size: int = BATCH_SIZE,
    settle_seconds: float = SETTLE_SECONDS,
) -> int:
    """Rounds until nothing new is left, each read without a lock and written in a short
    transaction of its own; then the reports of the model versions touched (once, not per
    round). Returns the rows counted."""
    total = 0
    touched: set[int] = set()
    for _ in range(max_rounds):
        now = utcnow()
        with db.reading() as session:
            batch = collect(session, now=now, batch_size=batch_size, settle_seconds=settle_seconds)
        if not batch.result.total:
            break
        with db.transaction() as session:
            applied = apply(session, batch, now=now)
        if not applied:  # another run is at it: it counts these rows
            break
        total += batch.result.total
        touched |= batch.result.models
    if touched:
        with db.reading() as session:
            reports = compute_reports(session, touched, min_group_size=min_group_size)
        with db.transaction() as session:
            store_reports(session, reports, now=utcnow())
    return total
