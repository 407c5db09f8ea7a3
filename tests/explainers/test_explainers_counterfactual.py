"""Counterfactuals: only actionable, non-sensitive features, within bounds, deterministic."""

from __future__ import annotations

import json
from typing import Any

import pytest
from explainers_testdata import Case, make_rows, row_strategy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explainers import ModelBundle, counterfactual, predict

ROWS = make_rows(40, seed=31)


def _check(bundle: ModelBundle, row: dict[str, Any], seed: int = 0) -> str:
    result = counterfactual(bundle, row, seed=seed, max_evaluations=400)
    manifest = bundle.manifest
    assert result.evaluations <= 400
    assert result.original_output == pytest.approx(predict(bundle, [row])[0], abs=1e-12)
    json.dumps(result.to_dict(), allow_nan=False)
    if result.status != "found":
        assert result.status == "none-within-bounds"
        assert result.changes == ()
        return result.status
    assert result.changes
    new_row = dict(row)
    for change in result.changes:
        spec = manifest.feature(change.feature)
        assert spec.actionable
        assert not spec.sensitive
        assert change.old == row[change.feature] or spec.type == "number"
        assert change.new != change.old
        if spec.type == "integer":
            assert isinstance(change.new, int)
        if spec.type in ("number", "integer"):
            assert spec.min is not None
            assert spec.max is not None
            assert spec.min <= change.new <= spec.max
        if spec.type == "category":
            assert change.new in spec.categories
        if spec.type == "boolean":
            assert change.new is (not row[change.feature])
        new_row[change.feature] = change.new
    threshold = result.threshold
    assert threshold is not None
    # the proposed row really crosses the threshold, and new_output is its output
    recomputed = predict(bundle, [new_row])[0]
    assert recomputed == pytest.approx(result.new_output, abs=1e-9)
    assert (recomputed >= threshold) != (result.original_output >= threshold)
    return result.status


@pytest.mark.parametrize("name", ["hgb", "logit", "xgb"])
def test_counterfactuals_on_sample_rows(bundles: dict[str, ModelBundle], name: str) -> None:
    found = 0
    for row in ROWS[:10]:
        found += _check(bundles[name], row) == "found"
    assert found > 0


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(row=row_strategy(), seed=st.integers(0, 3))
def test_counterfactual_properties(
    bundles: dict[str, ModelBundle], row: dict[str, Any], seed: int
) -> None:
    _check(bundles["hgb"], row, seed)


def test_counterfactual_is_deterministic(bundles: dict[str, ModelBundle]) -> None:
    for row in ROWS[:5]:
        a = counterfactual(bundles["knn"], row, seed=1, max_evaluations=300)
        b = counterfactual(bundles["knn"], row, seed=1, max_evaluations=300)
        assert a == b


def test_cheapest_single_change_is_chosen(bundles: dict[str, ModelBundle]) -> None:
    bundle = bundles["logit"]
    for row in ROWS[:10]:
        result = counterfactual(bundle, row, max_evaluations=2000)
        if result.status == "found" and len(result.changes) == 1:
            change = result.changes[0]
            spec = bundle.manifest.feature(change.feature)
            if spec.type == "number":
                # refined: half-way back towards the old value no longer crosses
                halfway = (change.old + change.new) / 2
                out = predict(bundle, [dict(row, **{change.feature: halfway})])[0]
                assert (out >= 0.5) == (result.original_output >= 0.5)
            return
    pytest.fail("no single-feature counterfactual found")


def test_nothing_actionable_or_no_threshold(
    cases: dict[str, Case], bundles: dict[str, ModelBundle]
) -> None:
    case = cases["hgb"]
    manifest = json.loads(json.dumps(case.manifest))
    for feature in manifest["features"]:
        feature["actionable"] = False
    bundle = ModelBundle.from_bytes(case.artifact, manifest)
    assert counterfactual(bundle, ROWS[0]).status == "no-actionable-features"
    assert counterfactual(bundles["ridge"], ROWS[0]).status == "no-threshold"


def test_none_within_bounds(cases: dict[str, Case]) -> None:
    case = cases["logit"]
    manifest = json.loads(json.dumps(case.manifest))
    for feature in manifest["features"]:
        feature["actionable"] = feature["key"] == "kursus"
    bundle = ModelBundle.from_bytes(case.artifact, manifest, case.background)
    # a row far from the threshold: flipping one boolean cannot cross it
    row = dict(ROWS[0], ledighed_uger=520.0, timer_pr_uge=0.0, uddannelse="grundskole")
    result = counterfactual(bundle, row)
    assert result.status == "none-within-bounds"
    assert result.evaluations == 2


def test_score_threshold_counterfactual(cases: dict[str, Case]) -> None:
    case = cases["ridge"]
    manifest = json.loads(json.dumps(case.manifest))
    manifest["output"]["threshold"] = 0.0
    bundle = ModelBundle.from_bytes(case.artifact, manifest, case.background)
    _check(bundle, ROWS[0])
    assert counterfactual(bundle, ROWS[0]).status == "found"
