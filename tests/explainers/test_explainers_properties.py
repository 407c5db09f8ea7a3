"""Property tests over random rows: exact explainers stay additive and well-formed."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from explainers_testdata import row_strategy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explainers import ModelBundle, explain_rows

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(
    rows=st.lists(row_strategy(), min_size=1, max_size=4),
    name=st.sampled_from(["hgb", "rf", "xgb", "lgbm", "logit", "ridge"]),
)
def test_exact_explainers_are_additive(
    bundles: dict[str, ModelBundle], rows: list[dict[str, Any]], name: str
) -> None:
    bundle = bundles[name]
    for r in explain_rows(bundle, rows):
        assert r.additivity_error <= r.additivity_tolerance
        assert r.additivity_error < 1e-6
        assert abs(r.base_value + sum(r.values.values()) - r.output) < 1e-6
        p = r.presentation
        assert p.base_value + sum(p.values.values()) == pytest.approx(p.output, abs=1e-12)
        assert set(r.ranking) == set(r.values)
        keys = list(r.ranking)
        for a, b in itertools.pairwise(keys):
            va, vb = abs(r.values[a]), abs(r.values[b])
            assert va > vb or (va == vb and a < b)


@SETTINGS
@given(row=row_strategy())
def test_permutation_is_additive_on_random_rows(
    bundles: dict[str, ModelBundle], row: dict[str, Any]
) -> None:
    r = explain_rows(bundles["knn"], [row], max_evaluations=500)[0]
    assert r.additivity_error < 1e-9
