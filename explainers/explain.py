"""Explaining rows: explainer choice (cached per model version) and result assembly."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from explainers.bundle import ModelBundle
from explainers.cache import LRUCache
from explainers.errors import AdditivityError
from explainers.flags import DEFAULT_OUTPUT_TOLERANCE, DEFAULT_TOP_K, compute_flags
from explainers.kernels import (
    ADDITIVITY_TOLERANCE,
    DEFAULT_MAX_EVALUATIONS,
    Kernel,
    LinearKernel,
    PermutationKernel,
    TreeKernel,
)
from explainers.modelinfo import FloatArray
from explainers.probability import DEFAULT_PROBABILITY_EVALUATIONS, ProbabilityExplainer
from explainers.probability import applies as probability_applies
from explainers.result import Explanation, Presentation

#: One explainer per (artifact, background, manifest[, seed, budget]), and one probability
#: explainer per model version with a background (so 32: 16 model versions); bounded.
EXPLAINER_CACHE: LRUCache[Kernel | ProbabilityExplainer] = LRUCache(maxsize=32)
#: |value| at or below which a feature's direction is 0.
ZERO_TOLERANCE = 1e-12


@lru_cache(maxsize=1)
def shap_version() -> str:
    """Installed shap version, read from metadata (does not import shap)."""
    from importlib.metadata import version

    return version("shap")


def get_explainer(
    bundle: ModelBundle, *, seed: int = 0, max_evaluations: int = DEFAULT_MAX_EVALUATIONS
) -> Kernel:
    """The explainer for a bundle, chosen by model family and built once per model version.

    tree ensembles -> exact path-dependent TreeSHAP; linear/logistic -> exact linear SHAP
    against the background mean; anything else -> permutation SHAP (seed and evaluation
    budget are part of its cache key).
    """
    family = bundle.info.family
    key: tuple[Any, ...] = (
        bundle.artifact_sha256,
        bundle.background_sha256 or "",
        bundle.manifest_fingerprint,
        family,
    )
    if family == "permutation":
        key += (seed, max_evaluations)

    def build() -> Kernel:
        if family == "tree":
            return TreeKernel(bundle, seed)
        if family == "linear":
            return LinearKernel(bundle, seed)
        return PermutationKernel(bundle, seed, max_evaluations)

    built = EXPLAINER_CACHE.get_or_build(key, build)
    assert not isinstance(built, ProbabilityExplainer)
    return built


@dataclass(frozen=True)
class _Shown:
    """The presentation's numbers for a batch, in manifest feature order."""

    base: FloatArray
    values: FloatArray
    output: FloatArray
    scale: str
    method: str
    error: FloatArray | None
    evaluations: int
    threshold: float | None
    background_rows: int = 0


def get_probability_explainer(
    bundle: ModelBundle, *, seed: int = 0, max_evaluations: int = DEFAULT_PROBABILITY_EVALUATIONS
) -> ProbabilityExplainer:
    """The probability-scale Shapley explainer of a bundle (cached like the kernels)."""
    key: tuple[Any, ...] = (
        bundle.artifact_sha256,
        bundle.background_sha256 or "",
        bundle.manifest_fingerprint,
        "probability",
        seed,
        max_evaluations,
    )
    built = EXPLAINER_CACHE.get_or_build(
        key, lambda: ProbabilityExplainer(bundle, seed, max_evaluations)
    )
    assert isinstance(built, ProbabilityExplainer)
    return built


def _shown(
    bundle: ModelBundle,
    model_input: Any,
    columns: dict[str, Any],
    base: FloatArray,
    values: FloatArray,
    output: FloatArray,
    seed: int,
    max_evaluations: int,
) -> _Shown:
    """What the page shows (see ``Presentation``): probability-scale Shapley values when the
    output is a probability and there is a background; else the record itself (log-odds
    points for a log-odds model without a background, with the threshold on that scale)."""
    threshold = bundle.manifest.decision_threshold
    if probability_applies(bundle):
        explainer = get_probability_explainer(bundle, seed=seed, max_evaluations=max_evaluations)
        # the record's output, on the declared scale: the same model call, not made again
        found = explainer.explain(model_input, columns, bundle.to_declared_scale(output))
        order = bundle.manifest_order
        error = None if found.error is None else found.error[:, order]
        return _Shown(
            found.base,
            found.values[:, order],
            found.output,
            "probability",
            found.method,
            error,
            found.evaluations,
            threshold,
            explainer.game.n_background,
        )
    scale = bundle.info.scale
    if scale == "log-odds" and threshold is not None:
        threshold = math.log(threshold / (1.0 - threshold))
    return _Shown(base, values, output, scale, "record", None, 0, threshold)


def _rank(keys: Sequence[str], values: FloatArray) -> tuple[Any, Any]:
    """(ranking indices by |value| desc, ties by key; direction -1/0/+1) per row."""
    alpha = np.asarray(sorted(range(len(keys)), key=lambda i: keys[i]), dtype=np.intp)
    ranking = alpha[np.argsort(-np.abs(values[:, alpha]), axis=1, kind="stable")]
    direction = np.where(np.abs(values) <= ZERO_TOLERANCE, 0, np.sign(values)).astype(int)
    return ranking, direction


