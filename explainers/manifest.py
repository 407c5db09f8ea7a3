"""Model manifest: structural validation and a typed, frozen parsed form.

Pure standard library so the web app can import it on request paths cheaply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from explainers.errors import ManifestError
from explainers.problems import Problem

__all__ = [
    "ACTIONABLE_DIRECTIONS",
    "COUNTERFACTUAL_FOR",
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

FEATURE_TYPES: frozenset[str] = frozenset({"number", "integer", "boolean", "category", "date"})
OUTPUT_KINDS: frozenset[str] = frozenset({"probability", "score", "class"})
DEFAULT_THRESHOLD = 0.5
#: ``actionable``: which direction of change a counterfactual may suggest (``true`` = both).
ACTIONABLE_DIRECTIONS: frozenset[str] = frozenset({"increase", "decrease", "both"})
#: ``output.counterfactual_for``: outcomes (relative to the threshold) that get one.
COUNTERFACTUAL_FOR: frozenset[str] = frozenset({"above", "below", "both", "none"})
RECOMMENDATION_SIDES = ("above", "below")


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


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _check_text(obj: Mapping[str, Any], name: str, path: str, out: list[Problem]) -> None:
    """A per-language text object with a non-empty Danish entry."""
    value = obj.get(name)
    where = f"{path}.{name}" if path else name
    if not isinstance(value, Mapping):
        out.append(Problem(where, "missing-text", "object with a 'da' text required"))
        return
    da = value.get("da")
    if not isinstance(da, str) or not da.strip():
        out.append(Problem(f"{where}.da", "missing-danish-text", "Danish text required"))
    for lang, text in value.items():
        if not isinstance(text, str):
            out.append(Problem(f"{where}.{lang}", "not-a-string", "text must be a string"))


def _check_key(value: object, path: str, out: list[Problem]) -> bool:
    if not isinstance(value, str) or not value.strip():
        out.append(Problem(path, "missing-key", "non-empty string key required"))
        return False
    return True


def _check_recommendation(output: Mapping[str, Any], out: list[Problem]) -> None:
    """``output.recommendation``: a text (Danish required) for each side of the threshold."""
    recommendation = output.get("recommendation")
    if recommendation is None:
        return
    path = "output.recommendation"
    if not isinstance(recommendation, Mapping):
        out.append(
            Problem(path, "invalid-recommendation", "object with 'above' and 'below' required")
        )
        return
    for side in sorted(set(recommendation) - set(RECOMMENDATION_SIDES), key=str):
        out.append(
            Problem(
                f"{path}.{side}",
                "unknown-recommendation-side",
                "only 'above' and 'below' are allowed",
                {"allowed": list(RECOMMENDATION_SIDES)},
            )
        )
    for side in RECOMMENDATION_SIDES:
        _check_text(recommendation, side, path, out)
    kind = output.get("kind")
    if kind == "score" and output.get("threshold") is None:
        out.append(
            Problem(
                path,
                "recommendation-needs-threshold",
                "a recommendation per side needs output.threshold for a score",
            )
        )


def policy_problems(manifest: Mapping[str, Any]) -> list[Problem]:
    """What registration refuses beyond the structure (run after ``structural_problems``
    found none): a sensitive or special-category feature marked actionable, and special
    categories (GDPR art. 9) without ``special_category_legal_basis``. Not checked when a
    stored manifest is parsed, so versions registered before these rules still load (their
    sensitive features are simply never actionable)."""
    out: list[Problem] = []
    special = False
    for i, item in enumerate(manifest.get("features") or ()):
        if not isinstance(item, Mapping):
            continue
        actionable = item.get("actionable", False) not in (False, None)
        special = special or item.get("special_category") is True
        for flag, code in (
            ("sensitive", "sensitive-actionable"),
            ("special_category", "special-category-actionable"),
        ):
            if item.get(flag) is True and actionable:
                out.append(
                    Problem(
                        f"features[{i}].actionable",
                        code,
                        f"a {flag.replace('_', ' ')} feature is never actionable",
                        {"key": item.get("key")},
                    )
                )
    if special and manifest.get("special_category_legal_basis") is None:
        out.append(
            Problem(
                "special_category_legal_basis",
                "missing-special-category-legal-basis",
                "a manifest with a special_category feature must give its legal basis "
                "(GDPR art. 9)",
            )
        )
    return out


def structural_problems(manifest: Mapping[str, Any]) -> list[Problem]:
    """Every structural problem of a manifest (no model needed), each with its path."""
    out: list[Problem] = []
    if not isinstance(manifest, Mapping):
        return [Problem("", "not-an-object", "manifest must be a JSON object")]
    for name in ("name", "version", "responsible_unit"):
        value = manifest.get(name)
        if not isinstance(value, str) or not value.strip():
            out.append(Problem(name, "missing-field", f"non-empty string '{name}' required"))
    _check_text(manifest, "title", "", out)
    _check_text(manifest, "purpose", "", out)

    output = manifest.get("output")
    if not isinstance(output, Mapping):
        out.append(Problem("output", "missing-field", "object 'output' required"))
    else:
        kind = output.get("kind")
        if kind not in OUTPUT_KINDS:
            out.append(
                Problem(
                    "output.kind",
                    "invalid-output-kind",
                    "unknown output kind",
                    {"allowed": sorted(OUTPUT_KINDS), "got": repr(kind)},
                )
            )
        threshold = output.get("threshold")
        if threshold is not None:
            if not _is_number(threshold):
                out.append(
                    Problem("output.threshold", "not-a-number", "threshold must be a number")
                )
            elif kind == "probability" and not 0.0 < float(threshold) < 1.0:
                out.append(
                    Problem(
                        "output.threshold",
                        "threshold-out-of-range",
                        "probability threshold must be in (0, 1)",
                    )
                )
        wanted = output.get("counterfactual_for", "both")
        if not isinstance(wanted, str) or wanted not in COUNTERFACTUAL_FOR:
            out.append(
                Problem(
                    "output.counterfactual_for",
                    "invalid-counterfactual-for",
                    "counterfactual_for must be 'above', 'below', 'both' or 'none'",
                    {"allowed": sorted(COUNTERFACTUAL_FOR), "got": repr(wanted)},
                )
            )
        _check_recommendation(output, out)

    if manifest.get("special_category_legal_basis") is not None:
        _check_text(manifest, "special_category_legal_basis", "", out)

    consideration_keys: set[str] = set()
    considerations = manifest.get("considerations")
    if not isinstance(considerations, Sequence) or isinstance(considerations, str | bytes):
        out.append(Problem("considerations", "missing-field", "list 'considerations' required"))
        considerations = []
    elif not considerations:
        out.append(Problem("considerations", "empty-list", "at least one consideration required"))
    for i, item in enumerate(considerations):
        path = f"considerations[{i}]"
        if not isinstance(item, Mapping):
            out.append(Problem(path, "not-an-object", "consideration must be an object"))
            continue
        key = item.get("key")
        if _check_key(key, f"{path}.key", out):
            assert isinstance(key, str)
            if key in consideration_keys:
                out.append(
                    Problem(
                        f"{path}.key", "duplicate-key", "duplicate consideration key", {"key": key}
                    )
                )
            consideration_keys.add(key)
        _check_text(item, "label", path, out)

    features = manifest.get("features")
    if not isinstance(features, Sequence) or isinstance(features, str | bytes):
        out.append(Problem("features", "missing-field", "list 'features' required"))
        features = []
    elif not features:
        out.append(Problem("features", "empty-list", "at least one feature required"))
    feature_keys: set[str] = set()
    for i, item in enumerate(features):
        path = f"features[{i}]"
        if not isinstance(item, Mapping):
            out.append(Problem(path, "not-an-object", "feature must be an object"))
            continue
        key = item.get("key")
        if _check_key(key, f"{path}.key", out):
            assert isinstance(key, str)
            if key in feature_keys:
                out.append(
                    Problem(f"{path}.key", "duplicate-key", "duplicate feature key", {"key": key})
                )
            feature_keys.add(key)
        ftype = item.get("type")
        if ftype not in FEATURE_TYPES:
            out.append(
                Problem(
                    f"{path}.type",
                    "invalid-feature-type",
                    "unknown feature type",
                    {"allowed": sorted(FEATURE_TYPES), "got": repr(ftype)},
                )
            )
        _check_text(item, "label", path, out)
        _check_text(item, "source", path, out)
        cons = item.get("consideration")
        if not isinstance(cons, str) or cons not in consideration_keys:
            out.append(
                Problem(
                    f"{path}.consideration",
                    "unknown-consideration",
                    "feature must belong to a declared consideration",
                    {"got": repr(cons)},
                )
            )
        for flag in ("sensitive", "special_category"):
            if flag in item and not isinstance(item[flag], bool):
                out.append(Problem(f"{path}.{flag}", "not-a-boolean", f"'{flag}' must be boolean"))
        actionable = item.get("actionable", False)
        if not isinstance(actionable, bool) and not (
            isinstance(actionable, str) and actionable in ACTIONABLE_DIRECTIONS
        ):
            out.append(
                Problem(
                    f"{path}.actionable",
                    "invalid-actionable",
                    "actionable must be true, false, 'increase', 'decrease' or 'both'",
                    {
                        "allowed": [True, False, *sorted(ACTIONABLE_DIRECTIONS)],
                        "got": repr(actionable),
                    },
                )
            )
        # Optional texts: a feature's legal basis, and its unit for many and for exactly one.
        for optional in ("legal_basis", "unit", "unit_one"):
            if item.get(optional) is not None:
                _check_text(item, optional, path, out)
        for bound in ("min", "max"):
            if item.get(bound) is not None and not _is_number(item[bound]):
                out.append(
                    Problem(f"{path}.{bound}", "not-a-number", f"'{bound}' must be a number")
                )
        lo, hi = item.get("min"), item.get("max")
        if (
            isinstance(lo, int | float)
            and isinstance(hi, int | float)
            and _is_number(lo)
            and _is_number(hi)
            and float(lo) > float(hi)
        ):
            out.append(
                Problem(
                    f"{path}.min",
                    "min-greater-than-max",
                    "min must be <= max",
                    {"min": float(lo), "max": float(hi)},
                )
            )
        if ftype in ("boolean", "category", "date") and (lo is not None or hi is not None):
            out.append(
                Problem(
                    f"{path}.min",
                    "bounds-not-allowed",
                    "min/max only apply to number and integer features",
                )
            )
        cats = item.get("categories")
        if ftype == "category":
            if (
                not isinstance(cats, Sequence)
                or isinstance(cats, str | bytes)
                or not cats
                or not all(isinstance(c, str) and c for c in cats)
            ):
                out.append(
                    Problem(
                        f"{path}.categories",
                        "missing-categories",
                        "category feature needs a non-empty list of strings",
                    )
                )
            elif len(set(cats)) != len(cats):
                out.append(
                    Problem(f"{path}.categories", "duplicate-category", "categories must be unique")
                )
        elif cats is not None:
            out.append(
                Problem(
                    f"{path}.categories",
                    "categories-not-allowed",
                    "only category features have categories",
                )
            )
    return out


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
    )
