"""The three explainer kernels. Each returns base, per-input values and the model output.

All values are in the model's *input* column space (one-hot and other derived columns already
summed back), on the scale ``bundle.info.scale``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from explainers.bundle import ModelBundle
from explainers.modelinfo import FloatArray

#: Additivity tolerance of exact explainers computed in float64.
ADDITIVITY_TOLERANCE = 1e-6
_F32_EPS = float(np.finfo(np.float32).eps)


@dataclass(frozen=True)
class RawExplanation:
    """Per-batch numbers: base (n,), values (n, inputs), output (n,), tolerance (n,)."""

    base: FloatArray
    values: FloatArray
    output: FloatArray
    tolerance: FloatArray


class Kernel(Protocol):
    kind: str
    algorithm: str
    seed: int

    def explain(self, model_input: Any) -> RawExplanation: ...


def _summing_matrix(bundle: ModelBundle) -> FloatArray:
    """(transformed columns x model inputs) 0/1 matrix summing derived columns back."""
    column_map = bundle.info.column_map
    assert column_map is not None
    matrix = np.zeros((len(column_map), len(bundle.input_keys)), dtype=np.float64)
    matrix[np.arange(len(column_map)), np.asarray(column_map, dtype=np.intp)] = 1.0
    return matrix


def _iteration_range(estimator: Any) -> tuple[int, int] | None:
    try:
        best = estimator.best_iteration  # xgboost raises AttributeError without early stopping
    except AttributeError:
        return None
    return (0, int(best) + 1) if best is not None else None


class TreeKernel:
    """Exact path-dependent TreeSHAP on the transformed features.

    Path-dependent (no background): exact, cheap, and avoids interventional TreeSHAP's wrong
    values on HistGradientBoosting. xgboost and lightgbm use their native TreeSHAP
    (``pred_contribs`` / ``pred_contrib``); sklearn trees use ``shap.TreeExplainer``.
    xgboost computes in float32, so its additivity tolerance is a float32 rounding bound.
    """

    kind = "tree"

    def __init__(self, bundle: ModelBundle, seed: int = 0) -> None:
        self.bundle = bundle
        self.seed = seed
        self.summing = _summing_matrix(bundle)
        self.identity = bool(
            self.summing.shape[0] == self.summing.shape[1]
            and np.array_equal(self.summing, np.eye(self.summing.shape[0]))
        )
        est = bundle.info.estimator
        self.explainer: Any = None
        if bundle.info.backend == "xgboost":
            self.algorithm = "xgboost-pred-contribs"
            self.booster = est.get_booster()
            self.iteration_range = _iteration_range(est)
        elif bundle.info.backend == "lightgbm":
            self.algorithm = "lightgbm-pred-contrib"
            self.booster = est.booster_
        else:
            import shap

            self.algorithm = "tree-path-dependent"
            self.explainer = shap.TreeExplainer(est, feature_perturbation="tree_path_dependent")

    def explain(self, model_input: Any) -> RawExplanation:
        bundle = self.bundle
        xt = bundle.transform(model_input)
        sign = bundle.sign
        backend = bundle.info.backend
        if backend == "xgboost":
            import xgboost as xgb

            dm = xgb.DMatrix(xt, feature_names=self.booster.feature_names)
            kwargs: dict[str, Any] = {}
            if self.iteration_range is not None:
                kwargs["iteration_range"] = self.iteration_range
            contribs = np.asarray(
                self.booster.predict(dm, pred_contribs=True, **kwargs), dtype=np.float64
            )
            output = np.asarray(
                self.booster.predict(dm, output_margin=True, **kwargs), dtype=np.float64
            )
            phi, base = contribs[:, :-1], contribs[:, -1]
            scale = np.abs(contribs).sum(axis=1) + np.abs(output)
            tolerance = np.maximum(ADDITIVITY_TOLERANCE, 4 * _F32_EPS * scale)
        elif backend == "lightgbm":
            contribs = np.asarray(self.booster.predict(xt, pred_contrib=True), dtype=np.float64)
            output = np.asarray(self.booster.predict(xt, raw_score=True), dtype=np.float64)
            phi, base = contribs[:, :-1], contribs[:, -1]
            tolerance = np.full(len(xt), ADDITIVITY_TOLERANCE)
        else:
            raw = np.asarray(self.explainer.shap_values(xt, check_additivity=False))
            expected = np.asarray(self.explainer.expected_value, dtype=np.float64).reshape(-1)
            if raw.ndim == 3:  # (rows, columns, classes): forests explain each class
                phi = raw[:, :, bundle.positive_index]
                base_value = expected[bundle.positive_index]
            else:
                phi = raw
                base_value = expected[-1] if expected.size > 1 else expected[0]
            base = np.full(len(xt), float(base_value))
            output = bundle.raw_output(xt)
            tolerance = np.full(len(xt), ADDITIVITY_TOLERANCE)
            if bundle.info.scale == "log-odds":
                # shap's margins are for classes_[1]; raw_output already applied the sign
                phi, base = phi * sign, base * sign
            return RawExplanation(base, self._sum_back(phi), output, tolerance)
        if bundle.info.scale == "log-odds":
            phi, base, output = phi * sign, base * sign, output * sign
        return RawExplanation(base, self._sum_back(phi), output, tolerance)

    def _sum_back(self, phi: FloatArray) -> FloatArray:
        if self.identity:
            return np.ascontiguousarray(phi, dtype=np.float64)
        return np.asarray(phi @ self.summing, dtype=np.float64)


class LinearKernel:
    """Exact linear SHAP (independent features) against the background mean:
    ``phi = coef * (x_t - mean(background_t))``, summed back to model inputs."""

    kind = "linear"
    algorithm = "linear-independent"

    def __init__(self, bundle: ModelBundle, seed: int = 0) -> None:
        assert bundle.background is not None
        self.bundle = bundle
        self.seed = seed
        self.summing = _summing_matrix(bundle)
        est = bundle.info.estimator
        bg = bundle.transform(bundle.model_input(bundle.background.columns))
        self.mean = bg.mean(axis=0)
        coef = np.asarray(est.coef_, dtype=np.float64)
        if coef.ndim == 2 and coef.shape[0] != 1:
            raise ValueError("multi-output linear models are not supported")
        self.coef = coef.reshape(-1) * bundle.sign
        intercept = float(np.asarray(est.intercept_, dtype=np.float64).reshape(-1)[0])
        self.base = intercept * bundle.sign + float(self.coef @ self.mean)

    def explain(self, model_input: Any) -> RawExplanation:
        xt = self.bundle.transform(model_input)
        phi = self.coef * (xt - self.mean)
        output = self.bundle.raw_output(xt)
        n = len(xt)
        return RawExplanation(
            np.full(n, self.base), phi @ self.summing, output, np.full(n, ADDITIVITY_TOLERANCE)
        )


#: Default bound on model evaluations per explained row.
DEFAULT_MAX_EVALUATIONS = 4096


class PermutationKernel:
    """Model-agnostic permutation SHAP on the raw features (interventional, background based).

    Each permutation walks from a background row to the explained row one feature at a time;
    the telescoping sum makes ``base + sum(values) = f(x)`` exact for every permutation. All
    permutations are enumerated when ``inputs! <= budget`` ("exact" w.r.t. the background
    sample), otherwise antithetic pairs are sampled with a fixed seed. String (category)
    columns are copied as values, never converted to numbers.
    """

    kind = "permutation"

    def __init__(
        self, bundle: ModelBundle, seed: int = 0, max_evaluations: int = DEFAULT_MAX_EVALUATIONS
    ) -> None:
        assert bundle.background is not None
        self.bundle = bundle
        self.seed = seed
        rng = np.random.default_rng(seed)
        keys = bundle.input_keys
        m = len(keys)
        n_bg = bundle.background.n_rows
        steps = m + 1
        # background rows: as many as the budget allows with at least 2 permutations
        b = max(1, min(n_bg, 32, max_evaluations // (2 * steps)))
        self.bg_index = np.sort(rng.choice(n_bg, size=b, replace=False))
        self.bg = {k: bundle.background.columns[k][self.bg_index] for k in keys}
        budget_perms = max(2, max_evaluations // (steps * b))
        if math.factorial(m) <= budget_perms:
            perms = np.asarray(list(itertools.permutations(range(m))), dtype=np.intp)
            self.algorithm = "permutation-exact"
        else:
            half = max(1, budget_perms // 2)
            forward = np.asarray([rng.permutation(m) for _ in range(half)], dtype=np.intp)
            perms = np.concatenate([forward, forward[:, ::-1]])
            self.algorithm = "permutation-antithetic"
        self.perms = perms
        # position[p, j] = step at which feature j switches to the explained row's value
        self.position = np.argsort(perms, axis=1)
        self.evaluations_per_row = len(perms) * steps * b

    def explain(self, model_input: Any) -> RawExplanation:
        # the bundle passes encoded columns through model_input; rebuild them per row
        bundle = self.bundle
        keys = bundle.input_keys
        columns = _columns_of(model_input, keys)
        n = len(next(iter(columns.values())))
        p, m = self.perms.shape
        steps = m + 1
        b = len(self.bg_index)
        step_idx = np.arange(steps)
        values = np.zeros((n, m))
        base = np.zeros(n)
        for r in range(n):
            hybrid: dict[str, Any] = {}
            for j, key in enumerate(keys):
                take_x = self.position[:, j][:, None] < step_idx[None, :]  # (p, steps)
                grid = np.broadcast_to(take_x[:, :, None], (p, steps, b))
                bg_col = np.broadcast_to(self.bg[key][None, None, :], (p, steps, b))
                hybrid[key] = np.where(grid, columns[key][r], bg_col).reshape(-1)
            out = bundle.predict_model_input(bundle.model_input(hybrid))
            g = out.reshape(p, steps, b).mean(axis=2)  # (p, steps)
            deltas = np.diff(g, axis=1)  # deltas[p, k] belongs to feature perms[p, k]
            contrib = np.zeros((p, m))
            np.put_along_axis(contrib, self.perms, deltas, axis=1)
            values[r] = contrib.mean(axis=0)
            base[r] = g[:, 0].mean()
        output = bundle.predict_model_input(model_input)
        return RawExplanation(base, values, output, np.full(n, ADDITIVITY_TOLERANCE))


def _columns_of(model_input: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    if hasattr(model_input, "columns"):
        return {key: model_input[key].to_numpy() for key in keys}
    arr = np.asarray(model_input)
    return {key: arr[:, j] for j, key in enumerate(keys)}
