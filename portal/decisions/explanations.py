"""The stored explanation of a decision, and a typed read-model over it.

The worker writes ``Explanation.payload`` (encrypted JSON) as::

    {
      "version": 2,
      "explanation": <explainers.Explanation.to_payload()>,   # its own "version": 2
      "counterfactual": <explainers.Counterfactual.to_dict()> | null,
      "counterfactual_status": "done" | "pending" | "failed" | "off",
      "flags": [{"code", "feature", "detail"}, ...],
      "feature_considerations": {feature key: consideration key}
    }

The explanation's layout is the explainers' own (``Explanation.to_payload`` /
``Explanation.from_payload``, which also reads version 1 payloads stored before the
probability-scale Shapley values: no ``version`` key, shown values rescaled from log-odds,
read with ``method == "log-odds-rescaled"``); this module only wraps it.

The counterfactual search (many model evaluations) runs as a follow-up job after the
explanation is stored, so an explanation is ``ready`` with ``counterfactual_status``
``pending`` until that job fills it in.

and pages read it only through :class:`StoredExplanation` (``StoredExplanation.from_row``),
so the payload's layout can evolve in one place. Fields of the read-model (stable contract):

``base_value``, ``output``, ``scale``
    What the page shows: ``base_value + sum(contribution values) == output`` (up to float
    rounding; ``additivity_error`` is the difference). ``scale`` is ``"probability"`` for
    probability models with a background (the values are then Shapley values of the
    probability itself: ``base_value`` is the average probability over the data the model is
    compared with, its registered background; ``output`` the model's probability for this
    case), else the model's own scale (``"log-odds"`` points for a log-odds model registered
    without a background, ``"raw"`` for scores).
``method``, ``estimate_error``, ``max_estimate_error``, ``additivity_error``
    How the shown values were computed: ``exact`` (every coalition of features enumerated),
    ``permutation-estimate`` (many features: sampled; ``estimate_error`` maps each feature to
    its standard error, for staff), ``record`` (the SHAP record itself) or
    ``log-odds-rescaled`` (stored before version 2). ``estimate_error`` is None when exact.
``background_rows``
    How many registered background rows ``base_value`` is the average over (0 when the
    shown values are the record's, or for payloads stored before version 2).
``threshold``, ``outcome``
    The decision threshold on that scale (``None`` for scores without one) and whether the
    output is at or above it.
``contributions``
    One :class:`Contribution` per manifest feature, in ranking order: ``key`` (the manifest
    feature key), ``value`` (share of ``output - base_value``, on the shown scale),
    ``direction`` (+1 pulled towards the positive outcome / a higher output, -1 away, 0 not
    at all), ``consideration`` (its consideration key) and ``rank`` (1 = weighed most).
``considerations``
    One :class:`ConsiderationSum` per manifest consideration, largest ``|value|`` first:
    ``key``, ``value`` (sum of its features' values), ``direction``.
``ranking``
    Feature keys by ``|value|`` descending (ties by key).
``counterfactual``
    :class:`CounterfactualView` or ``None`` when none was computed: ``status`` (``found``,
    ``none-within-bounds``, ``no-actionable-features``, ``no-threshold``, or
    ``not-for-this-outcome`` when the manifest's ``output.counterfactual_for`` excludes this
    case's side of the threshold: then the page shows no such section, ``for_this_outcome``
    is False), ``changes`` (list of :class:`Change` ``feature``/``old``/``new`` JSON values;
    only actionable, non-sensitive, non-special-category features, each in a direction the
    manifest allows), ``original_output``, ``new_output`` (the model's exact output for the
    changed case, on the other side of the threshold; never rounded), ``threshold``.
``counterfactual_status``
    ``done``, ``pending`` (its follow-up job is queued), ``failed`` or ``off``.
``flags``
    :class:`FlagView` list (``code``, ``feature``, ``detail``). Codes:
    ``sensitive-top-contributor`` (a sensitive feature or proxy is among the top
    contributors), ``out-of-distribution`` (a value outside the reference data) and
    ``output-mismatch`` (the sender's ``model_output`` differs from the registered model's).
``reproducibility``
    :class:`Reproducibility`: the record needed to recompute and check the numbers:
    ``model_name``, ``model_version``, ``explainer`` (tree / linear / permutation),
    ``algorithm``, ``shap_version``, ``artifact_sha256``, ``background_sha256``, ``seed``,
    ``seconds``, ``additivity_error`` and ``additivity_tolerance`` (on ``record_scale``), and
    the raw SHAP record: ``record_scale`` (``log-odds`` for tree/linear classifiers, else the
    output scale), ``record_base_value``, ``record_output``, ``record_values`` (per feature).
    The shown values are the record rescaled (positive factor, same signs and ranking).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from explainers.result import Explanation as Result
from portal.db import utcnow
from portal.decisions.models import Explanation

#: The wrapper's layout version (2: the explanation inside is ``Result.to_payload()``).
PAYLOAD_VERSION = 2


@dataclass(frozen=True)
class Contribution:
    key: str
    value: float
    direction: int
    consideration: str
    rank: int
    #: standard error of ``value`` when it is a permutation estimate, else None
    estimate_error: float | None = None


@dataclass(frozen=True)
class ConsiderationSum:
    key: str
    value: float
    direction: int


@dataclass(frozen=True)
class Change:
    feature: str
    old: Any
    new: Any


@dataclass(frozen=True)
class CounterfactualView:
    status: str
    changes: tuple[Change, ...]
    original_output: float
    new_output: float | None
    threshold: float | None

    @property
    def found(self) -> bool:
        return self.status == "found"

    @property
    def for_this_outcome(self) -> bool:
        """False when the model shows no counterfactual for this side of the threshold."""
        return self.status != "not-for-this-outcome"


@dataclass(frozen=True)
class FlagView:
    code: str
    feature: str | None
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class Reproducibility:
    model_name: str
    model_version: str
    explainer: str
    algorithm: str
    shap_version: str
    artifact_sha256: str
    background_sha256: str | None
    seed: int
    seconds: float
    additivity_error: float
    additivity_tolerance: float
    record_scale: str
    record_base_value: float
    record_output: float
    record_values: Mapping[str, float]
    method: str = "record"
    evaluations: int = 0
    shown_additivity_error: float = 0.0


def _sign(value: float, eps: float = 1e-12) -> int:
    return 0 if abs(value) <= eps else (1 if value > 0 else -1)


def build_payload(
    explanation: Mapping[str, Any] | Result,
    counterfactual: Mapping[str, Any] | Any | None,
    feature_considerations: Mapping[str, str],
    counterfactual_status: str | None = None,
) -> dict[str, Any]:
    """The payload the worker stores, from explainers' results (the objects, or their
    ``to_dict()`` / ``to_payload()``: either way stored in the explainers' current layout).

    ``feature_considerations`` maps feature key -> consideration key (from the manifest), so
    pages need not load the manifest to group contributions. ``counterfactual_status`` is
    ``done`` when a counterfactual is given, else ``pending`` (its follow-up job is queued),
    ``failed`` or ``off``.
    """
    if counterfactual_status is None:
        counterfactual_status = "off" if counterfactual is None else "done"
    result = explanation if isinstance(explanation, Result) else Result.from_payload(explanation)
    if counterfactual is not None and not isinstance(counterfactual, Mapping):
        counterfactual = counterfactual.to_dict()  # an explainers.Counterfactual
    record = result.to_payload()
    return {
        "version": PAYLOAD_VERSION,
        "explanation": record,
        "counterfactual": None if counterfactual is None else dict(counterfactual),
        "counterfactual_status": counterfactual_status,
        "flags": list(record["flags"]),
        "feature_considerations": dict(feature_considerations),
    }


@dataclass(frozen=True)
class StoredExplanation:
    """Typed, read-only view of one stored explanation (see the module docstring)."""

    scale: str
    base_value: float
    output: float
    threshold: float | None
    outcome: bool | None
    contributions: tuple[Contribution, ...]
    considerations: tuple[ConsiderationSum, ...]
    ranking: tuple[str, ...]
    counterfactual: CounterfactualView | None
    flags: tuple[FlagView, ...]
    reproducibility: Reproducibility
    # done | pending (its search is queued after the explanation) | failed | off
    counterfactual_status: str = "done"
    method: str = "record"
    estimate_error: Mapping[str, float] | None = None
    additivity_error: float = 0.0
    #: how many registered background rows ``base_value`` averages over (0: not applicable)
    background_rows: int = 0
    result: Result | None = None

    @property
    def max_estimate_error(self) -> float | None:
        """The largest standard error of a shown value (None when they are exact)."""
        if self.estimate_error is None:
            return None
        return max(self.estimate_error.values(), default=0.0)

    @classmethod
    def from_row(cls, row: Explanation) -> StoredExplanation:
        return cls.from_payload(row.payload)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> StoredExplanation:
        """Any stored version (the explanation is read by ``explainers``)."""
        result = Result.from_payload(payload["explanation"])
        shown = result.presentation
        members = payload.get("feature_considerations", {})
        errors = shown.estimate_error
        contributions = tuple(
            Contribution(
                key=key,
                value=float(shown.values[key]),
                direction=int(shown.direction[key]),
                consideration=str(members.get(key, "")),
                rank=position + 1,
                estimate_error=None if errors is None else float(errors[key]),
            )
            for position, key in enumerate(shown.ranking)
        )
        considerations = tuple(
            sorted(
                (
                    ConsiderationSum(key=key, value=float(v), direction=_sign(float(v)))
                    for key, v in shown.consideration_values.items()
                ),
                key=lambda c: (-abs(c.value), c.key),
            )
        )
        cf = payload.get("counterfactual")
        counterfactual = None
        if cf is not None:
            counterfactual = CounterfactualView(
                status=cf["status"],
                changes=tuple(Change(c["feature"], c["old"], c["new"]) for c in cf["changes"]),
                original_output=float(cf["original_output"]),
                new_output=None if cf["new_output"] is None else float(cf["new_output"]),
                threshold=None if cf["threshold"] is None else float(cf["threshold"]),
            )
        flags = tuple(
            FlagView(code=f["code"], feature=f.get("feature"), detail=f.get("detail", {}))
            for f in payload.get("flags", [])
        )
        reproducibility = Reproducibility(
            model_name=result.model_name,
            model_version=result.model_version,
            explainer=result.explainer,
            algorithm=result.algorithm,
            shap_version=result.shap_version,
            artifact_sha256=result.artifact_sha256,
            background_sha256=result.background_sha256,
            seed=result.seed,
            seconds=result.seconds,
            additivity_error=result.additivity_error,
            additivity_tolerance=result.additivity_tolerance,
            record_scale=result.scale,
            record_base_value=result.base_value,
            record_output=result.output,
            record_values=dict(result.values),
            method=shown.method,
            evaluations=shown.evaluations,
            shown_additivity_error=shown.additivity_error,
        )
        return cls(
            scale=shown.scale,
            base_value=shown.base_value,
            output=shown.output,
            threshold=shown.threshold,
            outcome=shown.outcome,
            contributions=contributions,
            considerations=considerations,
            ranking=shown.ranking,
            counterfactual=counterfactual,
            counterfactual_status=str(
                payload.get("counterfactual_status", "done" if counterfactual else "off")
            ),
            flags=flags,
            reproducibility=reproducibility,
            method=shown.method,
            estimate_error=None if errors is None else dict(errors),
            additivity_error=shown.additivity_error,
            background_rows=shown.background_rows,
            result=result,
        )

    def contribution(self, key: str) -> Contribution:
        for item in self.contributions:
            if item.key == key:
                return item
        raise KeyError(key)

    def flag_codes(self) -> list[str]:
        return [f.code for f in self.flags]

    def to_api(self) -> dict[str, Any]:
        """JSON for ``GET /api/v1/decisions/{id}`` (schema ``ExplanationOut``)."""
        return {
            "scale": self.scale,
            "base_value": self.base_value,
            "output": self.output,
            "threshold": self.threshold,
            "outcome": self.outcome,
            "features": [
                {
                    "key": c.key,
                    "value": c.value,
                    "direction": c.direction,
                    "consideration": c.consideration,
                }
                for c in self.contributions
            ],
            "considerations": {c.key: c.value for c in self.considerations},
            "ranking": list(self.ranking),
            "flags": [asdict(f) | {"detail": dict(f.detail)} for f in self.flags],
            "counterfactual": None
            if self.counterfactual is None
            else {
                "status": self.counterfactual.status,
                "changes": [asdict(c) for c in self.counterfactual.changes],
                "original_output": self.counterfactual.original_output,
                "new_output": self.counterfactual.new_output,
                "threshold": self.counterfactual.threshold,
            },
            "counterfactual_status": self.counterfactual_status,
            "reproducibility": asdict(self.reproducibility)
            | {
                "record_values": dict(self.reproducibility.record_values),
                "estimate_error": None
                if self.estimate_error is None
                else dict(self.estimate_error),
            },
        }


def explanation_values(
    decision_id: int, payload: Mapping[str, Any], record: Any, created_at: Any = None
) -> dict[str, Any]:
    """The column values of the Explanation row for a payload built by :func:`build_payload`
    and the explainers result (``record``) it came from: the reproducibility columns are
    copied from it. (The worker inserts these with one statement per batch.)"""
    return {
        "decision_id": decision_id,
        "payload": payload,
        "flags": [f["code"] for f in payload["flags"]],
        "explainer_kind": record.explainer,
        "scale": record.scale,
        "shap_version": record.shap_version,
        "artifact_sha256": record.artifact_sha256,
        "background_sha256": record.background_sha256,
        "seed": record.seed,
        "additivity_error": record.additivity_error,
        "computation_seconds": record.seconds,
        "created_at": utcnow() if created_at is None else created_at,
    }


def new_explanation(
    decision_id: int, payload: Mapping[str, Any], record: Any, created_at: Any = None
) -> Explanation:
    """The Explanation row (an ORM object) of :func:`explanation_values`."""
    values = explanation_values(decision_id, payload, record, created_at)
    return Explanation(**{**values, "payload": dict(payload)})
