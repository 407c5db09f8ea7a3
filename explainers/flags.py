"""Flags: sensitive features among the top contributors, out-of-distribution values and a
sender-reported output that disagrees with the registered model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from explainers.bundle import ModelBundle
from explainers.encoding import Column, decode_value
from explainers.manifest import FeatureSpec
from explainers.modelinfo import FloatArray
from explainers.result import Flag

DEFAULT_TOP_K = 3
DEFAULT_OUTPUT_TOLERANCE = 1e-6


def outputs_disagree(reported: float, recomputed: float, tolerance: float) -> bool:
    """True when ``|reported - recomputed| > tolerance * max(1, |recomputed|)``
    (absolute below 1, relative above)."""
    if not np.isfinite(reported):
        return True
    return abs(reported - recomputed) > tolerance * max(1.0, abs(recomputed))


def compute_flags(
    bundle: ModelBundle,
    columns: Mapping[str, Column],
    ranking: npt.NDArray[np.intp],
    declared_outputs: FloatArray,
    reported_outputs: Sequence[float | None] | None,
    *,
    top_k: int = DEFAULT_TOP_K,
    tolerance: float = DEFAULT_OUTPUT_TOLERANCE,
) -> list[list[Flag]]:
    """Flags per row. ``ranking[i]`` holds manifest feature indices by |value| desc;
    ``declared_outputs`` are on the manifest's declared scale (probability for
    ``probability``/``class``), which is what ``reported_outputs`` are compared with."""
    manifest = bundle.manifest
    n = len(declared_outputs)
    flags: list[list[Flag]] = [[] for _ in range(n)]
    sensitive = np.asarray([f.sensitive for f in manifest.features], dtype=bool)
    if sensitive.any() and top_k > 0:
        top = ranking[:, :top_k]
        hit_rows, hit_ranks = np.nonzero(sensitive[top])
        for row, rank in zip(hit_rows.tolist(), hit_ranks.tolist(), strict=True):
            key = manifest.features[int(top[row, rank])].key
            flags[row].append(Flag("sensitive-top-contributor", key, {"rank": rank + 1}))
    background = bundle.background
    if background is not None:
        for spec in manifest.features:
            col = columns[spec.key]
            bg = background.columns[spec.key]
            detail_of: Any
            if spec.type in ("number", "integer", "date"):
                lo, hi = float(np.nanmin(bg)), float(np.nanmax(bg))
                rows = np.nonzero((col < lo) | (col > hi))[0]

                def detail_of(
                    v: Any, lo: float = lo, hi: float = hi, spec: FeatureSpec = spec
                ) -> dict[str, Any]:
                    return {
                        "value": decode_value(spec, v),
                        "background_min": lo,
                        "background_max": hi,
                    }
            else:
                rows = np.nonzero(~np.isin(col, np.unique(bg)))[0]

                def detail_of(v: Any, spec: FeatureSpec = spec) -> dict[str, Any]:
                    return {"value": decode_value(spec, v), "unseen": True}

            for row in rows.tolist():
                flags[row].append(Flag("out-of-distribution", spec.key, detail_of(col[row])))
    if reported_outputs is not None:
        if len(reported_outputs) != n:
            raise ValueError("reported_outputs must have one entry per row")
        for row, reported in enumerate(reported_outputs):
            if reported is None:
                continue
            recomputed = float(declared_outputs[row])
            if outputs_disagree(float(reported), recomputed, tolerance):
                flags[row].append(
                    Flag(
                        "output-mismatch",
                        None,
                        {
                            "reported": float(reported),
                            "recomputed": recomputed,
                            "tolerance": float(tolerance),
                        },
                    )
                )
    return flags
