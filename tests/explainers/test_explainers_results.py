"""Result shape: additivity, presentation, ranking, direction, flags, errors and caching."""

from __future__ import annotations

import json
import math
import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest
from explainers_testdata import Case, make_rows

import explainers
from explainers import (
    EXPLAINER_CACHE,
    AdditivityError,
    ModelBundle,
    RowError,
    explain_rows,
    get_explainer,
)
from explainers.cache import LRUCache
from explainers.kernels import RawExplanation

ROWS = make_rows(12, seed=21)
EXACT = ["hgb", "rf", "xgb", "lgbm", "logit", "ridge"]


def _json_only_plain(value: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str)
            _json_only_plain(v)
    elif isinstance(value, list):
        for v in value:
            _json_only_plain(v)
    else:
        assert value is None or type(value) in (str, int, float, bool), type(value)


@pytest.mark.parametrize("name", [*EXACT, "knn"])
def test_result_record_is_complete_and_additive(bundles: dict[str, ModelBundle], name: str) -> None:
    bundle = bundles[name]
    for r in explain_rows(bundle, ROWS):
        total = r.base_value + sum(r.values.values())
        assert abs(total - r.output) == pytest.approx(r.additivity_error, abs=1e-12)
        assert r.additivity_error < 1e-6
        assert list(r.values) == list(bundle.manifest.feature_keys)
        for cons in bundle.manifest.considerations:
            members = [f.key for f in bundle.manifest.features if f.consideration == cons.key]
            assert r.consideration_values[cons.key] == pytest.approx(
                sum(r.values[k] for k in members), abs=1e-12
            )
        assert r.artifact_sha256 == bundle.artifact_sha256
        assert r.background_sha256 == bundle.background_sha256
        assert r.shap_version == explainers.explain.shap_version()
        assert r.seconds > 0
        # the page's view adds up exactly to what it shows
        p = r.presentation
        assert p.base_value + sum(p.values.values()) == pytest.approx(p.output, abs=1e-12)
        assert sum(p.consideration_values.values()) == pytest.approx(
            p.output - p.base_value, abs=1e-12
        )
        data = r.to_dict()
        _json_only_plain(data)
        json.dumps(data, allow_nan=False)


def test_explainer_kind_is_chosen_by_model(bundles: dict[str, ModelBundle]) -> None:
    kinds = {name: explain_rows(b, ROWS[:1])[0] for name, b in bundles.items()}
    assert {n: (r.explainer, r.scale) for n, r in kinds.items()} == {
        "hgb": ("tree", "log-odds"),
        "rf": ("tree", "probability"),
        "xgb": ("tree", "log-odds"),
        "lgbm": ("tree", "log-odds"),
        "logit": ("linear", "log-odds"),
        "ridge": ("linear", "raw"),
        "knn": ("permutation", "probability"),
    }
    assert kinds["xgb"].algorithm == "xgboost-pred-contribs"
    assert kinds["hgb"].algorithm == "tree-path-dependent"
    assert kinds["ridge"].presentation.scale == "raw"
    assert kinds["ridge"].presentation.threshold is None


@pytest.mark.parametrize("name", ["hgb", "logit", "xgb"])
def test_probability_presentation_is_not_rescaled_log_odds(
    bundles: dict[str, ModelBundle], name: str
) -> None:
    """Shown values are probability Shapley values; base = mean probability over the
    background (the old presentation rescaled the log-odds record in proportion)."""
    bundle = bundles[name]
    background_mean = float(np.mean(bundle.predict_columns(bundle.background.columns)))
    rescaled_everywhere = True
    for r in explain_rows(bundle, ROWS):
        p = r.presentation
        assert p.scale == "probability"
        assert p.method == "exact"
        assert p.output == pytest.approx(1 / (1 + math.exp(-r.output)), abs=1e-15)
        assert p.base_value == pytest.approx(background_mean, abs=1e-12)
        assert p.base_value + sum(p.values.values()) == pytest.approx(p.output, abs=1e-12)
        factor = (p.output - p.base_value) / sum(r.values.values())
        rescaled_everywhere &= all(
            p.values[k] == pytest.approx(v * factor, abs=1e-9) for k, v in r.values.items()
        )
        assert p.threshold == 0.5
        assert p.outcome == (p.output >= 0.5)
    assert not rescaled_everywhere


