"""Models fitted on plain numpy arrays (no pipeline, no feature names): manifest order is the
column order; only the count can be checked."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import skops.io as sio

from explainers import ModelBundle, explain_rows, validate_manifest

KEYS = ["a", "b", "c", "d"]


def _manifest(keys: list[str]) -> dict[str, Any]:
    text = {"da": "tekst"}
    return {
        "name": "bare",
        "version": "1",
        "title": text,
        "purpose": text,
        "responsible_unit": "enhed",
        "output": {"kind": "probability", "positive_class": 1},
        "considerations": [{"key": "alt", "label": text}],
        "features": [
            {"key": k, "type": "number", "label": text, "source": text, "consideration": "alt"}
            for k in keys
        ],
    }


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 4))
    return x, (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)


def test_bare_xgboost_matches_native_contribs(data: tuple[np.ndarray, np.ndarray]) -> None:
    import xgboost as xgb

    x, y = data
    model = xgb.XGBClassifier(n_estimators=30, max_depth=3, n_jobs=1).fit(x, y)
    bundle = ModelBundle.from_bytes(sio.dumps(model), _manifest(KEYS))
    rows = [dict(zip(KEYS, r, strict=True)) for r in x[:20].tolist()]
    native = model.get_booster().predict(xgb.DMatrix(x[:20]), pred_contribs=True)
    results = explain_rows(bundle, rows)
    for i, r in enumerate(results):
        assert [r.values[k] for k in KEYS] == pytest.approx(native[i, :-1].tolist(), abs=1e-6)
        assert r.base_value == pytest.approx(float(native[i, -1]), abs=1e-6)


def test_bare_hist_gradient_boosting(data: tuple[np.ndarray, np.ndarray]) -> None:
    import shap
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = data
    model = HistGradientBoostingClassifier(max_iter=20).fit(x, y)
    bundle = ModelBundle.from_bytes(sio.dumps(model), _manifest(KEYS))
    rows = [dict(zip(KEYS, r, strict=True)) for r in x[:10].tolist()]
    reference = shap.TreeExplainer(model).shap_values(x[:10])
    for i, r in enumerate(explain_rows(bundle, rows)):
        assert [r.values[k] for k in KEYS] == pytest.approx(reference[i].tolist(), abs=1e-10)
        assert r.declared_output == pytest.approx(
            float(model.predict_proba(x[i : i + 1])[0, 1]), abs=1e-12
        )
        # no background: no probability-scale Shapley values; log-odds points, never rescaled
        assert r.presentation.scale == "log-odds"
        assert r.presentation.method == "record"
        assert r.presentation.output == r.output


def test_feature_count_must_match(data: tuple[np.ndarray, np.ndarray]) -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = data
    model = LogisticRegression().fit(x, y)
    problems = validate_manifest(_manifest(KEYS[:3]), model)
    assert [(p.path, p.code, dict(p.detail)) for p in problems] == [
        ("features", "feature-count-mismatch", {"expected": 4, "got": 3})
    ]
