"""Result types. Numbers and feature keys only; wording belongs to the portal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _floats(mapping: Mapping[str, float]) -> dict[str, float]:
    return {key: float(value) for key, value in mapping.items()}


@dataclass(frozen=True)
class Flag:
    """Something the page or an auditor must see.

    Codes: ``sensitive-top-contributor``, ``out-of-distribution``, ``output-mismatch``.
    """

    code: str
    feature: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "feature": self.feature, "detail": dict(self.detail)}


@dataclass(frozen=True)
class Presentation:
    """What the page shows: ``base + sum(values) == output`` on the declared output scale.

    For log-odds explanations of probability outputs the log-odds contributions are rescaled
    proportionally: ``c_i = phi_i * (p_out - p_base) / sum(phi)`` with ``p = 1/(1+exp(-z))``
    (when ``sum(phi)`` is ~0 the factor is the slope of the logistic curve at the base). The
    factor is positive, so signs and ranking are those of the log-odds record, and the
    contributions add up exactly to the probability shown. It is a presentation; the log-odds
    values are the record.
    """

    scale: str
    base_value: float
    output: float
    values: Mapping[str, float]
    consideration_values: Mapping[str, float]
    threshold: float | None
    outcome: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "base_value": float(self.base_value),
            "output": float(self.output),
            "values": _floats(self.values),
            "consideration_values": _floats(self.consideration_values),
            "threshold": None if self.threshold is None else float(self.threshold),
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class Explanation:
    """One explained row: the reproducibility record stored per decision.

    ``values`` are SHAP values per manifest feature key (derived columns summed back) on
    ``scale``; ``direction`` is +1 when a feature pushed towards the positive class / a higher
    output, -1 the other way, 0 when it did not move it. ``ranking`` orders keys by
    ``|value|`` descending, ties by key. ``additivity_error = |base + sum(values) - output|``
    is below ``additivity_tolerance`` (otherwise ``AdditivityError`` was raised).
    ``seconds`` is the batch's computation time divided by its number of rows.
    """

    model_name: str
    model_version: str
    base_value: float
    output: float
    values: Mapping[str, float]
    consideration_values: Mapping[str, float]
    ranking: tuple[str, ...]
    direction: Mapping[str, int]
    scale: str
    explainer: str
    algorithm: str
    shap_version: str
    artifact_sha256: str
    background_sha256: str | None
    seed: int
    seconds: float
    additivity_error: float
    additivity_tolerance: float
    presentation: Presentation
    flags: tuple[Flag, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (plain floats, ints, strings, lists, dicts)."""
        return {
            "model": {"name": self.model_name, "version": self.model_version},
            "base_value": float(self.base_value),
            "output": float(self.output),
            "values": _floats(self.values),
            "consideration_values": _floats(self.consideration_values),
            "ranking": list(self.ranking),
            "direction": {k: int(v) for k, v in self.direction.items()},
            "scale": self.scale,
            "explainer": self.explainer,
            "algorithm": self.algorithm,
            "shap_version": self.shap_version,
            "artifact_sha256": self.artifact_sha256,
            "background_sha256": self.background_sha256,
            "seed": int(self.seed),
            "seconds": float(self.seconds),
            "additivity_error": float(self.additivity_error),
            "additivity_tolerance": float(self.additivity_tolerance),
            "presentation": self.presentation.to_dict(),
            "flags": [f.to_dict() for f in self.flags],
        }
