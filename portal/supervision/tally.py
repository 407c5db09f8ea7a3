"""What one round of the aggregation job counts (a ``Tally`` of the new decisions, outcomes,
explanations and review requests), and how it is added to the aggregate tables."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from sqlalchemy import Table
from sqlalchemy.orm import Session

from portal.supervision import drift
from portal.supervision.model_context import ModelContext, groups_of, model_context
from portal.supervision.models import (
    UNKNOWN,
    FeatureBin,
    GroupCell,
    ModelWeek,
    RateCell,
)

log = logging.getLogger("portal.supervision")
SENSITIVE_TOP = "sensitive-top-contributor"


def iso_week(at: dt.datetime) -> str:
    year, week, _ = at.isocalendar()
    return f"{year}-W{week:02d}"


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


def count_decisions(session: Session, tally: Tally, rows: Sequence[Any]) -> None:
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


def count_outcomes(session: Session, tally: Tally, rows: Sequence[Any]) -> None:
    for row in rows:
        context = model_context(session, row.model_version_id)
        tally.models.add(row.model_version_id)
        predicted = int(row.reported_output >= context.threshold)
        actual = int(row.actual_positive)
        for source, attribute, group in groups_of(context, row.features, row.monitoring):
            base = (row.model_version_id, source, attribute, group, predicted)
            tally.cell((*base, UNKNOWN), -1, -row.reported_output)
            tally.cell((*base, actual), 1, row.reported_output)


def count_explanations(tally: Tally, rows: Sequence[Any]) -> None:
    for row in rows:
        tally.models.add(row.model_version_id)
        week = tally.weeks[(row.model_version_id, iso_week(row.decided_at))]
        week["explained"] += 1
        week["sensitive_top"] += int(SENSITIVE_TOP in (row.flags or []))


def count_reviews(tally: Tally, rows: Sequence[Any]) -> None:
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


def write_tally(session: Session, tally: Tally) -> None:
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
