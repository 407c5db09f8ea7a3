"""Model manifest: a typed, frozen parsed form (the checks are in ``manifest_checks``).

Pure standard library so the web app can import it on request paths cheaply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from explainers.errors import ManifestError
from explainers.manifest_checks import (
    ACTIONABLE_DIRECTIONS,
    COUNTERFACTUAL_FOR,
    DEFAULT_THRESHOLD,
    FEATURE_TYPES,
    OUTPUT_KINDS,
    RECOMMENDATION_SIDES,
    policy_problems,
    structural_problems,
)
from explainers.manifest_register import Contact, RiskClass, parse_contact, parse_risk_class
from explainers.problems import Problem

__all__ = [
    "ACTIONABLE_DIRECTIONS",
    "COUNTERFACTUAL_FOR",
    "DEFAULT_THRESHOLD",
    "FEATURE_TYPES",
    "OUTPUT_KINDS",
    "RECOMMENDATION_SIDES",
    "Consideration",
    "FeatureSpec",
    "Manifest",
    "Problem",
    "parse_manifest",
    "policy_problems",
    "structural_problems",
]

FeatureType = Literal["number", "integer", "boolean", "category", "date"]
OutputKind = Literal["probability", "score", "class"]

Direction = Literal["increase", "decrease", "both"]
CounterfactualFor = Literal["above", "below", "both", "none"]


@dataclass(frozen=True)
class Consideration:
    """A main consideration ("hovedhensyn") that features are grouped under."""

    key: str
    label: Mapping[str, str]


@dataclass(frozen=True)
class FeatureSpec:
    """One model input as declared in the manifest.

    ``actionable_direction`` is the manifest's ``actionable`` (``"increase"``, ``"decrease"``,
    ``"both"``; ``true`` means both; None when not actionable). ``actionable`` is True when a
    counterfactual may change the feature at all: it has a direction and is neither
    ``sensitive`` nor ``special_category`` (registration refuses those combinations; older
    stored manifests are read safely). For booleans ``increase`` means false -> true only;
    for categories, towards later entries of ``categories``.
    """

    key: str
    type: FeatureType
    label: Mapping[str, str]
    source: Mapping[str, str]
    consideration: str
    actionable: bool = False
    sensitive: bool = False
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] = ()
    actionable_direction: Direction | None = None
    #: GDPR art. 9 data (e.g. health); needs the manifest's special_category_legal_basis
    special_category: bool = False
    legal_basis: Mapping[str, str] | None = None

    def allows(self, old: float, new: float) -> bool:
        """May a counterfactual move this feature from ``old`` to ``new`` (model space;
        categories by their position in ``categories``)?"""
        if not self.actionable or new == old:
            return False
        if self.actionable_direction == "increase":
            return new > old
        if self.actionable_direction == "decrease":
            return new < old
        return True


@dataclass(frozen=True)
class Manifest:
    """Parsed manifest: the subset of fields ``explainers`` relies on, plus the raw mapping."""

    name: str
    version: str
    title: Mapping[str, str]
    purpose: Mapping[str, str]
    responsible_unit: str
    output_kind: OutputKind
    positive_class: Any
    threshold: float | None
    considerations: tuple[Consideration, ...]
    features: tuple[FeatureSpec, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)
    #: ``output.counterfactual_for``: which outcomes get a counterfactual (default both)
    counterfactual_for: CounterfactualFor = "both"
    #: ``output.recommendation``: {"above": {"da", ...}, "below": {"da", ...}} or None
    recommendation: Mapping[str, Mapping[str, str]] | None = None
    special_category_legal_basis: Mapping[str, str] | None = None
    #: register fields (``explainers.manifest_register``); None when the manifest has none
    risk_class: RiskClass | None = None
    contact: Contact | None = None
    human_oversight: Mapping[str, str] | None = None
    #: days a decision of this version is kept (None: the manifest sets no period)
    retention_days: int | None = None

    @cached_property  # read per row and per request: computed once per manifest
    def feature_keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.features)

    def feature(self, key: str) -> FeatureSpec:
        for spec in self.features:
            if spec.key == key:
                return spec
        raise KeyError(key)

    def counterfactual_wanted(self, output: float) -> bool:
        """Whether a case with this output (declared scale) gets a counterfactual."""
        threshold = self.decision_threshold
        if self.counterfactual_for == "none":
            return False
        if self.counterfactual_for == "both" or threshold is None:
            return True
        above = output >= threshold
        return above if self.counterfactual_for == "above" else not above

    def recommendation_for(self, output: float) -> Mapping[str, str] | None:
        """The recommendation text (per language) for this output's side of the threshold."""
        threshold = self.decision_threshold
        if self.recommendation is None or threshold is None:
            return None
        return self.recommendation["above" if output >= threshold else "below"]

    @property
    def decision_threshold(self) -> float | None:
        """Threshold on the declared output scale (0.5 by default for probabilities)."""
        if self.threshold is not None:
            return self.threshold
        return DEFAULT_THRESHOLD if self.output_kind in ("probability", "class") else None


