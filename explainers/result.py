"""Result types. Numbers and feature keys only; wording belongs to the portal."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Version of the stored explanation layout written by ``Explanation.to_payload``.
PAYLOAD_VERSION = 2


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


#: How the shown values were computed (``Presentation.method``).
#: ``exact`` and ``permutation-estimate``: Shapley values of the
#: probability against the background (see ``explainers.probability``); ``record``: the
#: SHAP record itself (scores, probability trees without a background, and log-odds models
#: without a background, shown as log-odds points); ``log-odds-rescaled``: payloads stored
#: before version 2 (log-odds values rescaled in proportion; read, never computed now).
PRESENTATION_METHODS = (
    "exact",
    "permutation-estimate",
    "record",
    "log-odds-rescaled",
)


@dataclass(frozen=True)
class Presentation:
    """What the page shows: ``base + sum(values) == output`` on ``scale``.

    For probability outputs with a background the values are Shapley values of the
    probability itself (interventional: each coalition's value is the mean probability over
    the background with its features taken from the case), ``base_value`` is the mean
    probability over the background and ``output`` the case's probability. ``method`` says how
    they were computed; for ``permutation-estimate`` ``estimate_error`` holds each value's
    standard error over the permutations (None when exact). ``ranking`` and ``direction`` are
    of these values (what the citizen sees), ``additivity_error`` is
    ``|base_value + sum(values) - output|`` and ``evaluations`` the model evaluations per row;
    ``background_rows`` is how many registered background rows the base value averages over
    (0 when the values are the record's).
    """

    scale: str
    base_value: float
    output: float
    values: Mapping[str, float]
    consideration_values: Mapping[str, float]
    threshold: float | None
    outcome: bool | None
    method: str = "record"
    ranking: tuple[str, ...] = ()
    direction: Mapping[str, int] = field(default_factory=dict)
    estimate_error: Mapping[str, float] | None = None
    additivity_error: float = 0.0
    evaluations: int = 0
    background_rows: int = 0

    @property
    def max_estimate_error(self) -> float | None:
        """The largest standard error of any value (None when the values are exact)."""
        if self.estimate_error is None:
            return None
        return max(self.estimate_error.values(), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "base_value": float(self.base_value),
            "output": float(self.output),
            "values": _floats(self.values),
            "consideration_values": _floats(self.consideration_values),
            "threshold": None if self.threshold is None else float(self.threshold),
            "outcome": self.outcome,
            "method": self.method,
            "ranking": list(self.ranking),
            "direction": {k: int(v) for k, v in self.direction.items()},
            "estimate_error": None if self.estimate_error is None else _floats(self.estimate_error),
            "additivity_error": float(self.additivity_error),
            "evaluations": int(self.evaluations),
            "background_rows": int(self.background_rows),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], record: Mapping[str, Any]) -> Presentation:
        """Read ``to_dict()`` output; ``record`` (the explanation's own dict) supplies what
        version 1 payloads did not store (ranking and direction were the record's, and the
        values were the record rescaled, or the record itself)."""
        values = _floats(data["values"])
        if "method" in data:
            method = str(data["method"])
        elif record["scale"] == "log-odds" and data["scale"] == "probability":
            method = "log-odds-rescaled"
        else:
            method = "record"
        error = data.get("estimate_error")
        base, output = float(data["base_value"]), float(data["output"])
        return cls(
            scale=str(data["scale"]),
            base_value=base,
            output=output,
            values=values,
            consideration_values=_floats(data["consideration_values"]),
            threshold=None if data["threshold"] is None else float(data["threshold"]),
            outcome=data["outcome"],
            method=method,
            ranking=tuple(data.get("ranking") or record["ranking"]),
            direction={
                k: int(v) for k, v in (data.get("direction") or record["direction"]).items()
            },
            estimate_error=None if error is None else _floats(error),
            additivity_error=float(
                data.get("additivity_error", abs(base + sum(values.values()) - output))
            ),
            evaluations=int(data.get("evaluations", 0)),
            background_rows=int(data.get("background_rows", 0)),
        )


@dataclass(frozen=True)
class Explanation:
    """One explained row: the reproducibility record stored per decision.

    ``values`` are SHAP values per manifest feature key (derived columns summed back) on
    ``scale``; ``direction`` is +1 when a feature pushed towards the positive class / a higher
    output, -1 the other way, 0 when it did not move it. ``ranking`` orders keys by
    ``|value|`` descending, ties by key. ``additivity_error = |base + sum(values) - output|``
    is below ``additivity_tolerance`` (otherwise ``AdditivityError`` was raised).
    ``seconds`` is the batch's computation time divided by its number of rows.
    ``presentation`` is what the page shows (see ``Presentation``); ``values`` are the record.
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

    @property
    def declared_output(self) -> float:
        """The model's output on the manifest's declared scale (probability for
        ``probability``/``class``), whatever the shown scale."""
        if self.scale == "log-odds":
            return 1.0 / (1.0 + math.exp(-self.output))
        return float(self.output)

    def to_payload(self) -> dict[str, Any]:
        """The stored layout (JSON-safe, versioned: ``PAYLOAD_VERSION``); read it back with
        :meth:`from_payload`. Version 2 is version 1 (``to_dict()`` before the probability
        values) plus ``version`` and the presentation's ``method``, ``ranking``,
        ``direction``, ``estimate_error``, ``additivity_error``, ``evaluations`` and
        ``background_rows``."""
        return {"version": PAYLOAD_VERSION, **self.to_dict()}

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Explanation:
        """Read any stored version (1: no ``version`` key; 2: :meth:`to_payload`)."""
        version = int(data.get("version", 1))
        if version > PAYLOAD_VERSION:
            raise ValueError(f"explanation payload version {version} is newer than this code")
        model = data["model"]
        return cls(
            model_name=str(model["name"]),
            model_version=str(model["version"]),
            base_value=float(data["base_value"]),
            output=float(data["output"]),
            values=_floats(data["values"]),
            consideration_values=_floats(data["consideration_values"]),
            ranking=tuple(data["ranking"]),
            direction={k: int(v) for k, v in data["direction"].items()},
            scale=str(data["scale"]),
            explainer=str(data["explainer"]),
            algorithm=str(data["algorithm"]),
            shap_version=str(data["shap_version"]),
            artifact_sha256=str(data["artifact_sha256"]),
            background_sha256=data["background_sha256"],
            seed=int(data["seed"]),
            seconds=float(data["seconds"]),
            additivity_error=float(data["additivity_error"]),
            additivity_tolerance=float(data["additivity_tolerance"]),
            presentation=Presentation.from_dict(data["presentation"], data),
            flags=tuple(
                Flag(str(f["code"]), f.get("feature"), dict(f.get("detail", {})))
                for f in data.get("flags", [])
            ),
        )

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
