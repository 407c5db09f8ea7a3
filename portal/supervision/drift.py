"""Drift and out-of-distribution: recent decisions against the registered background.

Each feature gets reference bins made once per model version from its background CSV
(``reference_bins``): a number's bins are the background's deciles, plus a bin below its
minimum and one above its maximum; a category's or boolean's bins are its values, plus
one for a value the manifest does not know. A value lands in a bin whose background count
is zero only if it lies outside what the background holds: that is "out of range".

Per feature, the decisions of the recent weeks are compared with the background:

- the population stability index, PSI = Σ (a - e) · ln(a / e) over the bins (shares,
  each at least ``EPSILON``), flagged above ``PSI_THRESHOLD`` (0.2: the usual line
  between "some" and "significant" shift);
- for numbers also the two-sample Kolmogorov-Smirnov statistic over the same bins (the
  largest gap between the two cumulative shares: a lower bound of the exact statistic),
  with scipy's asymptotic p-value, flagged when D > ``KS_THRESHOLD`` and p < ``KS_ALPHA``.

Nothing is judged on fewer than the minimum group size of recent decisions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PSI_THRESHOLD = 0.2
KS_THRESHOLD = 0.1
KS_ALPHA = 0.01
EPSILON = 1e-4
DECILES = np.linspace(0.0, 1.0, 11)
#: How many of the newest weeks with decisions count as "recent".
RECENT_WEEKS = 4


@dataclass(frozen=True)
class Reference:
    """A feature's bins and the background's counts in them."""

    feature: str
    kind: str  # numeric | category
    bins: list[Any]  # numeric: edges, ascending; category: the values
    counts: list[int]

    @property
    def size(self) -> int:
        return len(self.counts)


def _numeric_edges(column: np.ndarray[Any, Any]) -> list[float]:
    return sorted({float(v) for v in np.quantile(column, DECILES)})


def numeric_bins(edges: Sequence[float], values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Bin of each value: 0 below the first edge, 1 .. n for the n intervals between the
    edges (the last one closed), n + 1 above the last edge."""
    inner = np.asarray(edges[1:-1], dtype=float)
    intervals = max(len(edges) - 1, 1)
    out = np.searchsorted(inner, values, side="right") + 1
    out = np.where(values < edges[0], 0, out)
    return np.where(values > edges[-1], intervals + 1, out)


def category_bins(values_known: Sequence[Any], values: Sequence[Any]) -> np.ndarray[Any, Any]:
    """Bin of each value: its place among the known values, or the last bin if unknown."""
    place = {v: i for i, v in enumerate(values_known)}
    other = len(values_known)
    return np.fromiter((place.get(v, other) for v in values), dtype=np.int64, count=len(values))


def reference_bins(spec: Any, column: np.ndarray[Any, Any]) -> Reference | None:
    """The reference of one feature (``spec``: explainers' FeatureSpec) from its encoded
    background column; None when the background has no value of it."""
    if not len(column):
        return None
    if spec.type == "category":
        known = list(spec.categories) or sorted({str(v) for v in column})
        bins = category_bins(known, column.tolist())
        counts = np.bincount(bins, minlength=len(known) + 1)
        return Reference(spec.key, "category", known, [int(c) for c in counts])
    if spec.type == "boolean":
        known_b: list[Any] = [0.0, 1.0]
        bins = category_bins(known_b, [float(v) for v in column])
        counts = np.bincount(bins, minlength=3)
        return Reference(spec.key, "category", known_b, [int(c) for c in counts])
    values = column.astype(float)
    edges = _numeric_edges(values)
    bins = numeric_bins(edges, values)
    counts = np.bincount(bins, minlength=max(len(edges) - 1, 1) + 2)
    return Reference(spec.key, "numeric", edges, [int(c) for c in counts])