def explain_rows(
    bundle: ModelBundle,
    rows: Sequence[Mapping[str, Any]] | Any,
    *,
    reported_outputs: Sequence[float | None] | None = None,
    seed: int = 0,
    top_k: int = DEFAULT_TOP_K,
    output_tolerance: float = DEFAULT_OUTPUT_TOLERANCE,
    max_evaluations: int = DEFAULT_MAX_EVALUATIONS,
    probability_evaluations: int = DEFAULT_PROBABILITY_EVALUATIONS,
) -> list[Explanation]:
    """Explain a batch of rows (dicts keyed by feature key, or a DataFrame) in one call.

    Raises ``RowError`` for invalid rows and ``AdditivityError`` when any row's
    ``|base + sum(values) - output|`` exceeds its tolerance (the batch is then not stored).
    ``reported_outputs`` (the sender's ``model_output`` per row, on the declared scale, or
    None) are compared with the recomputed outputs and flagged when they disagree.
    """
    started = time.perf_counter()
    columns = bundle.encode(rows)
    if not len(next(iter(columns.values()))):
        return []
    kernel = get_explainer(bundle, seed=seed, max_evaluations=max_evaluations)
    model_input = bundle.model_input(columns)
    raw = kernel.explain(model_input)
    manifest = bundle.manifest
    keys = manifest.feature_keys
    n = len(raw.output)
    values = raw.values[:, bundle.manifest_order]
    error = np.abs(raw.base + values.sum(axis=1) - raw.output)
    bad = error > raw.tolerance
    if bad.any():
        worst = int(np.argmax(error - raw.tolerance))
        raise AdditivityError(float(error[worst]), float(raw.tolerance[worst]))

    membership = np.zeros((len(keys), len(manifest.considerations)))
    cons_index = {c.key: j for j, c in enumerate(manifest.considerations)}
    for i, spec in enumerate(manifest.features):
        membership[i, cons_index[spec.consideration]] = 1.0
    cons_values = values @ membership
    # ranking: |value| descending, ties broken by key (stable sort over key-sorted columns)
    ranking, direction = _rank(keys, values)

    shown = _shown(
        bundle, model_input, columns, raw.base, values, raw.output, seed, probability_evaluations
    )
    p_base, p_values, p_out = shown.base, shown.values, shown.output
    p_error = np.abs(p_base + p_values.sum(axis=1) - p_out)
    # the record's own tolerance when it is shown (xgboost's float32 bound)
    p_tolerance = raw.tolerance if shown.method == "record" else np.full(n, ADDITIVITY_TOLERANCE)
    if (p_error > p_tolerance).any():
        worst = int(np.argmax(p_error - p_tolerance))
        raise AdditivityError(float(p_error[worst]), float(p_tolerance[worst]))
    p_cons = p_values @ membership
    p_ranking, p_direction = _rank(keys, p_values)
    threshold = shown.threshold
    declared = bundle.to_declared_scale(raw.output)
    # flags: of what the citizen sees (shown ranking); outputs on the declared scale
    flags = compute_flags(
        bundle,
        columns,
        p_ranking,
        declared,
        reported_outputs,
        top_k=top_k,
        tolerance=output_tolerance,
    )
    seconds = (time.perf_counter() - started) / n

    cons_keys = [c.key for c in manifest.considerations]
    base_l, out_l, err_l, tol_l = (
        raw.base.tolist(),
        raw.output.tolist(),
        error.tolist(),
        raw.tolerance.tolist(),
    )
    values_l, cons_l, dir_l = values.tolist(), cons_values.tolist(), direction.tolist()
    pb_l, pv_l, po_l, pc_l = p_base.tolist(), p_values.tolist(), p_out.tolist(), p_cons.tolist()
    key_array = np.asarray(keys, dtype=object)
    rank_keys = key_array[ranking].tolist()
    p_rank_keys, p_dir_l, p_err_l = (
        key_array[p_ranking].tolist(),
        p_direction.tolist(),
        p_error.tolist(),
    )
    se_l = None if shown.error is None else shown.error.tolist()
    version = shap_version()
    scale, kind, algorithm = bundle.info.scale, kernel.kind, kernel.algorithm
    artifact_sha, background_sha = bundle.artifact_sha256, bundle.background_sha256
    name, model_version = manifest.name, manifest.version
    results: list[Explanation] = []
    for i in range(n):
        output = po_l[i]
        results.append(
            Explanation(
                base_value=base_l[i],
                output=out_l[i],
                values=dict(zip(keys, values_l[i], strict=True)),
                consideration_values=dict(zip(cons_keys, cons_l[i], strict=True)),
                ranking=tuple(rank_keys[i]),
                direction=dict(zip(keys, dir_l[i], strict=True)),
                additivity_error=err_l[i],
                additivity_tolerance=tol_l[i],
                presentation=Presentation(
                    scale=shown.scale,
                    base_value=pb_l[i],
                    output=output,
                    values=dict(zip(keys, pv_l[i], strict=True)),
                    consideration_values=dict(zip(cons_keys, pc_l[i], strict=True)),
                    threshold=threshold,
                    outcome=None if threshold is None else bool(output >= threshold),
                    method=shown.method,
                    ranking=tuple(p_rank_keys[i]),
                    direction=dict(zip(keys, p_dir_l[i], strict=True)),
                    estimate_error=None if se_l is None else dict(zip(keys, se_l[i], strict=True)),
                    additivity_error=p_err_l[i],
                    evaluations=shown.evaluations,
                    background_rows=shown.background_rows,
                ),
                flags=tuple(flags[i]),
                model_name=name,
                model_version=model_version,
                scale=scale,
                explainer=kind,
                algorithm=algorithm,
                shap_version=version,
                artifact_sha256=artifact_sha,
                background_sha256=background_sha,
                seed=seed,
                seconds=seconds,
            )
        )
    return results
