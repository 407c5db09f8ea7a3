"""The aggregation job: adds what is new since its last run to the supervision aggregates.

Run by the worker (``PeriodicSupervision`` on the in-process worker's thread, or the Celery
beat task ``portal.supervision.aggregate``) and by ``flask --app wsgi supervision
aggregate``. Each round reads, from where the previous one stopped (a watermark per source
table), at most ``batch_size`` new rows of each source, in id order:

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
import logging
import time
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from portal.cases.models import CitizenRequest
from portal.db import Database, utcnow
from portal.decisions.models import Decision, Explanation
from portal.registry.models import ModelArtifact, ModelVersion
from portal.supervision import drift
from portal.supervision.fairness import Cell, fairness_report
from portal.supervision.models import (
    UNKNOWN,
    DecisionOutcome,
    FeatureBin,
    GroupCell,
    ModelWeek,
    RateCell,
    SupervisionReport,
    SupervisionWatermark,
)

log = logging.getLogger("portal.supervision")
BATCH_SIZE = 10_000
SETTLE_SECONDS = 10
_LOCK = 804_153  # the aggregation job's advisory lock (PostgreSQL); no request takes it
SENSITIVE_TOP = "sensitive-top-contributor"
QUARTILES = np.linspace(0.0, 1.0, 5)


def iso_week(at: dt.datetime) -> str:
    year, week, _ = at.isocalendar()
    return f"{year}-W{week:02d}"


# --- per model version: manifest, reference bins, group bands ---------------------------------


@dataclass
class ModelContext:
    """What the job needs to know of a model version (made once per process)."""

    id: int
    manifest: Any  # explainers.Manifest
    threshold: float
    references: dict[str, drift.Reference]
    #: sensitive numeric features: the edges of their four bands (background quartiles)
    bands: dict[str, list[float]]
    sensitive: list[Any]  # FeatureSpec

    def attribute_order(self) -> list[tuple[str, str]]:
        return [("feature", spec.key) for spec in self.sensitive]


_CONTEXTS: dict[int, ModelContext] = {}


def _band_edges(spec: Any, column: Any) -> list[float]:
    if column is not None and len(column):
        return sorted({float(v) for v in np.quantile(column.astype(float), QUARTILES)})
    if spec.min is not None and spec.max is not None:
        return [float(v) for v in np.linspace(spec.min, spec.max, 5)]
    return []


def band_label(edges: Sequence[float], value: float) -> str:
    """The band of a number: ``[lo, hi)`` between two quartiles (the last one closed), or
    below / above the background's range."""
    if not edges:
        return f"{value:g}"
    if value < edges[0]:
        return f"< {edges[0]:g}"
    if value > edges[-1]:
        return f"> {edges[-1]:g}"
    if len(edges) == 1:
        return f"{edges[0]:g}"
    i = min(bisect_right(edges, value, 1, len(edges) - 1) - 1, len(edges) - 2)
    closing = "]" if i == len(edges) - 2 else ")"
    return f"[{edges[i]:g}, {edges[i + 1]:g}{closing}"


def model_context(session: Session, model_version_id: int) -> ModelContext:
    """The context of a model version (read only; cached per process)."""
    cached = _CONTEXTS.get(model_version_id)
    if cached is not None:
        return cached
    from explainers.encoding import parse_background
    from explainers.manifest import parse_manifest

    raw = session.scalar(select(ModelVersion.manifest).where(ModelVersion.id == model_version_id))
    manifest = parse_manifest(raw)
    background_bytes = session.scalar(
        select(ModelArtifact.background).where(ModelArtifact.model_version_id == model_version_id)
    )
    columns: dict[str, Any] = {}
    if background_bytes:
        background, _problems = parse_background(manifest, background_bytes, "")
        if background is not None:
            columns = background.columns
    # The background never changes, so neither do its bins: made again in each process
    # (deterministic), never stored, and the job's reads need no write.
    references = {}
    for spec in manifest.features:
        if spec.type != "date" and spec.key in columns:
            reference = drift.reference_bins(spec, columns[spec.key])
            if reference is not None:
                references[spec.key] = reference
    sensitive = [s for s in manifest.features if s.sensitive or s.special_category]
    bands = {
        s.key: _band_edges(s, columns.get(s.key))
        for s in sensitive
        if s.type in ("number", "integer", "date")
    }
    threshold = manifest.decision_threshold
    context = ModelContext(
        id=model_version_id,
        manifest=manifest,
        threshold=0.5 if threshold is None else float(threshold),
        references=references,
        bands=bands,
        sensitive=sensitive,
    )
    _CONTEXTS[model_version_id] = context
    return context