def bin_values(reference: Reference, column: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    if reference.kind == "numeric":
        return numeric_bins(reference.bins, column.astype(float))
    values = column.tolist()
    if reference.bins and isinstance(reference.bins[0], float):
        values = [float(v) for v in values]
    return category_bins(reference.bins, values)


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of ``actual`` counts against ``expected`` counts."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.sum() <= 0 or a.sum() <= 0:
        return 0.0
    e = np.maximum(e / e.sum(), EPSILON)
    a = np.maximum(a / a.sum(), EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def ks_binned(expected: Sequence[float], actual: Sequence[float]) -> tuple[float, float]:
    """Kolmogorov-Smirnov statistic over ordered bins and its asymptotic p-value."""
    from scipy.stats import kstwobign

    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    n, m = e.sum(), a.sum()
    if n <= 0 or m <= 0:
        return 0.0, 1.0
    d = float(np.max(np.abs(np.cumsum(e) / n - np.cumsum(a) / m)))
    effective = math.sqrt(n * m / (n + m))
    return d, float(kstwobign.sf(d * effective))


def feature_drift(reference: Reference, recent: Sequence[int], min_count: int) -> dict[str, Any]:
    """The figures of one feature: recent count, PSI, KS (numbers), out-of-range share,
    and whether it is judged and flagged."""
    total = int(sum(recent))
    outside = sum(c for c, r in zip(recent, reference.counts, strict=True) if r == 0)
    value_psi = psi(reference.counts, recent)
    figures: dict[str, Any] = {
        "feature": reference.feature,
        "kind": reference.kind,
        "recent": total,
        "psi": round(value_psi, 4),
        "ks": None,
        "ks_p": None,
        "out_of_range": round(outside / total, 4) if total else 0.0,
        "judged": total >= min_count,
    }
    flagged = value_psi > PSI_THRESHOLD
    if reference.kind == "numeric":
        d, p = ks_binned(reference.counts, recent)
        figures["ks"], figures["ks_p"] = round(d, 4), round(p, 6)
        flagged = flagged or (d > KS_THRESHOLD and p < KS_ALPHA)
    figures["flagged"] = bool(flagged and figures["judged"])
    return figures


def drift_report(
    references: Sequence[Reference],
    bins: Mapping[tuple[str, str], Mapping[int, int]],
    weeks: Mapping[str, Mapping[str, int]],
    *,
    min_count: int,
) -> dict[str, Any]:
    """The drift report of a model version.

    ``bins``: (feature, week) -> {bin: decisions}; ``weeks``: week -> {decisions,
    out_of_range}. The recent window is the newest ``RECENT_WEEKS`` weeks with decisions.
    """
    all_weeks = sorted(weeks)
    recent_weeks = all_weeks[-RECENT_WEEKS:]
    features = []
    for reference in references:
        recent = [0] * reference.size
        for week in recent_weeks:
            for b, count in bins.get((reference.feature, week), {}).items():
                recent[b] += count
        features.append(feature_drift(reference, recent, min_count))
    over_time = []
    for week in all_weeks:
        worst: tuple[float, str] = (0.0, "")
        for reference in references:
            counts = [0] * reference.size
            for b, count in bins.get((reference.feature, week), {}).items():
                counts[b] += count
            if sum(counts):
                worst = max(worst, (psi(reference.counts, counts), reference.feature))
        over_time.append(
            {
                "week": week,
                "decisions": int(weeks[week].get("decisions", 0)),
                "max_psi": round(worst[0], 4),
                "feature": worst[1],
            }
        )
    recent_decisions = sum(int(weeks[w].get("decisions", 0)) for w in recent_weeks)
    recent_outside = sum(int(weeks[w].get("out_of_range", 0)) for w in recent_weeks)
    return {
        "has_background": bool(references),
        "recent_weeks": recent_weeks,
        "recent_decisions": recent_decisions,
        "out_of_range_share": (
            round(recent_outside / recent_decisions, 4) if recent_decisions else 0.0
        ),
        "features": features,
        "flagged": [f["feature"] for f in features if f["flagged"]],
        "weeks": over_time,
        "thresholds": {
            "psi": PSI_THRESHOLD,
            "ks": KS_THRESHOLD,
            "ks_alpha": KS_ALPHA,
            "min_count": min_count,
        },
    }
