"""Fairness figures from group cells: a biased model is flagged, an unbiased one is not,
small groups are shown but not judged, and equalised odds follow the real outcomes."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn.metrics import demographic_parity_difference

from portal.supervision.fairness import Cell, attribute_report, fairness_report
from portal.supervision.models import UNKNOWN


def cells(rates: dict[str, tuple[int, int]], actual: int = UNKNOWN) -> list[Cell]:
    """``{group: (positive, negative)}`` -> cells of one attribute."""
    out = []
    for group, (positive, negative) in rates.items():
        out.append(Cell("feature", "koen", group, 1, actual, positive, positive * 0.8))
        out.append(Cell("feature", "koen", group, 0, actual, negative, negative * 0.2))
    return out


def test_a_biased_model_is_flagged() -> None:
    report = attribute_report(
        "feature", "koen", cells({"k": (80, 20), "m": (30, 70)}), min_group_size=30
    )
    assert report["judged"]
    assert report["flagged"]
    assert report["parity_difference"] == pytest.approx(0.5)
    assert report["parity_ratio"] == pytest.approx(0.375)


def test_an_unbiased_model_is_not_flagged() -> None:
    report = attribute_report(
        "feature", "koen", cells({"k": (50, 50), "m": (102, 98)}), min_group_size=30
    )
    assert report["judged"]
    assert not report["flagged"]
    assert report["parity_difference"] == pytest.approx(0.01)


def test_weighted_cells_give_the_same_figure_as_the_decisions_one_by_one() -> None:
    groups = np.array(["k"] * 100 + ["m"] * 100)
    predicted = np.array([1] * 80 + [0] * 20 + [1] * 30 + [0] * 70)
    one_by_one = demographic_parity_difference(np.zeros(200), predicted, sensitive_features=groups)
    report = attribute_report(
        "feature", "koen", cells({"k": (80, 20), "m": (30, 70)}), min_group_size=30
    )
    assert report["parity_difference"] == pytest.approx(one_by_one)


def test_a_small_group_is_shown_with_a_warning_and_left_out() -> None:
    report = attribute_report(
        "feature",
        "koen",
        cells({"k": (50, 50), "m": (50, 50), "x": (5, 0)}),
        min_group_size=30,
    )
    small = next(g for g in report["groups"] if g["group"] == "x")
    assert small["too_small"]
    assert small["decisions"] == 5
    assert small["outcome_rate"] == 1.0
    assert not report["flagged"]  # the tiny group's 100 % is not held against the model


def test_one_large_group_is_not_judged() -> None:
    report = attribute_report(
        "feature", "koen", cells({"k": (80, 20), "m": (1, 2)}), min_group_size=30
    )
    assert not report["judged"]
    assert not report["flagged"]
    assert report["parity_difference"] is None


def test_equalised_odds_once_outcomes_are_known() -> None:
    # equal outcome rates, but the model is right about "k" and wrong about "m"
    known = [
        Cell("feature", "koen", "k", 1, 1, 50, 40.0),
        Cell("feature", "koen", "k", 0, 0, 50, 10.0),
        Cell("feature", "koen", "m", 1, 0, 50, 40.0),
        Cell("feature", "koen", "m", 0, 1, 50, 10.0),
    ]
    report = attribute_report("feature", "koen", known, min_group_size=30)
    assert report["parity_difference"] == pytest.approx(0.0)
    assert report["equalised_odds_difference"] == pytest.approx(1.0)
    assert report["flagged"]
    k = next(g for g in report["groups"] if g["group"] == "k")
    assert k["true_positive_rate"] == 1.0
    assert k["false_positive_rate"] == 0.0


def test_the_report_orders_manifest_attributes_first_and_counts_top_contributors() -> None:
    monitoring = [Cell("monitoring", "aldersgruppe", "30-39", 1, UNKNOWN, 40, 30.0)]
    report = fairness_report(
        [*monitoring, *cells({"k": (50, 50), "m": (50, 50)})],
        attribute_order=[("feature", "koen")],
        explained=200,
        sensitive_top=50,
        min_group_size=30,
    )
    assert [a["attribute"] for a in report["attributes"]] == ["koen", "aldersgruppe"]
    assert report["sensitive_top_share"] == 0.25
    assert report["flagged"] == []


def test_number_bands_between_quartiles() -> None:
    from portal.supervision.model_context import band_label

    edges = [18.0, 30.0, 42.0, 55.0, 67.0]
    assert band_label(edges, 18) == "[18, 30)"
    assert band_label(edges, 30) == "[30, 42)"
    assert band_label(edges, 54.9) == "[42, 55)"
    assert band_label(edges, 67) == "[55, 67]"
    assert band_label(edges, 17) == "< 18"
    assert band_label(edges, 70) == "> 67"
