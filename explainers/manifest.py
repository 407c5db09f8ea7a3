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
from explainers.problem import Problem as Problem  # re-exported: it lives apart for errors.py

FeatureType = Literal["number", "integer", "boolean", "category", "date"]
OutputKind = Literal["probability", "score", "class"]

FEATURE_TYPES: frozenset[str] = frozenset({"number", "integer", "boolean", "category", "date"})
OUTPUT_KINDS: frozenset[str] = frozenset({"probability", "score", "class"})
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class Consideration:
    """A main consideration ("hovedhensyn") that features are grouped under."""

    key: str
    label: Mapping[str, str]


@dataclass(frozen=True)
class FeatureSpec:
    """One model input as declared in the manifest."""

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

    @cached_property  # read per row and per request: computed once per manifest
    def feature_keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.features)

    def feature(self, key: str) -> FeatureSpec:
        for spec in self.features:
            if spec.key == key:
                return spec
        raise KeyError(key)

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
        for flag in ("actionable", "sensitive"):
            if flag in item and not isinstance(item[flag], bool):
                out.append(Problem(f"{path}.{flag}", "not-a-boolean", f"'{flag}' must be boolean"))
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


def parse_manifest(manifest: Mapping[str, Any]) -> Manifest:
    """Validate the structure and return the frozen parsed form.

    Raises ``ManifestError`` listing every structural problem at once.
    """
    problems = structural_problems(manifest)
    if problems:
        raise ManifestError(problems)
    output = manifest["output"]
    features = tuple(
        FeatureSpec(
            key=f["key"],
            type=f["type"],
            label=_text(f["label"]),
            source=_text(f["source"]),
            consideration=f["consideration"],
            actionable=bool(f.get("actionable", False)),
            sensitive=bool(f.get("sensitive", False)),
            min=_optional_float(f.get("min")),
            max=_optional_float(f.get("max")),
            categories=tuple(f.get("categories") or ()),
        )
        for f in manifest["features"]
    )
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
    )
