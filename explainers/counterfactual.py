"""Counterfactuals: the smallest change to actionable, non-sensitive features that moves the
outcome across the decision threshold.

Search (bounded by ``max_evaluations`` model evaluations, vectorised, deterministic for a seed):

1. every single-feature change on a candidate grid (numbers: evenly spaced over the manifest's
   min/max, else the background range; integers stay integers; booleans flip; categories: every
   other category). The cheapest crossing candidate is refined towards the original value
   by bracketing (numbers only; three vectorised rounds of 16 points).
2. if none crosses: pairs of features on coarser grids (sampled with the seed if over budget).
3. if none crosses: random combinations of several features (seeded) with the rest of the
   budget.

Cost of a change: ``|new - old| / (max - min)`` for numbers, 1 for booleans and categories;
the cheapest crossing candidate wins, ties broken by feature keys and grid order. Sensitive,
special-category or non-actionable features are never changed; date features are never
changed. Every candidate respects the feature's ``actionable`` direction (``increase``: only
higher numbers, false -> true, later categories; ``decrease`` the reverse; ``both``).

The model decides which outcomes get a counterfactual at all (``output.counterfactual_for``):
for the other side the status is ``not-for-this-outcome`` and nothing is searched. A found
change is checked once more through the same path as a decision (the JSON values decoded
from the search), and ``new_output`` is that exact model output, on the other side of the
threshold.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from explainers.bundle import ModelBundle
from explainers.encoding import Column, decode_value
from explainers.manifest import FeatureSpec
from explainers.modelinfo import FloatArray

DEFAULT_MAX_EVALUATIONS = 2000
GRID_POINTS = 33
PAIR_GRID_POINTS = 9
REFINE_ROUNDS = 3
REFINE_POINTS = 16


@dataclass(frozen=True)
class Change:
    """One changed feature: JSON values before and after."""

    feature: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class Counterfactual:
    """Result of a counterfactual search.

    ``status``: ``found``, ``none-within-bounds``, ``no-actionable-features``,
    ``no-threshold`` (a score model without ``output.threshold``) or ``not-for-this-outcome``
    (the manifest's ``output.counterfactual_for`` excludes this case's side of the
    threshold). Outputs are on the declared scale; ``new_output`` is the model's exact
    output for the changed case (not rounded), on the other side of the threshold.
    """

    status: str
    changes: tuple[Change, ...]
    original_output: float
    new_output: float | None
    threshold: float | None
    cost: float | None
    evaluations: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "changes": [c.to_dict() for c in self.changes],
            "original_output": float(self.original_output),
            "new_output": None if self.new_output is None else float(self.new_output),
            "threshold": None if self.threshold is None else float(self.threshold),
            "cost": None if self.cost is None else float(self.cost),
            "evaluations": self.evaluations,
            "seed": self.seed,
        }


def _bounds(bundle: ModelBundle, spec: FeatureSpec) -> tuple[float, float] | None:
    lo, hi = spec.min, spec.max
    if (lo is None or hi is None) and bundle.background is not None:
        bg = bundle.background.columns[spec.key]
        lo = float(np.nanmin(bg)) if lo is None else lo
        hi = float(np.nanmax(bg)) if hi is None else hi
    if lo is None or hi is None:
        return None
    if spec.type == "integer":
        lo, hi = float(math.ceil(lo)), float(math.floor(hi))
    return (lo, hi) if lo <= hi else None


def _grid(
    bundle: ModelBundle, spec: FeatureSpec, current: Any, points: int
) -> tuple[list[Any], list[float]]:
    """Candidate model-space values for one feature and their costs: the current value left
    out, and only values in the direction the manifest allows."""
    if spec.type == "boolean":
        flipped = 1.0 - float(current)
        return ([flipped], [1.0]) if spec.allows(float(current), flipped) else ([], [])
    if spec.type == "category":
        position = spec.categories.index(current)
        others: list[Any] = [
            c for i, c in enumerate(spec.categories) if spec.allows(float(position), float(i))
        ]
        return others, [1.0] * len(others)
    bounds = _bounds(bundle, spec)
    if bounds is None:
        return [], []
    lo, hi = bounds
    span = hi - lo if hi > lo else 1.0
    grid = np.linspace(lo, hi, points)
    if spec.type == "integer":
        grid = np.unique(np.round(grid)) if hi - lo + 1 > points else np.arange(lo, hi + 1)
    now = float(current)
    values: list[Any] = [float(v) for v in grid if spec.allows(now, float(v))]
    return values, [abs(v - now) / span for v in values]


class _Search:
    def __init__(self, bundle: ModelBundle, columns: dict[str, Column], budget: int) -> None:
        self.bundle = bundle
        self.columns = columns
        self.budget = budget
        self.used = 0

    def evaluate(self, assignments: list[dict[str, Any]]) -> FloatArray:
        """Declared-scale outputs for copies of the row with the given feature values."""
        k = len(assignments)
        batch: dict[str, Column] = {}
        for key, col in self.columns.items():
            batch[key] = np.repeat(col, k)
        for i, assignment in enumerate(assignments):
            for key, value in assignment.items():
                batch[key][i] = value
        self.used += k
        return self.bundle.predict_columns(batch)


def counterfactual(
    bundle: ModelBundle,
    row: Mapping[str, Any],
    *,
    seed: int = 0,
    max_evaluations: int = DEFAULT_MAX_EVALUATIONS,
) -> Counterfactual:
    """Smallest change to actionable, non-sensitive features that crosses the threshold."""
    manifest = bundle.manifest
    columns = {k: v.copy() for k, v in bundle.encode([row]).items()}
    original = float(bundle.predict_columns(columns)[0])
    threshold = manifest.decision_threshold
    if threshold is None:
        return Counterfactual("no-threshold", (), original, None, None, None, 1, seed)
    if not manifest.counterfactual_wanted(original):
        return Counterfactual("not-for-this-outcome", (), original, None, threshold, None, 1, seed)
    specs = [
        f
        for f in manifest.features
        if f.actionable and not f.sensitive and not f.special_category and f.type != "date"
    ]
    if not specs:
        return Counterfactual(
            "no-actionable-features", (), original, None, threshold, None, 1, seed
        )
    above = original >= threshold
    search = _Search(bundle, columns, max(1, max_evaluations - 1))
    rng = np.random.default_rng(seed)

    def crosses(out: FloatArray) -> np.ndarray[Any, np.dtype[np.bool_]]:
        result: np.ndarray[Any, np.dtype[np.bool_]] = (out >= threshold) != above
        return result

    current = {s.key: columns[s.key][0] for s in specs}
    grids = {s.key: _grid(bundle, s, current[s.key], GRID_POINTS) for s in specs}

    # 1. single-feature changes
    singles = [({s.key: v}, c) for s in specs for v, c in zip(*grids[s.key], strict=True)]
    singles = singles[: search.budget]
    best: tuple[float, dict[str, Any], float] | None = None
    if singles:
        out = search.evaluate([a for a, _ in singles])
        hits = np.nonzero(crosses(out))[0]
        if hits.size:
            i = min(hits.tolist(), key=lambda h: singles[h][1])  # stable: first on ties
            best = (singles[i][1], singles[i][0], float(out[i]))
            best = _refine(search, bundle, best, current, crosses)
    # 2. pairs
    if best is None and len(specs) >= 2:
        pair_grids = {s.key: _grid(bundle, s, current[s.key], PAIR_GRID_POINTS) for s in specs}
        pairs: list[tuple[dict[str, Any], float]] = []
        for a, b in itertools.combinations(specs, 2):
            for (va, ca), (vb, cb) in itertools.product(
                zip(*pair_grids[a.key], strict=True), zip(*pair_grids[b.key], strict=True)
            ):
                pairs.append(({a.key: va, b.key: vb}, ca + cb))
        room = search.budget - search.used
        if len(pairs) > room > 0:
            keep = np.sort(rng.choice(len(pairs), size=room, replace=False))
            pairs = [pairs[int(i)] for i in keep]
        if room > 0 and pairs:
            out = search.evaluate([a for a, _ in pairs])
            hits = np.nonzero(crosses(out))[0]
            if hits.size:
                i = min(hits.tolist(), key=lambda h: pairs[h][1])
                best = (pairs[i][1], pairs[i][0], float(out[i]))
    # 3. random combinations of several features
    room = search.budget - search.used
    if best is None and len(specs) >= 3 and room > 0:
        combos: list[tuple[dict[str, Any], float]] = []
        for _ in range(room):
            chosen = [s for s in specs if rng.random() < 0.5] or [specs[0]]
            assignment: dict[str, Any] = {}
            cost = 0.0
            for s in chosen:
                values, costs = grids[s.key]
                if values:
                    j = int(rng.integers(len(values)))
                    assignment[s.key], cost = values[j], cost + costs[j]
            combos.append((assignment, cost))
        out = search.evaluate([a for a, _ in combos])
        hits = np.nonzero(crosses(out))[0]
        if hits.size:
            i = min(hits.tolist(), key=lambda h: combos[h][1])
            best = (combos[i][1], combos[i][0], float(out[i]))
    evaluations = search.used + 1
    if best is None:
        return Counterfactual(
            "none-within-bounds", (), original, None, threshold, None, evaluations, seed
        )
    cost, assignment, _ = best
    changes = tuple(
        Change(
            key,
            decode_value(manifest.feature(key), current[key]),
            decode_value(manifest.feature(key), value),
        )
        for key, value in sorted(assignment.items())
    )
    # The changed case as a sender would post it, through the same path as a decision: the
    # output reported is exactly the model's for these JSON values.
    changed = {**row, **{c.feature: c.new for c in changes}}
    new_output = float(bundle.predict_columns(bundle.encode([changed]))[0])
    evaluations += 1
    if (new_output >= threshold) == above:  # pragma: no cover - decoding kept the value
        return Counterfactual(
            "none-within-bounds", (), original, None, threshold, None, evaluations, seed
        )
    return Counterfactual(
        "found", changes, original, new_output, threshold, cost, evaluations, seed
    )


def _refine(
    search: _Search,
    bundle: ModelBundle,
    best: tuple[float, dict[str, Any], float],
    current: Mapping[str, Any],
    crosses: Any,
) -> tuple[float, dict[str, Any], float]:
    """Move a single numeric change towards the original value while it still crosses.

    Vectorised bracketing instead of sequential bisection (one model call per round, since a
    call's fixed cost dominates on small batches): each round evaluates evenly spaced points
    between the last non-crossing and the first crossing value.
    """
    _, assignment, output = best
    ((key, value),) = assignment.items()
    spec = bundle.manifest.feature(key)
    if spec.type not in ("number", "integer"):
        return best
    bounds = _bounds(bundle, spec)
    assert bounds is not None
    span = bounds[1] - bounds[0] or 1.0
    inside, outside = float(current[key]), float(value)  # inside: no crossing; outside: crosses
    for _ in range(REFINE_ROUNDS):
        room = search.budget - search.used
        if room < 2:
            break
        points = np.linspace(inside, outside, min(REFINE_POINTS, room) + 2)[1:-1]
        if spec.type == "integer":
            points = np.unique(np.round(points))
            points = points[(points != inside) & (points != outside)]
            if outside < inside:
                points = points[::-1]
        if not points.size:
            break
        out = search.evaluate([{key: float(p)} for p in points])
        hit = crosses(out)
        if hit.any():
            first = int(np.argmax(hit))  # closest crossing point to the original value
            outside, output = float(points[first]), float(out[first])
            if first > 0:
                inside = float(points[first - 1])
        else:
            inside = float(points[-1])
    return abs(outside - float(current[key])) / span, {key: outside}, output
