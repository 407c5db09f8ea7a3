"""Contributions on the probability scale are Shapley values of the probability itself.

Checked against references computed here, independently of the package: brute-force
enumeration of every coalition with the interventional value function (mean model
probability over the background with the coalition's features from the case), and shap's
own interventional ``TreeExplainer(..., model_output="probability")``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from explainers_testdata import BACKGROUND_ROWS, Case, background_csv, make_rows, to_frame

from explainers import ModelBundle, explain_rows
from explainers.probability import EXACT_MAX_FEATURES

ROWS = make_rows(5, seed=31)


def brute_force(
    f: Callable[[list[dict[str, Any]]], np.ndarray],
    x: dict[str, Any],
    background: list[dict[str, Any]],
    keys: list[str],
) -> tuple[float, dict[str, float]]:
    """(base, Shapley values) of v(S) = mean_b f(x_S, b_rest), by the subset formula."""
    m = len(keys)
    subsets = [frozenset(c) for size in range(m + 1) for c in itertools.combinations(keys, size)]
    hybrids = [{k: (x[k] if k in s else b[k]) for k in keys} for s in subsets for b in background]
    p = np.asarray(f(hybrids)).reshape(len(subsets), len(background)).mean(axis=1)
    v = dict(zip(subsets, p.tolist(), strict=True))
    phi = {}
    for key in keys:
        total = 0.0
        for s in subsets:
            if key not in s:
                weight = math.factorial(len(s)) * math.factorial(m - len(s) - 1) / math.factorial(m)
                total += weight * (v[s | {key}] - v[s])
        phi[key] = total
    return v[frozenset()], phi


def _proba(case: Case) -> Callable[[list[dict[str, Any]]], np.ndarray]:
    return lambda rows: case.model.predict_proba(to_frame(rows))[:, 1]


@pytest.mark.parametrize("name", ["hgb", "rf", "xgb", "lgbm", "logit", "knn"])
def test_shown_values_are_exact_probability_shapley_values(
    cases: dict[str, Case], bundles: dict[str, ModelBundle], name: str
) -> None:
    """Trees, logistic regression and a model-agnostic (k-NN) model: with one-hot columns
    the values are enumerated over the original features and match brute force."""
    case, bundle = cases[name], bundles[name]
    keys = list(bundle.manifest.feature_keys)
    tol = 1e-6 if name == "xgb" else 1e-9  # xgboost's predict_proba is float32
    for x, r in zip(ROWS[:3], explain_rows(bundle, ROWS[:3]), strict=True):
        base, reference = brute_force(_proba(case), x, BACKGROUND_ROWS, keys)
        p = r.presentation
        assert p.scale == "probability"
        assert p.method == "exact"
        assert p.estimate_error is None
        assert p.base_value == pytest.approx(base, abs=tol)
        for key in keys:
            assert p.values[key] == pytest.approx(reference[key], abs=tol), key
        assert p.output == pytest.approx(float(_proba(case)([x])[0]), abs=tol)
        assert p.base_value + sum(p.values.values()) == pytest.approx(p.output, abs=1e-12)
        assert p.additivity_error < 1e-12
        assert p.background_rows == len(BACKGROUND_ROWS)


def _numeric_case(model: Any, n_features: int = 4, bg_rows: int = 25) -> tuple[Any, ...]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, n_features))
    y = (x[:, 0] + x[:, 1] * x[:, 2] - 0.5 * x[:, 3 % n_features] + rng.normal(size=400)) > 0
    model.fit(x, y.astype(int))
    keys = [f"f{i}" for i in range(n_features)]
    manifest = {
        "name": "num",
        "version": "1",
        "title": {"da": "t"},
        "purpose": {"da": "p"},
        "responsible_unit": "u",
        "output": {"kind": "probability", "positive_class": 1},
        "considerations": [{"key": "c", "label": {"da": "c"}}],
        "features": [
            {
                "key": k,
                "type": "number",
                "label": {"da": k},
                "source": {"da": "s"},
                "consideration": "c",
            }
            for k in keys
        ],
    }
    bg = [dict(zip(keys, row, strict=True)) for row in x[:bg_rows].tolist()]
    csv = background_csv(bg)
    sha = f"numeric-{type(model).__name__}-{n_features}"  # the explainer cache key
    bundle = ModelBundle.from_model(model, manifest, csv, artifact_sha256=sha)
    rows = [dict(zip(keys, row, strict=True)) for row in x[300:304].tolist()]
    return model, keys, bg, bundle, rows


def test_tree_model_values_match_brute_force_not_shaps_per_reference_rescaling() -> None:
    """shap's interventional ``model_output="probability"`` shares the game's base value and
    adds up, but rescales each background row's log-odds contributions in proportion, so its
    values differ from the exact ones; ours match brute force."""
    import shap
    from sklearn.ensemble import GradientBoostingClassifier

    model, keys, bg, bundle, rows = _numeric_case(
        GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0)
    )
    data = np.asarray([[b[k] for k in keys] for b in bg])
    reference = shap.TreeExplainer(
        model, data=data, feature_perturbation="interventional", model_output="probability"
    )
    xs = np.asarray([[r[k] for k in keys] for r in rows])
    shap_values = reference.shap_values(xs)

    def f(hybrid: list[dict[str, Any]]) -> np.ndarray:
        return model.predict_proba(np.asarray([[h[k] for k in keys] for h in hybrid]))[:, 1]

    shap_off = 0.0
    for i, r in enumerate(explain_rows(bundle, rows)):
        p = r.presentation
        assert p.method == "exact"
        base, brute = brute_force(f, rows[i], bg, keys)
        assert p.base_value == pytest.approx(base, abs=1e-12)
        assert float(reference.expected_value) == pytest.approx(base, abs=1e-9)
        assert [p.values[k] for k in keys] == pytest.approx([brute[k] for k in keys], abs=1e-12)
        assert p.base_value + sum(p.values.values()) == pytest.approx(p.output, abs=1e-12)
        assert sum(shap_values[i]) == pytest.approx(sum(brute.values()), abs=1e-6)
        shap_off = max(shap_off, max(abs(shap_values[i][j] - brute[k]) for j, k in enumerate(keys)))
    assert shap_off > 1e-3


def _old_rescaled(record_values: dict[str, float], base: float, output: float) -> dict[str, float]:
    """The presentation before: log-odds values rescaled in proportion to the change."""
    p_base, p_out = 1 / (1 + math.exp(-base)), 1 / (1 + math.exp(-output))
    total = sum(record_values.values())
    factor = p_base * (1 - p_base) if abs(total) <= 1e-12 else (p_out - p_base) / total
    return {k: v * factor for k, v in record_values.items()}


def test_nearly_cancelling_contributions_are_shown_truly() -> None:
    """Two features pull hard in opposite directions and nearly cancel: the old proportional
    rescaling shows visibly wrong numbers (here larger than the true effects); the new values
    match brute force."""
    from sklearn.linear_model import LogisticRegression

    model, keys, bg, bundle, _ = _numeric_case(LogisticRegression(), n_features=3)
    model.coef_ = np.asarray([[2.0, -2.0, 0.1]])
    model.intercept_ = np.asarray([0.0])
    bundle = ModelBundle.from_model(
        model, bundle.manifest.raw, background_csv(bg), artifact_sha256="cancel"
    )
    x = {"f0": 2.5, "f1": 2.45, "f2": 0.0}
    r = explain_rows(bundle, [x])[0]

    def f(hybrid: list[dict[str, Any]]) -> np.ndarray:
        return model.predict_proba(np.asarray([[h[k] for k in keys] for h in hybrid]))[:, 1]

    _, brute = brute_force(f, x, bg, keys)
    old = _old_rescaled(dict(r.values), r.base_value, r.output)
    p = r.presentation
    assert p.method == "exact"
    for key in keys:
        assert p.values[key] == pytest.approx(brute[key], abs=1e-12)
    assert abs(old["f0"] - brute["f0"]) > 0.05  # the old answer is visibly wrong
    assert abs(old["f1"] - brute["f1"]) > 0.05
    assert brute["f0"] > 0.2
    assert brute["f1"] < -0.2


def _logistic() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression()


def _boosted() -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0)


@pytest.mark.parametrize("make", [_logistic, _boosted])
def test_many_features_get_a_bounded_permutation_estimate_with_its_error(
    make: Callable[[], Any],
) -> None:
    n = EXACT_MAX_FEATURES + 2
    model, keys, bg, bundle, rows = _numeric_case(make(), n_features=n, bg_rows=6)
    r = explain_rows(bundle, rows[:1])[0]

    def f(hybrid: list[dict[str, Any]]) -> np.ndarray:
        return model.predict_proba(pd.DataFrame(hybrid)[keys].to_numpy())[:, 1]

    _, brute = brute_force(f, rows[0], bg, keys)
    p = r.presentation
    assert p.method == "permutation-estimate"
    assert p.estimate_error is not None
    assert set(p.estimate_error) == set(keys)
    assert p.max_estimate_error is not None
    assert 0 < p.max_estimate_error < 0.02
    for key in keys:
        assert abs(p.values[key] - brute[key]) <= 5 * p.estimate_error[key] + 1e-6, key
    # every permutation adds up, so the estimate does too
    assert p.base_value + sum(p.values.values()) == pytest.approx(p.output, abs=1e-12)
    assert 0 < p.evaluations <= 64 * 262_144


def test_positive_class_zero_mirrors_the_probability_values(cases: dict[str, Case]) -> None:
    case = cases["xgb"]
    flipped = {**case.manifest, "output": {**case.manifest["output"], "positive_class": 0}}
    a = explain_rows(case.bundle(), ROWS[:2])
    b = explain_rows(ModelBundle.from_bytes(case.artifact, flipped, case.background), ROWS[:2])
    for ra, rb in zip(a, b, strict=True):
        assert rb.presentation.base_value == pytest.approx(1 - ra.presentation.base_value, abs=1e-9)
        for key, value in ra.presentation.values.items():
            assert rb.presentation.values[key] == pytest.approx(-value, abs=1e-9)
