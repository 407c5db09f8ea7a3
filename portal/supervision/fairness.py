"""Fairness per group: outcome rates, mean model output, demographic parity and, once
real outcomes are reported, equalised odds; computed with fairlearn's metrics.

The input is the aggregation job's group cells (counts per group, model recommendation
and real outcome), not one row per decision: fairlearn's metrics take the cells as
samples weighted by their counts (``sample_weight``), which gives the same figures as
the decisions one by one, at the cost of a handful of rows.

A group with fewer decisions than the minimum group size (``supervision_min_group_size``)
is shown with a warning and left out of the differences and ratios: its rate says too
little. An attribute is flagged when, among the groups large enough to judge, the
demographic parity difference exceeds ``PARITY_DIFFERENCE`` (0.1), the ratio falls below
``PARITY_RATIO`` (0.8, the "four-fifths rule"), or the equalised-odds difference exceeds
``EQUALISED_ODDS_DIFFERENCE`` (0.1).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from portal.supervision.models import UNKNOWN

PARITY_DIFFERENCE = 0.1
PARITY_RATIO = 0.8
EQUALISED_ODDS_DIFFERENCE = 0.1


@dataclass(frozen=True)
class Cell:
    source: str
    attribute: str
    group: str
    predicted: int
    actual: int
    decisions: int
    output_sum: float


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _weighted(cells: Sequence[Cell]) -> tuple[Any, Any, Any, Any]:
    y_true = np.array([max(c.actual, 0) for c in cells])
    y_pred = np.array([c.predicted for c in cells])
    groups = np.array([c.group for c in cells], dtype=object)
    weight = np.array([float(c.decisions) for c in cells])
    return y_true, y_pred, groups, weight


def _parity(cells: Sequence[Cell]) -> tuple[float, float]:
    """Demographic parity difference and ratio: the spread of the selection rates of one
    ``MetricFrame`` (what fairlearn's ``demographic_parity_difference`` and ``_ratio``
    compute, each building its own frame; one frame here costs a third)."""
    from fairlearn.metrics import MetricFrame, selection_rate

    y_true, y_pred, groups, weight = _weighted(cells)
    frame = MetricFrame(
        metrics=selection_rate,
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=groups,
        sample_params={"sample_weight": weight},
    )
    return float(frame.difference(method="between_groups")), float(
        frame.ratio(method="between_groups")
    )


def _equalised_odds(cells: Sequence[Cell]) -> float:
    from fairlearn.metrics import equalized_odds_difference

    y_true, y_pred, groups, weight = _weighted(cells)
    return float(
        equalized_odds_difference(y_true, y_pred, sensitive_features=groups, sample_weight=weight)
    )


def attribute_report(
    source: str, attribute: str, cells: Sequence[Cell], *, min_group_size: int
) -> dict[str, Any]:
    """The figures of one attribute: per group, and the differences between groups."""
    by_group: dict[str, list[Cell]] = defaultdict(list)
    for cell in cells:
        by_group[cell.group].append(cell)
    groups = []
    judged_cells: list[Cell] = []
    known_cells: list[Cell] = []
    for name in sorted(by_group):
        own = by_group[name]
        n = sum(c.decisions for c in own)
        positive = sum(c.decisions for c in own if c.predicted)
        known = [c for c in own if c.actual != UNKNOWN]
        actual_pos = sum(c.decisions for c in known if c.actual == 1)
        actual_neg = sum(c.decisions for c in known if c.actual == 0)
        true_pos = sum(c.decisions for c in known if c.actual == 1 and c.predicted)
        false_pos = sum(c.decisions for c in known if c.actual == 0 and c.predicted)
        too_small = n < min_group_size
        groups.append(
            {
                "group": name,
                "decisions": n,
                "outcome_rate": _rate(positive, n),
                "mean_output": round(sum(c.output_sum for c in own) / n, 4) if n else None,
                "outcomes_known": actual_pos + actual_neg,
                "true_positive_rate": _rate(true_pos, actual_pos),
                "false_positive_rate": _rate(false_pos, actual_neg),
                "too_small": too_small,
            }
        )
        if not too_small:
            judged_cells.extend(own)
            # equalised odds needs both real outcomes in every group it compares
            if min(actual_pos, actual_neg) > 0 and actual_pos + actual_neg >= min_group_size:
                known_cells.extend(known)
    judged_groups = {c.group for c in judged_cells}
    report: dict[str, Any] = {
        "source": source,
        "attribute": attribute,
        "groups": groups,
        "judged": len(judged_groups) >= 2,
        "parity_difference": None,
        "parity_ratio": None,
        "equalised_odds_difference": None,
        "flagged": False,
    }
    if report["judged"]:
        difference, ratio = _parity(judged_cells)
        report["parity_difference"] = round(difference, 4)
        report["parity_ratio"] = round(ratio, 4)
        report["flagged"] = difference > PARITY_DIFFERENCE or ratio < PARITY_RATIO
    if len({c.group for c in known_cells}) >= 2:
        odds = _equalised_odds(known_cells)
        report["equalised_odds_difference"] = round(odds, 4)
        report["flagged"] = report["flagged"] or odds > EQUALISED_ODDS_DIFFERENCE
    return report


def fairness_report(
    cells: Iterable[Cell],
    *,
    attribute_order: Sequence[tuple[str, str]],
    explained: int,
    sensitive_top: int,
    min_group_size: int,
) -> dict[str, Any]:
    """The fairness report of a model version: one entry per attribute (the manifest's
    sensitive features in their order, then monitoring attributes by name), and the share
    of explained decisions where a sensitive feature or proxy was among the top three."""
    by_attribute: dict[tuple[str, str], list[Cell]] = defaultdict(list)
    for cell in cells:
        by_attribute[(cell.source, cell.attribute)].append(cell)
    order = [key for key in attribute_order if key in by_attribute]
    order += sorted(key for key in by_attribute if key not in attribute_order)
    attributes = [
        attribute_report(source, name, by_attribute[(source, name)], min_group_size=min_group_size)
        for source, name in order
    ]
    return {
        "attributes": attributes,
        "flagged": [a["attribute"] for a in attributes if a["flagged"]],
        "explained": explained,
        "sensitive_top": sensitive_top,
        "sensitive_top_share": _rate(sensitive_top, explained),
        "thresholds": {
            "parity_difference": PARITY_DIFFERENCE,
            "parity_ratio": PARITY_RATIO,
            "equalised_odds_difference": EQUALISED_ODDS_DIFFERENCE,
            "min_group_size": min_group_size,
        },
    }
