"""Drift figures: injected drift is flagged, undrifted data is not; values outside the
background are counted."""

from __future__ import annotations

import numpy as np
import pytest

from explainers.manifest import FeatureSpec
from portal.supervision import drift

RNG = np.random.default_rng(7)


def spec(kind: str, categories: tuple[str, ...] = ()) -> FeatureSpec:
    return FeatureSpec(
        key="x", type=kind, label={"da": "x"}, source={"da": "s"}, consideration="c",
        categories=categories,
    )  # fmt: skip


def recent_counts(reference: drift.Reference, values: np.ndarray) -> list[int]:
    bins = drift.bin_values(reference, values)
    return [int(c) for c in np.bincount(bins, minlength=reference.size)]


def test_numeric_bins_cover_below_inside_and_above() -> None:
    edges = [0.0, 10.0, 20.0]
    got = drift.numeric_bins(edges, np.array([-1.0, 0.0, 9.9, 10.0, 20.0, 20.1]))
    assert got.tolist() == [0, 1, 1, 2, 2, 3]


def test_undrifted_numbers_are_not_flagged() -> None:
    reference = drift.reference_bins(spec("number"), RNG.normal(50, 10, 2000))
    assert reference is not None
    same = recent_counts(reference, RNG.normal(50, 10, 1000))
    figures = drift.feature_drift(reference, same, min_count=30)
    assert figures["judged"]
    assert not figures["flagged"]
    assert figures["psi"] < 0.1
    assert figures["ks_p"] > 0.01


def test_injected_drift_in_numbers_is_flagged() -> None:
    reference = drift.reference_bins(spec("number"), RNG.normal(50, 10, 2000))
    assert reference is not None
    shifted = recent_counts(reference, RNG.normal(62, 10, 1000))
    figures = drift.feature_drift(reference, shifted, min_count=30)
    assert figures["flagged"]
    assert figures["psi"] > drift.PSI_THRESHOLD
    assert figures["ks"] > drift.KS_THRESHOLD


def test_categories_drift_and_unknown_values_are_out_of_range() -> None:
    categories = ("a", "b", "c")
    background = np.array(["a"] * 500 + ["b"] * 300 + ["c"] * 200, dtype=object)
    reference = drift.reference_bins(spec("category", categories), background)
    assert reference is not None
    assert reference.kind == "category"
    same = recent_counts(reference, np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 20, dtype=object))
    assert not drift.feature_drift(reference, same, min_count=30)["flagged"]
    moved = recent_counts(reference, np.array(["a"] * 10 + ["b"] * 30 + ["c"] * 60, dtype=object))
    assert drift.feature_drift(reference, moved, min_count=30)["flagged"]
    with_unknown = recent_counts(reference, np.array(["a"] * 90 + ["zz"] * 10, dtype=object))
    assert drift.feature_drift(reference, with_unknown, min_count=30)["out_of_range"] == 0.1


def test_numbers_outside_the_background_range_are_counted() -> None:
    reference = drift.reference_bins(spec("number"), np.linspace(0, 100, 500))
    assert reference is not None
    counts = recent_counts(reference, np.array([-5.0, 50.0, 50.0, 150.0]))
    assert drift.feature_drift(reference, counts, min_count=1)["out_of_range"] == 0.5


def test_too_few_recent_decisions_are_not_judged() -> None:
    reference = drift.reference_bins(spec("number"), RNG.normal(50, 10, 2000))
    assert reference is not None
    shifted = recent_counts(reference, RNG.normal(90, 10, 10))
    figures = drift.feature_drift(reference, shifted, min_count=30)
    assert not figures["judged"]
    assert not figures["flagged"]


def test_psi_of_identical_counts_is_zero() -> None:
    assert drift.psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)