def _text(obj: Any) -> Mapping[str, str]:
    return dict(obj) if isinstance(obj, Mapping) else {}


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _optional_text(obj: Any) -> Mapping[str, str] | None:
    return None if obj is None else _text(obj)


def _feature_spec(f: Mapping[str, Any]) -> FeatureSpec:
    declared = f.get("actionable", False)
    direction: Direction | None
    if declared is True:
        direction = "both"
    elif isinstance(declared, str) and declared in ACTIONABLE_DIRECTIONS:
        direction = declared  # type: ignore[assignment]
    else:
        direction = None
    sensitive = bool(f.get("sensitive", False))
    special = bool(f.get("special_category", False))
    return FeatureSpec(
        key=f["key"],
        type=f["type"],
        label=_text(f["label"]),
        source=_text(f["source"]),
        consideration=f["consideration"],
        actionable=direction is not None and not sensitive and not special,
        sensitive=sensitive,
        min=_optional_float(f.get("min")),
        max=_optional_float(f.get("max")),
        categories=tuple(f.get("categories") or ()),
        actionable_direction=direction,
        special_category=special,
        legal_basis=_optional_text(f.get("legal_basis")),
    )


def parse_manifest(manifest: Mapping[str, Any]) -> Manifest:
    """Validate the structure and return the frozen parsed form.

    Raises ``ManifestError`` listing every structural problem at once (``policy_problems``
    are checked at registration, by ``explainers.validation``, not here).
    """
    problems = structural_problems(manifest)
    if problems:
        raise ManifestError(problems)
    output = manifest["output"]
    features = tuple(_feature_spec(f) for f in manifest["features"])
    considerations = tuple(
        Consideration(key=c["key"], label=_text(c["label"])) for c in manifest["considerations"]
    )
    threshold = output.get("threshold")
    return Manifest(
        name=manifest["name"],
        version=manifest["version"],
        title=_text(manifest["title"]),
        purpose=_text(manifest["purpose"]),
        responsible_unit=manifest["responsible_unit"],
        output_kind=output["kind"],
        positive_class=output.get("positive_class", 1),
        threshold=_optional_float(threshold),
        considerations=considerations,
        features=features,
        raw=manifest,
        counterfactual_for=output.get("counterfactual_for", "both"),
        recommendation=None
        if output.get("recommendation") is None
        else {side: _text(output["recommendation"][side]) for side in RECOMMENDATION_SIDES},
        special_category_legal_basis=_optional_text(manifest.get("special_category_legal_basis")),
        risk_class=parse_risk_class(manifest.get("risk_class")),
        contact=parse_contact(manifest.get("contact")),
        human_oversight=_optional_text(manifest.get("human_oversight")),
        retention_days=manifest.get("retention_days"),
    )