def test_ranking_and_direction(bundles: dict[str, ModelBundle]) -> None:
    for r in explain_rows(bundles["logit"], ROWS):
        mags = [abs(r.values[k]) for k in r.ranking]
        assert mags == sorted(mags, reverse=True)
        assert sorted(r.ranking) == sorted(r.values)
        for key, value in r.values.items():
            assert r.direction[key] == (0 if value == 0 else int(np.sign(value)))


def test_ranking_ties_are_broken_by_key(
    bundles: dict[str, ModelBundle], monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = bundles["logit"]
    kernel = get_explainer(bundle)
    n_inputs = len(bundle.input_keys)

    def tied(model_input: Any) -> RawExplanation:
        n = len(model_input)
        values = np.full((n, n_inputs), 0.25)
        values[:, 0] = 0.0
        return RawExplanation(np.zeros(n), values, values.sum(axis=1), np.full(n, 1e-6))

    monkeypatch.setattr(kernel, "explain", tied)
    r = explain_rows(bundle, ROWS[:1])[0]
    zero_key = bundle.input_keys[0]
    assert r.ranking == (*sorted(k for k in r.values if k != zero_key), zero_key)
    assert r.direction[zero_key] == 0


def test_additivity_violation_raises(
    bundles: dict[str, ModelBundle], monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = bundles["hgb"]
    kernel = get_explainer(bundle)
    real = kernel.explain

    def broken(model_input: Any) -> RawExplanation:
        raw = real(model_input)
        return RawExplanation(raw.base + 1e-3, raw.values, raw.output, raw.tolerance)

    monkeypatch.setattr(kernel, "explain", broken)
    with pytest.raises(AdditivityError) as info:
        explain_rows(bundle, ROWS[:2])
    assert info.value.error == pytest.approx(1e-3, rel=1e-6)


def test_invalid_rows_are_refused_with_paths(bundles: dict[str, ModelBundle]) -> None:
    rows = [dict(ROWS[0]), dict(ROWS[1])]
    rows[1]["timer_pr_uge"] = "mange"
    rows[1]["alder"] = 200
    with pytest.raises(RowError) as info:
        explain_rows(bundles["hgb"], rows)
    assert {(p.path, p.code) for p in info.value.problems} == {
        ("rows[1].timer_pr_uge", "wrong-type"),
        ("rows[1].alder", "out-of-range"),
    }


def test_dataframe_rows_and_batches_equal_single_rows(bundles: dict[str, ModelBundle]) -> None:
    bundle = bundles["hgb"]
    batch = explain_rows(bundle, ROWS)
    frame = explain_rows(bundle, pd.DataFrame(ROWS))
    for i in (0, 5, 11):
        single = explain_rows(bundle, [ROWS[i]])[0]
        assert single.values == pytest.approx(batch[i].values, abs=1e-12)
        assert frame[i].values == pytest.approx(batch[i].values, abs=1e-12)
    assert explain_rows(bundle, []) == []


def test_dates_enter_as_days_since_epoch(bundles: dict[str, ModelBundle]) -> None:
    bundle = bundles["hgb"]
    row = dict(ROWS[0], seneste_job="1970-01-11")
    columns = bundle.encode([row])
    assert columns["seneste_job"][0] == 10.0
    later = dict(ROWS[0], seneste_job="2024-06-01T12:00:00Z")
    assert bundle.encode([later])["seneste_job"][0] == 19875.0


def test_permutation_is_deterministic_per_seed(bundles: dict[str, ModelBundle]) -> None:
    bundle = bundles["knn"]
    a = explain_rows(bundle, ROWS[:2], seed=3)
    b = explain_rows(bundle, ROWS[:2], seed=3)
    c = explain_rows(bundle, ROWS[:2], seed=4)
    assert [r.values for r in a] == [r.values for r in b]
    assert a[0].seed == 3
    assert [r.values for r in a] != [r.values for r in c]
    # a row's values do not depend on the rest of its batch
    alone = explain_rows(bundle, ROWS[1:2], seed=3)[0]
    assert alone.values == a[1].values


def test_permutation_budget_is_bounded(bundles: dict[str, ModelBundle]) -> None:
    kernel = get_explainer(bundles["knn"], max_evaluations=300)
    assert kernel.evaluations_per_row <= 300  # type: ignore[attr-defined]
    r = explain_rows(bundles["knn"], ROWS[:1], max_evaluations=300)[0]
    assert r.additivity_error < 1e-9


# -- flags ----------------------------------------------------------------------------------


def test_sensitive_feature_in_top_k_is_flagged(bundles: dict[str, ModelBundle]) -> None:
    bundle = bundles["logit"]
    sensitive = {f.key for f in bundle.manifest.features if f.sensitive}
    for k in (1, 3):
        for r in explain_rows(bundle, ROWS, top_k=k):
            # of what the citizen sees: the shown values' ranking
            expected = {key for key in r.presentation.ranking[:k] if key in sensitive}
            flagged = {f.feature for f in r.flags if f.code == "sensitive-top-contributor"}
            assert flagged == expected
    assert any(
        f.code == "sensitive-top-contributor"
        for r in explain_rows(bundle, ROWS, top_k=3)
        for f in r.flags
    )


def test_out_of_distribution_values_are_flagged(bundles: dict[str, ModelBundle]) -> None:
    with_bg = bundles["logit"]
    bg = with_bg.background
    assert bg is not None
    hi = float(np.max(bg.columns["ledighed_uger"]))
    row = dict(ROWS[0], ledighed_uger=min(hi + 50, 520.0))
    unseen = [
        c
        for c in with_bg.manifest.feature("uddannelse").categories
        if c not in set(bg.columns["uddannelse"].tolist())
    ]
    flags = explain_rows(with_bg, [row])[0].flags
    ood = {f.feature: f.detail for f in flags if f.code == "out-of-distribution"}
    assert ood["ledighed_uger"]["background_max"] == hi
    inside = explain_rows(with_bg, [dict(ROWS[0], ledighed_uger=hi)])[0].flags
    assert "ledighed_uger" not in {f.feature for f in inside if f.code == "out-of-distribution"}
    if unseen:
        flags = explain_rows(with_bg, [dict(ROWS[0], uddannelse=unseen[0])])[0].flags
        assert ("out-of-distribution", "uddannelse") in {(f.code, f.feature) for f in flags}


def test_unseen_category_is_flagged(cases: dict[str, Case]) -> None:
    from explainers_testdata import BACKGROUND_ROWS, background_csv

    case = cases["logit"]
    bg = [dict(r, omraade="nord") for r in BACKGROUND_ROWS]
    bundle = ModelBundle.from_bytes(case.artifact, case.manifest, background_csv(bg))
    flags = explain_rows(bundle, [dict(ROWS[0], omraade="syd")])[0].flags
    assert any(
        f.code == "out-of-distribution" and f.feature == "omraade" and f.detail["value"] == "syd"
        for f in flags
    )


def test_reported_output_mismatch(bundles: dict[str, ModelBundle]) -> None:
    bundle = bundles["hgb"]
    shown = [r.presentation.output for r in explain_rows(bundle, ROWS[:3])]
    reported = [shown[0], shown[1] + 1e-3, None]
    results = explain_rows(bundle, ROWS[:3], reported_outputs=reported)
    mismatch = [[f for f in r.flags if f.code == "output-mismatch"] for r in results]
    assert [len(m) for m in mismatch] == [0, 1, 0]
    assert mismatch[1][0].detail["recomputed"] == pytest.approx(shown[1], abs=1e-15)
    loose = explain_rows(bundle, ROWS[:3], reported_outputs=reported, output_tolerance=1e-2)
    assert not any(f.code == "output-mismatch" for r in loose for f in r.flags)


# -- cache ----------------------------------------------------------------------------------


def test_explainer_is_built_once_per_model_version(cases: dict[str, Case]) -> None:
    case = cases["hgb"]
    first = ModelBundle.from_bytes(case.artifact, case.manifest, case.background)
    second = ModelBundle.from_bytes(case.artifact, case.manifest, case.background)
    assert get_explainer(first) is get_explainer(second)
    other_bg = ModelBundle.from_bytes(case.artifact, case.manifest, None)
    assert get_explainer(other_bg) is not get_explainer(first)


def test_lru_cache_is_bounded_and_builds_once_under_threads() -> None:
    cache: LRUCache[object] = LRUCache(maxsize=2)
    builds: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def build() -> object:
        with lock:
            builds.append(1)
        return object()

    results: list[object] = []

    def worker() -> None:
        barrier.wait()
        results.append(cache.get_or_build("k", build))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1
    assert len({id(r) for r in results}) == 1
    cache.get_or_build("a", object)
    cache.get_or_build("b", object)
    assert len(cache) == 2
    assert "k" not in cache
    assert EXPLAINER_CACHE.maxsize >= 1