def groups_of(
    context: ModelContext, features: dict[str, Any], monitoring: dict[str, Any] | None
) -> list[tuple[str, str, str]]:
    """(source, attribute, group) of one decision, for every attribute monitored."""
    out = []
    for spec in context.sensitive:
        value = features.get(spec.key)
        if value is None:
            continue
        if spec.key in context.bands:
            number = float(value) if spec.type != "date" else _days(value)
            group = band_label(context.bands[spec.key], number)
        elif isinstance(value, bool):
            group = "true" if value else "false"
        else:
            group = str(value)
        out.append(("feature", spec.key, group[:100]))
    for key, value in sorted((monitoring or {}).items()):
        group = ("true" if value else "false") if isinstance(value, bool) else str(value)
        out.append(("monitoring", key, group[:100]))
    return out


def _days(value: Any) -> float:
    from explainers.encoding import date_to_days

    return date_to_days(str(value))


# --- counting ---------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one round adds, keyed like the aggregate tables' unique keys."""

    cells: Counter[tuple[Any, ...]] = field(default_factory=Counter)
    output: Counter[tuple[Any, ...]] = field(default_factory=Counter)
    bins: Counter[tuple[Any, ...]] = field(default_factory=Counter)
    weeks: dict[tuple[int, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    rates: dict[tuple[int, str, str], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    models: set[int] = field(default_factory=set)

    def cell(self, key: tuple[Any, ...], decisions: int, output: float) -> None:
        self.cells[key] += decisions
        self.output[key] += output


def _encoded(context: ModelContext, rows: Sequence[Any]) -> dict[str, Any]:
    from explainers.encoding import encode_rows
    from explainers.errors import RowError

    try:
        return encode_rows(context.manifest, [r.features for r in rows])
    except RowError:  # cannot happen for validated decisions; count none of them then
        log.warning("supervision: %d decisions could not be encoded", len(rows))
        return {}


def _count_decisions(session: Session, tally: Tally, rows: Sequence[Any]) -> None:
    by_model: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_model[row.model_version_id].append(row)
    for model_id, own in by_model.items():
        context = model_context(session, model_id)
        tally.models.add(model_id)
        weeks = [iso_week(r.decided_at) for r in own]
        columns = _encoded(context, own)
        outside = np.zeros(len(own), dtype=bool)
        for key, reference in context.references.items():
            if key not in columns:
                continue
            bins = drift.bin_values(reference, columns[key])
            empty = np.asarray(reference.counts)[bins] == 0
            outside |= empty
            for week, b in zip(weeks, bins.tolist(), strict=True):
                tally.bins[(model_id, key, week, b)] += 1
        for i, row in enumerate(own):
            predicted = int(row.reported_output >= context.threshold)
            for source, attribute, group in groups_of(context, row.features, row.monitoring):
                key = (model_id, source, attribute, group, predicted, UNKNOWN)
                tally.cell(key, 1, row.reported_output)
            week = tally.weeks[(model_id, weeks[i])]
            week["decisions"] += 1
            week["out_of_range"] += int(outside[i])
            rate = tally.rates[(model_id, row.decided_by[:200], weeks[i])]
            rate["decisions"] += 1
            rate["overridden"] += int(not row.followed_model)
            rate["human_decided"] += int(row.human_decided)


def _count_outcomes(session: Session, tally: Tally, rows: Sequence[Any]) -> None:
    for row in rows:
        context = model_context(session, row.model_version_id)
        tally.models.add(row.model_version_id)
        predicted = int(row.reported_output >= context.threshold)
        actual = int(row.actual_positive)
        for source, attribute, group in groups_of(context, row.features, row.monitoring):
            base = (row.model_version_id, source, attribute, group, predicted)
            tally.cell((*base, UNKNOWN), -1, -row.reported_output)
            tally.cell((*base, actual), 1, row.reported_output)


def _count_explanations(tally: Tally, rows: Sequence[Any]) -> None:
    for row in rows:
        tally.models.add(row.model_version_id)
        week = tally.weeks[(row.model_version_id, iso_week(row.decided_at))]
        week["explained"] += 1
        week["sensitive_top"] += int(SENSITIVE_TOP in (row.flags or []))


def _count_reviews(tally: Tally, rows: Sequence[Any]) -> None:
    for row in rows:
        tally.models.add(row.model_version_id)
        key = (row.model_version_id, row.decided_by[:200], iso_week(row.decided_at))
        tally.rates[key]["reviews"] += 1


# --- writing ----------------------------------------------------------------------------------


def _upsert(session: Session, model: type, keys: Sequence[str], rows: list[dict[str, Any]]) -> None:
    """Add ``rows``' counts to the table's rows of the same key (insert the missing ones)."""
    if not rows:
        return
    table = cast(Table, model.__table__)  # type: ignore[attr-defined]
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    statement = insert(table)
    counted = [name for name in rows[0] if name not in keys]
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: table.c[name] + statement.excluded[name] for name in counted},
    )
    session.execute(statement, rows)


def _write(session: Session, tally: Tally) -> None:
    cell_keys = ("model_version_id", "source", "attribute", "group_key", "predicted", "actual")
    _upsert(
        session,
        GroupCell,
        cell_keys,
        [
            {
                **dict(zip(cell_keys, key, strict=True)),
                "decisions": n,
                "output_sum": tally.output[key],
            }
            for key, n in tally.cells.items()
        ],
    )
    bin_keys = ("model_version_id", "feature", "week", "bin")
    _upsert(
        session,
        FeatureBin,
        bin_keys,
        [
            {**dict(zip(bin_keys, key, strict=True)), "decisions": n}
            for key, n in tally.bins.items()
        ],
    )
    week_counts = ("decisions", "out_of_range", "explained", "sensitive_top")
    _upsert(
        session,
        ModelWeek,
        ("model_version_id", "week"),
        [
            {"model_version_id": m, "week": w, **{c: counts[c] for c in week_counts}}
            for (m, w), counts in tally.weeks.items()
        ],
    )
    rate_counts = ("decisions", "overridden", "human_decided", "reviews")
    _upsert(
        session,
        RateCell,
        ("model_version_id", "unit", "week"),
        [
            {"model_version_id": m, "unit": u, "week": w, **{c: counts[c] for c in rate_counts}}
            for (m, u, w), counts in tally.rates.items()
        ],
    )


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
    _count_decisions(session, tally, decisions)
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
    _count_outcomes(session, tally, outcomes)
    advance("outcome", outcomes)

    explanations = new_rows(
        "explanation",
        Explanation,
        [Explanation.flags, decided.model_version_id, decided.decided_at],
        Explanation.created_at,
        "join",
    )
    _count_explanations(tally, explanations)
    advance("explanation", explanations)

    requests = new_rows(
        "review",
        CitizenRequest,
        [CitizenRequest.kind, decided.model_version_id, decided.decided_by, decided.decided_at],
        CitizenRequest.created_at,
        "join",
    )
    _count_reviews(tally, [r for r in requests if r.kind == "human-review"])
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
    _write(session, batch.tally)
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


class PeriodicSupervision:
    """The aggregation job and the audit chain's verification on the in-process worker's
    thread, each at most every so many seconds; never raises."""

    def __init__(self, db: Database, settings: Any) -> None:
        self.db = db
        self.settings = settings
        self._due = {"aggregate": 0.0, "verify": 0.0}

    def __call__(self) -> None:
        from portal.supervision.chain import record_chain_check

        now = time.monotonic()
        jobs = (
            ("aggregate", float(self.settings.supervision_aggregate_seconds), self._aggregate),
            ("verify", float(self.settings.supervision_verify_seconds), self._verify),
        )
        for name, interval, job in jobs:
            if now < self._due[name]:
                continue
            self._due[name] = now + interval
            try:
                job(record_chain_check)
            except Exception as exc:  # the next round retries
                log.warning("supervision %s failed: %s", name, type(exc).__name__)

    def _aggregate(self, _: Any) -> None:
        aggregate_all(self.db, min_group_size=self.settings.supervision_min_group_size)

    def _verify(self, record_chain_check: Any) -> None:
        record_chain_check(self.db, self.settings.audit_checkpoint_key)
