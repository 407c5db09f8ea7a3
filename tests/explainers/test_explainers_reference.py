"""Explanations against outside references: native contributions, shap run directly on the
final estimator, and linear SHAP computed here by hand."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import pytest
import shap
from explainers_testdata import BACKGROUND_ROWS, Case, background_csv, make_rows, to_frame

from explainers import ModelBundle, explain_rows, predict

ROWS = make_rows(25, seed=11)
# Column layout of the explainers_testdata preprocessor: one-hot blocks, then numeric.
GROUPS = {
    "uddannelse": [0, 1, 2, 3],
    "omraade": [4, 5, 6],
    "ledighed_uger": [7],
    "alder": [8],
    "timer_pr_uge": [9],
    "kursus": [10],
    "seneste_job": [11],
}


def grouped(contribs: np.ndarray, key: str) -> np.ndarray:
    return contribs[:, GROUPS[key]].sum(axis=1)


def ours(bundle: ModelBundle) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    results = explain_rows(bundle, ROWS)
    values = {k: np.array([r.values[k] for r in results]) for k in GROUPS}
    return values, np.array([r.base_value for r in results]), np.array([r.output for r in results])


def transformed(case: Case, rows: list[dict[str, Any]]) -> np.ndarray:
    return np.asarray(case.model[:-1].transform(to_frame(rows)), dtype=np.float64)


def test_xgboost_matches_native_pred_contribs(
    cases: dict[str, Case], bundles: dict[str, ModelBundle]
) -> None:
    import xgboost as xgb

    case = cases["xgb"]
    native = (
        case.model[-1]
        .get_booster()
        .predict(xgb.DMatrix(transformed(case, ROWS)), pred_contribs=True)
        .astype(np.float64)
    )
    values, base, output = ours(bundles["xgb"])
    for key in GROUPS:
        np.testing.assert_allclose(values[key], grouped(native, key), rtol=0, atol=1e-6)
    np.testing.assert_allclose(base, native[:, -1], rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        output, case.model.predict(to_frame(ROWS), output_margin=True), rtol=0, atol=1e-5
    )


def test_lightgbm_matches_native_pred_contrib(
    cases: dict[str, Case], bundles: dict[str, ModelBundle]
) -> None:
    case = cases["lgbm"]
    native = case.model[-1].booster_.predict(transformed(case, ROWS), pred_contrib=True)
    values, base, _ = ours(bundles["lgbm"])
    for key in GROUPS:
        np.testing.assert_allclose(values[key], grouped(native, key), rtol=0, atol=1e-10)
    np.testing.assert_allclose(base, native[:, -1], rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["hgb", "rf"])
def test_sklearn_trees_match_shap_on_the_final_estimator(
    cases: dict[str, Case], bundles: dict[str, ModelBundle], name: str
) -> None:
    case = cases[name]
    reference = shap.TreeExplainer(case.model[-1])
    raw = np.asarray(reference.shap_values(transformed(case, ROWS)))
    expected = np.asarray(reference.expected_value).reshape(-1)
    if raw.ndim == 3:
        raw, base_ref = raw[:, :, 1], expected[1]
    else:
        base_ref = expected[0]
    values, base, output = ours(bundles[name])
    for key in GROUPS:
        np.testing.assert_allclose(values[key], grouped(raw, key), rtol=0, atol=1e-10)
    np.testing.assert_allclose(base, base_ref, rtol=0, atol=1e-12)
    proba = case.model.predict_proba(to_frame(ROWS))[:, 1]
    shown = [r.presentation.output for r in explain_rows(bundles[name], ROWS)]
    np.testing.assert_allclose(shown, proba, rtol=0, atol=1e-12)
    if name == "hgb":
        assert np.all(np.abs(output) > 0)
        assert bundles[name].info.scale == "log-odds"


@pytest.mark.parametrize("name", ["logit", "ridge"])
def test_linear_equals_coef_times_deviation_from_background_mean(
    cases: dict[str, Case], bundles: dict[str, ModelBundle], name: str
) -> None:
    case = cases[name]
    est = case.model[-1]
    coef = np.asarray(est.coef_, dtype=np.float64).reshape(-1)
    mean = transformed(case, BACKGROUND_ROWS).mean(axis=0)
    phi = coef * (transformed(case, ROWS) - mean)
    values, base, output = ours(bundles[name])
    for key in GROUPS:
        np.testing.assert_allclose(values[key], grouped(phi, key), rtol=0, atol=1e-10)
    intercept = float(np.asarray(est.intercept_).reshape(-1)[0])
    np.testing.assert_allclose(base, intercept + coef @ mean, rtol=0, atol=1e-10)
    raw = est.decision_function if name == "logit" else est.predict
    np.testing.assert_allclose(output, raw(transformed(case, ROWS)), rtol=0, atol=1e-10)


def test_permutation_values_sum_to_output_minus_base(
    cases: dict[str, Case], bundles: dict[str, ModelBundle]
) -> None:
    results = explain_rows(bundles["knn"], ROWS[:5])
    proba = cases["knn"].model.predict_proba(to_frame(ROWS[:5]))[:, 1]
    for r, p in zip(results, proba, strict=True):
        assert r.explainer == "permutation"
        assert r.output == pytest.approx(p, abs=1e-12)
        assert r.base_value + sum(r.values.values()) == pytest.approx(r.output, abs=1e-9)
        assert 0.0 <= r.base_value <= 1.0


def _exact_shapley(
    f: Any, x: dict[str, Any], background: list[dict[str, Any]], keys: list[str]
) -> dict[str, float]:
    """Interventional Shapley values by the subset formula (independent of the package)."""
    m = len(keys)

    def v(subset: tuple[str, ...]) -> float:
        hybrid = [{k: (x[k] if k in subset else b[k]) for k in keys} for b in background]
        return float(np.mean(f(hybrid)))

    out = {}
    for key in keys:
        others = [k for k in keys if k != key]
        total = 0.0
        for size in range(m):
            for subset in itertools.combinations(others, size):
                weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
                total += weight * (v((*subset, key)) - v(subset))
        out[key] = total
    return out


def test_permutation_is_exact_shapley_for_few_features() -> None:
    from explainers_testdata import CATS, make_manifest
    from sklearn.compose import ColumnTransformer
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    keys = ["ledighed_uger", "uddannelse", "timer_pr_uge"]
    manifest = make_manifest()
    manifest["features"] = [f for f in manifest["features"] if f["key"] in keys]
    train = to_frame(make_rows(200, seed=5))[keys]
    y = ((train["ledighed_uger"] > 40) ^ (train["uddannelse"] == "grundskole")).astype(int)
    model = Pipeline(
        [
            (
                "pre",
                ColumnTransformer(
                    [
                        ("cat", OneHotEncoder(categories=[CATS["uddannelse"]]), ["uddannelse"]),
                        ("num", StandardScaler(), ["ledighed_uger", "timer_pr_uge"]),
                    ]
                ),
            ),
            ("knn", KNeighborsClassifier(n_neighbors=7)),
        ]
    ).fit(train, y)
    bg_rows = [{k: r[k] for k in keys} for r in BACKGROUND_ROWS[:8]]
    bundle = ModelBundle.from_model(
        model, manifest, background_csv(bg_rows), artifact_sha256="exact-test"
    )
    row = {k: ROWS[0][k] for k in keys}
    result = explain_rows(bundle, [row])[0]
    assert result.algorithm == "permutation-exact"

    def f(rows: list[dict[str, Any]]) -> np.ndarray:
        import pandas as pd

        return model.predict_proba(pd.DataFrame(rows)[keys])[:, 1]

    reference = _exact_shapley(f, row, bg_rows, keys)
    for key in keys:
        assert result.values[key] == pytest.approx(reference[key], abs=1e-12)


def test_positive_class_zero_flips_the_sign(cases: dict[str, Case]) -> None:
    case = cases["hgb"]
    flipped_manifest = json.loads(json.dumps(case.manifest))
    flipped_manifest["output"]["positive_class"] = 0
    normal = explain_rows(ModelBundle.from_bytes(case.artifact, case.manifest), ROWS[:3])
    flipped = explain_rows(ModelBundle.from_bytes(case.artifact, flipped_manifest), ROWS[:3])
    for a, b in zip(normal, flipped, strict=True):
        for key in GROUPS:
            assert b.values[key] == pytest.approx(-a.values[key], abs=1e-12)
        assert b.declared_output == pytest.approx(1 - a.declared_output, abs=1e-12)
        assert b.additivity_error < 1e-9


def test_predict_returns_declared_scale(
    cases: dict[str, Case], bundles: dict[str, ModelBundle]
) -> None:
    frame = to_frame(ROWS)
    for name in ("hgb", "xgb", "logit", "knn"):
        np.testing.assert_allclose(
            predict(bundles[name], ROWS),
            cases[name].model.predict_proba(frame)[:, 1],
            rtol=0,
            atol=1e-6 if name == "xgb" else 1e-12,
        )
    np.testing.assert_allclose(
        predict(bundles["ridge"], ROWS), cases["ridge"].model.predict(frame), rtol=0, atol=1e-10
    )
