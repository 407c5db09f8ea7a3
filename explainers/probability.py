"""Shapley values of the probability itself, against the registered background.

What a citizen sees on the probability scale must add up to the probability shown and be
true contributions, not log-odds values rescaled in proportion (that is not a Shapley value,
and it misleads when contributions nearly cancel). The game is the *interventional* one over
the original (manifest) features::

    v(S) = mean over background rows b of  P(positive | x_S, b_rest)

the model's probability with the coalition ``S``'s features taken from the case and the
others from a background row. ``v(empty)`` is the mean probability over the background (the
base value: "the average result over the data the model is compared with") and ``v(all)`` is
the case's own probability, so ``base + sum(values) == output`` by construction.

Methods:

``exact``
    all ``2^m`` coalitions of the ``m`` original features enumerated (``m <=
    EXACT_MAX_FEATURES`` and within the evaluation budget); exact for the background.
``permutation-estimate``
    antithetic permutation sampling within the evaluation budget; every permutation adds up
    exactly, and the standard error of each value over the permutation pairs is returned.

Not used: shap's interventional ``TreeExplainer(..., model_output="probability")``. Its
additivity check passes, but per background row it rescales the log-odds contributions in
proportion (``tree_shap.h``: ``rescale_factor = (T(margin_x) - T(margin_r)) / (margin_x -
margin_r)``), so its values are not the Shapley values of this game (a test shows the
difference against brute force). With one-hot columns it would also explain each column,
and column values summed back are not the Shapley values of the original features.

Hybrid rows are built in the estimator's column space when the preprocessing maps each
column to one input (one-hot, scalers: then transforming a hybrid equals mixing the
transformed rows), so the preprocessing runs once, not per coalition; logistic regression
needs no hybrid rows at all (its margin is a sum of per-feature terms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from explainers.bundle import ModelBundle, _expit
from explainers.modelinfo import FloatArray

BoolArray = npt.NDArray[np.bool_]

#: Exact enumeration up to this many original features (2^12 = 4,096 coalitions).
EXACT_MAX_FEATURES = 12
#: Model evaluations (hybrid rows) allowed per explained row for the probability values.
DEFAULT_PROBABILITY_EVALUATIONS = 262_144
#: Rows per model call, to bound memory.
_CHUNK_ROWS = 131_072
#: Permutations of the estimate: at least 4 (2 antithetic pairs), at most this many.
MAX_PERMUTATIONS = 512
METHODS = ("exact", "permutation-estimate")


@dataclass(frozen=True)
class ProbabilityValues:
    """Per batch: base (n,), values (n, inputs) in model input order, output (n,) the model's
    probability, error (n, inputs) standard errors or None when exact, evaluations per row."""

    base: FloatArray
    values: FloatArray
    output: FloatArray
    error: FloatArray | None
    method: str
    evaluations: int


def applies(bundle: ModelBundle) -> bool:
    """Probability-scale Shapley values need a classifier output and a background."""
    return (
        bundle.info.is_classifier
        and bundle.manifest.output_kind in ("probability", "class")
        and bundle.background is not None
    )


class _Game:
    """The interventional value function v(S), evaluated for one explained row at a time."""

    def __init__(self, bundle: ModelBundle) -> None:
        assert bundle.background is not None
        self.bundle = bundle
        self.keys = bundle.input_keys
        self.m = len(self.keys)
        self.n_background = bundle.background.n_rows
        info = bundle.info
        self.bg_columns = {k: bundle.background.columns[k] for k in self.keys}
        self.mode = "raw"
        self.thresholds: list[FloatArray] | None = None
        if info.family in ("tree", "linear") and info.column_map is not None:
            self.column_map = np.asarray(info.column_map, dtype=np.intp)
            self.summing = np.zeros((len(self.column_map), self.m))
            self.summing[np.arange(len(self.column_map)), self.column_map] = 1.0
            self.bg_t = bundle.transform(bundle.model_input(self.bg_columns))
            self.mode = "transformed"
            if info.family == "linear" and info.scale == "log-odds":
                self._linear_setup()
            elif info.family == "tree":
                self.thresholds = _sklearn_thresholds(info.estimator, self.bg_t.shape[1])
                if self.thresholds is not None:
                    self.bg_keys = self._bins(self.bg_t)
        self.base = float(np.mean(self._background_probability()))

    def _linear_setup(self) -> None:
        est = self.bundle.info.estimator
        self.coef = np.asarray(est.coef_, dtype=np.float64).reshape(-1) * self.bundle.sign
        intercept = float(np.asarray(est.intercept_, dtype=np.float64).reshape(-1)[0])
        self.intercept = intercept * self.bundle.sign
        self.u_bg = (self.bg_t * self.coef) @ self.summing  # (B, m) per-feature margin terms
        self.mode = "linear"

    def _bins(self, transformed: FloatArray) -> npt.NDArray[np.intp]:
        """Per column, which interval between the trees' split thresholds a value is in: two
        values in the same interval take the same branch at every split of every tree."""
        assert self.thresholds is not None
        values = transformed.astype(np.float32).astype(np.float64)  # sklearn splits in float32
        out = np.empty(values.shape, dtype=np.intp)
        for c, thr in enumerate(self.thresholds):
            out[:, c] = np.searchsorted(thr, values[:, c], side="left")
        return out

    def _background_probability(self) -> FloatArray:
        if self.mode == "raw":
            return self.bundle.predict_columns(self.bg_columns)
        return self._declared(self.bg_t)

    def _declared(self, transformed: FloatArray) -> FloatArray:
        bundle = self.bundle
        return bundle.to_declared_scale(bundle.raw_output(transformed))

    def prepare(self, model_input: Any, columns: dict[str, Any]) -> list[Any]:
        """What ``values`` and ``all_values`` need of each explained row."""
        n = len(columns[self.keys[0]])
        if self.mode == "raw":
            return [{k: columns[k][r] for k in self.keys} for r in range(n)]
        xt = self.bundle.transform(model_input)
        if self.mode == "linear":
            u = (xt * self.coef) @ self.summing
            return [(u[r], xt[r]) for r in range(n)]
        return [xt[r] for r in range(n)]

    def _differs(self, case: Any) -> BoolArray:
        """(B, m): where a background row's input differs from the case's (for the model)."""
        if self.mode == "raw":
            cols = [self.bg_columns[k] != case[k] for k in self.keys]
            return np.column_stack(cols).astype(bool)
        if self.mode == "linear":
            return np.asarray(self.u_bg != case[0][None, :])
        if self.thresholds is not None:
            diff = self.bg_keys != self._bins(case[None, :])
        else:
            diff = self.bg_t != case[None, :]
        return np.asarray((diff.astype(np.float64) @ self.summing) > 0)

    def all_values(self, case: Any, output: float) -> tuple[FloatArray, int]:
        """v(S) for all ``2^m`` coalitions (bit j = input j) and the model evaluations used.

        A coalition's hybrid with background row k only depends on the inputs where k differs
        from the case, so each distinct (coalition restricted to those, k) is evaluated once.
        """
        m, b = self.m, self.n_background
        codes = np.arange(2**m)
        if self.mode == "linear":  # no model calls: the margin is a sum of per-feature terms
            return self.values(case, _masks_of(codes, m)), 0
        weights = 1 << np.arange(m)
        differs = self._differs(case)
        d_code = (differs.astype(np.int64) * weights).sum(axis=1)  # (B,)
        effective = codes[:, None] & d_code[None, :]  # (2^m, B)
        needed = np.zeros((2**m, b), dtype=bool)
        needed[effective, np.arange(b)[None, :]] = True
        needed[0, :] = False  # the background row itself: known
        needed[:, d_code == 0] = False
        full = d_code[None, :] == codes[:, None]  # the case itself: known
        needed &= ~full
        code_idx, bg_idx = np.nonzero(needed)
        table = np.empty((2**m, b))
        table[0, :] = self._background_probability_cached()
        table[d_code, np.arange(b)] = output
        if len(code_idx):
            table[code_idx, bg_idx] = self._hybrid(case, _masks_of(code_idx, m), bg_idx)
        v = table[effective, np.arange(b)[None, :]].mean(axis=1)
        return v, len(code_idx)

    def _background_probability_cached(self) -> FloatArray:
        if not hasattr(self, "_bg_p"):
            self._bg_p = self._background_probability()
        return self._bg_p

    def _hybrid(self, case: Any, masks: BoolArray, bg_idx: npt.NDArray[np.intp]) -> FloatArray:
        """Probability of hybrid rows: row i takes ``masks[i]``'s inputs from the case and the
        rest from background row ``bg_idx[i]``."""
        out = np.empty(len(masks))
        for start in range(0, len(masks), _CHUNK_ROWS):
            sub, rows = masks[start : start + _CHUNK_ROWS], bg_idx[start : start + _CHUNK_ROWS]
            if self.mode == "transformed":
                hybrid = np.where(sub[:, self.column_map], case[None, :], self.bg_t[rows])
                out[start : start + len(sub)] = self._declared(hybrid)
            else:
                cols = {}
                for j, k in enumerate(self.keys):
                    bg = self.bg_columns[k][rows]
                    cols[k] = np.where(sub[:, j], case[k], bg).astype(bg.dtype, copy=False)
                out[start : start + len(sub)] = self.bundle.predict_columns(cols)
        return out

    def values(self, case: Any, masks: BoolArray) -> FloatArray:
        """v(S) for each coalition (row of ``masks``, one column per model input)."""
        b = self.n_background
        step = max(1, _CHUNK_ROWS // b)
        out = np.empty(len(masks))
        for start in range(0, len(masks), step):
            sub = masks[start : start + step]
            c = len(sub)
            if self.mode == "linear":
                mk = sub.astype(np.float64)
                u_x, _ = case
                margin = self.intercept + (mk @ u_x)[:, None] + ((1.0 - mk) @ self.u_bg.T)
                p = _expit(margin.reshape(-1))
            else:
                rep = np.repeat(sub, b, axis=0)
                p = self._hybrid(case, rep, np.tile(np.arange(b), c))
            out[start : start + c] = p.reshape(c, b).mean(axis=1)
        return out


def _masks_of(codes: npt.NDArray[Any], m: int) -> BoolArray:
    masks: BoolArray = ((codes[:, None] >> np.arange(m)[None, :]) & 1).astype(bool)
    return masks


def _sklearn_thresholds(estimator: Any, n_columns: int) -> list[FloatArray] | None:
    """Sorted split thresholds per column of a scikit-learn tree or tree ensemble (None for
    other tree libraries: their hybrids are then told apart by value)."""
    name = type(estimator).__name__
    if not type(estimator).__module__.startswith("sklearn") or name.startswith("Hist"):
        return None
    trees = getattr(estimator, "estimators_", None)
    members = [estimator] if trees is None else list(np.ravel(np.asarray(trees, dtype=object)))
    found: list[list[float]] = [[] for _ in range(n_columns)]
    for member in members:
        tree = member.tree_
        inner = tree.feature >= 0
        for f, t in zip(tree.feature[inner].tolist(), tree.threshold[inner].tolist(), strict=True):
            found[f].append(t)
    return [np.unique(np.asarray(t, dtype=np.float64)) for t in found]


def exact_shapley(v: FloatArray, m: int) -> FloatArray:
    """Shapley values from a value function over all ``2^m`` coalitions (bit j = input j)."""
    codes = np.arange(2**m)
    size = np.zeros(2**m, dtype=np.intp)
    for j in range(m):
        size += (codes >> j) & 1
    weight = np.asarray(
        [math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) for s in range(m)]
    )
    phi = np.empty(m)
    for j in range(m):
        without = codes[((codes >> j) & 1) == 0]
        phi[j] = float(np.sum(weight[size[without]] * (v[without | (1 << j)] - v[without])))
    return phi


class ProbabilityExplainer:
    """Shapley values of the probability for a bundle (see the module docstring); built once
    per model version, like the kernels."""

    def __init__(
        self,
        bundle: ModelBundle,
        seed: int = 0,
        max_evaluations: int = DEFAULT_PROBABILITY_EVALUATIONS,
    ) -> None:
        self.bundle = bundle
        self.seed = seed
        self.max_evaluations = max_evaluations
        self.game = _Game(bundle)
        m, b = self.game.m, self.game.n_background
        cheap = self.game.mode == "linear"
        if m <= EXACT_MAX_FEATURES and (cheap or (2**m - 2) * b <= max_evaluations):
            self.fallback = "exact"
        else:
            self.fallback = "permutation-estimate"
            per_perm = max(1, (m - 1) * b)
            budget = max_evaluations if not cheap else 64 * max_evaluations
            pairs = max(2, min(MAX_PERMUTATIONS // 2, budget // (2 * per_perm)))
            rng = np.random.default_rng(seed)
            forward = np.asarray([rng.permutation(m) for _ in range(pairs)], dtype=np.intp)
            self.perms = np.concatenate([forward, forward[:, ::-1]])
            p = len(self.perms)
            chain = np.zeros((p, m + 1, m), dtype=bool)
            for k in range(1, m + 1):
                chain[np.arange(p)[:, None], k, self.perms[:, :k]] = True
            self.chain = chain

    @property
    def method(self) -> str:
        return self.fallback

    def explain(
        self, model_input: Any, columns: dict[str, Any], output: FloatArray | None = None
    ) -> ProbabilityValues:
        """Values for encoded rows; ``output`` is the model's probability for them when the
        caller has it already (else it is computed)."""
        bundle, game = self.bundle, self.game
        if output is None:
            output = bundle.predict_columns(columns)
        n, m = len(output), game.m
        values = np.empty((n, m))
        error: FloatArray | None = None
        cases = game.prepare(model_input, columns)
        if self.fallback == "exact":
            evaluations = 0
            for r in range(n):
                v, used = game.all_values(cases[r], float(output[r]))
                v[0], v[-1] = game.base, output[r]
                values[r] = exact_shapley(v, m)
                evaluations = max(evaluations, used)
        else:
            p = len(self.perms)
            half = p // 2
            inner = self.chain[:, 1:m, :].reshape(-1, m)
            evaluations = len(inner) * game.n_background
            error = np.empty((n, m))
            rows = np.arange(p)[:, None]
            for r in range(n):
                v = np.empty((p, m + 1))
                v[:, 0], v[:, m] = game.base, output[r]
                v[:, 1:m] = game.values(cases[r], inner).reshape(p, m - 1)
                contrib = np.zeros((p, m))
                contrib[rows, self.perms] = np.diff(v, axis=1)
                values[r] = contrib.mean(axis=0)
                pair_means = (contrib[:half] + contrib[half:]) / 2.0
                error[r] = pair_means.std(axis=0, ddof=1) / math.sqrt(half)
        base = np.full(n, game.base)
        return ProbabilityValues(base, values, output, error, self.fallback, evaluations)
